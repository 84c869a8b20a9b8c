"""Seeing through disguise: the comparable form of a text, on both sides of a match.

`fold()` is applied alike to the personal data (the needles) and to what a
reader sees (the haystack): NFKC (full-width letters and digits, ㈱ → (株)),
case folding, format and invisible characters removed (every character of
category Cf and the other default-ignorable code points: soft hyphen,
zero-width space and joiners, word joiner, BOM, variation selectors …), Latin
look-alikes of other scripts mapped to Latin (Unicode's confusables data and
more: `bot.characters.LOOKALIKES`), and every run of
whitespace and line breaks (an ideographic space, a nakaguro between family
and given name) made one space.

`Haystack` then offers the folded text three ways: `loose` (letters and digits
only, so `Lea**kwell**`, `Leak-well` and `L e a k w e l l` read as `leakwell`;
for needles in scripts that separate words, with whole-word checks against the
folded text), `spaced` (whitespace and punctuation dropped, kana as they sound:
katakana as hiragana, voiced as unvoiced, ー as a vowel; for Japanese, Chinese and
Korean needles, which are written with or without a space), `romaji` (romaji in
every system and habit alike: see `_romaji`) and `addresses` (common
obfuscations such as `(at)`, `[dot]` undone).

`key()` turns a needle into what is looked up in which of those views;
`company_core()` drops legal-form words (株式会社, (株), Inc., Co., Ltd., GmbH …)
so that a company is found with or without them on either side. `phones()`
finds telephone numbers by their digits whatever the separators.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from bot.characters import (
    ASTRAL_MARK,
    BEYOND_BASIC,
    HAS_LOOKALIKE,
    LETTER_SYMBOL,
    LETTER_SYMBOLS,
    LOOKALIKES,
    MARKS,
    SYMBOLS_AS_LETTERS,
    visible,
)
from bot.contacts import addresses, spelled_out, telephone_numbers

_SPACES = re.compile(r"[\s\u30fb]+")  # whitespace of every kind, and the nakaguro "・"


# Latin letters with diacritics read as the bare letters ("Yamaguchí", "Lëäkwëll"):
# decomposed, their combining diacritics (U+0300-U+036F: not the kana voicing marks)
# dropped, composed again; and the few Latin letters that do not decompose but read
# like another ("ı" like "i", "ø" like "o").
_HAS_DIACRITIC = re.compile("[\u00c0-\u024f\u0300-\u036f\u1e00-\u1eff]")
_DIACRITICS = re.compile("[\u0300-\u036f]+")
_BARE = str.maketrans("ıøłđħŧƀɨ", "ioldhtbi")


def fold(text: str) -> str:
    """The comparable form of `text` (see the module's docstring)."""
    if text.isascii():  # nothing to normalise, nothing invisible, no look-alikes
        return _SPACES.sub(" ", text.lower())
    if HAS_LOOKALIKE.search(text):  # before NFKC too, which makes the c-like ϲ an o-like σ
        text = text.translate(LOOKALIKES)
    text = visible(text).casefold()
    if HAS_LOOKALIKE.search(text):  # (a translation reads every character: only if needed)
        # (decomposed first, so that a look-alike with a diacritic, ё, reads as one too)
        decomposed = unicodedata.normalize("NFD", text).translate(LOOKALIKES)
        text = unicodedata.normalize("NFC", decomposed)
    if _HAS_DIACRITIC.search(text):
        bare = _DIACRITICS.sub("", unicodedata.normalize("NFD", text))
        text = unicodedata.normalize("NFC", bare).translate(_BARE)
    if LETTER_SYMBOL.search(text):  # ⍺lice, Exampl℮: next to a Latin letter only
        text = LETTER_SYMBOLS.sub(lambda run: run.group(0).translate(SYMBOLS_AS_LETTERS), text)
    if BEYOND_BASIC.search(text):  # marks beyond the basic plane (emoji …) read as spaces
        text = ASTRAL_MARK.sub(" ", text)
    return _SPACES.sub(" ", text)


# The batch forms below do to many texts at once what the single ones do to each,
# with a few calls over the texts joined by a separator that every step leaves
# alone and no step lets a match cross (NUL: not a space, not punctuation, not a
# letter, a starter that composes with nothing under NFKC). A text that holds the
# separator itself is done alone. A property test checks they agree.
_SEPARATOR = "\x00"


def _joined(texts: list[str]) -> str | None:
    joined = _SEPARATOR.join(texts)
    return joined if joined.count(_SEPARATOR) == len(texts) - 1 else None


def fold_all(texts: list[str], *, strip: bool = False) -> list[str]:
    """`[fold(text) for text in texts]` (each `.strip()`ped if `strip`), in one pass
    over them all."""
    joined = _joined(texts)
    if joined is None or not texts:
        return [fold(text).strip() if strip else fold(text) for text in texts]
    folded = fold(joined)
    if strip:  # a folded text's only whitespace is single spaces
        folded = _SPACED_SEPARATOR.sub(_SEPARATOR, folded).strip()
    return folded.split(_SEPARATOR)


_SPACED_SEPARATOR = re.compile(f" ?{_SEPARATOR} ?")


# Han, kana and Hangul: scripts written without spaces between words.
_CJK_CHARS = (
    "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_CJK = re.compile(f"[{_CJK_CHARS}]")
_NOT_CJK_OR_SEPARATOR = re.compile(f"[^{_CJK_CHARS}\x00]+")


def is_cjk(char: str) -> bool:
    return _CJK.match(char) is not None


def _wordlike(char: str) -> bool:
    return char.isalnum() and not is_cjk(char)


# --- needles -----------------------------------------------------------------------------

LOOSE, SPACED, ADDRESS, ROMAJI = "loose", "spaced", "address", "romaji"
MIN_LOOSE = 4  # letters or digits of a name in a script with spaces
MIN_SPACED = 2  # a Japanese family name plus given name is 2+ characters
_NOT_ALNUM = re.compile(r"[\W_]+")


# Digits typed for the letters they look like inside a name (Yamaguch1, Sat0, 1to,
# A1ice, Kenta Yamaguch1): 0 as o, 1 as l or i, 3 as e, 4 as a, 5 as s, 7 as t, 8 as b,
# where digits and letters are mixed in one word, or where a digit stands among letters
# typed one by one (S a t 0 u); a word of digits alone (a telephone number, a date, a
# count) stays. The loose and the romaji views read them so, one for one, as their
# needles' keys do; the folded text itself (telephone numbers, addresses) does not.
# (Markup inside a word does not part it, `Sat**0u**`. Found from the digits: a digit
# beside a letter, up to three marks of markup between, is in such a word, which
# reaches as far as letters, digits and markup go, 64 characters back at most; a digit
# alone, by a letter typed alone, is one by itself. Only digits are looked at, so that
# a text without any costs one scan.)
_GAP = f"[\\s{MARKS}]"
_BY_A_LETTER = re.compile(
    "[0-9](?:"
    + "|".join(f"(?<=[a-z][*_~`]{{{n}}}[0-9])" for n in (0, 1, 2, 3))
    + "|(?=[*_~`]{0,3}[a-z])"
    + r"|(?<![a-z0-9].)(?![a-z0-9])(?:"  # alone, by a letter typed alone
    + "|".join(f"(?<=(?<![a-z0-9])[a-z]{_GAP}{{{n}}}[0-9])" for n in range(1, 7))
    + f"|(?={_GAP}{{1,6}}[a-z](?![a-z0-9])))"  # (a gap: " . ", with markup "** . ")
    + ")"
)
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789*_~`")
_WORD_ON = re.compile("[a-z0-9*_~`]*")
_DIGIT = re.compile("[0-9]")
_AS_L = str.maketrans("0134578", "oleastb")  # (1 as l: Alice, A1ice)
_AS_I = str.maketrans("0134578", "oieastb")  # (1 as i: Yamaguchi, Yamaguch1; romaji has no l)


def _letter_digit_spans(text: str) -> list[tuple[int, int]]:
    """Where the words that mix digits and letters are (and the digits typed alone
    among letters typed alone)."""
    spans: list[tuple[int, int]] = []
    if not _DIGIT.search(text):
        return spans
    at = 0
    while (found := _BY_A_LETTER.search(text, at)) is not None:
        digit = found.start()
        start = digit
        while start > 0 and digit - start < 64 and text[start - 1] in _WORD_CHARS:
            start -= 1
        on = _WORD_ON.match(text, digit)
        end = on.end() if on else digit + 1
        spans.append((start, end))
        at = end
    return spans


def letter_digits(text: str, *, one: str = "l", spans: list[tuple[int, int]] | None = None) -> str:
    """`text` with the digits that stand for letters as those letters (`one`: what a 1
    reads as, "l" or "i"), one for one (`spans`: `_letter_digit_spans(text)`, if known)."""
    spans = _letter_digit_spans(text) if spans is None else spans
    if not spans:
        return text
    table = _AS_L if one == "l" else _AS_I
    pieces: list[str] = []
    at = 0
    for start, end in spans:
        pieces += [text[at:start], text[start:end].translate(table)]
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


# What the spaced view drops: whitespace, and every punctuation mark and symbol:
# `山口**健太`, `山口、健太`, `山口／健太`, `山口【健太】`, `山口♥健太` read as 山口健太.
_NOT_SPACED = re.compile(f"[\\s{MARKS}]+")


# The spaced view reads kana as they sound, whatever the habit of writing them, so
# that every reading of a name a writer could give is one key:
# - katakana as hiragana (`サクラ`, `さくら`);
# - voiced and unvoiced alike (`ヤマザキ`, `やまさき`; `ナカジマ`, `なかしま`: the
#   first kana of a second element of a name is voiced or not, rendaku, and the
#   dictionary knows the more likely one), ぢ as じ and づ as ず (they sound alike);
#   ゐ, ゑ, を as い, え, お;
# - the long-vowel mark ー as the vowel kana write for it (う after an o or a u,
#   い after an e or an i, あ after an a), so that `サトー` reads as `さとう`, and a
#   mix of habits, `さとうしょーた`, as `さとうしょうた`. Only the mark: a vowel
#   letter that lengthens the one before it is a name's first letter just as often
#   (`…とおおの`, `…にいとう`), and a needle is matched without what comes before it.
def _kana_letters_table() -> dict[int, int]:
    same = {"ぢ": "じ", "づ": "ず", "ゐ": "い", "ゑ": "え", "を": "お"}
    table: dict[int, int] = {}
    for code in [*range(0x3041, 0x3097), 0x309E, *range(0x30A1, 0x30FB), 0x30FD, 0x30FE]:
        kana = chr(code)
        for _ in range(2):  # (twice: ヺ is ヲ with a voicing mark, ヲ is を, read as お)
            if "ァ" <= kana <= "ヶ" or kana in "ヽヾ":
                kana = chr(ord(kana) - 0x60)
            kana = same.get(kana, kana)
            decomposed = unicodedata.normalize("NFD", kana)
            if decomposed[-1] in "\u3099\u309a":  # voiced: the kana without the mark
                kana = decomposed[0]
        if kana != chr(code):
            table[code] = ord(kana)
    return table


_KANA_LETTERS = _kana_letters_table()
_VOWEL_ROWS = {
    "あ": "あかさたなはまやらわぁゃゎゕ",  # (in the kana as the table leaves them)
    "い": "いきしちにひみりぃえけせてねへめれぇゖ",
    "う": "うくすつぬふむゆるぅゅおこそとのほもよろぉょ",
}
_LONG_AS = {kana: vowel for vowel, row in _VOWEL_ROWS.items() for kana in row}
_LONG_MARK = re.compile(f"ー(?<=[{''.join(_VOWEL_ROWS.values())}]ー)")


def kana_letters(text: str) -> str:
    """`text` with its kana as the spaced view reads them, one for one (katakana as
    hiragana, voiced as unvoiced, ー as a vowel …)."""
    text = text.translate(_KANA_LETTERS)
    if "ー" not in text:
        return text
    return _LONG_MARK.sub(lambda mark: _LONG_AS[mark.string[mark.start() - 1]], text)


JA_FORMS = (
    "株式会社|有限会社|合同会社|合資会社|合名会社|一般社団法人|一般財団法人|公益社団法人|"
    "公益財団法人|特定非営利活動法人|npo法人|医療法人|学校法人|社会福祉法人|宗教法人|"
    r"\(株\)|\(有\)|\(同\)|\(合\)|\(資\)|\(名\)|\(社\)|\(財\)"
)
_LATIN_FORMS = (
    r"co\.?,?\s*ltd\.?|inc\.?|incorporated|corp\.?|corporation|company|co\.?|ltd\.?|limited|"
    r"l\.?l\.?c\.?|l\.?l\.?p\.?|plc|gmbh|ag|k\.?k\.?|s\.?a\.?|s\.?a\.?s\.?|b\.?v\.?|n\.?v\.?|"
    r"pty\.?(?:\s*ltd\.?)?|pte\.?(?:\s*ltd\.?)?|oy|ab|s\.?r\.?l\.?|s\.?p\.?a\.?"
)


_JA_FORM_FIRSTS = re.escape("".join(sorted({form.lstrip("\\")[0] for form in JA_FORMS.split("|")})))


def _form_patterns(space: str, flags: int = 0) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The patterns of legal-form words at the end and at the start of a name, with
    `space` for a space (the batch form must not match across its line breaks)."""
    at_end = re.compile(
        # (the look-ahead: one test of a character where most matches fail, not 40)
        rf"(?=[ ,.&{_JA_FORM_FIRSTS}]|^|{space})"
        rf"(?:{space}*(?:{JA_FORMS})|(?:^|{space}|[,.&]){space}*(?:{_LATIN_FORMS}))"
        rf"(?:{space}|[,.])*$",
        flags,
    )
    at_start = re.compile(rf"^{space}*(?:(?:{JA_FORMS}){space}*|(?:{_LATIN_FORMS}){space}+)", flags)
    return at_end, at_start


_FORM_AT_END, _FORM_AT_START = _form_patterns(r"\s")
_FORM_AT_LINE_END, _FORM_AT_LINE_START = _form_patterns(r"[^\S\n]", re.MULTILINE)


def company_core(folded: str) -> str:
    """A folded company name without its legal-form words at either end."""
    core = folded.strip()
    while True:
        trimmed = _FORM_AT_START.sub("", _FORM_AT_END.sub("", core)).strip(" ,.&")
        if trimmed == core or not trimmed:
            return trimmed or core
        core = trimmed


def company_cores(folded: list[str]) -> list[str]:
    """`[company_core(text) for text in folded]`, a few passes over them all
    (one line each: a folded text holds no line break; one that does is done alone)."""
    cores = [text.strip() for text in folded]
    pending = [i for i, core in enumerate(cores) if "\n" not in core]
    for i in set(range(len(cores))).difference(pending):
        cores[i] = company_core(cores[i])
    while pending:
        joined = "\n".join(cores[i] for i in pending)
        lines = _FORM_AT_LINE_START.sub("", _FORM_AT_LINE_END.sub("", joined)).split("\n")
        still: list[int] = []
        for i, line in zip(pending, lines, strict=True):
            trimmed = line.strip(" ,.&")
            if trimmed and trimmed != cores[i]:
                cores[i] = trimmed
                still.append(i)
        pending = still
    return cores


def key(folded: str) -> tuple[str, str] | None:
    """(view, key) under which a folded needle is looked up; None if too short
    to be told from ordinary words."""
    if _CJK.search(folded):
        spaced = kana_letters(_NOT_SPACED.sub("", folded))
        return (SPACED, spaced) if len(spaced) >= MIN_SPACED else None
    loose = _NOT_ALNUM.sub("", letter_digits(folded))
    return (LOOSE, loose) if len(loose) >= MIN_LOOSE else None


_NOT_ALNUM_OR_SEPARATOR = re.compile(r"(?:[^\w\x00]|_)+")


def keys_all(folded: list[str]) -> tuple[list[str | None], list[str]]:
    """The views and keys of `[key(text) for text in folded]` (None: no view, the
    text too short), with two passes over them all."""
    joined = _joined(folded)
    if joined is None or not folded:
        looked_up = [key(text) for text in folded]
        return [k and k[0] for k in looked_up], [k[1] if k else "" for k in looked_up]
    spaced = kana_letters(_NOT_SPACED.sub("", joined)).split(_SEPARATOR)
    loose = _NOT_ALNUM_OR_SEPARATOR.sub("", letter_digits(joined)).split(_SEPARATOR)
    cjk = _NOT_CJK_OR_SEPARATOR.sub("", joined).split(_SEPARATOR)
    keys = [s if c else w for c, s, w in zip(cjk, spaced, loose, strict=True)]
    views = [
        (SPACED if len(k) >= MIN_SPACED else None)
        if c
        else (LOOSE if len(k) >= MIN_LOOSE else None)
        for c, k in zip(cjk, keys, strict=True)
    ]
    return views, keys


# The romaji view: a Japanese name's spellings in Hepburn, Kunrei-shiki and
# Nihon-shiki, with long vowels written as in kana, dropped (ō folds to o), doubled
# or with an h, n or m before b, m, p, voiced or not, made one (`Satou`, `Satoh`,
# `Satoo`, `Sato`: `sato`; `Shouta`, `Syota`: `sota`; `Homma`: `honma`; `Yamazaki`,
# `Yamasaki`: `yamasaki`; `Jyunichiro`, `Zyun'itiro`: `sunitiro`). In two steps:
# 1. markup inside a word (`Syo**uta**`, `S~~yuppan~~`) is read through, and the
#    spaces and marks between letters typed one by one (`S y o u t a`, `S.h.o.t.a`)
#    go; every other mark parts words, as a space does (so that a legal form glued
#    on, `Inc.Hikari`, does not run into the name); d before i, u, y reads as z
#    (Nihon-shiki's di, du, dya are Hepburn's ji, zu, ja);
# 2. in each word the second letter of a pair goes (sh, ch, ky, sy, jy, ou, oo, oh
#    before a consonant, uu, ts before u …; but not the h or y of a name glued to a
#    legal form that ends in a consonant, `LLCHikari`, `KKYamada`, nor the o or u
#    after `co`, `CoUeda`), then m before b, m, p reads as n, and every voiced
#    consonant as the unvoiced one: c as t, f as h, j as s, g as k, z as s, d as t,
#    b and p as h (as the spaced view reads kana: `kana_letters`).
# Only deletions and one-for-one changes, so that a place in it maps back to the
# folded text. The NUL of the batch form passes untouched.
_ROMAJI_FIRST = re.compile(  # (what step 1 drops; each branch starts with its character)
    rf"[\s{MARKS}](?<=(?<![a-z0-9])[a-z].)[\s{MARKS}]*(?=[a-z](?![a-z0-9]))|[*_~`]+"
)
_NOT_ALNUM_SPACE = re.compile(r"[^\w \x00]+")
_D_AS_Z = re.compile("d(?=[iuy])")
# Legal-form words of `_LATIN_FORM_WORDS` that end in a consonant (one look-behind
# each: they must be of fixed width).
_GLUED_CONSONANT = "".join(
    f"(?<!(?<![a-z0-9]){form}[hy])"
    for form in ("llc", "llp", "inc", "ltd", "limited", "corp", "corporation", "plc", "kk")
)
_ROMAJI_DROP = re.compile(  # (each branch starts with its letter: most places fail at once)
    rf" +|[hy](?<=[bcdfgjklmnpqrstvwxz][hy]){_GLUED_CONSONANT}|s(?<=ts)(?=u)"
    r"|[ou](?<=o[ou])(?<!(?<![a-z0-9])co[ou])|h(?<=oh)(?![aeiou])"
    "|a(?<=aa)|i(?<=ii)|u(?<=uu)|e(?<=ee)"
)
_ROMAJI_LETTERS = str.maketrans("cfjgzdbp", "thsksthh")
# The view read a second way, where a writer put a space or a mark inside a word
# (`Kobayas-hi Syouta`, `Syo uta`) or typed letters one by one where an h that
# lengthens a vowel meets a word that starts with one (`I t o h I c h i r o`): every
# gap between two letters dropped before the second step, but after an "oh" before a
# vowel, also typed one by one (the gap tells the long vowel's h from the h of "hi":
# `Itoh Ichiro`, `I t o h I c h i r o`, `R-yohei`), and before a legal-form word
# (whose word start tells its c from a name's ch: `from LLCHikari`). A needle is
# looked for in both readings (`_Either`).
# (Of a text in other scripts it keeps one character of each run, not to join the
# letters on either side: all it reads is Latin, and it reads it in a few calls.)
_NO_FORM_AHEAD = "(?!(?:llc|llp|inc|ltd|limited|gmbh|plc|kk|co))"
_ONE_BY_ONE_OH = (  # (o and h typed alone, the gap after them, a vowel typed alone)
    "(?!(?:"
    + "|".join(f"(?<=(?<![a-z0-9])o{_GAP}{{{n}}}h.)" for n in range(1, 7))
    + f"){_GAP}{{0,5}}[aeiou](?![a-z0-9]))"
)
_ROMAJI_GLUED_FIRST = re.compile(
    rf"[\s{MARKS}](?<=[a-z].)(?<!oh.){_ONE_BY_ONE_OH}[\s{MARKS}]*(?=[a-z]){_NO_FORM_AHEAD}"
    rf"|[\s{MARKS}](?<=oh.)[\s{MARKS}]*(?=[b-df-hj-np-tv-z]){_NO_FORM_AHEAD}"
    r"|[*_~`]+|[^\x00-\x7f]+(?=[^\x00-\x7f])"
)
# And a third way, every gap between two letters dropped, an oh before a vowel too: a
# mark right after the h of "hei" (`Ryoh-ei`) reads as it does without it.
_ROMAJI_ALL_GLUED_FIRST = re.compile(
    rf"[\s{MARKS}](?<=[a-z].)[\s{MARKS}]*(?=[a-z]){_NO_FORM_AHEAD}"
    r"|[*_~`]+|[^\x00-\x7f]+(?=[^\x00-\x7f])"
)
_LABIAL_M = re.compile("m(?=[bmp])")


def _romaji_first(text: str) -> str:
    """Step 1's changes, one for one: every mark a space, d before i, u, y as z."""
    return _D_AS_Z.sub("z", _NOT_ALNUM_SPACE.sub(lambda match: " " * len(match.group(0)), text))


def _romaji_letters(text: str) -> str:
    return _LABIAL_M.sub("n", text).translate(_ROMAJI_LETTERS)


def _romaji(text: str) -> str:
    """The romaji view of a folded text (without the map back; see `_Chained`)."""
    first = _romaji_first(_ROMAJI_FIRST.sub("", letter_digits(text, one="i")))
    return _romaji_letters(_ROMAJI_DROP.sub("", first))


def romaji_keys(readings: list[str]) -> list[str]:
    """The keys in the romaji view of folded romaji readings ("" if too short), in
    one pass over them all."""
    joined = _joined(readings)
    if joined is None or not readings:
        keys = [_romaji(reading) for reading in readings]
    else:
        keys = _romaji(joined).split(_SEPARATOR)
    return [key if len(key) >= MIN_LOOSE else "" for key in keys]


_NAME_IN_CJK = re.compile(f"[{_CJK_CHARS}々〆ヶ]{{3,6}}")


def other_orders(folded: str) -> list[str]:
    """A name with its parts in the other orders a writer could put them in (family
    and given name swapped: `健太 山口`, `yamaguchi kenta`): at its spaces if it has
    2 to 4 parts; a Japanese name of 3 to 6 characters without a space, where the
    family name ends is not known, at every character."""
    if " " in folded:
        parts = folded.split(" ")
        if not 2 <= len(parts) <= 4:
            return []
        return [" ".join(parts[i:] + parts[:i]) for i in range(1, len(parts))]
    if folded.isascii() or not _NAME_IN_CJK.fullmatch(folded):
        return []
    return [folded[i:] + folded[:i] for i in range(1, len(folded))]


# --- the haystack --------------------------------------------------------------------------


@dataclass
class _Joined:
    """`text`: `source` without what `drop` matches (and `then` applied, one character
    for one), and how to map a place in it back to `source` (worked out only when
    asked: most texts hold no needle)."""

    source: str
    drop: re.Pattern[str]
    text: str

    @classmethod
    def of(cls, source: str, drop: re.Pattern[str], then: Callable[[str], str] = str) -> _Joined:
        return cls(source, drop, then(drop.sub("", source)))

    @cached_property
    def _runs(self) -> tuple[list[int], list[int]]:
        """Where each kept run starts in `text`, and where in `source`."""
        starts: list[int] = [0]
        origins: list[int] = [0]
        for match in self.drop.finditer(self.source):
            starts.append(starts[-1] + match.start() - origins[-1])
            origins.append(match.end())
        return starts, origins

    def origin(self, index: int) -> int:
        starts, origins = self._runs
        run = bisect.bisect_right(starts, index) - 1
        return origins[run] + index - starts[run]

    def resume(self, end: int) -> int:
        """Where in `source` the text after a needle that ends at `end` resumes."""
        return self.origin(end) if end < len(self.text) else len(self.source)

    def as_typed(self, index: int) -> tuple[_Joined, int]:
        return self, index


@dataclass
class _Chained:
    """A view made in two steps (the romaji view: markup dropped and marks made
    spaces, then letters), with a place in it mapped back through both."""

    first: _Joined
    second: _Joined

    @property
    def text(self) -> str:
        return self.second.text

    def origin(self, index: int) -> int:
        return self.first.origin(self.second.origin(index))

    def resume(self, end: int) -> int:
        return self.first.resume(self.second.resume(end))

    def as_typed(self, index: int) -> tuple[_Joined, int]:
        """The first step (markup dropped, the letters as typed), and where `index` of
        the view is in its text."""
        return self.first, self.second.origin(index)


@dataclass
class _Either:
    """A text read in several ways (1 as l and as i; the romaji view with and without
    the gaps inside words), side by side, parted by the separator that no needle holds:
    a needle is found in either, and a place in either maps back to the source."""

    ways: tuple[_Joined | _Chained, ...]

    @cached_property
    def text(self) -> str:
        return _SEPARATOR.join(way.text for way in self.ways)

    def _way(self, index: int) -> tuple[_Joined | _Chained, int]:
        for way in self.ways[:-1]:
            if index <= len(way.text):
                return way, index
            index -= len(way.text) + 1
        return self.ways[-1], index

    def origin(self, index: int) -> int:
        way, at = self._way(index)
        return way.origin(at)

    def resume(self, end: int) -> int:
        way, at = self._way(end)
        return way.resume(at)

    def as_typed(self, index: int) -> tuple[_Joined, int]:
        way, at = self._way(index)
        return way.as_typed(at)


_LATIN_FORM_WORDS = "llc|llp|inc|incorporated|ltd|limited|corp|corporation|company|gmbh|plc|kk|co"
_GLUED_BEFORE = re.compile(rf"(?<![a-z0-9])(?:{_LATIN_FORM_WORDS})$")
_GLUED_AFTER = re.compile(rf"(?:{_LATIN_FORM_WORDS})(?![a-z0-9])")
# The same words in a view's joined text, where the view dropped what parted them
# from the words around (spaces, markup): where such a word begins or ends is then
# judged in the folded text (see `Haystack._glued_in_view`).
_FORM_WORDS = tuple(_LATIN_FORM_WORDS.split("|"))


_BOUNDARY = re.compile(r"[\W_]")
# The spaced view reads a name through any mark between its parts, a sentence's end
# too (山口。健太); but the end of one sentence and the start of the next can read like
# a name given first (「〜ましょう。いまいち」 holds しょう。いまい, 今井 翔 swapped). Such a
# match is a name where a word starts or ends with it, as the dictionary reads the
# text around: it is not one only where both its ends fall inside words (ましょ|う,
# いまいち), as no one writes a name.
_SENTENCE_END = re.compile("[。．！？!?]")


def _inside_words(folded: str, start: int, end: int) -> bool:
    """Whether `folded[start:end]` starts inside a word and ends inside one, as the
    dictionary reads the text around it (up to the spaces, 40 characters each way)."""
    from bot.preflight.readings import word_edges  # (readings imports this module)

    begin = start
    while begin > 0 and start - begin < 40 and not folded[begin - 1].isspace():
        begin -= 1
    stop = end
    while stop < len(folded) and stop - end < 40 and not folded[stop].isspace():
        stop += 1
    edges = {begin + edge for edge in word_edges(folded[begin:stop])}
    return start not in edges and end not in edges


@dataclass
class Haystack:
    """One text a reader sees, folded, in the views needles are looked up in."""

    folded: str
    _joined: dict[str, _Joined | _Chained | _Either] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> Haystack:
        return cls(fold(text))

    def joined(self, view: str) -> _Joined | _Chained | _Either:
        if view not in self._joined:
            if view == ROMAJI:  # (romaji has no l: a 1 among letters is an i)
                source = letter_digits(self.folded, one="i", spans=self._digit_spans)
                ways = []
                for first_drop, second_drop in (
                    (_ROMAJI_FIRST, _ROMAJI_DROP),
                    (_ROMAJI_GLUED_FIRST, _ROMAJI_DROP),
                    (_ROMAJI_ALL_GLUED_FIRST, _ROMAJI_DROP),
                ):
                    first = _Joined.of(source, first_drop, _romaji_first)
                    second = _Joined.of(first.text, second_drop, _romaji_letters)
                    ways.append(_Chained(first, second))
                self._joined[view] = _Either(tuple(ways))
            elif view == LOOSE:
                spans = self._digit_spans
                loose = _Joined.of(letter_digits(self.folded, spans=spans), _NOT_ALNUM)
                if any("1" in self.folded[start:end] for start, end in spans):
                    # a 1 among letters: l (A1ice) or i (Ph1l)
                    as_i = letter_digits(self.folded, one="i", spans=spans)
                    self._joined[view] = _Either((loose, _Joined.of(as_i, _NOT_ALNUM)))
                else:
                    self._joined[view] = loose
            else:
                self._joined[view] = _Joined.of(self.folded, _NOT_SPACED, kana_letters)
        return self._joined[view]

    @cached_property
    def _digit_spans(self) -> list[tuple[int, int]]:
        return _letter_digit_spans(self.folded)

    @cached_property
    def addresses(self) -> str:
        return spelled_out(self.folded)

    def text(self, view: str) -> str:
        return self.addresses if view == ADDRESS else self.joined(view).text

    def whole_word(self, view: str, needle: str, start: int) -> bool:
        """Whether `needle`, found at `start` of `text(view)`, is not part of a longer
        word: a letter or digit of a spaced script must not touch it on an end
        where the needle itself is in such a script (Japanese has no spaces, so
        "Smith様" is a whole word)."""
        if view == ADDRESS:
            return True
        joined = self.joined(view)
        first = joined.origin(start)
        last = joined.origin(start + len(needle) - 1)
        before = self.folded[first - 1] if first > 0 else " "
        # What follows: the first character after the needle that the view kept, or a
        # boundary the view dropped before it (the romaji view drops letters too: the
        # u of "Itou" ends the needle "ito", the word goes on to the space after it).
        end = start + len(needle)
        resume = joined.resume(end)
        boundary = _BOUNDARY.search(self.folded, last + 1, resume)
        if boundary is not None:
            after = boundary.group(0)
        else:
            after = self.folded[resume] if resume < len(self.folded) else " "
        if view == SPACED and _SENTENCE_END.search(self.folded, first, last):
            return not _inside_words(self.folded, first, last + 1)
        # A legal-form word glued on ("LLCLeakwell") is a boundary too, also when the
        # markup split it from the name ("BakeryI**nc.**" reads "BakeryInc."): looked
        # for in the folded text and in the view's joined text.
        return not (
            (
                _wordlike(needle[0])
                and _wordlike(before)
                and not _GLUED_BEFORE.search(self.folded, max(0, first - 13), first)
                and not self._glued_in_view(joined, start, before=True)
            )
            or (
                _wordlike(needle[-1])
                and _wordlike(after)
                and not _GLUED_AFTER.match(self.folded, last + 1)
                and not self._glued_in_view(joined, end, before=False)
            )
        )

    def _glued_in_view(
        self, joined: _Joined | _Chained | _Either, at: int, *, before: bool
    ) -> bool:
        """Whether a legal-form word of the view's joined text ends (`before`) or
        begins at `at` and, in the folded text, begins or ends at a word's edge:
        `C~~orporation~~Minato` and `BakeryI**nc.** this` read "Corporation" and
        "Inc." glued on, though the view ran the markup and the spaces together (in
        the romaji view, before its letters change: `C~~orporationMidori`)."""
        view, at = joined.as_typed(at)
        text = view.text
        for word in _FORM_WORDS:
            if before and at >= len(word) and text.startswith(word, at - len(word)):
                edge = view.origin(at - len(word))
                if edge == 0 or not _wordlike(self.folded[edge - 1]):
                    return True
            elif not before and text.startswith(word, at):
                if at + len(word) >= len(text):
                    return True
                edge = view.origin(at + len(word) - 1) + 1
                if edge >= len(self.folded) or not _wordlike(self.folded[edge]):
                    return True
        return False


# --- addresses and telephone numbers (`bot.contacts`) ------------------------------------------


def phones(haystack: Haystack) -> set[str]:
    """Telephone numbers in the text, each as its digits in national form."""
    return {number.national for number in telephone_numbers(haystack.folded)}


def emails(haystack: Haystack) -> set[str]:
    """Every address in the text, obfuscations undone (but for `us at example.com`,
    which prose says too: found only where it is someone's known address)."""
    plain = spelled_out(haystack.folded, plain_at_word=False)
    return {match.group(0).strip(".") for match in addresses(plain)}
