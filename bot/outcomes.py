"""What became of each send's messages after Postmark took them.

Owns the `send_events` table's writes and reads:

- `attribution(payload)` — which ledger row a webhook is about, from the
  message's Metadata (`send_id`, `delivery_id`: every broadcast carries them,
  see `bot.delivery_engine`). Pure; a payload without them is nobody's;
- `record(session, …)` — one event per recipient and kind, idempotently (a
  retried webhook, or a hard bounce told both as a Bounce and as a
  SubscriptionChange, counts once). The row must exist, belong to that send,
  have been handed to Postmark, and — once the ledger knows its MessageID —
  have the payload's MessageID: metadata that names another send's row, or a
  row never sent, is not counted;
- `figures(desk, …)` — an issue's report: the ledger's counts (sent, failed,
  suppressed, unknown) beside the webhooks' (delivered, hard and soft
  bounces, complaints, unsubscribes);
- `timeline(desk, send_id)` — bounces and unsubscribes per hour over the
  first 48 hours, for the report's chart;
- `post_day_after_reports(desk)` — the scheduler's duty: a `report.day_after`
  notice once per send, a day after it finished (a `OnceMarker` each).

Nothing here talks to Slack; the Slack front end draws the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot import audit, leases
from bot import delivery_ledger as ledger
from bot.desk import Desk, Notice
from storage.models import (
    Delivery,
    DeliveryStatus,
    Send,
    SendEvent,
    SendEventKind,
    SendState,
)

K = SendEventKind
_send_events: Table = SendEvent.__table__  # type: ignore[assignment]
# Ledger statuses of a row whose message Postmark may have: `batched` too,
# because a webhook can arrive before the batch's answer is recorded.
HANDED_OVER = (DeliveryStatus.SENT, DeliveryStatus.BATCHED, DeliveryStatus.UNKNOWN)
# The error code of a row the `bulk` transport found no message for once its
# request was done and Postmark's search had had time to catch up (see
# `bot.transports.bulk`). The search may lag longer than that: a webhook about
# the row's message is the proof that it was made after all (`record` below).
NOT_MADE = 1
TIMELINE_HOURS = 48
_MAX_ID = 2**62


@dataclass(frozen=True)
class Attribution:
    send_id: int
    delivery_id: int
    message_id: str | None


def _digits(value: Any) -> int | None:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    number = int(text)
    return number if 0 < number < _MAX_ID else None


def attribution(payload: Mapping[str, Any]) -> Attribution | None:
    """The ledger row a webhook names through its Metadata, or None."""
    metadata = payload.get("Metadata")
    if not isinstance(metadata, dict):
        return None
    send_id, delivery_id = _digits(metadata.get("send_id")), _digits(metadata.get("delivery_id"))
    if send_id is None or delivery_id is None:
        return None
    message_id = payload.get("MessageID")
    if not isinstance(message_id, str) or not message_id or len(message_id) > 100:
        message_id = None
    return Attribution(send_id, delivery_id, message_id)


def record(session: Session, attributed: Attribution, kind: SendEventKind, *, at: datetime) -> bool:
    """Count one event for its row; False when it was counted before or is nobody's."""
    row = session.execute(
        select(Delivery.send_id, Delivery.message_id, Delivery.status).where(
            Delivery.id == attributed.delivery_id
        )
    ).one_or_none()
    if row is None or row[0] != attributed.send_id:
        return False
    known, status = row[1], row[2]
    if status == DeliveryStatus.FAILED and _made_after_all(session, attributed, at):
        known, status = attributed.message_id, DeliveryStatus.SENT
    if status not in HANDED_OVER:
        return False
    if known is not None and attributed.message_id is not None and known != attributed.message_id:
        return False
    values = {
        "send_id": attributed.send_id,
        "delivery_id": attributed.delivery_id,
        "kind": str(kind),
        "message_id": attributed.message_id or known,
        "at": at,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # On the table, not the ORM class (whose bulk-insert path reports no usable
    # rowcount on PostgreSQL); RETURNING yields no row when the event was there.
    inserted = session.execute(
        insert(_send_events)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["delivery_id", "kind"])
        .returning(_send_events.c.id)
    ).first()
    return inserted is not None


def _made_after_all(session: Session, attributed: Attribution, at: datetime) -> bool:
    """A row recorded as not made (`NOT_MADE`, no MessageID) becomes sent when a
    webhook names it with a MessageID: Postmark made the message after all and
    its search showed it late. Compare-and-set, so a repeated webhook does it once.
    Nothing is ever re-sent because of this: the row only gains its MessageID."""
    if attributed.message_id is None:
        return False
    changed = session.execute(
        update(Delivery)
        .where(
            Delivery.id == attributed.delivery_id,
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.error_code == NOT_MADE,
            Delivery.message_id.is_(None),
        )
        .values(
            status=DeliveryStatus.SENT,
            message_id=attributed.message_id,
            error_code=None,
            error_message="",
            updated_at=at,
        )
        .returning(Delivery.id)
    ).first()
    if changed is None:
        return False
    issue_id = session.execute(
        select(Send.issue_id).where(Send.id == attributed.send_id)
    ).scalar_one_or_none()
    audit.record(
        session,
        actor=audit.SYSTEM,
        action="delivery.made_after_all",
        at=at,
        issue_id=issue_id,
        send_id=attributed.send_id,
        delivery_id=attributed.delivery_id,
        message_id=attributed.message_id,
    )
    return True


def event_counts(session: Session, send_id: int) -> dict[str, int]:
    """Recipients of a send per event kind (every kind present, zero when none)."""
    found = dict(
        session.execute(
            select(SendEvent.kind, func.count())
            .where(SendEvent.send_id == send_id)
            .group_by(SendEvent.kind)
        ).all()
    )
    return {str(kind): int(found.get(str(kind), 0)) for kind in SendEventKind}


def bounced_recipients(session: Session, send_id: int) -> int:
    """Recipients with a hard or a soft bounce (each counted once)."""
    return int(
        session.execute(
            select(func.count(func.distinct(SendEvent.delivery_id))).where(
                SendEvent.send_id == send_id,
                SendEvent.kind.in_((K.HARD_BOUNCE, K.SOFT_BOUNCE)),
            )
        ).scalar_one()
    )


@dataclass(frozen=True)
class Figures:
    """One send's report: what the channel may see (counts, never addresses)."""

    send_id: int
    issue_id: int
    subject: str
    state: str
    total: int
    sent: int
    delivered: int
    bounced: int  # recipients with a hard or a soft bounce, each once
    hard_bounces: int
    soft_bounces: int
    complaints: int
    unsubscribes: int
    failed: int
    suppressed: int
    unknown: int
    remaining: int
    started_at: datetime | None
    finished_at: datetime | None

    def as_params(self) -> dict[str, Any]:
        return {
            "issue": self.issue_id,
            "send": self.send_id,
            "state": self.state,
            "total": self.total,
            "sent": self.sent,
            "delivered": self.delivered,
            "bounced": self.bounced,
            "hard": self.hard_bounces,
            "soft": self.soft_bounces,
            "complaints": self.complaints,
            "unsubscribes": self.unsubscribes,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "unknown": self.unknown,
            "remaining": self.remaining,
        }


def _figures(session: Session, send: Send, subject: str) -> Figures:
    rows = ledger.counts(session, send.id)
    events = event_counts(session, send.id)
    D = DeliveryStatus
    return Figures(
        send_id=send.id,
        issue_id=send.issue_id,
        subject=subject,
        state=send.state,
        total=send.total,
        sent=rows[D.SENT],
        delivered=events[K.DELIVERED],
        bounced=bounced_recipients(session, send.id),
        hard_bounces=events[K.HARD_BOUNCE],
        soft_bounces=events[K.SOFT_BOUNCE],
        complaints=events[K.COMPLAINT],
        unsubscribes=events[K.UNSUBSCRIBED],
        failed=rows[D.FAILED] + rows[D.INVALID],
        suppressed=rows[D.SUPPRESSED] + rows[D.SKIPPED],
        unknown=rows[D.UNKNOWN],
        remaining=rows[D.PENDING] + rows[D.BATCHED],
        started_at=send.started_at,
        finished_at=send.finished_at,
    )


def figures(
    desk: Desk, *, issue_id: int | None = None, send_id: int | None = None, limit: int = 1
) -> list[Figures]:
    """Reports of one send, of an issue's latest send, or of the latest sends
    (newest first; with `issue_id`, the issue's sends newest first)."""
    with ledger.reading(desk.db) as session:
        query = ledger.sends_with_subjects(issue_id=issue_id, send_id=send_id, limit=limit)
        return [_figures(session, send, subject) for send, subject in session.execute(query).all()]


@dataclass(frozen=True)
class Timeline:
    """Bounces and unsubscribes per hour since the send started (hour 0 first)."""

    started_at: datetime
    bounces: list[int]
    unsubscribes: list[int]


def timeline(desk: Desk, send_id: int, hours: int = TIMELINE_HOURS) -> Timeline | None:
    """The first `hours` hours of a send's bounces and unsubscribes (None: not started)."""
    with ledger.reading(desk.db) as session:
        started = session.execute(
            select(Send.started_at).where(Send.id == send_id)
        ).scalar_one_or_none()
        if started is None:
            return None
        until = started + timedelta(hours=hours)
        rows = session.execute(
            select(SendEvent.kind, SendEvent.at).where(
                SendEvent.send_id == send_id,
                SendEvent.kind.in_((K.HARD_BOUNCE, K.SOFT_BOUNCE, K.UNSUBSCRIBED)),
                SendEvent.at >= started,
                SendEvent.at < until,
            )
        ).all()
    bounces, unsubscribes = [0] * hours, [0] * hours
    for kind, at in rows:
        hour = int((at - started).total_seconds() // 3600)
        (unsubscribes if kind == K.UNSUBSCRIBED else bounces)[hour] += 1
    return Timeline(started, bounces, unsubscribes)


# --- the day-after report ------------------------------------------------------------------

REPORT_AFTER = timedelta(hours=24)
# A send finished longer ago than this gets no day-after post any more (say, after
# the bot was down for a week): a late report in an old thread helps nobody.
REPORT_LATEST = timedelta(days=7)


def post_day_after_reports(desk: Desk) -> list[int]:
    """Notify `report.day_after` once for each send that finished a day ago; the ids."""
    now = desk.clock.now()
    due: list[tuple[int, int]] = []
    with desk.db.transaction() as session:
        rows = session.execute(
            select(Send.id, Send.issue_id)
            .where(
                Send.state == SendState.FINISHED,
                Send.finished_at <= now - REPORT_AFTER,
                Send.finished_at > now - REPORT_LATEST,
            )
            .order_by(Send.id)
        ).all()
        for send_id, issue_id in rows:
            if leases.once(session, f"report:{send_id}", at=now):
                due.append((int(send_id), int(issue_id)))
    for send_id, issue_id in due:
        desk.notify(Notice("report.day_after", issue_id=issue_id, send_id=send_id))
    return [send_id for send_id, _ in due]
