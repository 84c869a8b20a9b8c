"""Text that people typed, made safe to keep.

Slack delivers whatever bytes a request carries. Control characters other
than tab and line breaks have no meaning in a newsletter, a note or a reason,
and PostgreSQL refuses NUL in text outright; a lone UTF-16 surrogate (JSON
lets a request spell one as `\ud800`) cannot be written as UTF-8 at all, so
no database, email or Postmark request could carry it. Every service that
stores typed text passes it through `storable()` first.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` without control characters (tab, newline and carriage return stay)
    and without lone surrogates."""
    return _CONTROL.sub("", text)
