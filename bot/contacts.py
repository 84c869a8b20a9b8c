"""Addresses and telephone numbers in a text, however they are written: the one
set of patterns for preflight (what readers of a newsletter receive, through
`bot.preflight.disguise`) and for the redaction of typed text bound for the
channel (`bot.typed.redact`, invariant 9).

Both look at text as it shows (`bot.characters.visible`: NFKC, nothing
invisible); preflight's is also case-folded, with every run of whitespace made
one space, so every pattern here ignores case and takes any whitespace.

- Addresses (`addresses`): the usual form, and the obfuscations a person uses
  to keep an address readable to people only (`spelled_out`): `(at)`, `[at]`,
  `{at}`, `<at>`, ` @ `, `taro at example dot com`, `taro at example.com`,
  `[dot]`, and the Japanese ones (`★` or `アットマーク` for @, `ドット` for the dot).
- Telephone numbers (`telephone_numbers`) by their digits, whatever the
  separators (spaces, dots, slashes, parentheses, every dash, hyphen and minus,
  at most six groups): Japanese ones of 10 or 11 digits starting with 0 (`+81`
  standing for the 0), international ones (+ and 8 to 15 digits). Digits may be
  written in any script or as kanji numerals, and o, l, i and | stand for 0 and
  1 where they touch a digit (`O8O-9999-8888`); or spelled out as words, in
  English or in kana (`zero eight zero …`, `ゼロハチゼロ…`, `ぜろはちぜろ…`), alone or
  among digits (`zero 80 9999 8888`), as people read numbers out (`oh eight oh,
  ninety-nine ninety-nine, double eight double eight`, `zeroeightzero…`), after a
  plus (`plus eight one eighty …`), and in the Korean digit words (`공팔공…`).

Every pattern starts its matches where a run of its characters starts, so that
each runs in linear time on any text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.characters import AS_DIGITS, DASHES, OTHER_DIGIT

_LOCAL = r"a-z0-9.!#$%&'*+/=?^_`{|}~-"
EMAIL = re.compile(rf"(?<![{_LOCAL}])[{_LOCAL}]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE)

_AT_MARK = r"[(\[{<]\s*(?:at|あっと|アット)\s*[)\]}>]|[@★☆]|アットマーク|あっとまーく"
_DOT_MARK = r"[(\[{<]\s*(?:dot|ドット|どっと)\s*[)\]}>]|ドット|どっと"
_AT_ANY = rf"\s*(?:{_AT_MARK})\s*|\s+at\s+"
_DOT_ANY = rf"\s*(?:{_DOT_MARK})\s*|\s+dot\s+|\s+\.\s+|\."
# An address written with any of them (each match starts where a run of address
# characters starts: linear on any text).
_WRITTEN = re.compile(
    rf"(?<![{_LOCAL}])([{_LOCAL}]+)({_AT_ANY})([a-z0-9-]+(?:(?:{_DOT_ANY})[a-z0-9-]+)+)",
    re.IGNORECASE,
)
_DOT_SPLIT = re.compile(_DOT_ANY, re.IGNORECASE)


def spelled_out(text: str, *, plain_at_word: bool = True) -> str:
    """`text` with every obfuscated address written plainly (`taro (at) example [dot]
    com`, `taro ★ example.com`, `taro at example dot com` → `taro@example.com`), the
    rest as it was. `plain_at_word=False` leaves `us at example.com` (the word "at"
    and plain dots) as it is: what prose says too ("visit us at example.com"), so it
    counts as an address only where it is someone's known one."""

    def plainly(match: re.Match[str]) -> str:
        local, at, domain = match.groups()
        if not plain_at_word and at.strip().lower() == "at" and "." in domain:
            parts = domain.split(".")
            if all(not _DOT_SPLIT.search(part) for part in parts):
                return match.group(0)
        return f"{local}@{'.'.join(_DOT_SPLIT.split(domain))}"

    return _WRITTEN.sub(plainly, text)


def addresses(text: str) -> list[re.Match[str]]:
    """Every address in `text` (spell it out first to see through obfuscations)."""
    return list(EMAIL.finditer(text))


@dataclass(frozen=True)
class TelephoneNumber:
    start: int
    end: int
    national: str  # its digits, +81 as a leading 0; "+" and digits if not Japanese


# A number starts where no letter, digit or address character is before it, or right
# after the word that labels it ("TEL080-…", "Tel.03-…", "FAX03-…": how it is written on
# Japanese business cards and signatures).
_LABELS = ("tel", "tel.", "tell", "fax", "fax.", "phone", "mobile", "cell", "mob.")
_PHONE_TOKEN = re.compile(
    r"(?:(?<![0-9a-z.+-])"
    + "".join(f"|(?<=(?<![a-z]){re.escape(label)})" for label in _LABELS)
    + ")"
    r"\+?[(\d](?:[\d()]|[\s.\-/](?=[\s.\-/()]{0,2}\d))*",
    re.IGNORECASE,
)
_MAX_GROUPS = 6
# A run of o, l, i or | right before a digit and not after a letter, or right after one
# and not before a letter ("lol 080" and "oil" stay words).
_DIGIT_LETTERS = re.compile(r"(?<![^\W\d_])[oli|]+(?=\d)|(?<=\d)[oli|]+(?![^\W\d_])", re.IGNORECASE)
_AS_DIGIT = str.maketrans("oliOLI|", "0110111")


def _digits_written_plainly(text: str) -> str:
    """`text` with dashes as "-", digits of any script and kanji numerals as ASCII
    digits, letters standing for digits as those: one character for one."""
    text = DASHES.sub("-", text)
    if OTHER_DIGIT.search(text):
        text = text.translate(AS_DIGITS)
    return _DIGIT_LETTERS.sub(lambda letters: letters.group(0).translate(_AS_DIGIT), text)


def _national(digits: str, *, plus: bool) -> str | None:
    """The national form of a number's digits, or None if they are not a number's."""
    if plus:
        if digits.startswith("81"):
            national = "0" + digits[2:].removeprefix("0")
            return national if len(national) in (10, 11) else None
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if digits.startswith("0") and len(digits) in (10, 11) and not digits.startswith("00"):
        return digits
    return None


_GROUP = re.compile(r"\d+")


def telephone_numbers(text: str) -> list[TelephoneNumber]:
    """Every telephone number in `text`, where it is (see the module's docstring).
    A run of digit groups may hold several numbers (`03-1234-5678 03-1234-5678`):
    from each group on, the longest run of at most six groups that is a number."""
    plain = _digits_written_plainly(text)
    found = _in_digits(plain)
    if _DIGIT_WORD.search(plain):
        taken = [(number.start, number.end) for number in found]
        found += [
            number
            for number in _in_words(plain)
            if not any(start < number.end and number.start < end for start, end in taken)
        ]
        found.sort(key=lambda number: number.start)
    return found


# Digits as words. English (case ignored): the digits, "oh" for 0, run together or not
# ("zeroeightzero"), the teens and tens ("ninety-nine", "eighty eight"), and "double"
# or "triple" before a digit ("double eight" is 88).
_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
_TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
    "eighty": "8", "ninety": "9",
}  # fmt: skip
_TIMES = {"double": 2, "triple": 3, "treble": 3, "quadruple": 4}
# Kana, and the Sino-Korean digits in Hangul (ー is "-" by then: キュ-); kanji numerals
# are digits already (bot.characters.AS_DIGITS), and these stand for them too.
_KANA_WORDS = {
    "ゼロ": "0", "レイ": "0", "マル": "0", "イチ": "1", "ニ": "2", "サン": "3", "ヨン": "4",
    "シ": "4", "ゴ": "5", "ロク": "6", "ナナ": "7", "シチ": "7", "ハチ": "8", "キュウ": "9",
    "キュ-": "9", "ク": "9",
}  # fmt: skip
_KANA_WORDS |= {  # and in hiragana
    "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in word): digit
    for word, digit in list(_KANA_WORDS.items())
}
_KANA_WORDS |= {
    "零": "0", "壱": "1", "弐": "2", "参": "3", "幺": "1", "两": "2",
    "공": "0", "영": "0", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5", "육": "6",
    "륙": "6", "칠": "7", "팔": "8", "구": "9",
}  # fmt: skip


def _either(words: Iterable[str]) -> str:
    """One alternation of `words`, the longest first (so that none stops at a shorter one)."""
    return "|".join(sorted(words, key=len, reverse=True))


_UNIT = _either(_WORDS)
_ENGLISH = (
    rf"(?<![a-z])(?:(?:{_either(_TIMES)})[\s-]+(?:{_UNIT}|\d)"
    rf"|(?:{_either(_TENS)})(?:[\s-]+(?:{_either(w for w in _WORDS if _WORDS[w] != '0')}))?"
    rf"|{_either(_TEENS)}|(?:{_UNIT})+)(?![a-z])"
)
_KANA = _either(_KANA_WORDS)
_PLUS = r"\+|(?<![a-z])plus(?![a-z])|プラス|ぷらす"
_SPELLED_TOKEN = rf"(?:{_ENGLISH}|{_KANA}|\d+)"
_ZERO = "|".join(
    [rf"(?<![a-z])(?:zero|oh)(?:{_UNIT})*(?![a-z])"]
    + [word for word, digit in _KANA_WORDS.items() if digit == "0"]
    + [r"0\d*"]
)
_SEPARATORS = r"[\s.,、・/()-]*"
# A zero, or a plus, and the tokens that follow it (each match starts at one: linear on
# any text); `_in_words` keeps those with a word and reads a number out of them.
_SPELLED_RUN = re.compile(
    rf"(?:(?:{_PLUS}){_SEPARATORS}{_SPELLED_TOKEN}|{_ZERO})(?:{_SEPARATORS}{_SPELLED_TOKEN})*",
    re.IGNORECASE,
)
_DIGIT_WORD = re.compile(rf"{_ENGLISH}|{_KANA}|{_PLUS}", re.IGNORECASE)
_TOKEN = re.compile(rf"{_PLUS}|{_SPELLED_TOKEN}", re.IGNORECASE)
_PARTS = re.compile(r"[\s-]+")
_GLUED = re.compile(_UNIT)


def _token_digits(token: str) -> str:
    """The digits a token stands for ("+" for a plus)."""
    word = token.lower()
    if word.isdigit():
        return word
    if word in ("+", "plus", "プラス", "ぷらす"):
        return "+"
    if word in _KANA_WORDS:
        return _KANA_WORDS[word]
    if word in _TEENS:
        return _TEENS[word]
    first, *rest = _PARTS.split(word)
    if first in _TIMES:
        return _token_digits(rest[0]) * _TIMES[first]
    if first in _TENS:
        return _TENS[first] + (_WORDS[rest[0]] if rest else "0")
    return "".join(_WORDS[unit] for unit in _GLUED.findall(word))


def _in_words(plain: str) -> list[TelephoneNumber]:
    """The numbers spelled out in words, among digits or not: from each token on
    that starts with 0 (or is a plus), the longest run of tokens that is a number."""
    found: list[TelephoneNumber] = []
    for run in _SPELLED_RUN.finditer(plain):
        if not _DIGIT_WORD.search(run.group(0)):
            continue  # digits only: `_in_digits`'s
        tokens = [
            (token.start(), token.end(), _token_digits(token.group(0)))
            for token in _TOKEN.finditer(run.group(0))
        ]
        first = 0
        while first < len(tokens):
            plus = tokens[first][2] == "+"
            digits, last, national = "", 0, None
            if plus or tokens[first][2].startswith("0"):
                # (no number has more than 15 digits after a plus, or 11 with a 0, nor
                # fewer than 8 or 10: only those lengths are asked about)
                shortest, longest = (8, 15) if plus else (10, 11)
                for end in range(first + 1 if plus else first, len(tokens)):
                    if tokens[end][2] == "+":
                        break
                    digits += tokens[end][2]
                    if len(digits) > longest:
                        break
                    if len(digits) < shortest:
                        continue
                    candidate = _national(digits, plus=plus)
                    if candidate is not None:
                        last, national = end, candidate
            if national is None:
                first += 1
                continue
            start = run.start() + tokens[first][0]
            found.append(TelephoneNumber(start, run.start() + tokens[last][1], national))
            first = last + 1
    return found


def _in_digits(plain: str) -> list[TelephoneNumber]:
    """The numbers written in digits (see `telephone_numbers`)."""
    found: list[TelephoneNumber] = []
    for match in _PHONE_TOKEN.finditer(plain):
        token = match.group(0)
        groups = list(_GROUP.finditer(token))
        first = 0
        while first < len(groups):
            plus = first == 0 and token.startswith("+")
            last, national, digits = 0, None, ""
            if plus or groups[first].group(0).startswith("0"):
                for end in range(first + 1, min(first + _MAX_GROUPS, len(groups)) + 1):
                    digits += groups[end - 1].group(0)
                    if len(digits) > 15:
                        break
                    candidate = _national(digits, plus=plus)
                    if candidate is not None:
                        last, national = end, candidate
            if national is None:
                first += 1
                continue
            start = match.start() if first == 0 else match.start() + groups[first].start()
            found.append(TelephoneNumber(start, match.start() + groups[last - 1].end(), national))
            first = last
    return found
