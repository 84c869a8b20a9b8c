"""Text that people typed, made safe to keep and to show.

Slack delivers whatever bytes a request carries. Control characters other
than tab and line breaks have no meaning in a newsletter, a note or a reason,
and PostgreSQL refuses NUL in text outright; a lone UTF-16 surrogate (JSON
lets a request spell one as `\ud800`) cannot be written as UTF-8 at all, so
no database, email or Postmark request could carry it. Every service that
stores typed text passes it through `storable()` first.

`EMAIL` and `PHONE` find addresses and phone numbers (preflight uses them on
what readers will get); `redact()` replaces them in typed text that is shown
where others can read it — the newsletter channel (invariant 9).
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Matched on NFKC text, so full-width digits and signs count too.
PHONE = re.compile(
    r"(?<![\d-])(?:"
    r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,3}"  # international
    r"|0\d{1,4}-\d{1,4}-\d{3,4}"  # Japanese with hyphens: 03-1234-5678, 090-1234-5678
    r"|\(0\d{1,4}\)\s?\d{1,4}-\d{3,4}"  # (03) 1234-5678
    r"|0[5789]0\d{8}|0\d{9}"  # Japanese without separators
    r")(?![\d-])"
)
# "taro at example dot com", "taro [at] example.com", "taro(at)example.com"
_SPELLED_AT = re.compile(r"\s*[\[(]?\s*\bat\b\s*[\])]?\s*", re.IGNORECASE)
_SPELLED_DOT = re.compile(r"\s*[\[(]?\s*\bdot\b\s*[\])]?\s*", re.IGNORECASE)
_SPELLED_FORM = re.compile(
    r"[A-Za-z0-9._%+-]+\s*[\[(]?\s*\bat\b\s*[\])]?\s*[A-Za-z0-9-]+"
    r"(?:(?:\s*[\[(]?\s*\bdot\b\s*[\])]?\s*|\.)[A-Za-z0-9-]+)+",
    re.IGNORECASE,
)
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")


def is_storable(text: str) -> bool:
    """Whether `storable(text)` would leave `text` as it is (a quick look for bulk input)."""
    return _CONTROL.search(text) is None


def storable(text: str) -> str:
    """`text` without control characters (tab, newline and carriage return stay)
    and without lone surrogates."""
    return _CONTROL.sub("", text)


def redact(text: str, *, address: str, phone: str) -> str:
    """`text` with every address replaced by `address` and every phone number by
    `phone`. Sees through full-width forms and invisible characters (the text is
    NFKC-normalised when, and only when, it holds something to replace) and
    through addresses spelled out with "at" and "dot"."""
    visible = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    spelled = _spelled_out(visible)
    if not (EMAIL.search(spelled) or PHONE.search(visible)):
        return text
    out = EMAIL.sub(lambda _: address, spelled)
    return PHONE.sub(lambda _: phone, out)


def _spelled_out(text: str) -> str:
    """`taro at example dot com` → `taro@example.com` (only where that makes an address)."""

    def join(match: re.Match[str]) -> str:
        candidate = _SPELLED_DOT.sub(".", _SPELLED_AT.sub("@", match.group(0), count=1))
        return candidate if EMAIL.fullmatch(candidate) else match.group(0)

    return _SPELLED_FORM.sub(join, text)
