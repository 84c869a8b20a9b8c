"""The delivery ledger: every database step of a send, each one short transaction.

Owned here (and used by the engine in `bot.delivery`):

- `freeze()` — the audience becomes one `deliveries` row per recipient, in
  bulk (INSERT … SELECT) inside the caller's transaction;
- `draw_canary()` — a random sample of a frozen audience becomes the send's
  canary (`wave = 1`), in the same transaction;
- `claim()` — the next batch of pending rows of a send, with suppressions and
  unsubscribes re-checked at that moment (invariant 7); rows that no longer
  qualify are marked `skipped`. The send's stage decides which rows may be
  claimed: during its canary only the canary's, during the hold none. On
  PostgreSQL the rows are taken with `FOR UPDATE SKIP LOCKED`, so several
  processes claim disjoint batches; on SQLite the BEGIN IMMEDIATE
  transactions serialise claims;
- `mark_in_flight()` — committed *before* the request leaves, so that after a
  crash a batch is either `claimed` (nothing sent: safe to release) or
  `in_flight` (reconcile with Postmark before anything is re-sent); it is the
  claim's fence too: a worker whose batch was taken over sends nothing of it;
- `record()` — per-message outcomes in one executemany;
- `settle_found()`, `release()`, `mark_unknown()` — the reconciliation's writes;
- `halt()` / `halt_rows()` and `finish()` — a send's own end states, with its
  issue's state and the audit trail, in one transaction;
- `reports()` — a send's state and counts as people may see them (`SendReport`);
- `transaction()` / `reading()` — the sessions every delivery module opens. On
  SQLite they queue this process's threads on one lock first: every session
  there takes the database's write lock (BEGIN IMMEDIATE), and SQLite's busy
  handler polls with sleeps of up to 100 ms, which cost the engine's threads
  far more time than the transactions themselves.

Nothing here talks to Postmark or Slack.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    Table,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot import audience, audit, leases, states
from storage.db import SQLITE_BUSY_TIMEOUT_MS, Database
from storage.models import (
    ALL_LISTS,
    BatchState,
    Delivery,
    DeliveryBatch,
    DeliveryStatus,
    Issue,
    IssueState,
    IssueVersion,
    MailingList,
    Send,
    SendStage,
    SendState,
    Subscriber,
    SubscriberStatus,
    Suppression,
    UTCDateTime,
)

D = DeliveryStatus
_deliveries: Table = Delivery.__table__  # type: ignore[assignment]

# Statuses a recipient can still move out of by the engine's own work.
OPEN_STATUSES = (D.PENDING, D.BATCHED)
# Failures that say something is wrong with the send (the circuit breaker's count).
HARD_FAILURES = (D.FAILED, D.INVALID)


class Recipient(NamedTuple):
    """One claimed row: what its message may be built from (invariant 4).
    (Tuples: one per recipient, built in a third of a frozen dataclass's time.)"""

    delivery_id: int
    email: str
    name: str
    company: str


@dataclass(frozen=True)
class Claim:
    send_id: int
    batch_id: int | None  # None: every row looked at was skipped
    recipients: list[Recipient]
    skipped: int
    suppressions_seen: int = 0  # the newest suppression id when claimed


class InFlight(NamedTuple):
    """`mark_in_flight`'s answer: whether the request may leave, the rows dropped
    since the claim, and whether the batch was lost to another worker."""

    go: bool
    dropped: set[int]
    lost: bool = False


class Outcome(NamedTuple):
    """What Postmark said about one message."""

    delivery_id: int
    status: DeliveryStatus
    message_id: str | None = None
    error_code: int | None = None
    error_message: str = ""


_SERIAL: weakref.WeakKeyDictionary[object, threading.RLock] = weakref.WeakKeyDictionary()
_SERIAL_GUARD = threading.Lock()


@contextmanager
def _serial(db: Database) -> Iterator[None]:
    if not db.is_sqlite:
        yield  # PostgreSQL: row locks, no database-wide writer to queue for
        return
    with _SERIAL_GUARD:
        lock = _SERIAL.setdefault(db.engine, threading.RLock())
    # Bounded like SQLite's own wait: past it, SQLite's busy handler decides.
    held = lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        yield
    finally:
        if held:
            lock.release()


@contextmanager
def transaction(db: Database) -> Iterator[Session]:
    """`db.transaction()`, queued behind this process's other delivery sessions on SQLite."""
    with _serial(db), db.transaction() as session:
        yield session


@contextmanager
def reading(db: Database) -> Iterator[Session]:
    """`db.sessions()`, queued behind this process's other delivery sessions on SQLite."""
    with _serial(db), db.sessions() as session:
        yield session


def freeze(session: Session, send: Send, mailing_list: MailingList, now: datetime) -> int:
    """Insert one pending delivery row per eligible recipient; return how many."""
    correction_of = session.execute(
        select(Issue.correction_of).where(Issue.id == send.issue_id)
    ).scalar_one()
    ids = audience.eligible(mailing_list, correction_of).subquery()
    rows = select(
        literal(send.id),
        ids.c.id,
        literal(str(D.PENDING)),
        literal(""),
        literal(now, UTCDateTime()),
    )
    session.execute(
        insert(Delivery).from_select(
            ["send_id", "subscriber_id", "status", "error_message", "updated_at"], rows
        )
    )
    # Counted, not taken from rowcount: psycopg reports -1 for INSERT … SELECT.
    return int(
        session.execute(
            select(func.count()).select_from(Delivery).where(Delivery.send_id == send.id)
        ).scalar_one()
    )


CANARY_WAVE = 1
_CLAIM_RANGE = (
    "UPDATE deliveries SET status = ?, batch_id = ?, updated_at = ? "
    "WHERE send_id = ? AND status = ? AND id BETWEEN ? AND ?"
)
_CLAIM_CANARY_RANGE = _CLAIM_RANGE + " AND wave = ?"


def draw_canary(session: Session, send_id: int, size: int) -> None:
    """Mark `size` rows of the send, drawn at random (a new draw each send), as its canary."""
    sample = (
        select(Delivery.id)
        .where(Delivery.send_id == send_id)
        .order_by(func.random())
        .limit(size)
        .scalar_subquery()
    )
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(sample))
        .values(wave=CANARY_WAVE)
        .execution_options(synchronize_session=False)
    )


def _not_eligible(list_name: str) -> object:
    suppressed = exists().where(
        Suppression.email == Subscriber.email, Suppression.scope.in_((ALL_LISTS, list_name))
    )
    return or_(Subscriber.status != SubscriberStatus.ACTIVE, Subscriber.email.is_(None), suppressed)


def claim(
    db: Database,
    send_id: int,
    *,
    list_name: str,
    worker: str,
    size: int,
    now: datetime,
) -> Claim | None:
    """Take up to `size` pending rows of a sending send as a new batch.

    Returns None when the send is not sending or has no pending rows.
    """
    with transaction(db) as session:
        found = session.execute(
            select(Send.state, Send.stage).where(Send.id == send_id)
        ).one_or_none()
        if found is None or found[0] != SendState.SENDING or found[1] == SendStage.HOLD:
            return None
        canary_only = found[1] == SendStage.CANARY
        query = (
            select(
                Delivery.id,
                Subscriber.email,
                Subscriber.name,
                Subscriber.company,
                _not_eligible(list_name).label("excluded"),  # type: ignore[attr-defined]
            )
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id, Delivery.status == D.PENDING)
            .limit(size)
        )
        if canary_only:
            query = query.where(Delivery.wave == CANARY_WAVE)
        if db.is_sqlite:
            query = query.order_by(Delivery.id)  # free on SQLite: the index walks in rowid order
        else:
            query = query.with_for_update(skip_locked=True, of=Delivery)
        rows = session.execute(query).all()
        if not rows:
            return None
        seen = _newest_suppression(session)
        recipients = [
            Recipient(row[0], row[1] or "", row[2] or "", row[3] or "")
            for row in rows
            if not row[4] and row[1]
        ]
        skipped = [row[0] for row in rows if row[4] or not row[1]]
        if skipped:
            _set_status(session, skipped, D.SKIPPED, now, "suppressed or unsubscribed at claim")
        if not recipients:
            return Claim(send_id, None, [], len(skipped), seen)
        batch = DeliveryBatch(
            send_id=send_id,
            state=BatchState.CLAIMED,
            size=len(recipients),
            attempts=0,
            claimed_by=worker,
            claimed_at=now,
            error="",
        )
        session.add(batch)
        session.flush()
        if db.is_sqlite:
            # The rows were the send's lowest pending ids and this transaction holds
            # the write lock, so once the skipped ones are marked, the pending rows
            # up to the last of them are exactly the claimed ones: one range UPDATE
            # on the (send_id, status) index instead of a 500-value IN list.
            connection = session.connection()
            # During a canary, the rows in that range outside it are not claimed.
            connection.exec_driver_sql(
                _CLAIM_CANARY_RANGE if canary_only else _CLAIM_RANGE,
                (
                    str(D.BATCHED),
                    batch.id,
                    _driver_time(connection, now),
                    send_id,
                    str(D.PENDING),
                    rows[0][0],
                    rows[-1][0],
                    *((CANARY_WAVE,) if canary_only else ()),
                ),
            )
        else:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_([r.delivery_id for r in recipients]))
                .values(status=D.BATCHED, batch_id=batch.id, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return Claim(send_id, batch.id, recipients, len(skipped), seen)


def _driver_time(connection: Connection, now: datetime) -> Any:
    """`now` as SQLAlchemy would bind it for `updated_at`, converted for the driver
    once (rather than by sqlite3's adapter for every row of an executemany)."""
    processor = UTCDateTime().bind_processor(connection.dialect)
    value = processor(now) if processor else now
    adapter = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    if connection.dialect.name == "sqlite" and adapter is not None:
        return adapter(value)
    return value


def _set_status(
    session: Session, ids: Sequence[int], status: DeliveryStatus, now: datetime, why: str = ""
) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)))
        .values(status=status, updated_at=now, error_message=why)
        .execution_options(synchronize_session=False)
    )


def _newest_suppression(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(Suppression.id), 0))).scalar_one())


def mark_in_flight(
    db: Database,
    batch_id: int,
    *,
    worker: str,
    list_name: str,
    now: datetime,
    attempted_at: datetime,
    suppressions_seen: int = -1,
) -> InFlight:
    """Just before the request: go ahead?, and the delivery ids dropped since the claim.
    `attempted_at` (the wall clock) starts the batch's reconciliation window.

    Refuses when `worker` no longer holds the batch: another process took it
    over (this one's lease had lapsed: a stalled process looks like a dead
    one) and has released or is reconciling it, so its rows may already be on
    their way again from there; this is the claim's fencing, checked under the
    batch row's lock, against `take_over`'s compare-and-set. Refuses (and
    releases the batch) when its send is no longer sending: a halt stops every
    send before its next batch. Rows whose recipient was suppressed or
    unsubscribed since the claim are dropped here as well.
    """
    with transaction(db) as session:
        batch = session.get(DeliveryBatch, batch_id, with_for_update=True)
        assert batch is not None
        if batch.claimed_by != worker or batch.state not in (
            BatchState.CLAIMED,
            BatchState.IN_FLIGHT,
        ):
            return InFlight(False, set(), lost=True)
        # A shared lock on the send row on PostgreSQL: a halt (an UPDATE of that
        # row) waits for this commit, and once it commits no batch starts.
        state = session.execute(
            select(Send.state).where(Send.id == batch.send_id).with_for_update(read=True)
        ).scalar_one()
        if state != SendState.SENDING:
            _release(session, batch, now, "released: the send was halted")
            return InFlight(False, set())
        dropped: set[int] = set()
        # Any suppression recorded since the claim (every unsubscribe, bounce and
        # complaint adds one) means the batch is checked again, row by row.
        if _newest_suppression(session) != suppressions_seen:
            dropped = set(
                session.execute(
                    select(Delivery.id)
                    .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                    .where(
                        Delivery.batch_id == batch_id,
                        Delivery.status == D.BATCHED,
                        _not_eligible(list_name),  # type: ignore[arg-type]
                    )
                ).scalars()
            )
        if dropped:
            _set_status(session, sorted(dropped), D.SKIPPED, now, "suppressed or unsubscribed")
            batch.size -= len(dropped)
        if batch.size <= 0:
            batch.state = BatchState.DONE
            batch.finished_at = now
            return InFlight(False, dropped)
        batch.state = BatchState.IN_FLIGHT
        batch.attempts += 1
        batch.attempted_at = attempted_at
        return InFlight(True, dropped)


_RECORD_QMARK = (
    "UPDATE deliveries SET status = ?, message_id = ?, error_code = ?, "
    "error_message = ?, updated_at = ? WHERE id = ? AND batch_id = ?"
)
_RECORD_FORMAT = _RECORD_QMARK.replace("?", "%s")


def _write_outcomes(
    session: Session, batch_id: int, outcomes: Iterable[Outcome], now: datetime
) -> None:
    """One executemany straight on the driver: this runs for every recipient, and
    SQLAlchemy's per-row parameter processing cost more than the UPDATE itself.
    Only rows still in `batch_id` are written: an answer that comes back after
    the batch was released (its rows pending again, or in another batch) does
    not overwrite what the ledger knows of them since."""
    connection = session.connection()
    dialect = connection.dialect
    at = _driver_time(connection, now)
    rows = [
        (
            str(o.status),
            o.message_id,
            o.error_code,
            o.error_message[:2000],
            at,
            o.delivery_id,
            batch_id,
        )
        for o in outcomes
    ]
    if rows:
        statement = _RECORD_QMARK if dialect.paramstyle == "qmark" else _RECORD_FORMAT
        connection.exec_driver_sql(statement, rows)


def record(
    db: Database,
    batch_id: int,
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    done: bool = True,
    error: str = "",
    extra: Callable[[Session], None] | None = None,
) -> str:
    """Write per-message outcomes (and `extra`'s writes) in one transaction;
    the batch is done unless `done` is False. Returns the send's state then
    (a batch that lands after a halt finds it `halted`)."""
    with transaction(db) as session:
        _write_outcomes(session, batch_id, outcomes, now)
        if extra is not None:
            extra(session)
        batch = session.get(DeliveryBatch, batch_id)
        assert batch is not None
        if done:
            batch.state = BatchState.DONE
            batch.finished_at = now
        batch.error = error[:2000]
        session.execute(update(Send).where(Send.id == batch.send_id).values(last_progress_at=now))
        return str(session.execute(select(Send.state).where(Send.id == batch.send_id)).scalar_one())


def open_rows(db: Database, batch_id: int) -> list[int]:
    """Delivery ids of a batch not yet settled (still `batched`)."""
    with reading(db) as session:
        return list(
            session.execute(
                select(Delivery.id)
                .where(Delivery.batch_id == batch_id, Delivery.status == D.BATCHED)
                .order_by(Delivery.id)
            ).scalars()
        )


def settle_found(db: Database, batch_id: int, found: dict[int, str], *, now: datetime) -> int:
    """Rows of the batch that Postmark has (delivery id -> MessageID) become sent."""
    if not found:
        return 0
    with transaction(db) as session:
        open_ids = set(
            session.execute(
                select(Delivery.id).where(
                    Delivery.batch_id == batch_id, Delivery.status == D.BATCHED
                )
            ).scalars()
        )
        outcomes = [
            Outcome(delivery_id, D.SENT, message_id)
            for delivery_id, message_id in found.items()
            if delivery_id in open_ids
        ]
        _write_outcomes(session, batch_id, outcomes, now)
        return len(outcomes)


def _release(session: Session, batch: DeliveryBatch, now: datetime, why: str) -> int:
    released = session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status == D.BATCHED)
        .values(status=D.PENDING, batch_id=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    batch.state = BatchState.DONE
    batch.finished_at = now
    batch.error = why
    return int(released or 0)


def release(db: Database, batch_id: int, *, now: datetime, why: str) -> int:
    """Rows of the batch known NOT to be at Postmark go back to pending."""
    with transaction(db) as session:
        batch = session.get(DeliveryBatch, batch_id)
        assert batch is not None
        return _release(session, batch, now, why)


def mark_unknown(db: Database, batch_id: int, *, now: datetime, why: str) -> int:
    """Reconciliation failed: the open rows become `unknown` and are never re-sent."""
    with transaction(db) as session:
        batch = session.get(DeliveryBatch, batch_id)
        assert batch is not None
        count = session.execute(
            update(Delivery)
            .where(Delivery.batch_id == batch_id, Delivery.status == D.BATCHED)
            .values(status=D.UNKNOWN, updated_at=now, error_message=why[:2000])
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        batch.state = BatchState.UNKNOWN
        batch.finished_at = now
        batch.error = why[:2000]
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="send.batch_unknown",
            at=now,
            subject=f"send:{batch.send_id}",
            batch=batch_id,
            recipients=int(count or 0),
            reason=why[:200],
        )
        return int(count or 0)


def counts(session: Session, send_id: int) -> dict[str, int]:
    """Rows of a send by status (every status present, zero when none)."""
    found = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send_id)
            .group_by(Delivery.status)
        ).all()
    )
    return {str(status): int(found.get(str(status), 0)) for status in DeliveryStatus}


def has_open_rows(session: Session, send_id: int) -> bool:
    return (
        session.execute(
            select(Delivery.id)
            .where(Delivery.send_id == send_id, Delivery.status.in_(OPEN_STATUSES))
            .limit(1)
        ).first()
        is not None
    )


def hard_failures(session: Session, send_id: int) -> tuple[int, int]:
    """(hard failures, rows Postmark answered for) of a send so far."""
    answered = (D.SENT, D.SUPPRESSED, D.FAILED, D.INVALID)
    rows = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send_id, Delivery.status.in_(answered))
            .group_by(Delivery.status)
        ).all()
    )
    hard = sum(int(rows.get(str(s), 0)) for s in HARD_FAILURES)
    return hard, sum(int(v) for v in rows.values())


def last_attempt(db: Database, batch_id: int) -> tuple[int, datetime]:
    """(send id, when the batch's last request left) of a batch: its
    reconciliation window runs from there (the claim time for batches from
    before that was recorded)."""
    with reading(db) as session:
        row = session.execute(
            select(
                DeliveryBatch.send_id, DeliveryBatch.attempted_at, DeliveryBatch.claimed_at
            ).where(DeliveryBatch.id == batch_id)
        ).one()
        return int(row[0]), row[1] or row[2]


def open_batches(session: Session) -> list[tuple[int, str, str]]:
    """(id, state, claimed_by) of every batch still claimed or in flight."""
    rows = session.execute(
        select(DeliveryBatch.id, DeliveryBatch.state, DeliveryBatch.claimed_by).where(
            DeliveryBatch.state.in_((BatchState.CLAIMED, BatchState.IN_FLIGHT))
        )
    ).all()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def take_over(db: Database, batch_id: int, *, was: str, worker: str) -> str | None:
    """Become the claimer of an orphaned batch (compare-and-set); return its state."""
    with transaction(db) as session:
        changed = session.execute(
            update(DeliveryBatch)
            .where(
                DeliveryBatch.id == batch_id,
                DeliveryBatch.claimed_by == was,
                DeliveryBatch.state.in_((BatchState.CLAIMED, BatchState.IN_FLIGHT)),
            )
            .values(claimed_by=worker)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            return None
        return session.execute(
            select(DeliveryBatch.state).where(DeliveryBatch.id == batch_id)
        ).scalar_one()


# --- a send's end states -------------------------------------------------------------


def halt_rows(
    session: Session, send: Send, *, actor: str, reason: str, detail: str, at: datetime
) -> None:
    """Halt `send` (locked by the caller) and its issue, audited."""
    send.state = SendState.HALTED
    send.halted_by = actor
    send.halt_reason = f"{reason}: {detail}" if detail else reason
    issue = session.get(Issue, send.issue_id)
    assert issue is not None
    if states.can_move(issue.state, IssueState.HALTED):
        states.move(
            session, issue, IssueState.HALTED, actor=actor, at=at, send=send.id, reason=reason
        )
    audit.record(
        session,
        actor=actor,
        action="send.halted",
        at=at,
        issue_id=send.issue_id,
        subject=f"send:{send.id}",
        reason=reason,
        detail=detail,
    )


def halt(
    db: Database, send_id: int, *, actor: str, reason: str, detail: str, now: datetime
) -> SendReport | None:
    """Halt one sending send; its report at the halt, or None when it was not sending."""
    with transaction(db) as session:
        send = session.execute(
            select(Send).where(Send.id == send_id).with_for_update()
        ).scalar_one_or_none()
        if send is None or send.state != SendState.SENDING:
            return None
        halt_rows(session, send, actor=actor, reason=reason, detail=detail, at=now)
        session.flush()
        return session_reports(session, send_id=send_id)[0]


def finish(db: Database, send_id: int, *, now: datetime) -> int | None:
    """Mark a sending send finished (its issue sent) once no row of it is pending
    or in a batch; its issue id, or None when it is not finished by this call."""
    with reading(db) as session:
        if has_open_rows(session, send_id):
            return None
    with transaction(db) as session:
        send = session.execute(
            select(Send).where(Send.id == send_id).with_for_update()
        ).scalar_one_or_none()
        if send is None or send.state != SendState.SENDING or has_open_rows(session, send_id):
            return None
        send.state = SendState.FINISHED
        send.finished_at = now
        issue = session.get(Issue, send.issue_id)
        assert issue is not None
        states.move(session, issue, IssueState.SENT, actor=audit.SYSTEM, at=now, send=send.id)
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="send.finished",
            at=now,
            issue_id=issue.id,
            subject=f"send:{send.id}",
            **counts(session, send_id),
        )
        return issue.id


def settled_after_halt(db: Database, send_id: int, *, now: datetime) -> int | None:
    """The issue id when `send_id` is halted with no request of it on its way
    to Postmark any more, the first time this is asked for this halt (a once-marker per halt:
    each resume has its own approval); else None."""
    with transaction(db) as session:
        send = session.get(Send, send_id)
        if send is None or send.state != SendState.HALTED:
            return None
        # Batches only claimed are not on their way: the halt releases them.
        if _on_the_wire(session, send_id):
            return None
        if not leases.once(session, f"halt-settled:{send_id}:{send.approval_id}", at=now):
            return None
        return send.issue_id


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SendReport:
    """A send's state and counts: what the channel may see (no addresses)."""

    send_id: int
    issue_id: int
    subject: str
    state: str
    total: int
    counts: dict[str, int]
    started_at: datetime | None
    finished_at: datetime | None
    halted_by: str | None
    halt_reason: str
    # Rows in a batch whose request may have reached Postmark (in flight, or being
    # reconciled): they may still land. Rows of a batch only claimed are not.
    on_the_wire: int = 0
    stage: str = SendStage.ALL
    canary_size: int = 0
    hold_minutes: int = 0
    hold_until: datetime | None = None

    @property
    def sent(self) -> int:
        return self.counts[D.SENT]

    @property
    def failed(self) -> int:
        return self.counts[D.FAILED] + self.counts[D.INVALID]

    @property
    def suppressed(self) -> int:
        return self.counts[D.SUPPRESSED] + self.counts[D.SKIPPED]

    @property
    def unknown(self) -> int:
        return self.counts[D.UNKNOWN]

    @property
    def in_flight(self) -> int:
        """Rows on their way to Postmark (or being reconciled): they may land."""
        return self.on_the_wire

    @property
    def pending(self) -> int:
        """Rows not sent and not on their way: after a halt, what is not sent
        (a batch claimed but not yet sent is released by the halt)."""
        return self.counts[D.PENDING] + self.counts[D.BATCHED] - self.on_the_wire

    @property
    def remaining(self) -> int:
        return self.counts[D.PENDING] + self.counts[D.BATCHED]

    @property
    def done(self) -> int:
        return self.total - self.remaining

    def as_params(self) -> dict[str, Any]:
        return {
            "issue": self.issue_id,
            "send": self.send_id,
            "state": self.state,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "invalid": self.counts[D.INVALID],
            "suppressed": self.suppressed,
            "unknown": self.unknown,
            "in_flight": self.in_flight,
            "pending": self.pending,
            "remaining": self.remaining,
            "done": self.done,
            "halted_by": self.halted_by or "",
            "halt_reason": self.halt_reason,
            "stage": str(self.stage),
            "canary": self.canary_size,
            "hold_minutes": self.hold_minutes,
            "hold_until": self.hold_until.isoformat() if self.hold_until else "",
        }


def sends_with_subjects(
    *, issue_id: int | None = None, send_id: int | None = None, limit: int = 5
) -> Select[Send, str]:
    """One send, an issue's sends, or the latest sends, each with its version's
    subject, newest first: the query every per-send report starts from."""
    query = (
        select(Send, IssueVersion.subject)
        .join(IssueVersion, IssueVersion.id == Send.version_id)
        .order_by(Send.id.desc())
        .limit(limit)
    )
    if send_id is not None:
        query = query.where(Send.id == send_id)
    if issue_id is not None:
        query = query.where(Send.issue_id == issue_id)
    return query


def reports(
    db: Database, *, issue_id: int | None = None, send_id: int | None = None, limit: int = 5
) -> list[SendReport]:
    """Reports of one send, of an issue's sends, or of the latest sends (newest first)."""
    with reading(db) as session:
        return session_reports(session, issue_id=issue_id, send_id=send_id, limit=limit)


def session_reports(
    session: Session, *, issue_id: int | None = None, send_id: int | None = None, limit: int = 5
) -> list[SendReport]:
    """`reports` in the caller's session: a halt counts its send in its own
    transaction, so what was on its way is what was on its way at the halt."""
    query = sends_with_subjects(issue_id=issue_id, send_id=send_id, limit=limit)
    rows = session.execute(query).all()
    return [
        SendReport(
            send_id=send.id,
            issue_id=send.issue_id,
            subject=subject,
            state=send.state,
            total=send.total,
            counts=counts(session, send.id),
            started_at=send.started_at,
            finished_at=send.finished_at,
            halted_by=send.halted_by,
            halt_reason=send.halt_reason,
            on_the_wire=_on_the_wire(session, send.id),
            stage=send.stage,
            canary_size=send.canary_size,
            hold_minutes=send.hold_minutes,
            hold_until=send.hold_until,
        )
        for send, subject in rows
    ]


def _on_the_wire(session: Session, send_id: int) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Delivery)
            .join(DeliveryBatch, DeliveryBatch.id == Delivery.batch_id)
            .where(
                Delivery.send_id == send_id,
                Delivery.status == D.BATCHED,
                DeliveryBatch.state == BatchState.IN_FLIGHT,
            )
        ).scalar_one()
    )


def sending(db: Database) -> list[int]:
    """Ids of the sends that are sending, oldest first."""
    with reading(db) as session:
        return list(
            session.execute(
                select(Send.id).where(Send.state == SendState.SENDING).order_by(Send.id)
            ).scalars()
        )
