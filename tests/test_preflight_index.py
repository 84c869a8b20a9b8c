"""The personal-data index is built in batches (issue 12, item 1 of the second
round): `fold_all`, `keys_all` and `company_cores` do to a whole column what
`fold`, `key` and `company_core` do to each text, a few passes over the texts
joined. They must agree with the single forms on every text, including texts
that hold the separator or a line break, and the index built from them must
hold exactly the needles the single forms give.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.preflight import PersonalDataIndex
from bot.preflight.disguise import (
    Haystack,
    _Either,
    company_core,
    company_cores,
    fold,
    fold_all,
    kana_letters,
    key,
    keys_all,
    letter_digits,
    other_orders,
    romaji_keys,
)
from bot.preflight.personal_data import needles, note_phrases
from bot.preflight.readings import readings, romanised

# Pieces that each step of folding treats specially: separators of the batch forms
# (NUL, a line break), spaces of every kind, invisible characters, combining marks
# (they compose under NFKC), a final sigma (context-sensitive in lower()), look-alikes,
# full-width forms, legal-form words, Japanese, punctuation.
PIECES = [
    "\x00", "\n", " ", "  ", "\u3000", "\t", "・", "\u200b", "\u00ad", "\ufeff",
    "\u0301", "\u3099", "e", "Σ", "ς", "ΑΣ", "а", "о", "Ａ", "１", "㈱", "(株)", "株式会社",
    "有限会社", "合同会社", "一般社団法人", "Inc.", "inc", "Co., Ltd.", "co.", "LLC", "l.l.c.",
    "GmbH", "ag", "Corporation", "company", "&", ",", ".", "-", "_", "'", "山口", "健太",
    "ひかり", "カ", "ガ", "ー", "Leakwell", "Holdings", "zinc", "Kenta", "42", "@",
    "example.com", "한", "𠮷", "😀", "🀄", "é", "e\u0301", "ı", "ø", "、", "【", "♥", "ヴ", "ヽ", "さくら",
    "サクラ", "O8O", "〇八〇",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)
columns = st.lists(texts, max_size=12)


@settings(max_examples=300)
@given(columns, st.booleans())
def test_fold_all_folds_each_text_as_fold_does(column: list[str], strip: bool):
    expected = [fold(text).strip() if strip else fold(text) for text in column]
    assert fold_all(column, strip=strip) == expected


@settings(max_examples=300)
@given(columns)
def test_keys_all_keys_each_text_as_key_does(column: list[str]):
    folded = [fold(text) for text in column]
    views, keys = keys_all(folded)
    expected = [key(text) for text in folded]
    assert [(v, k) if v else None for v, k in zip(views, keys, strict=True)] == expected


@settings(max_examples=300)
@given(columns)
def test_company_cores_trims_each_text_as_company_core_does(column: list[str]):
    folded = [fold(text) for text in column] + column  # folded ones, and raw ones (line breaks)
    assert company_cores(folded) == [company_core(text) for text in folded]


def _one_by_one(values: list[tuple[str, str]]) -> set[tuple[str, str, str]]:
    """(view, key, kind) of every needle, text by text, with the single forms (a name
    also in its other orders)."""
    found: set[tuple[str, str, str]] = set()
    pairs = [
        pair
        for kind, raw in values
        for pair in (note_phrases(raw) if kind == "note" and raw.strip() else [(kind, raw)])
    ]
    for kind, raw in pairs:
        folded = fold(raw).strip()
        if kind == "address":
            if "@" in folded:
                found.add(("address", folded, kind))
            continue
        keyed = [company_core(folded) if kind == "company" else folded]
        if kind == "name":
            keyed += other_orders(folded)
        for text in keyed:
            looked_up = key(text)
            if looked_up is None and kind == "company":
                looked_up = key(folded)
            if looked_up is not None:
                found.add((*looked_up, kind))
        read = readings(keyed[0], katakana=kind != "company")
        latin = [romanised(text) for text in keyed if re.fullmatch(r"[a-z][a-z' .-]*", text)]
        latin_kana = [reading for typed in latin for reading in typed.kana]
        latin_romaji = [reading for typed in latin for reading in typed.romaji]
        for reading in (*read.kana, *read.romaji, *latin_kana):
            looked_up = key(reading)
            if looked_up is not None:
                found.add((*looked_up, kind))
        for reading in (*read.romaji, *latin_romaji):
            for romaji in romaji_keys([reading, reading.replace(" ", "")]):
                if romaji:
                    found.add(("romaji", romaji, kind))
    return found


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["name", "company", "address", "note"]), texts)))
def test_the_index_holds_the_needles_the_single_forms_give(values: list[tuple[str, str]]):
    expected = _one_by_one(values)
    built = {(n.view, n.key, n.kind) for n in needles(values)}
    # One needle per key (the first kind that gave it): every key is there, none else.
    assert {(v, k) for v, k, _ in built} == {(v, k) for v, k, _ in expected}
    assert built <= expected
    index = PersonalDataIndex.from_values(values)
    assert index.size == len({(v, k) for v, k, _ in expected})
    for view, key_, _ in expected:
        assert key_ in index.tables[view]


@settings(max_examples=300)
@given(st.lists(st.sampled_from([*PIECES, "A1ice", "Sat0", "1", "a 1 b"]), max_size=8).map("".join),
       st.sampled_from(["loose", "spaced"]))  # fmt: skip
def test_a_place_in_a_view_maps_back_to_its_character(text: str, view: str):
    haystack = Haystack.of(text)
    joined = haystack.joined(view)
    # (a view read two ways holds both, parted by a NUL: `disguise._Either`)
    parted = [len(joined.ways[0].text)] if isinstance(joined, _Either) else []
    for index, char in enumerate(joined.text):
        if index in parted:
            assert char == "\x00"
            continue
        source = haystack.folded[joined.origin(index)]
        if view == "spaced":  # (ー reads as the vowel of the kana the view kept before it)
            before = haystack.folded[joined.origin(index - 1)] if index else ""
            source = kana_letters(before + source)[-1]
        if source.isdigit():  # a digit among letters reads as the letter (1 as l or i)
            assert char in {source, *(letter_digits("a" + source, one=o)[1] for o in "li")}
        else:
            assert char == source
