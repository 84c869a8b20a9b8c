"""The schema itself: guards on the append-only and immutable tables, unique keys."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot import audit
from bot.clock import FrozenClock
from storage.db import Database
from storage.models import AuditEvent, ImmutableRowError


def test_audit_events_refuse_update_and_delete_through_the_orm(db: Database, clock: FrozenClock):
    with db.transaction() as session:
        event = audit.record(session, actor="U1", action="test", at=clock.now())
    with pytest.raises(ImmutableRowError), db.transaction() as session:
        row = session.get(AuditEvent, event.id)
        assert row is not None
        row.action = "rewritten"
    with pytest.raises(ImmutableRowError), db.transaction() as session:
        session.delete(session.get(AuditEvent, event.id))
    with db.sessions() as session:
        assert session.get(AuditEvent, event.id).action == "test"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "sql", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"]
)
def test_audit_events_refuse_raw_sql_changes(db: Database, clock: FrozenClock, sql: str):
    with db.transaction() as session:
        audit.record(session, actor="U1", action="test", at=clock.now())
    with pytest.raises((IntegrityError, DBAPIError)), db.engine.begin() as conn:
        conn.execute(text(sql))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_events")).scalar_one() == "test"
