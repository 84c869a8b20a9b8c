"""Seeing through disguise: the comparable form of a text, on both sides of a match.

`fold()` is applied alike to the personal data (the needles) and to what a
reader sees (the haystack): NFKC (full-width letters and digits, ㈱ → (株)),
case folding, format and invisible characters removed (every character of
category Cf and the other default-ignorable code points: soft hyphen,
zero-width space and joiners, word joiner, BOM, variation selectors …), Latin
look-alikes from Cyrillic and Greek mapped to Latin, and every run of
whitespace and line breaks (an ideographic space, a nakaguro between family
and given name) made one space.

`Haystack` then offers the folded text three ways: `loose` (letters and digits
only, so `Lea**kwell**`, `Leak-well` and `L e a k w e l l` read as `leakwell`;
for needles in scripts that separate words, with whole-word checks against the
folded text), `spaced` (whitespace and ASCII punctuation dropped; for Japanese,
Chinese and Korean needles, which are written with or without a space) and `addresses` (common
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
from dataclasses import dataclass, field
from functools import cached_property

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
_INVISIBLE = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _INVISIBLE_RANGES) + "]"
)
# Letters that look like Latin ones (after case folding): a name written with a
# Cyrillic "а" reads exactly like the Latin one.
_LOOKALIKES = str.maketrans(
    "аеорсхуікјѕԁһӏԛԝвмнтαβεικνορτυχ",
    "aeopcxyikjsdhlqwbmhtabeiknoptux",
)
# Dashes, hyphens and minus signs of every kind become "-" (for telephone numbers).
_DASHES = re.compile("[\u2010-\u2015\u2043\u2212\u2796\u2e3a\u2e3b\ufe58\ufe63\u30fc\uff70\u02d7-]")
_SPACES = re.compile(r"[\s\u30fb]+")  # whitespace of every kind, and the nakaguro "・"


_HAS_LOOKALIKE = re.compile("[\u0370-\u052f]")  # Greek and Cyrillic (after case folding)


def fold(text: str) -> str:
    """The comparable form of `text` (see the module's docstring)."""
    if text.isascii():  # nothing to normalise, nothing invisible, no look-alikes
        return _SPACES.sub(" ", text.lower())
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _INVISIBLE.sub("", text)  # NFKC can reveal some (e.g. a compatibility form)
    if _HAS_LOOKALIKE.search(text):  # (a translation reads every character: only if needed)
        text = text.translate(_LOOKALIKES)
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

LOOSE, SPACED, ADDRESS = "loose", "spaced", "address"
MIN_LOOSE = 4  # letters or digits of a name in a script with spaces
MIN_SPACED = 2  # a Japanese family name plus given name is 2+ characters
_NOT_ALNUM = re.compile(r"[\W_]+")
# What the spaced view drops: whitespace, and ASCII punctuation, which Japanese prose
# does not use (its own, 、。「」, stays): `山口**健太`, `山口/健太` read as 山口健太.
_NOT_SPACED = re.compile(r"[\s!-/:-@\[-`{-~]+")

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
        spaced = _NOT_SPACED.sub("", folded)
        return (SPACED, spaced) if len(spaced) >= MIN_SPACED else None
    loose = _NOT_ALNUM.sub("", folded)
    return (LOOSE, loose) if len(loose) >= MIN_LOOSE else None


_NOT_ALNUM_OR_SEPARATOR = re.compile(r"(?:[^\w\x00]|_)+")


def keys_all(folded: list[str]) -> tuple[list[str | None], list[str]]:
    """The views and keys of `[key(text) for text in folded]` (None: no view, the
    text too short), with two passes over them all."""
    joined = _joined(folded)
    if joined is None or not folded:
        looked_up = [key(text) for text in folded]
        return [k and k[0] for k in looked_up], [k[1] if k else "" for k in looked_up]
    spaced = _NOT_SPACED.sub("", joined).split(_SEPARATOR)
    loose = _NOT_ALNUM_OR_SEPARATOR.sub("", joined).split(_SEPARATOR)
    cjk = _NOT_CJK_OR_SEPARATOR.sub("", joined).split(_SEPARATOR)
    keys = [s if c else w for c, s, w in zip(cjk, spaced, loose, strict=True)]
    views = [
        (SPACED if len(k) >= MIN_SPACED else None)
        if c
        else (LOOSE if len(k) >= MIN_LOOSE else None)
        for c, k in zip(cjk, keys, strict=True)
    ]
    return views, keys


# --- the haystack --------------------------------------------------------------------------

_OBFUSCATED_AT = re.compile(r"\s*(?:[(\[{<]\s*at\s*[)\]}>]|@)\s*")
_OBFUSCATED_DOT = re.compile(r"\s*[(\[{<]\s*dot\s*[)\]}>]\s*")
_SPELLED = re.compile(r"(?<![\w.+-])([\w.+-]+) at ([\w-]+(?: dot [\w-]+)+)\b")
_RUN_LOOSE = re.compile(r"[^\W_]+")
_RUN_SPACED = re.compile(r"[^\s!-/:-@\[-`{-~]+")


def _spelled_out(match: re.Match[str]) -> str:
    return f"{match.group(1)}@{match.group(2).replace(' dot ', '.')}"


@dataclass
class _Joined:
    """`text` made of the runs of a pattern in `source`, and how to map back."""

    text: str
    starts: list[int]  # where each run starts in `text`
    origins: list[int]  # where each run starts in the source

    @classmethod
    def of(cls, source: str, run: re.Pattern[str]) -> _Joined:
        parts: list[str] = []
        starts: list[int] = []
        origins: list[int] = []
        at = 0
        for match in run.finditer(source):
            starts.append(at)
            origins.append(match.start())
            parts.append(match.group(0))
            at += len(match.group(0))
        return cls("".join(parts), starts, origins)

    def origin(self, index: int) -> int:
        run = bisect.bisect_right(self.starts, index) - 1
        return self.origins[run] + index - self.starts[run]


_LATIN_FORM_WORDS = "llc|llp|inc|incorporated|ltd|limited|corp|corporation|company|gmbh|plc|kk|co"
_GLUED_BEFORE = re.compile(rf"(?<![a-z0-9])(?:{_LATIN_FORM_WORDS})$")
_GLUED_AFTER = re.compile(rf"(?:{_LATIN_FORM_WORDS})(?![a-z0-9])")


@dataclass
class Haystack:
    """One text a reader sees, folded, in the views needles are looked up in."""

    folded: str
    _joined: dict[str, _Joined] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> Haystack:
        return cls(fold(text))

    def joined(self, view: str) -> _Joined:
        if view not in self._joined:
            self._joined[view] = _Joined.of(
                self.folded, _RUN_LOOSE if view == LOOSE else _RUN_SPACED
            )
        return self._joined[view]

    @cached_property
    def addresses(self) -> str:
        text = _SPELLED.sub(_spelled_out, self.folded)
        return _OBFUSCATED_DOT.sub(".", _OBFUSCATED_AT.sub("@", text))

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
        after = self.folded[last + 1] if last + 1 < len(self.folded) else " "
        # A legal-form word glued on ("LLCLeakwell") is a boundary too.
        return not (
            (
                _wordlike(needle[0])
                and _wordlike(before)
                and not _GLUED_BEFORE.search(self.folded, max(0, first - 13), first)
            )
            or (
                _wordlike(needle[-1])
                and _wordlike(after)
                and not _GLUED_AFTER.match(self.folded, last + 1)
            )
        )


# --- addresses and telephone numbers ---------------------------------------------------------

# Each match starts where a run of address characters starts: linear on any text.
EMAIL = re.compile(
    r"(?<![a-z0-9.!#$%&'*+/=?^_`{|}~-])[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"
)
_PHONE_TOKEN = re.compile(r"(?<![0-9a-z.+-])\+?[(\d](?:[\d()]|[ .\-/](?=[ .\-/()]{0,2}\d))*")
_MAX_GROUPS = 6


def phones(haystack: Haystack) -> set[str]:
    """Telephone numbers in the text, each as its digits in national form
    (+81 becomes a leading 0): Japanese numbers of 10 or 11 digits starting with 0,
    international ones (+ and 8 to 15 digits)."""
    text = _DASHES.sub("-", haystack.folded)
    found: set[str] = set()
    for match in _PHONE_TOKEN.finditer(text):
        token = match.group(0).rstrip(" .-/(")
        groups = [g for g in re.split(r"\D+", token) if g]
        if not groups or len(groups) > _MAX_GROUPS:
            continue
        digits = "".join(groups)
        if token.startswith("+"):
            if digits.startswith("81"):
                national = "0" + digits[2:].removeprefix("0")
                if len(national) in (10, 11):
                    found.add(national)
            elif 8 <= len(digits) <= 15:
                found.add("+" + digits)
        elif digits.startswith("0") and len(digits) in (10, 11) and not digits.startswith("00"):
            found.add(digits)
    return found


def emails(haystack: Haystack) -> set[str]:
    """Every address in the text, obfuscations undone."""
    return {m.group(0).strip(".") for m in EMAIL.finditer(haystack.addresses)}
