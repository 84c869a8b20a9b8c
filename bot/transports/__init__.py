"""How a send's messages reach Postmark: one small interface, three transports.

`POSTMARK_TRANSPORT` chooses one (CONTRACT.md):

- `batch` (`bot.transports.batch`): `/email/batch`, every message carrying the
  whole rendered issue — the fallback;
- `templates` (`bot.transports.templates`, the default): a Postmark template
  per send holding exactly the approved content, then
  `/email/batchWithTemplates` with only each recipient's own fields;
- `bulk` (`bot.transports.bulk`): the same template, then Postmark's Bulk API
  (`/email/bulk`, enabled per account on request), one request per batch.

The engine knows only this module: `open_channel()` when it starts working on
a send (in each process, and again after every resume), the `Channel`'s
`encode()` for each claimed recipient and `post()` for each batch, and
`send_closed()` when a send is over. Results, errors (`NotSent`,
`FateUnknown`, `Refused`), the ledger, reconciliation by metadata search and
exactly-once are the same for all three.

`TransportRefused` means the send must not go on this way (a template changed
in Postmark, the server's template limit): the engine halts the send with its
`reason`; nothing ever falls back to another transport silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.delivery_ledger import Recipient
from bot.postmark import MessageResult, PostmarkError
from bot.rendering import CompiledIssue, TemplateProblem
from bot.subscribers import FIELD_LIMIT

if TYPE_CHECKING:
    from bot.desk import Desk

log = logging.getLogger(__name__)

TRANSPORTS = ("batch", "templates", "bulk")


@dataclass(frozen=True)
class SendContent:
    """What a transport is opened with: one send's frozen version and facts."""

    send_id: int
    issue_id: int
    compiled: CompiledIssue
    list_name: str
    issue_date: str
    tag: str


class Channel(Protocol):
    """One send's way to Postmark, in one process."""

    def batch_size(self, limit: int) -> int:
        """How many recipients one request of this send may hold: at most `limit`,
        and few enough that it stays within Postmark's 50 MB even if every message
        were the largest one a recipient could get (`largest_message`)."""
        ...

    def encode(self, recipient: Recipient, metadata_json: str) -> bytes:
        """One recipient's message, from the frozen version and that recipient's
        row only (invariant 4); `metadata_json` is its Metadata object.
        Raises `TemplateProblem` when the issue cannot be rendered for them."""
        ...

    def post(
        self, batch_id: int, bodies: Sequence[bytes], recipients: Sequence[Recipient]
    ) -> list[MessageResult]:
        """Hand one batch to Postmark; one result per message, in order.
        Raises NotSent, FateUnknown or Refused (bot.postmark)."""
        ...


# A recipient whose message is as long as one can be: every stored field at its
# longest (addresses.MAX_LENGTH, subscribers.FIELD_LIMIT), in a character whose
# JSON is longest (a control character: 6 bytes, more than any UTF-8 character or
# HTML entity), the metadata ids at 20 digits. The other probes catch templates
# that print more when a field is empty (`default`, conditions).
_LONGEST = "\x01"
PROBE_TO = _LONGEST * 254
PROBE_METADATA = '{"send_id":"%s","batch_id":"%s","delivery_id":"%s"}' % (("9" * 20,) * 3)
PROBES = ((_LONGEST * FIELD_LIMIT, _LONGEST * FIELD_LIMIT), ("", ""), ("ß" * FIELD_LIMIT, ""))


def largest_message(encode: Callable[[Recipient, str], bytes]) -> int:
    """The longest of the probes' messages as `encode` makes them (at least 1).
    A message larger than the probes foresaw (a template that grows with a field
    in a way they miss) is still refused by the gateway before it is sent."""
    largest = 0
    for name, company in PROBES:
        try:
            size = len(encode(Recipient(0, PROBE_TO, name, company), PROBE_METADATA))
        except TemplateProblem:
            continue  # such a recipient fails alone, at render time
        largest = max(largest, size)
    return largest or 1


class TransportRefused(Exception):
    """The send may not continue through this transport; `reason` is the halt reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def open_channel(desk: Desk, content: SendContent) -> Channel:
    """The configured transport's channel for a send. Raises TransportRefused,
    or a PostmarkError when Postmark could not be asked (try again later)."""
    name = desk.settings.POSTMARK_TRANSPORT
    if name == "batch":
        from bot.transports.batch import BatchChannel

        return BatchChannel(desk.postmark, content)
    from bot.transports import templates

    template = templates.prepare(desk, content)
    if name == "bulk":
        from bot.transports.bulk import BulkChannel

        return BulkChannel(desk.postmark, content, template)
    return templates.TemplatesChannel(desk.postmark, content, template)


def send_closed(desk: Desk, send_id: int) -> None:
    """A send is over (finished or cancelled): remove what it kept at Postmark.
    Never raises: what is left is cleaned up when the next send starts."""
    if desk.settings.POSTMARK_TRANSPORT == "batch":
        return
    from bot.transports import templates

    try:
        templates.remove_send_templates(desk, send_id)
    except PostmarkError as exc:
        log.warning("could not delete send %s's template: %s", send_id, type(exc).__name__)
