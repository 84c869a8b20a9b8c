"""Preflight sees through disguise (issue 12, items 1-3 and 8).

A hypothesis strategy disguises a subscriber's or a requester's data with the
transformations a writer could use, combined, puts it into an ordinary issue
body and asserts preflight finds it in what the reader would receive. Clean
issues in Japanese and English, checked against the rehearsal room's 3,000
made-up readers and typical requests, must have no findings.
"""

from __future__ import annotations

import re
import sys
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import characters
from bot.preflight import PersonalDataIndex, preflight
from bot.preflight.disguise import Haystack, company_core, fold, letter_digits, phones
from bot.preflight.personal_data import note_phrases
from bot.rendering import CompiledIssue, Footer, compile_issue
from bot.sample_data import sample_subscribers

SENDER = "news@example.com"
FOOTER = Footer("Navigate", "〒100-0001 東京都千代田区見本町1-2-3 見本ビル4階", "info@example.com")
# Made-up people; the first of each pair typed into the unsubscribe form.
PEOPLE = [
    ("山口 健太", "Leakwell Holdings 株式会社", "kenta.yamaguchi@example.jp"),
    ("Alice Example", "Northwind Trading Co., Ltd.", "alice.example@example.com"),
    ("佐々木 由美", "株式会社ひかり出版", "yumi@example.jp"),
    ("Olivia Brightwater", "Kestrel Analytics GmbH", "olivia.b@example.com"),
    ("小林 翔太", "有限会社みどり商店", "shota.k@example.jp"),
    ("森本さやか", "Sunrise Bakery LLC", "sayaka.m@example.jp"),  # typed without a space
    ("本間 新平", "株式会社みなと製作所", "shimpei.h@example.jp"),
    ("伊藤 純一郎", "Harbor Lights Co., Ltd.", "junichiro.i@example.jp"),
    ("Satou Yuuko", "Minato Denki K.K.", "yuko.s@example.jp"),  # typed in romaji
    ("山崎 涼子", "合同会社ひだまり", "ryoko.y@example.jp"),  # ヤマザキ, or ヤマサキ
    ("望月 千鶴", "株式会社あおば", "chizuru.m@example.jp"),  # ぢ, づ: Nihon-shiki di, du
    ("中島 優", "株式会社こだま", "yu.n@example.jp"),  # 優: ユウ, or マサル
    ("Kondo Ryohei", "Example Robotics Inc.", "ryohei.k@example.jp"),  # long vowels unwritten
]
# How a reader could be shown each Japanese name and company: its reading in kana (in
# hiragana, katakana or a mix, long vowels in any habit, voiced or not where names
# differ: ヤマザキ, ヤマサキ), and in the romaji people write (Hepburn, Kunrei-shiki,
# Nihon-shiki, jy for j, long vowels as in kana, dropped, with a macron, doubled or
# with an h, n or m before b, m, p). Written out by hand: what the dictionary must
# give, not what the code gives.
GLUED = "LLCHikari Syuppan"  # a legal form glued on, as a reading: drawn in every run
READINGS = {
    "山口 健太": ["やまぐち けんた", "ヤマグチ ケンタ", "Yamaguchi Kenta", "Yamaguti Kenta",
                  "YAMAGUCHI Kenta"],
    "佐々木 由美": ["ささき ゆみ", "ササキ ユミ", "Sasaki Yumi"],
    "小林 翔太": ["こばやし しょうた", "コバヤシ ショータ", "こばやし しょーた", "コバヤシしょうた",
                  "こばやしショータ", "Kobayashi Shota", "Kobayashi Shouta", "Kobayashi Shōta",
                  "Kobayashi Shohta", "Kobayashi Shoota", "Kobayasi Syota", "Kobayasi Syouta"],
    "森本さやか": ["もりもと さやか", "モリモト サヤカ", "Morimoto Sayaka"],
    "本間 新平": ["ほんま しんぺい", "ホンマ シンペー", "Homma Shimpei", "Honma Shinpei",
                  "Honma Sinpei", "Homma Simpei"],
    "伊藤 純一郎": ["いとう じゅんいちろう", "イトー ジュンイチロー", "いとー じゅんいちろう",
                    "イトウじゅんいちろー", "Itō Jun'ichirō", "Itoh Junichiro", "Itou Junichirou",
                    "Ito Zyunitiro", "Itoo Jun-ichiroh", "Ito Jyunichiro", "Itoh Jyun'ichirou"],
    "山崎 涼子": ["やまさき りょうこ", "ヤマザキ リョーコ", "やまざき りょーこ", "ヤマサキりょうこ",
                  "Yamasaki Ryoko", "Yamazaki Ryouko", "YAMASAKI Ryōko", "Yamazaki Ryohko"],
    "望月 千鶴": ["もちづき ちづる", "もちずき ちずる", "モチヅキチズル", "Mochizuki Chizuru",
                  "Motizuki Tizuru", "Motiduki Tiduru", "MOTIDUKI Tizuru"],
    "株式会社ひかり出版": ["ひかりしゅっぱん", "Hikari Shuppan", "Hikari Syuppan", GLUED],
    "有限会社みどり商店": ["みどりしょうてん", "Midori Shoten", "Midori Shouten", "Midori Syôten"],
    "株式会社みなと製作所": ["みなとせいさくしょ", "Minato Seisakusho", "Minato Seisakusyo"],
    "Satou Yuuko": ["Sato Yuko", "Satoh Yuko", "Satō Yūko", "SATOO Yuko", "Yuuko Satou",
                    "さとう ゆうこ", "サトウ ユウコ", "サトー ユーコ", "さとうユーコ"],
    "Kondo Ryohei": ["こんどう りょうへい", "コンドウ リョウヘイ", "こんどー りょーへい",
                     "りょうへい こんどう", "Kondou Ryouhei", "Kondoh Ryohei", "Kondō Ryōhei"],
    "中島 優": ["なかじま ゆう", "ナカシマ ユウ", "なかじま まさる", "ナカジマ マサル", "Nakajima Yu",
                "Nakashima Masaru", "NAKAJIMA Masaru", "Nakazima Yuu"],
    "Minato Denki K.K.": ["Minato Denki", "Minato Denki Co., Ltd."],
}  # fmt: skip
INDEX = PersonalDataIndex.from_values(
    [
        pair
        for name, company, email in PEOPLE
        for pair in (("name", name), ("company", company), ("address", email))
    ]
)
CONTEXTS = [
    "今月のお知らせです。{}についてご報告します。",
    "{{ subscriber.name }}様\n\n先日、{}の件でお問い合わせをいただきました。",
    "News from {} this month.\n\nThank you for reading, {{ subscriber.name }}.",
    "# 12月号\n\n- {}\n- 営業日のご案内",
    "> {}\n\n[配信停止]({{ unsubscribe_url }})",
    "Thank you, {}-san, for the photographs.",
]
INVISIBLE = ["\u200b", "\u00ad", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u034f"]
SPACES = [" ", "  ", "\n", "\u3000", " \n ", "\t", "\u00a0", "・"]
# Punctuation and symbols a writer could put between family and given name.
MARKS = ["、", "，", "･", "／", "」「", "—", "–", "‐", "♥", "☆", "【", "〜", "。", "：", "😀"]
# Letters of other scripts that look like Latin ones (Cyrillic, Greek, Armenian, Latin
# small capitals and extensions, letters with a hook or a stroke, Cherokee and Lisu
# capitals, Coptic, Canadian syllabics, flag letters and letters in boxes), written out
# by hand; the last string of each: symbols that read as the letter next to a letter.
LOOKALIKES = {
    "a": "аαɑᴀ🇦Ꭺꓮᗅ🅰", "b": "ʙβᏴꓐᗷƀ", "c": "сϲᴄᏟꓚƈȼⲤ", "d": "ԁᴅᎠꓓɗᗪ", "e": "еεᴇᎬꓰɇ",
    "f": "ꜰꓝƒ", "g": "ɡցɢᏀꓖɠ", "h": "һհʜᎻꓧɦⲎ", "i": "іιɩɪⲒɨ", "j": "јϳȷᴊᎫꓙɉ",
    "k": "кκᴋᏦꓗƙⲔ", "l": "ӏʟᏞꓡǀꓲ", "m": "мᴍᎷꓟⲘɱ", "n": "ոηɴꓠⲚɲ", "o": "оοσօᴏⲞꓳഠ",
    "p": "рρᴘᏢꓑƥⲢ", "q": "ԛզʠ", "r": "гʀꓣɍ", "s": "ѕꜱᏚꓢ", "t": "тτᴛᎢꓔƭ", "u": "υսᴜꓴᑌ",
    "v": "ѵνᴠᏙꓦ", "w": "ԝωᴡᎳꓪ", "x": "хχⲬꓫ", "y": "уүʏ🇾ꓬƴ", "z": "ᴢꓜȥƶ",
}  # fmt: skip
LETTER_SYMBOLS = {"a": "⍺", "e": "℮", "i": "⍳", "p": "⍴"}
DIACRITICS = ["\u0301", "\u0300", "\u0308", "\u0302", "\u0303", "\u030c", "\u0327"]
JA_FORMS = ["株式会社", "(株)", "㈱", "有限会社", "合同会社"]
LATIN_FORMS = ["Inc.", "Co., Ltd.", "Ltd.", "LLC", "GmbH", "Corporation"]


def compile_(body: str) -> CompiledIssue:
    return compile_issue(
        "12月号", body, sender=SENDER, stream="broadcast", list_name="Newsletter", footer=FOOTER
    )


def codes(body: str, index: PersonalDataIndex = INDEX) -> set[str]:
    findings = preflight(
        compile_(body),
        body_source=body,
        sender_address=SENDER,
        index=index,
        list_name="Newsletter",
        footer=FOOTER,
    )
    return {f.code for f in findings}


@st.composite
def disguised(
    draw: st.DrawFn, text: str, *, company: bool = False, reading: str | None = None
) -> str:
    """`text` as a writer could disguise it, several transformations combined (as
    `reading`, one of its READINGS, if given)."""
    romanised = read = formed = spread = False
    if reading is None and text in READINGS and draw(st.booleans()):  # as it reads
        reading = draw(st.sampled_from(READINGS[text]))
    if reading is not None:  # in kana or romaji
        text = reading
        romanised, read, formed = text.isascii(), True, text == GLUED
    if company:
        core = company_core(fold(text))
        text = draw(st.sampled_from([text, core, core.title()]))
        if not formed and draw(st.booleans()):
            form = draw(st.sampled_from(JA_FORMS + LATIN_FORMS))
            # (glued before a romanised name, "LLCHikari Syuppan": the c of LLC must not
            # take the h of Hikari as if it were "ch")
            text = draw(st.sampled_from([f"{form}{text}", f"{text} {form}", f"{text}{form}"]))
            formed = True
    words = text.split(" ")
    if not company and draw(st.booleans()):  # family and given name swapped
        if len(words) > 1:
            words = [*words[1:], words[0]]
        elif len(text) > 2 and not text.isascii() and not read:
            # where the family name ends is not known: at any character (a reading is
            # swapped where its parts are, at its space)
            cut = draw(st.integers(1, len(text) - 1))
            words = [text[cut:], text[:cut]]
    # Digits for letters inside a word (Yamaguch1, Sat0, A1ice), each next to a letter
    # of its word that stays one; a 1 for i or for l, not both in one text (a text is
    # read with every such 1 as an l, or every one as an i: "0l1v1a" is not read)
    if draw(st.booleans()):
        one = draw(st.sampled_from("il"))
        digit_for = {"o": "0", one: "1", "e": "3", "a": "4", "s": "5", "t": "7", "b": "8"}
        words = [
            draw(_with_digits(word, digit_for))
            if word.isascii() and word.isalpha() and not _FORM_WORD.search(word)
            else word
            for word in words
        ]
    # A space or a mark inside a word ("Kobayas-hi", "Syo uta", "山・口"), not next to a
    # digit nor inside a legal form
    if draw(st.booleans()):
        at = draw(st.integers(0, len(words) - 1))
        word = words[at]
        cuts = [i for i in range(1, len(word)) if not (word[i - 1].isdigit() or word[i].isdigit())]
        if cuts and not _FORM_WORD.search(word):
            cut = draw(st.sampled_from(cuts))
            mark = draw(st.sampled_from(["-", ".", " ", "'", "・", "/", "\u3000", "·"]))
            words[at] = word[:cut] + mark + word[cut:]
    # Typed letter by letter: "S y o u t a", "I t o h I c h i r o" (where a legal form
    # runs into the name, "C o . , L t d . H i k a r i", left out)
    if romanised and not formed and draw(st.booleans()):
        between = draw(st.sampled_from([" ", ".", " . ", "-", "\u3000"]))
        words = [between.join(word) for word in words]
        spread = True
    if len(words) > 1:
        joiners = draw(st.lists(st.sampled_from([*SPACES, *MARKS, ""]), min_size=len(words) - 1,
                                max_size=len(words) - 1))  # fmt: skip
        if all(ord(c) < 0x3000 for c in text):
            joiners = [j or " " for j in joiners]  # Latin words keep some space
        text = words[0] + "".join(j + w for j, w in zip(joiners, words[1:], strict=True))
    chars = list(text)
    case = draw(st.sampled_from([str, str.upper, str.lower, str.swapcase]))
    chars = [case(c) for c in chars]
    for i, c in enumerate(chars):
        choice = draw(st.integers(0, 9))
        if choice == 0 and c.isascii() and c.isalnum():
            chars[i] = chr(ord(c) + 0xFEE0)  # full width
        elif choice == 1 and c.isalnum():
            chars[i] = draw(st.sampled_from([f"&#{ord(c)};", f"&#x{ord(c):x};"]))
        elif choice == 2 and c.lower() in LOOKALIKES:
            # (a symbol reads as a letter where it touches one: not typed letter by letter,
            # nor beside a mark or a space: "⍳-toh" reads as a mark before "toh")
            touches = all(text[j].isalpha() for j in (i - 1, i + 1) if 0 <= j < len(text))
            symbols = LETTER_SYMBOLS.get(c.lower(), "") if touches and not spread else ""
            chars[i] = draw(st.sampled_from(LOOKALIKES[c.lower()] + symbols))
        elif choice == 3:
            chars[i] = c + draw(st.sampled_from(INVISIBLE))
        elif choice == 4 and c.isascii() and c.isalpha():  # a diacritic, composed or not
            accented = c + draw(st.sampled_from(DIACRITICS))
            chars[i] = draw(st.sampled_from([accented, unicodedata.normalize("NFC", accented)]))
        elif choice == 5 and "ぁ" <= c <= "ゖ":  # hiragana as katakana, and back
            chars[i] = chr(ord(c) + 0x60)
        elif choice == 5 and "ァ" <= c <= "ヶ":
            chars[i] = chr(ord(c) - 0x60)
    if draw(st.booleans()) and len(chars) > 3:  # split by Markdown emphasis, between letters
        cut = draw(st.integers(1, len(chars) - 2))
        mark = draw(st.sampled_from(["**", "*", "~~", "__"]))
        chars = [*chars[:cut], mark, *chars[cut:], mark]
    return "".join(chars)


# A legal-form word, alone or glued to a name (no digit or mark goes inside one)
_FORM_WORD = re.compile(
    r"^(?:inc|co|ltd|llc|gmbh|corporation|k\.k)|(?:inc|co|ltd|llc|gmbh|corporation)[.,]*$|"
    + "|".join(map(re.escape, JA_FORMS)),
    re.IGNORECASE,
)


@st.composite
def _with_digits(draw: st.DrawFn, word: str, digit_for: dict[str, str]) -> str:
    """`word` with a digit for up to two of its letters, each between letters (two
    digits in a row typed one by one, "1 7 o h", are not read: a digit typed alone is
    read as a letter beside a letter typed alone)."""
    chars = list(word)
    for i in sorted(draw(st.lists(st.integers(0, len(word) - 1), max_size=2, unique=True))):
        digit = digit_for.get(chars[i].lower())
        beside = [chars[j] for j in (i - 1, i + 1) if 0 <= j < len(chars)]
        if digit and beside and all(c.isalpha() for c in beside):
            chars[i] = digit
    return "".join(chars)


def _person() -> st.SearchStrategy[tuple[str, str, str]]:
    return st.sampled_from(PEOPLE)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), _person(), st.sampled_from(CONTEXTS))
def test_a_disguised_name_or_company_is_found(data: st.DataObject, person, context: str):
    name, company, _ = person
    is_company = data.draw(st.booleans())
    shown = data.draw(disguised(company if is_company else name, company=is_company))
    body = context.replace("{}", shown, 1)
    assert "subscriber_data" in codes(body), body


COMPANIES = {company for _, company, _ in PEOPLE}


@pytest.mark.parametrize(
    ("typed", "reading"),
    [(typed, reading) for typed, forms in READINGS.items() for reading in forms],
)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(CONTEXTS))
def test_every_reading_is_found_however_disguised(
    typed: str, reading: str, data: st.DataObject, context: str
):
    """Each reading of READINGS in every run (the strategy above draws one of them
    only now and then), with the other transformations drawn."""
    shown = data.draw(disguised(typed, company=typed in COMPANIES, reading=reading))
    body = context.replace("{}", shown, 1)
    assert "subscriber_data" in codes(body), body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), _person(), st.sampled_from(CONTEXTS))
def test_a_disguised_address_is_found(data: st.DataObject, person, context: str):
    local, domain = person[2].split("@")
    at = data.draw(st.sampled_from(["@", "＠", " (at) ", "[at]", " @ ", "&#64;", "&#x40;"]))
    dot = data.draw(st.sampled_from([".", " (dot) ", "[dot]", "&#46;"]))
    address = f"{local}{at}{domain.replace('.', dot)}"
    if data.draw(st.booleans()):
        address = address.upper()
    if data.draw(st.booleans()):  # a link, its target URL-encoded
        address = f"[連絡先](mailto:{local}%40{domain})"
    body = context.replace("{}", address, 1)
    assert codes(body) & {"personal_email", "subscriber_data"}, body


DASHES = ["-", "‐", "‑", "‒", "–", "—", "―", "−", "ー", "－", "﹣", " ", ".", "  ", ""]
# Digits spelled out, each in the words people use for it.
SPELLED = {
    "english": ["zero oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
                "nine"],
    "katakana": ["ゼロ レイ マル", "イチ", "ニ", "サン", "ヨン", "ゴ", "ロク", "ナナ", "ハチ",
                 "キュウ キュー"],
    "hiragana": ["ぜろ れい", "いち", "に", "さん", "よん", "ご", "ろく", "なな", "はち", "きゅう"],
}  # fmt: skip
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]  # fmt: skip
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _said_in_pairs(data: st.DataObject, group: str, between: str) -> str:
    """A group of digits said two at a time, as people read numbers out: "ninety-nine",
    "double eight", "eighteen", "oh eight" (an odd first digit on its own)."""
    words = SPELLED["english"]
    said = [words[int(group[0])].split()[0]] if len(group) % 2 else []
    for tens, unit in zip(group[len(group) % 2 :: 2], group[len(group) % 2 + 1 :: 2], strict=True):
        ways = [
            between.join(data.draw(st.sampled_from(words[int(d)].split())) for d in tens + unit)
        ]
        if tens == unit:
            ways.append(
                f"{data.draw(st.sampled_from(['double', 'Double']))} {words[int(unit)].split()[0]}"
            )
        if tens == "1":
            ways.append(TEENS[int(unit)])
        elif tens >= "2":
            ways.append(TENS[int(tens)] + (f"-{words[int(unit)]}" if unit != "0" else ""))
        said.append(data.draw(st.sampled_from(ways)))
    return " ".join(said)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.sampled_from([("080", "9999", "8888"), ("03", "1234", "5678"), ("0120", "123", "456")]),
    st.lists(st.sampled_from(DASHES), min_size=2, max_size=2),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["ascii", "letters", "kanji", "english", "katakana", "hiragana"]),
    st.sampled_from(CONTEXTS),
)
def test_a_telephone_number_is_found_whatever_its_separators(
    data, groups, separators, full_width, international, parentheses, digits, context
):
    if digits == "letters":  # O for 0, l or I for 1
        groups = tuple(g.replace("0", "O").replace("1", "l") for g in groups)
    elif digits == "kanji":
        groups = tuple(
            g.translate(str.maketrans("0123456789", "〇一二三四五六七八九")) for g in groups
        )
    elif digits in SPELLED:  # spelled out, in every group or in some
        spelled = data.draw(st.lists(st.booleans(), min_size=3, max_size=3).filter(any))
        between = data.draw(st.sampled_from([" ", "-", ""] if digits == "english" else ["", " "]))
        if digits == "english":  # (words run into each other are one word)
            separators = [s if s.strip() else " " for s in separators]
        pairs = digits == "english" and data.draw(st.booleans())
        if international:  # "+81" or "plus eight one", and the number without its 0
            plus = data.draw(st.sampled_from(["+81", "plus eight one", "Plus 81"]))
            groups = (groups[0][1:], *groups[1:])
        groups = tuple(
            (
                _said_in_pairs(data, g, between)
                if pairs
                else between.join(
                    data.draw(st.sampled_from(SPELLED[digits][int(d)].split())) for d in g
                )
            )
            if spell
            else g
            for g, spell in zip(groups, spelled, strict=True)
        )
        if international:
            groups = (f"{plus} {groups[0]}", *groups[1:])
            international = False
    first, *rest = groups
    if international:
        first = "+81 " + first[1:]
    elif parentheses:
        first = f"({first})"
    number = first + "".join(s + g for s, g in zip(separators, rest, strict=True))
    if full_width:
        number = unicodedata.normalize("NFKC", number).translate(
            {ord(d): chr(ord(d) + 0xFEE0) for d in "0123456789"}
        )
    body = context.replace("{}", f"お電話 {number} まで", 1)
    assert "personal_phone" in codes(body), body


# --- the seven bodies of the review, and the forms a new user tried --------------------------


@pytest.mark.parametrize(
    "body",
    [
        "本日は Leak**well** Holdings の話です。",
        "本日は Leakw&#101;ll Holdings の話です。",
        "本日は Leak\u200bwell Holdings の話です。",
        "本日は Leakwell\nHoldings の話です。",
        "本日は山口健太さんの話です。",
        "本日は山口　健太さんの話です。",
        "本日は Leakwell Holdings の話です。",
        "本日は Leakwell Holdings 株式会社 の話です。",
        "本日は㈱Leakwell Holdingsの話です。",
        # family and given name swapped, Japanese punctuation between them
        "本日は健太 山口さんの話です。",
        "本日は健太山口さんの話です。",
        "本日は山口、健太さんの話です。",
        "本日は山口・健太さんの話です。",
        "本日は「山口」「健太」さんの話です。",
        "本日はさやか森本さんの話です。",
        "Thanks to Example, Alice!",
        "Thanks to EXAMPLE Alice!",
        "Thanks to Älîcé Exämple!",
        "本日はLeakwell Holdingsの件。株式会社ヒカリ出版からのお知らせ",
        # letters of other scripts that look like Latin ones
        "Thanks to ᴀʟɪᴄᴇ ᴇxᴀᴍᴘʟᴇ!",  # small capitals
        "本日は ʟᴇᴀᴋᴡᴇʟʟ ʜᴏʟᴅɪɴɢꜱ の話です。",
        "Thanks to 🇦🇱🇮🇨🇪 Example!",  # regional indicators, shown as boxed letters
        "Thanks to Αlice Εxample!",  # Greek capitals
        "Thanks to Alicе Exаmplё!",  # Cyrillic, one with a diaeresis
        "本日は Lеаkwеll Ηоldіngѕ の話です。",
        "本日は Leakwell Hօlժings の話です。".replace("ժ", "d"),  # Armenian o
        "Thanks to ɑlice exɑmple!",  # Latin alpha
        "Thanks to Alice Examρle, ϲheers",  # Greek rho; a lunate sigma NFKC would make σ
        # look-alikes from Unicode's confusables data, and Latin letters with hooks
        "Thanks to Ꭺlice Ꭼxample!",  # Cherokee capitals
        "本日は ᏞᎬᎪᏦᏔᎬᏞᏞ Holdings の話です。",
        "本日は ꓡꓰꓮꓗꓪꓰꓡꓡ ꓧꓳꓡꓓings の話です。",  # Lisu
        "Thanks to Aliƈe Examƥle!",  # hooks
        "Thanks to ƙenta Yamaɠuchi!",  # (山口 健太 in romaji)
        "Thanks to ⍺lice Ex⍺mpl℮!",  # symbols that read as letters next to one
        "Thanks to 🅰lice 🅴xample!",
    ],
)
def test_the_reviews_disguises_are_found(body: str):
    assert "subscriber_data" in codes(body)


@pytest.mark.parametrize(
    "body",
    [
        "Thanks to Kenta Yamaguch1!",  # digits for letters inside a name
        "本日は Sat0u Yuuk0 さんの話です。",
        "Thanks to A1ice Examp1e!",  # 1 as l
        "本日は1to Junich1r0 さんの話です。",  # 1 as i
        "本日は Le4kwe11 H0ldings の話です。",
        "本日は S a t 0 u Y u u k o さんの話です。",  # among letters typed one by one
        "本日はK0BAY4SHI SH07Aさんの話です。",
        "本日は Ｓａｔ０ｕ Ｙｕｕｋｏ さんの話です。",  # full-width
    ],
)
def test_digits_for_letters_inside_a_name_are_found(body: str):
    assert "subscriber_data" in codes(body), body


@pytest.mark.parametrize(
    "text",
    [
        "Tel. 080-9999-8888",  # digits of a telephone number beside letters stay digits
        "tel:0809999888",
        "Fax:03-1234-5678",
        "お電話 080 9999 8888 まで",
    ],
)
def test_digits_of_a_telephone_number_beside_letters_stay_digits(text: str):
    assert "personal_phone" in codes(f"ご連絡は {text} まで。"), text


def test_digits_among_letters_read_as_letters_only_inside_a_word():
    assert letter_digits("yamaguch1 sat0 a1ice 1to") == "yamaguchl sato alice lto"
    assert letter_digits("yamaguch1 1to", one="i") == "yamaguchi ito"
    assert letter_digits("s a t 0 u, y.u.u.k.0") == "s a t o u, y.u.u.k.o"
    ordinary = "080-9999-8888 2026-12-01 第12号 1,000円 10:00 iso 9001 no. 5 (3 of 8)"
    assert letter_digits(ordinary) == ordinary


def test_what_the_template_prints_is_scanned_not_the_source():
    """Literals and filters are refused at save; a stored version that holds one is
    refused before it renders; what a stored version prints is scanned."""
    compiled = compile_("本文です。")
    stored = CompiledIssue(
        subject=compiled.subject,
        html=compiled.html.replace("本文です。", "Leakwell Holdings"),
        text=compiled.text,
        sender=compiled.sender,
        stream=compiled.stream,
    )
    findings = preflight(
        stored,
        body_source="本文です。",
        sender_address=SENDER,
        index=INDEX,
        list_name="Newsletter",
        footer=FOOTER,
    )
    assert "subscriber_data" in {f.code for f in findings}


@pytest.mark.parametrize(
    "note",
    [
        "山口健太 Leakwell Holdings 株式会社 から退会依頼",
        "山口 健太さんより電話。Leakwell Holdingsの総務部とのこと",
        "Called by Mr Kenta Yamaguchi of Leakwell Holdings Inc.",
        "先方は「ひかり出版社の編集部で働いている佐々木です」とのこと",
    ],
)
def test_what_was_typed_into_a_requests_note_is_personal_data(note: str):
    index = PersonalDataIndex.from_values([("note", note)])
    found = [kind for kind, _ in note_phrases(note)]
    assert found, note
    body_with = {
        "山口健太 Leakwell Holdings 株式会社 から退会依頼": "先月は山口　健太様にお世話になりました",
        "山口 健太さんより電話。Leakwell Holdingsの総務部とのこと": "LEAKWELL HOLDINGS の皆様へ",
        "Called by Mr Kenta Yamaguchi of Leakwell Holdings Inc.": "Thanks to Kenta Yamaguchi!",
        "先方は「ひかり出版社の編集部で働いている佐々木です」とのこと": (
            "ひかり出版社の編集部で働いている佐々木です"
        ),
    }[note]
    assert "subscriber_data" in codes(body_with, index), body_with


# --- what is not a finding -----------------------------------------------------------------

CLEAN_JA = """# 【12月号】年末のご挨拶

{{ subscriber.name }}様（{{ subscriber.company }}）

いつもお世話になっております。本年も{{ list_name }}をご愛読いただき、誠にありがとうございました。

## 営業日のご案内

- 12月28日（月）から1月4日（月）まで休業いたします。
- 年始は1月5日（火）10時より営業いたします。

## 新サービスのお知らせ

来年2月より、請求書の電子発行サービスを開始いたします。詳しくは当社ウェブサイトをご覧ください。
価格は月額1,000円（税込）、第12号でもご紹介した通りです。ISBN 978-4-00-000000-0

ご質問は info@example.com または news@example.com までお寄せください。
配信停止をご希望の方は[こちら]({{ unsubscribe_url }})からお手続きください。
"""

CLEAN_EN = """# December issue

Dear {{ subscriber.name }},

Thank you for reading {{ list_name }} this year. We will be closed from 28 December to
4 January; from 5 January at 10:00 we are back. Our new invoicing service starts in
February for 1,000 yen a month; see issue No. 12 or write to info@example.com.

Please unsubscribe here if you no longer wish to hear from us: {{ unsubscribe_url }}
"""


CLEAN_JA_LISTS = """# 年末年始のお知らせ

{{ subscriber.name }}様

対象地域：東京・大阪・名古屋・福岡、札幌、山口・広島・岡山。担当：営業部、総務部、経理部（「年末調整」の件）。
【重要】新サービス「ひかりクラウド」（ヒカリクラウド）は、森・林・山・川の写真を扱います。
価格：一〇〇〇円〜二〇〇〇円、二〇二六年一二月一日より。営業時間 10:00〜18:00／土日祝休み。
Q&A・FAQ・ニュース・イベント・セミナー・キャンペーン情報は当社サイトへ。

[配信停止]({{ unsubscribe_url }})
"""


@pytest.fixture(scope="module")
def everyday_index() -> PersonalDataIndex:
    """The rehearsal room's 3,000 made-up readers, and requests with typical notes."""
    values: list[tuple[str, str]] = []
    for person in sample_subscribers(3_000):
        values += [("address", person.email), ("name", person.name), ("company", person.company)]
    for note in (
        "いつもお世話になっております。配信停止希望。",
        "ニュースレター不要とのこと。メールアドレス変更のため",
        "Please remove me from the list, thank you.",
        "本人より電話あり",
    ):
        values.append(("note", note))
    return PersonalDataIndex.from_values(values)


@pytest.mark.parametrize("body", [CLEAN_JA, CLEAN_EN, CLEAN_JA_LISTS])
def test_an_ordinary_issue_has_no_findings(body: str, everyday_index: PersonalDataIndex):
    assert codes(body, everyday_index) == set()


@pytest.mark.parametrize(
    "text",
    ["2026-11-27", "第12号", "価格 1,000円", "ISBN 978-4-00-000000-0", "0 1 2 3 4 5 6 7 8 9",
     "〒100-0001", "10:00-18:00", "v1.2.3.4.5.6", "0.5 1.25 3.75 2.5", "二〇二六年一二月一日",
     "oil 1234 5678", "lol 2026 11 27", "第一〇〇号", "polo 0120 lol", "one two three four five",
     "oh no, zero one two", "ゼロからはじめるイチニサンシ", "にしごく", "ぜろにいちにさんしごろく",
     "zero to ninety-nine in eight seconds", "Zero One Two Three Four Five Six"],
)  # fmt: skip
def test_ordinary_numbers_are_not_telephone_numbers(text: str):
    assert phones(Haystack.of(text)) == set()


def test_the_senders_own_details_are_not_findings():
    """A colleague on the list works for the sender: the footer names their company."""
    index = PersonalDataIndex.from_values(
        [("company", "Navigate"), ("address", "info@example.com")]
    )
    assert codes("Navigate からのお知らせです。ご質問は info@example.com まで。", index) == set()


def test_every_punctuation_mark_and_symbol_between_japanese_names_is_looked_through():
    """Whatever mark stands between family and given name (、・「」【】♥ …), the name
    reads on: every character of categories P and S of the running Python's Unicode
    database that stays a mark under NFKC (™ becomes letters, and reads as them) and
    is not a letter in a box (the regional indicators 🇦 … 🇿 and 🅐 🅰 read as the
    letters). The symbols that read as a letter next to one (⍺, ℮) are marks here."""
    marks = [
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code))[0] in "PS"
        and all(
            unicodedata.category(c)[0] in "PSZ" for c in unicodedata.normalize("NFKC", chr(code))
        )
        and code not in characters.LOOKALIKES
    ]
    assert "⍺" in marks and "℮" in marks and "×" in marks
    missed = [m for m in marks if INDEX.find(f"本日は山口{m}健太さん") != [("name", "山口 健太")]]
    assert missed == []


def test_every_invisible_character_is_folded_away():
    invisible = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert fold("a" + "".join(invisible) + "b") == "ab"


@pytest.mark.parametrize(
    ("company", "core"),
    [
        ("Leakwell Holdings 株式会社", "leakwell holdings"),
        ("株式会社サンプル", "サンプル"),
        ("㈱サンプル", "サンプル"),
        ("サンプル(有)", "サンプル"),
        ("Acme Co., Ltd.", "acme"),
        ("Kestrel Analytics GmbH", "kestrel analytics"),
        ("Example Trading Inc.", "example trading"),
        ("Company", "company"),
    ],
)
def test_legal_form_words_are_dropped_on_either_side(company: str, core: str):
    assert company_core(fold(company)) == core


@pytest.mark.parametrize(
    "body",
    [
        "a" * 99_000,
        "あ" * 99_000,
        "hanako" * 16_000 + "@",
        "x@" * 45_000,
        "[" * 4_999 + "a" * 90_000,
        "1-" * 45_000,
        "山田 " * 30_000,
        "a 1 " * 25_000,
        ("sat" * 20 + "**0") * 1_500,
        "しょう。" * 25_000,
    ],
    ids=[
        "latin",
        "kana",
        "address-run",
        "at-signs",
        "brackets",
        "digits",
        "names",
        "spread-digits",
        "marked-digits",
        "sentence-ends",
    ],
)
def test_preflight_takes_linear_time_on_any_body(body: str):
    """Every pattern preflight runs starts its matches where a run starts: a body of
    the largest size, built to make a pattern backtrack, is checked at once."""
    compiled = compile_(body)
    started = time.thread_time()
    preflight(
        compiled,
        body_source=body,
        sender_address=SENDER,
        index=INDEX,
        list_name="Newsletter",
        footer=FOOTER,
    )
    assert time.thread_time() - started < 1.5


def test_a_legal_form_glued_on_and_split_by_markup_is_still_a_boundary():
    """Found by the property test in CI: "Sunrise Bakery LLC" written as
    `ｓｕｎｒｉｓｅ ｂａｋｅｒｙＩ**ｎｃ.**` reads "sunrise bakeryInc." to a reader."""
    text = "今月のお知らせです。ｓｕｎｒｉｓｅ ｂａｋｅｒｙＩ**ｎｃ.**についてご報告します。"
    assert "subscriber_data" in codes(text), text  # PEOPLE holds Sunrise Bakery LLC


@pytest.mark.parametrize(
    "text",
    [
        # Found by the property test on PostgreSQL's leg: markup inside the glued form.
        "News from Ｃ~~ｏｒｐｏｒａｔｉｏｎｍｉｎａｔｏ ｄｅｎｋｉ~~ this month.",
        "News from L**LC**Minato Denki this month.",
        "News from Minato DenkiI**nc.** this month.",
        "News from Minato Denki~~Co~~ this month.",
    ],
)
def test_a_glued_legal_form_split_by_markup_is_a_boundary_on_either_side(text: str):
    """The loose view runs the markup and the spaces together; a legal-form word
    glued on is still told by where it begins or ends in the text as folded."""
    assert "subscriber_data" in codes(text), text  # PEOPLE holds Minato Denki K.K.


@pytest.mark.parametrize("text", ["News from Tacominato denkis this month.", "Incominato denkin"])
def test_a_legal_form_inside_a_longer_word_is_no_boundary(text: str):
    """`tacominato`: the "co" is part of the word before, not a form glued on."""
    assert "subscriber_data" not in codes(text), text
