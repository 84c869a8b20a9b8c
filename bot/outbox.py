"""The outbox: what the channel must be told after a database commit, kept in
the database until Slack has it.

Every `Notice` the desk raises (`Desk.notify`) is written to the `outbox` table
(migration 0003) and delivered at once through the desk's notifier; when Slack
does not take it (an error after the client's own 429 retries, Slack down, the
process killed in between), the row stays and the `outbox` duty of the
scheduler (bot.scheduler, every `DUTY_SECONDS` and at start) delivers it
later, with exponential backoff, so a restart loses no notice. The approval
card is written in the same transaction as its request (`enqueue`, then
`deliver` after the commit): an approval request never exists without a card
on its way.

Delivery is at least once: a row is claimed (compare-and-set on its attempt
count, held for `CLAIM`) before its notice goes out, so two processes do not
post it together; a process that dies between Slack's answer and marking the
row delivered posts it again later. Of a send's progress only the newest
notice is worth posting: an older undelivered one is dropped once a newer
one exists (`SUPERSEDED`).

Nothing here talks to Slack: the notifier (the front end's) does, and raises
`NotDelivered` (or anything else) when Slack did not take a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import OutboxMessage

if TYPE_CHECKING:
    from bot.desk import Desk, Notice

log = logging.getLogger(__name__)

DUTY_SECONDS = 30
CLAIM = timedelta(seconds=60)  # a delivery in progress holds its row this long
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=15)
MAX_ATTEMPTS = 40  # about eight hours of retries, then the row is left for people
SUPERSEDED = frozenset({"send.progress"})


class NotDelivered(Exception):
    """The notifier could not hand a notice to Slack; try again later."""


def enqueue(session: Session, notice: Notice, *, now: datetime) -> OutboxMessage:
    """Keep `notice` in the caller's transaction (deliver it after the commit)."""
    row = OutboxMessage(
        kind=notice.kind,
        issue_id=notice.issue_id,
        request_id=notice.request_id,
        send_id=notice.send_id,
        params=_storable(notice.params),
        created_at=now,
        attempts=0,
        next_attempt_at=now,
        delivered_at=None,
        last_error="",
    )
    session.add(row)
    session.flush()
    return row


def post(desk: Desk, notice: Notice) -> None:
    """Keep the notice, then try to deliver it now. If even the database
    cannot keep it, deliver it directly (best effort, as before the outbox)."""
    try:
        with desk.db.transaction() as session:
            row_id = enqueue(session, notice, now=desk.clock.now()).id
    except Exception:
        log.exception("could not keep notice %s in the outbox; delivering it directly", notice.kind)
        desk.notifier.notify(notice)
        return
    deliver(desk, ids=[row_id])


def deliver(
    desk: Desk,
    *,
    ids: Iterable[int] | None = None,
    request_id: int | None = None,
    limit: int = 100,
) -> int:
    """Deliver due rows (or only `ids`, or only a request's), oldest first; how
    many were delivered."""
    now = desk.clock.now()
    with desk.db.sessions() as session:
        query = (
            select(OutboxMessage.id, OutboxMessage.attempts)
            .where(
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.attempts < MAX_ATTEMPTS,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if ids is not None:
            query = query.where(OutboxMessage.id.in_(list(ids)))
        if request_id is not None:
            query = query.where(OutboxMessage.request_id == request_id)
        due = [(int(i), int(a)) for i, a in session.execute(query).all()]
    delivered = 0
    for row_id, attempts in due:
        notice = _claim(desk, row_id, attempts)
        if notice is None:
            continue  # another process has it, or a newer one replaced it
        try:
            desk.notifier.deliver(notice)
        except Exception as exc:
            _failed(desk, row_id, attempts + 1, exc)
            continue
        _done(desk, row_id)
        delivered += 1
    return delivered


def undelivered(desk: Desk) -> list[OutboxMessage]:
    """Rows Slack does not have yet (oldest first): for `countersign check` and tests."""
    with desk.db.sessions() as session:
        rows = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.delivered_at.is_(None))
            .order_by(OutboxMessage.id)
        ).scalars()
        result = list(rows)
        session.expunge_all()
        return result


def _claim(desk: Desk, row_id: int, attempts: int) -> Notice | None:
    from bot.desk import Notice

    now = desk.clock.now()
    with desk.db.transaction() as session:
        taken = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.attempts == attempts,
                OutboxMessage.delivered_at.is_(None),
            )
            .values(attempts=attempts + 1, next_attempt_at=now + CLAIM)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not taken:
            return None
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        if row.kind in SUPERSEDED and row.send_id is not None and _newer(session, row):
            row.delivered_at = now
            row.last_error = "superseded by a newer notice"
            return None
        return Notice(
            row.kind,
            issue_id=row.issue_id,
            request_id=row.request_id,
            send_id=row.send_id,
            params=_loaded(dict(row.params or {})),
        )


def _newer(session: Session, row: OutboxMessage) -> bool:
    return (
        session.execute(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.kind == row.kind,
                OutboxMessage.send_id == row.send_id,
                OutboxMessage.id > row.id,
            )
            .limit(1)
        ).first()
        is not None
    )


def _done(desk: Desk, row_id: int) -> None:
    with desk.db.transaction() as session:
        row = session.get(OutboxMessage, row_id)
        if row is not None:
            row.delivered_at = desk.clock.now()
            row.last_error = ""


def _failed(desk: Desk, row_id: int, attempts: int, exc: Exception) -> None:
    wait = min(LONGEST_RETRY, FIRST_RETRY * 2 ** max(0, attempts - 1))
    why = f"{type(exc).__name__}: {exc}"[:500]
    log.warning("notice %s not delivered (attempt %s): %s", row_id, attempts, why)
    with desk.db.transaction() as session:
        row = session.get(OutboxMessage, row_id)
        if row is not None:
            row.next_attempt_at = desk.clock.now() + wait
            row.last_error = why
            if attempts >= MAX_ATTEMPTS:
                log.error("notice %s (%s) given up after %s attempts", row_id, row.kind, attempts)


_DATETIME = "$datetime"


def _storable(value: Any) -> Any:
    """A notice's params as JSON keeps them: datetimes tagged (and given back as
    datetimes by `_loaded`, so a renderer sees the same values on a retry)."""
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_storable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _loaded(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_DATETIME}:
            return datetime.fromisoformat(value[_DATETIME])
        return {k: _loaded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_loaded(v) for v in value]
    return value
