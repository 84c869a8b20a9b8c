"""Two engine processes on one PostgreSQL send: batches are claimed with
FOR UPDATE SKIP LOCKED, so each recipient is sent exactly once and both
processes do part of the work. (SQLite serialises claims through its write
lock; this test runs on PostgreSQL only.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import delivery
from bot.clock import FrozenClock
from storage.models import DeliveryBatch
from tests.fixtures.database import PG_URL
from tests.fixtures.delivery import (
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
)
from tests.test_delivery_crash import _spawn


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_two_engine_processes_share_one_send_exactly_once(db, database_url, postmark):
    desk = make_desk(db, postmark.url, FrozenClock())
    add_subscribers(desk, 1_500)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.latency = 0.05
    processes = [_spawn(database_url, postmark.url, send_id) for _ in range(2)]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 1_500}
    with desk.db.sessions() as session:
        claimers = set(session.execute(select(DeliveryBatch.claimed_by)).scalars())
    assert len({c.split(":")[1] for c in claimers}) == 2, "both processes claimed batches"
