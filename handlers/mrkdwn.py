"""The one rule for text that goes to Slack: what people typed is escaped.

Slack parses `&`, `<` and `>` as control characters in every mrkdwn text
(messages, cards, modals, App Home) and asks apps to write them as `&amp;`,
`&lt;` and `&gt;` when they are not meant as control sequences; nothing else
is to be entity-encoded, and Slack decodes only these three for display
(https://api.slack.com/reference/surfaces/formatting#escaping).

Two kinds of text, told apart by type:

- `Mrkdwn`: text Slack may parse — the catalogue's sentences (`t()` returns
  them), mentions built by `mention()`, and anything already escaped;
- everything else (a plain `str`, a number, a date) is data: typed text or a
  value from the database, escaped by `escape()` when it joins `Mrkdwn`.

`t()` escapes every parameter that is not `Mrkdwn`, `Mrkdwn.join` and `+`
escape what they join, and the Block Kit builders (`handlers.blocks`) take
`Mrkdwn` only — by type (mypy) and at run time (`TypeError`) — so no builder
can put typed text into Slack unescaped.

What escaping makes of hostile typed text:

- `<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^S…>`, `<@U…>`, `<#C…>`:
  shown as typed, never parsed, so nobody is notified and no channel linked;
- `<https://evil.example|Approve here>`: shown as typed, so no link can hide
  its target behind words; a bare URL stays a link that shows itself;
- `@channel` / `@here` as plain words: not mentions, because the bot never
  posts with `link_names`;
- `A<B & C>D`: shown exactly as typed, not garbled.

`*bold*`, `_italic_`, `~strike~` and backticks in typed text are left as they
are, on purpose: mrkdwn has no escape for them, and they only change how the
typed words themselves look — they cannot notify, link, or hide anything the
app wrote (each piece of typed text is placed after the app's own words, and
an unclosed marker does not format past its line). The workarounds (zero-width
spaces, look-alike characters) would change what a person copies out of Slack.

Typed text that goes into the channel also loses addresses and phone numbers
(`for_channel()`; invariant 9).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.typed import redact

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ENTITY = re.compile(r"&(amp|lt|gt);")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class Mrkdwn(str):
    """Text that Slack may parse as mrkdwn: written by the app, or escaped."""

    __slots__ = ()

    def __add__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(self, escape(other)))

    def __radd__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(escape(other), self))

    def join(self, parts: Iterable[object]) -> Mrkdwn:
        return Mrkdwn(str.join(self, (escape(p) for p in parts)))

    # Every other str method (slicing, strip, replace, format, f-strings) gives a
    # plain str, which the builders refuse: a slice could cut `&amp;` or `<@U…>`
    # in two (`clip()` does not), and a format could bring typed text in unescaped.


def escape(value: object) -> Mrkdwn:
    """`value` as mrkdwn that shows exactly its text; `Mrkdwn` passes unchanged."""
    if isinstance(value, Mrkdwn):
        return value
    return Mrkdwn(str(value).translate(_ESCAPES))


def plain(text: str) -> str:
    """What a plain_text object (headers, labels, buttons, modal errors) should
    carry: plain_text is never parsed, so `Mrkdwn` goes back to what was typed."""
    if isinstance(text, Mrkdwn):
        return _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)
    return str(text)


def clip(text: Mrkdwn, limit: int) -> Mrkdwn:
    """At most `limit` characters, never ending inside an entity or a `<…>` sequence."""
    if not isinstance(text, Mrkdwn):
        raise TypeError(f"clip() takes Mrkdwn, not {type(text).__name__}")
    whole = str(text)
    if len(whole) <= limit:
        return text
    cut = whole[: max(0, limit - 1)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]
    return Mrkdwn(cut + "…")


def mention(user_id: str) -> Mrkdwn:
    """`<@U…>` for a user id; anything else is shown escaped, never parsed."""
    return Mrkdwn(f"<@{user_id}>") if _USER_ID.match(user_id) else escape(user_id)


def channel_link(channel_id: str) -> Mrkdwn:
    """`<#C…>` for a channel id; anything else is shown escaped, never parsed."""
    return Mrkdwn(f"<#{channel_id}>") if _CHANNEL_ID.match(channel_id) else escape(channel_id)


def for_channel(text: str | None, *, address: str, phone: str) -> str:
    """Typed text bound for the channel: addresses and phone numbers replaced by
    `address` / `phone` (the caller's translated words). Still to be escaped."""
    return redact(text or "", address=address, phone=phone)
