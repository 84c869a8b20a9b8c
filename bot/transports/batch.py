"""The `batch` transport: `/email/batch`, each message carrying the whole rendered
issue (the send's templates run once, each recipient's fields spliced in and
JSON-encoded by `SendRenderer.render_json`; the constant fields by the
gateway's `BroadcastEncoder`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.delivery_ledger import Recipient
from bot.postmark import BroadcastEncoder, MessageResult, PostmarkGateway, batch_count
from bot.rendering import SendRenderer
from bot.transports import largest_message

if TYPE_CHECKING:
    from bot.transports import SendContent


def batch_size_for(renderer: SendRenderer, encoder: BroadcastEncoder, limit: int) -> int:
    """How many recipients one `/email/batch` request of this send holds: at most
    `limit`, and within Postmark's byte limit for the largest message a recipient
    could get (`largest_message`, `postmark.batch_count`)."""

    def encode(recipient: Recipient, metadata_json: str) -> bytes:
        literals = renderer.render_json(recipient.name, recipient.company)
        return encoder.encode(recipient.email, *literals, metadata_json)

    return batch_count(largest_message(encode), count=limit)


class BatchChannel:
    def __init__(self, gateway: PostmarkGateway, content: SendContent) -> None:
        self._gateway = gateway
        self._renderer = SendRenderer(content.compiled, content.list_name, content.issue_date)
        self._encoder = gateway.broadcast_encoder(sender=content.compiled.sender, tag=content.tag)
        self._render = self._renderer.render_json
        self._encode = self._encoder.encode

    def batch_size(self, limit: int) -> int:
        return batch_size_for(self._renderer, self._encoder, limit)

    def encode(self, recipient: Recipient, metadata_json: str) -> bytes:
        # Only this recipient's own row and the frozen version (invariant 4).
        subject, html, text = self._render(recipient.name, recipient.company)
        return self._encode(recipient.email, subject, html, text, metadata_json)

    def post(
        self, batch_id: int, bodies: Sequence[bytes], recipients: Sequence[Recipient]
    ) -> list[MessageResult]:
        return self._gateway.send_broadcast_encoded(bodies, [r.email for r in recipients])
