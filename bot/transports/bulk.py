"""The `bulk` transport: Postmark's Bulk API, the send's verified template once.

Postmark enables the Bulk API per account on request
(https://postmarkapp.com/developer/api/bulk-email); `countersign check` tells
whether it is. Each batch of the engine (at most 500 recipients: far below
the 10,000 messages a metadata search returns, so a lost reply can always be
reconciled) is one `POST /email/bulk` naming the send's template (the same one
`bot.transports.templates` creates, reads back and hashes) with each
recipient's `To`, `TemplateModel` and `Metadata` (the SDK's `BulkEmail` and
`BulkRecipient`). Postmark answers with an ID at once and makes the messages
afterwards, so `post()`:

1. searches the messages of the batch by metadata (`batch_id`); when some are
   not there yet, polls `GET /email/bulk/{id}` until its `Status` is
   `Completed` (or `Failed`) and searches again;
2. answers for each recipient: sent with its MessageID, or — not among them
   after a last look `settle_seconds` later — failed with ErrorCode
   `NOT_MADE` ("Postmark's bulk request made no message for this recipient":
   an inactive address, usually; webhooks tell bounces and complaints later).
   Postmark documents no bound on how far its search lags behind a bulk
   request, so `settle_seconds` is a guess. A wrong guess costs a count, never
   a copy: a row not made is final (never re-sent), and when a webhook later
   names its message, `bot.outcomes.record` makes the row sent with that
   MessageID (audited `delivery.made_after_all`).

A reply that is lost (`FateUnknown`) leaves a request that may still be
making messages: before the engine reconciles (and re-sends what Postmark has
not got), `post()` waits until the batch's messages stop appearing — the count
found by the metadata search unchanged for `quiet_seconds`, or all there —
so that nothing is re-sent that Postmark is still making. Postmark's own pace
(it throttles bulk sends for deliverability) bounds how fast this transport
can finish: `max_wait_seconds` per batch, then the batch's fate is unknown.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.delivery_ledger import Recipient
from bot.outcomes import NOT_MADE
from bot.postmark import (
    FateUnknown,
    MessageResult,
    PostmarkError,
    PostmarkGateway,
    batch_count,
)
from bot.transports import largest_message
from bot.transports.templates import Template

if TYPE_CHECKING:
    from bot.transports import SendContent


class BulkChannel:
    poll_seconds = 0.2
    settle_seconds = 10.0  # how long the search index may lag behind (the stand-in: index_lag)
    quiet_seconds = 2.0
    max_wait_seconds = 900.0

    def __init__(self, gateway: PostmarkGateway, content: SendContent, template: Template) -> None:
        self._gateway = gateway
        self._send_id = str(content.send_id)
        self._model = template.design.model
        self._encoder = gateway.bulk_encoder(
            sender=content.compiled.sender, tag=content.tag, template_id=template.template_id
        )

    def batch_size(self, limit: int) -> int:
        return batch_count(largest_message(self.encode), count=limit)

    def encode(self, recipient: Recipient, metadata_json: str) -> bytes:
        # Only this recipient's own row (invariant 4).
        return self._encoder.encode(
            recipient.email, self._model(recipient.name, recipient.company), metadata_json
        )

    def post(
        self, batch_id: int, bodies: Sequence[bytes], recipients: Sequence[Recipient]
    ) -> list[MessageResult]:
        try:
            bulk_id = self._gateway.send_bulk_encoded(self._encoder, bodies)
        except FateUnknown:
            self._wait_until_quiet(batch_id, len(bodies))
            raise
        found = self._found(batch_id)
        if len(found) < len(recipients):  # still making them: wait for the request
            self._wait_until_done(bulk_id)
            found = self._found(batch_id)
            if len(found) < len(recipients):
                time.sleep(self.settle_seconds)  # search may lag behind the request's status
                found = self._found(batch_id)
        return [
            MessageResult(r.email, 0, "OK", found[r.delivery_id])
            if r.delivery_id in found
            else MessageResult(
                r.email,
                NOT_MADE,
                "Postmark's bulk request made no message for this recipient",
                None,
            )
            for r in recipients
        ]

    def _wait_until_done(self, bulk_id: str) -> None:
        deadline = time.monotonic() + self.max_wait_seconds
        pause = self.poll_seconds
        while True:
            try:
                status = str(self._gateway.bulk_status(bulk_id).get("Status", ""))
            except PostmarkError:
                status = ""  # asked again below; the request itself was accepted
            if status in ("Completed", "Failed"):
                return
            if time.monotonic() > deadline:
                raise FateUnknown(f"bulk request {bulk_id} still {status or 'unknown'}")
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)

    def _found(self, batch_id: int) -> dict[int, str]:
        """delivery_id -> MessageID of the batch's messages at Postmark."""
        found: dict[int, str] = {}
        for message in self._gateway.search_outbound(
            metadata={"batch_id": str(batch_id)}, stream=self._gateway.broadcast_stream
        ):
            metadata = message.get("Metadata") or {}
            if str(metadata.get("send_id")) != self._send_id:
                continue
            try:
                found[int(metadata["delivery_id"])] = str(message["MessageID"])
            except (KeyError, ValueError, TypeError):
                continue
        return found

    def _wait_until_quiet(self, batch_id: int, expected: int) -> None:
        deadline = time.monotonic() + self.max_wait_seconds
        last = -1
        while time.monotonic() < deadline:
            try:
                count = len(self._found(batch_id))
            except PostmarkError:
                count = -1
            if count >= expected or (count == last and count >= 0):
                return
            last = count
            time.sleep(self.quiet_seconds)
