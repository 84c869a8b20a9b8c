"""Parsing `/newsletter` command text into a subcommand and its arguments.

A pure function, fuzzed by the tests: any text yields either a `Parsed` or a
`UsageError` naming what was wrong and an example — never an exception of
another kind.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.texts import t

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (what it expects, as a `usage.expects.*` sentence of the catalogue; an example)
    "help": ("nothing", "/newsletter help"),
    "new": ("nothing", "/newsletter new"),
    "list": ("nothing", "/newsletter list"),
    "show": ("show", "/newsletter show 3 source"),
    "edit": ("issue", "/newsletter edit 3"),
    "test": ("issue", "/newsletter test 3"),
    "submit": ("submit", "/newsletter submit 3 at 2026-12-01 10:00"),
    "cancel": ("issue", "/newsletter cancel 3"),
    "status": ("optional_issue", "/newsletter status 3"),
    "halt": ("nothing", "/newsletter halt"),
    "resume": ("issue", "/newsletter resume 3"),
    "audit": ("optional_issue", "/newsletter audit 3"),
    "schedule": ("nothing", "/newsletter schedule"),
    "subscribers": ("subscribers", "/newsletter subscribers find 山田"),
    "recipients": ("issue", "/newsletter recipients 3"),
    "correct": ("issue", "/newsletter correct 3"),
    "report": ("issue", "/newsletter report 3"),
}
OPTIONAL_ID = frozenset({"status", "audit"})
NO_ARGS = frozenset({"help", "new", "list", "halt", "schedule"})
_ID = re.compile(r"^#?(\d{1,9})$")
# A share of at most two digits and one decimal, with or without the % sign.
_PERCENT = re.compile(r"^(\d{1,2}(?:\.\d)?)\s?[%％]?$")


class UsageError(Exception):
    """`key` is a texts catalogue key; `params` fill it."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Parsed:
    sub: str
    issue_id: int | None = None
    at: datetime | None = None
    override: str | None = None
    canary: float | None = None  # `canary N%` (0 for `canary off`); None: the default
    args: tuple[str, ...] = field(default_factory=tuple)


def _bad(sub: str) -> UsageError:
    expects, example = SUBCOMMANDS[sub]
    return UsageError(
        "usage.bad_arguments", sub=sub, expected=t(f"usage.expects.{expects}"), example=example
    )


def parse(text: str, tz: ZoneInfo) -> Parsed:
    text = (text or "").strip()
    if not text:
        return Parsed("help")
    try:
        words = shlex.split(text)
    except ValueError:
        # Unbalanced quotes: fall back to plain splitting for the subcommand name.
        words = text.split()
        if words and words[0].lower() in SUBCOMMANDS and words[0].lower() != "subscribers":
            raise _bad(words[0].lower()) from None
    if not words:
        return Parsed("help")
    sub, rest = words[0].lower(), words[1:]
    if sub not in SUBCOMMANDS:
        raise UsageError("usage.unknown", word=words[0][:40])
    if sub in NO_ARGS:
        if rest:
            raise _bad(sub)
        return Parsed(sub)
    if sub == "subscribers":
        return Parsed(sub, args=tuple(rest))
    if sub in OPTIONAL_ID:
        if not rest:
            return Parsed(sub)
        if len(rest) != 1 or not _ID.match(rest[0]):
            raise _bad(sub)
        return Parsed(sub, issue_id=int(_ID.match(rest[0]).group(1)))  # type: ignore[union-attr]
    if not rest or not _ID.match(rest[0]):
        raise _bad(sub)
    issue_id = int(_ID.match(rest[0]).group(1))  # type: ignore[union-attr]
    rest = rest[1:]
    if sub == "show" and [w.lower() for w in rest] == ["source"]:
        return Parsed(sub, issue_id=issue_id, args=("source",))
    if sub != "submit":
        if rest:
            raise _bad(sub)
        return Parsed(sub, issue_id=issue_id)
    at: datetime | None = None
    override: str | None = None
    canary: float | None = None
    while rest:
        word = rest[0].lower()
        if word == "at" and at is None:
            # `at tomorrow`, `at 10:00`: say what a time looks like, not that an
            # issue number is missing.
            at = _parse_time(" ".join(rest[1:3]), tz)
            rest = rest[3:]
        elif word == "override" and len(rest) >= 2 and override is None:
            override = rest[1].strip()
            if not override:
                raise _bad(sub)
            rest = rest[2:]
        elif word == "canary" and len(rest) >= 2 and canary is None:
            canary = _canary_share(rest[1], sub)
            rest = rest[2:]
        else:
            raise _bad(sub)
    return Parsed(sub, issue_id=issue_id, at=at, override=override, canary=canary)


def _canary_share(word: str, sub: str) -> float:
    """`off` is 0; otherwise a share above 0 and below 100 percent."""
    if word.lower() == "off":
        return 0.0
    match = _PERCENT.match(word.strip())
    if not match or not 0 < float(match.group(1)) < 100:
        raise _bad(sub)
    return float(match.group(1))


def _parse_time(text: str, tz: ZoneInfo) -> datetime:
    try:
        naive = datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        raise UsageError(
            "refusal.bad_time",
            text=f"at {text}".strip()[:40],
            tz=str(tz),
            example="2026-12-01 10:00",
        ) from None
    return naive.replace(tzinfo=tz)
