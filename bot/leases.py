"""One runner at a time, and one-off duties exactly once, through the database.

A lease (`leases` row: name, holder, expires_at) is held by renewing it — a
heartbeat — before it expires; anyone may take it over once it has expired.
`acquire()` is one conditional UPDATE (holder is me, or the lease has
expired), then an INSERT if there was no row: atomic on SQLite (serial write
transactions) and on PostgreSQL (the row lock of the UPDATE; a racing INSERT
hits the primary key). Times come from the caller's clock, so hosts sharing a
database need reasonably synchronised clocks (NTP): the TTL must exceed the
worst skew.

A lease alone is not exactly-once: a paused holder may wake up after it was
taken over and finish a job. So duties that must happen once (a reminder, a
scheduled start) also insert a `OnceMarker` with `once()` in the transaction
that decides to act; the marker's primary key makes a second decision fail.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Lease, OnceMarker

__all__ = ["Lease", "OnceMarker", "acquire", "done", "holder_of", "once", "release"]


def acquire(db: Database, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease `name` for `holder` until now+ttl; True if held."""
    expires = now + ttl
    with db.transaction() as session:
        result = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at <= now))
            .values(holder=holder, expires_at=expires)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
        if session.get(Lease, name) is not None:
            return False  # someone else holds it, unexpired
    try:
        with db.transaction() as session:
            session.add(Lease(name=name, holder=holder, expires_at=expires))
    except IntegrityError:
        return False  # another process inserted it first
    return True


def release(db: Database, name: str, holder: str, *, now: datetime) -> None:
    """Give the lease up at once (if still ours), so a standby takes over without waiting."""
    with db.transaction() as session:
        session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )


def holder_of(db: Database, name: str, *, now: datetime) -> str | None:
    """Who holds the lease now (None if nobody or expired)."""
    with db.sessions() as session:
        lease = session.get(Lease, name)
        if lease is None or lease.expires_at <= now:
            return None
        return lease.holder


def done(session: Session, key: str) -> bool:
    return session.get(OnceMarker, key) is not None


def once(session: Session, key: str, *, at: datetime) -> bool:
    """Insert the marker `key` in the caller's transaction; True if it was new
    (the caller acts), False if the duty was already done."""
    if session.execute(select(OnceMarker.key).where(OnceMarker.key == key)).first():
        return False
    try:
        with session.begin_nested():
            session.add(OnceMarker(key=key, at=at))
    except IntegrityError:
        return False  # a concurrent transaction (PostgreSQL) inserted it first
    return True
