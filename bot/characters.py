"""Sets of characters, as regular expressions, from the running Python's Unicode
database: what is invisible, what is a punctuation mark or a symbol, what is a
digit. `bot.preflight.disguise` (what a reader can read) and `bot.contacts`
(addresses and telephone numbers) share them.

A character class over a few hundred ranges costs a test of each range for every
character it looks at, except for those of the basic plane, which the regular
expression engine looks up at once: every class here holds the basic plane's
characters, and those beyond it are tested apart, behind a test of one range,
and only where a text holds such a character at all.
"""

from __future__ import annotations

import re
import unicodedata

from bot.lookalikes_data import LETTERS, SYMBOLS


def character_class(codes: list[int]) -> str:
    """The body of a character class holding `codes` (sorted), as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


def _class_pattern(codes: list[int], *, repeated: bool = False) -> re.Pattern[str]:
    """A pattern of one of `codes` (or a run of them): the basic plane's at once,
    the others behind a test of one range."""
    basic = character_class([code for code in codes if code < 0x10000])
    beyond = character_class([code for code in codes if code >= 0x10000])
    one = "|".join(
        ([f"[{basic}]"] if basic else [])
        + ([f"(?=[\\U00010000-\\U0010ffff])[{beyond}]"] if beyond else [])
    )
    return re.compile(f"(?:{one})+" if repeated else one)


# Category Cf and the other Default_Ignorable_Code_Point ranges (Unicode 15,
# DerivedCoreProperties.txt); a test checks every Cf character of the running
# Python's Unicode database is covered.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C),
    (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2),
    (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F),
    (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1345F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip
INVISIBLE = _class_pattern([c for a, b in _INVISIBLE_RANGES for c in range(a, b + 1)])


def visible(text: str) -> str:
    """`text` as it shows: NFKC (full-width letters and digits, ㈱ → (株)) and
    without invisible characters (before and after: NFKC can reveal some)."""
    if text.isascii():
        return text
    return INVISIBLE.sub("", unicodedata.normalize("NFKC", INVISIBLE.sub("", text)))


# Punctuation marks and symbols (categories P and S) and decimal digits of the basic and
# the supplementary multilingual planes (the other planes hold none; tests check every plane).
_BY_CATEGORY: dict[str, list[int]] = {"P": [], "S": [], "N": []}
for _code in range(0x20000):
    _category = unicodedata.category(chr(_code))
    if _category[0] in "PS" or _category == "Nd":
        _BY_CATEGORY[_category[0]].append(_code)
_MARK_CODES = sorted(_BY_CATEGORY["P"] + _BY_CATEGORY["S"])

# Every punctuation mark and symbol of the basic plane, as a class body; those beyond it
# (emoji, mahjong tiles …) are `ASTRAL_MARK`, and `BEYOND_BASIC` tells whether a text
# holds any character beyond the basic plane at all.
MARKS = character_class([code for code in _MARK_CODES if code < 0x10000])
ASTRAL_MARK = _class_pattern([code for code in _MARK_CODES if code >= 0x10000])
BEYOND_BASIC = re.compile("[\U00010000-\U0010ffff]")

# Digits of every script, and kanji numerals (〇八〇-九九九九-八八八八), as ASCII digits.
AS_DIGITS = {
    code: str(unicodedata.decimal(chr(code))) for code in _BY_CATEGORY["N"] if code > 0x7F
} | {ord(numeral): str(value) for value, numeral in enumerate("〇一二三四五六七八九")}
OTHER_DIGIT = _class_pattern(sorted(AS_DIGITS))
# Dashes, hyphens and minus signs of every kind (and the long-vowel marks that stand in for
# one in Japanese numbers), one character each.
DASHES = re.compile("[\u2010-\u2015\u2043\u2212\u2796\u2e3a\u2e3b\ufe58\ufe63\u30fc\uff70\u02d7-]")


# Letters of other scripts that look like Latin ones (a name typed with a Cyrillic
# "а", a Greek "ο", a Cherokee "Ꭺ", a hooked "ƙ", small capitals "ʏᴀᴍᴀᴅᴀ" or flag
# letters "🇾🇺🇰🇮" reads as the Latin one):
# - every letter Unicode's confusables data (UTS #39) gives a Latin prototype,
#   generated into `bot.lookalikes_data` by tools/lookalikes.py (Cyrillic, Greek,
#   Armenian, Cherokee, Lisu, Coptic, Canadian syllabics, Latin letters with hooks …);
# - by their names in the running Python's Unicode database: every LATIN LETTER SMALL
#   CAPITAL, REGIONAL INDICATOR SYMBOL LETTER and NEGATIVE SQUARED or CIRCLED LATIN
#   CAPITAL LETTER, and every Latin letter "WITH" a hook, a stroke, a tail … that
#   does not decompose (ƈ, ꞔ: the data has no prototype for them);
# - by hand, what looks alike in common fonts where the data has nothing (Cyrillic в,
#   к, м, т; Greek β, ε, κ, τ, χ, ω …) or reads a bar otherwise (palochka ӏ as l).
_BY_HAND = {
    # Cyrillic
    "в": "b", "к": "k", "м": "m", "н": "h", "т": "t", "ь": "b", "ԍ": "g", "ӏ": "l",
    # Greek
    "β": "b", "ε": "e", "κ": "k", "τ": "t", "χ": "x", "ω": "w",
    # Latin letters NFKC keeps (ı, ø … are read bare by `disguise`)
    "ȷ": "j", "ɾ": "r",
}  # fmt: skip
# Capitals, read before case folding (and before NFKC, which makes the c-like ϲ an
# o-like σ): some look like another letter than their small one (Η like H, η like n).
_CAPITALS = {"Ԁ": "d", "Һ": "h", "Ԛ": "q", "І": "i", "Ι": "i"}
_BY_NAME = re.compile(
    "(?:LATIN LETTER SMALL CAPITAL |REGIONAL INDICATOR SYMBOL LETTER "
    "|NEGATIVE (?:SQUARED|CIRCLED) LATIN CAPITAL LETTER )([A-Z])"
    "|LATIN (?:SMALL|CAPITAL) LETTER ([A-Z]) WITH "
)
LOOKALIKES: dict[int, str] = {ord(char): latin for char, latin in LETTERS.items()}
for _code in range(0x20000):
    _match = _BY_NAME.match(unicodedata.name(chr(_code), ""))
    if _match and (_match.group(1) or not unicodedata.decomposition(chr(_code))):
        LOOKALIKES.setdefault(_code, (_match.group(1) or _match.group(2)).lower())
LOOKALIKES |= {ord(char): latin for char, latin in (_BY_HAND | _CAPITALS).items()}
# Where a text may hold one: any of them, or any letter of their scripts (ё is е with
# a diaeresis once decomposed).
HAS_LOOKALIKE = _class_pattern(sorted(set(LOOKALIKES) | set(range(0x0370, 0x0590))))

# Symbols that read as a Latin letter where they touch one ("⍺lice", "Exampl℮"), and
# are marks elsewhere (between two Japanese names): from the confusables data too.
LETTER_SYMBOL = _class_pattern(sorted(map(ord, SYMBOLS)))
LETTER_SYMBOLS = re.compile(
    f"(?<=[a-z])(?:{LETTER_SYMBOL.pattern})+|(?:{LETTER_SYMBOL.pattern})+(?=[a-z])"
)
SYMBOLS_AS_LETTERS = {ord(char): latin for char, latin in SYMBOLS.items()}
