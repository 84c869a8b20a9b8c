"""Text that people typed, made safe to keep and to show.

Slack delivers whatever bytes a request carries. Control characters other
than tab and line breaks have no meaning in a newsletter, a note or a reason,
and PostgreSQL refuses NUL in text outright; a lone UTF-16 surrogate (JSON
lets a request spell one as `\ud800`) cannot be written as UTF-8 at all, so
no database, email or Postmark request could carry it. Every service that
stores typed text passes it through `storable()` first.

`redact()` replaces addresses and telephone numbers in typed text that is shown
where others can read it — the newsletter channel (invariant 9) — found by the
patterns preflight uses on what readers will get (`bot.contacts`).
"""

from __future__ import annotations

import re

from bot.characters import visible
from bot.contacts import addresses, spelled_out, telephone_numbers

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def is_storable(text: str) -> bool:
    """Whether `storable(text)` would leave `text` as it is (a quick look for bulk input)."""
    return _CONTROL.search(text) is None


def storable(text: str) -> str:
    """`text` without control characters (tab, newline and carriage return stay)
    and without lone surrogates."""
    return _CONTROL.sub("", text)


def redact(text: str, *, address: str, phone: str) -> str:
    """`text` with every address replaced by `address` and every telephone number
    by `phone`, as `bot.contacts` finds them (what preflight finds in a newsletter):
    through full-width forms and invisible characters (the text is NFKC-normalised
    when, and only when, it holds something to replace) and through obfuscated
    addresses (`taro at example dot com`, `taro(at)example.com` …)."""
    shown = spelled_out(visible(text))
    found = addresses(shown)
    if not found and not telephone_numbers(shown):
        return text
    parts: list[str] = []
    at = 0
    for match in found:
        parts += [shown[at : match.start()], str(address)]  # (plain str: no escaping here)
        at = match.end()
    shown = "".join([*parts, shown[at:]])
    parts, at = [], 0
    for number in telephone_numbers(shown):
        parts += [shown[at : number.start], str(phone)]
        at = number.end
    return "".join([*parts, shown[at:]])
