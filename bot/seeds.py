"""Seed copies: the team's own addresses (SEED_ADDRESSES) get each broadcast first.

A seed copy is the send's own message — the frozen version, through the send's
transport and so through the broadcast stream (invariant 1: it comes from an
approved issue) — rendered for nobody in particular (no name, no company:
there is no subscriber row, so nothing of anyone else's can be in it,
invariant 4). The team thus sees exactly what readers get, before the canary
(or the whole list) goes, and in the inbox where a broken link or a spam
folder shows.

Seeds are not subscribers: they have no ledger row, never count towards the
audience, the canary, the drift guard or the report, and Postmark's webhooks
about them are not attributed to the send (their Metadata carries negative
ids, which `bot.outcomes.attribution` rejects). What happened to them is
recorded per send: the audit event `send.seed_copies` (each address as its
salted hash, the outcome and Postmark's MessageID) and the channel notice
`send.seed_copies` (counts only, invariant 9).

- `send_first(desk, send_id, channel)` — the engine calls it once per send
  and process before its first claim (`Engine(first_claim=…)`, handed in by
  `bot.delivery.new_engine`). A `OnceMarker` `seeds:<send>` is committed
  before anything is posted: across processes, restarts and resumes the
  copies go at most once per send (a crash between marker and post loses
  them rather than mailing the team twice). A send that already has a batch
  (it began before SEED_ADDRESSES was set) gets no late copies.
- A seed address that is suppressed (an unsubscribe wins, invariant 7) or
  that is in the send's own audience (that reader gets the issue once, as a
  reader) is skipped; Postmark's answers are kept per address (406: Postmark
  has it as inactive). A failed request (Postmark unavailable, refused, its
  fate unknown) is recorded, never retried blindly, and never holds up the
  send: the copies are the team's, the send is the readers'.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from bot import audit, leases, suppressions, transports
from bot import delivery_ledger as ledger
from bot.addresses import address_hash
from bot.delivery_ledger import Recipient
from bot.desk import Desk, Notice
from bot.installation import address_salt
from bot.postmark import FateUnknown, MessageResult, PostmarkError
from bot.rendering import TemplateProblem
from storage.models import (
    Delivery,
    DeliveryBatch,
    Issue,
    MailingList,
    Send,
    SendState,
    Subscriber,
)

log = logging.getLogger(__name__)

MARKER = "seeds:{send_id}"


class Outcome(enum.StrEnum):
    """What became of one seed copy (the audit's `outcome`)."""

    SENT = "sent"
    SUPPRESSED = "suppressed"  # Countersign has the address suppressed: not sent
    IN_AUDIENCE = "in_audience"  # a reader of this send: gets it once, as a reader
    INACTIVE = "inactive"  # Postmark answered 406 (the address is inactive there)
    FAILED = "failed"  # Postmark refused this message, or it could not be rendered
    NOT_SENT = "not_sent"  # the request failed before Postmark took it
    UNKNOWN = "unknown"  # the request's fate is unknown: not sent again


@dataclass(frozen=True)
class Copy:
    address: str
    outcome: Outcome
    message_id: str | None = None
    error: str = ""


def metadata(send_id: int, index: int) -> str:
    """A seed copy's Metadata: the send's id, and ids no ledger row has (negative),
    so that its webhooks count for nobody while a search still finds it."""
    return json.dumps(
        {
            "send_id": str(send_id),
            "batch_id": str(-send_id),
            "delivery_id": str(-(index + 1)),
            "copy": "seed",
        },
        separators=(",", ":"),
    )


def send_first(desk: Desk, send_id: int, channel: transports.Channel) -> list[Copy] | None:
    """Send the send's seed copies if they are due; what became of each, or None
    when none were due (no SEED_ADDRESSES, already done, the send under way)."""
    seeds = desk.settings.seed_addresses
    if not seeds:
        return None
    now = desk.clock.now()
    key = MARKER.format(send_id=send_id)
    with ledger.reading(desk.db) as session:
        if leases.done(session, key):
            return None  # the common case, without a write transaction
    with ledger.transaction(desk.db) as session:
        send = session.get(Send, send_id)
        if send is None or send.state != SendState.SENDING:
            return None
        started = session.execute(
            select(DeliveryBatch.id).where(DeliveryBatch.send_id == send_id).limit(1)
        ).first()
        if not leases.once(session, key, at=now) or started is not None:
            return None
        issue = session.get(Issue, send.issue_id)
        assert issue is not None
        mailing_list = session.get(MailingList, issue.list_id)
        assert mailing_list is not None
        readers = set(
            session.execute(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.send_id == send_id, Subscriber.email.in_(seeds))
            ).scalars()
        )
        skipped: dict[str, Outcome] = {
            seed: Outcome.SUPPRESSED
            for seed in seeds
            if suppressions.is_suppressed(session, seed, mailing_list.name)
        }
        skipped.update({s: Outcome.IN_AUDIENCE for s in seeds if s in readers and s not in skipped})
        issue_id = send.issue_id
    due = [seed for seed in seeds if seed not in skipped]
    posted = dict(zip(due, _post(send_id, due, channel), strict=True)) if due else {}
    copies = [posted.get(seed) or Copy(seed, skipped[seed]) for seed in seeds]
    _record(desk, send_id, issue_id, copies)
    return copies


def _post(send_id: int, due: Sequence[str], channel: transports.Channel) -> list[Copy]:
    recipients = [Recipient(-(i + 1), email, "", "") for i, email in enumerate(due)]
    bodies: list[bytes] = []
    for index, recipient in enumerate(recipients):
        try:
            bodies.append(channel.encode(recipient, metadata(send_id, index)))
        except TemplateProblem as problem:
            # Every recipient gets the same frozen template: no other copy renders either.
            return [Copy(r.email, Outcome.FAILED, error=f"render: {problem}") for r in recipients]
    try:
        results = channel.post(-send_id, bodies, recipients)
    except FateUnknown as exc:
        return [Copy(email, Outcome.UNKNOWN, error=str(exc)[:200]) for email in due]
    except PostmarkError as exc:
        return [Copy(email, Outcome.NOT_SENT, error=str(exc)[:200]) for email in due]
    return [_copy(email, result) for email, result in zip(due, results, strict=True)]


def _copy(email: str, result: MessageResult) -> Copy:
    if result.error_code == 0:
        return Copy(email, Outcome.SENT, result.message_id)
    outcome = Outcome.INACTIVE if result.error_code == 406 else Outcome.FAILED
    return Copy(email, outcome, error=f"[{result.error_code}] {result.message}"[:200])


def _record(desk: Desk, send_id: int, issue_id: int, copies: list[Copy]) -> None:
    counts = {
        "seeds": len(copies),
        "sent": sum(c.outcome == Outcome.SENT for c in copies),
        "skipped": sum(c.outcome in (Outcome.SUPPRESSED, Outcome.IN_AUDIENCE) for c in copies),
    }
    counts["failed"] = counts["seeds"] - counts["sent"] - counts["skipped"]
    with ledger.transaction(desk.db) as session:
        salt = address_salt(session)
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="send.seed_copies",
            at=desk.clock.now(),
            issue_id=issue_id,
            subject=f"send:{send_id}",
            copies=[
                {
                    "to": audit.address_ref(address_hash(salt, c.address)),
                    "outcome": str(c.outcome),
                    "message_id": c.message_id,
                    "error": c.error,
                }
                for c in copies
            ],
            **counts,
        )
    if counts["failed"]:
        log.warning(
            "send %s: %s of %s seed copies not sent", send_id, counts["failed"], len(copies)
        )
    desk.notify(Notice("send.seed_copies", issue_id=issue_id, send_id=send_id, params=counts))
