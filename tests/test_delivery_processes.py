"""Several workers on one send. Two engine processes on one PostgreSQL send:
batches are claimed with FOR UPDATE SKIP LOCKED, so each recipient is sent
exactly once and both processes do part of the work (SQLite serialises claims
through its write lock; that test runs on PostgreSQL only). A worker whose
batch another process took over sends nothing of it (the claim is fenced)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from bot import delivery
from bot.clock import FrozenClock
from storage.models import Delivery, DeliveryBatch, Subscriber
from tests.fixtures.database import PG_URL
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
    running,
    send_state,
    wait_until,
)
from tests.test_delivery_crash import _spawn
from tests.test_delivery_reconcile import _spawn as spawn_with_window


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


def _batches(desk, state: str) -> list[tuple[int, str]]:
    with desk.db.sessions() as session:
        return [
            (int(r[0]), str(r[1]))
            for r in session.execute(
                select(DeliveryBatch.id, DeliveryBatch.claimed_by)
                .where(DeliveryBatch.state == state)
                .order_by(DeliveryBatch.id)
            ).all()
        ]


def claimed_addresses(desk, batch_id: int) -> set[str]:
    """The addresses of the rows a batch holds now."""
    with desk.db.sessions() as session:
        return set(
            session.execute(
                select(Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.batch_id == batch_id)
            ).scalars()
        )


def _received(postmark) -> set[str]:
    return {m.Recipients[0] for m in postmark.messages(stream="broadcast")}


def _note(desk, batch_id: int) -> str:
    with desk.db.sessions() as session:
        batch = session.get(DeliveryBatch, batch_id)
        assert batch is not None
        return batch.error


def test_a_worker_whose_batch_was_taken_over_does_not_send_it(db, database_url, postmark, clock):
    """A process whose lease has lapsed while it lives (here its clock is a
    month behind, as a stalled or skewed process's would be) looks gone to
    another process, which takes over its batches: the one still waiting for a
    sender is released there, and its rows are claimed and sent by the other
    process. When the first process's sender gets to that stale batch, it must
    find it no longer its own and post nothing: otherwise each of its
    recipients gets a second copy."""
    desk = make_desk(db, postmark.url, clock, read_timeout=60.0)
    add_subscribers(desk, 1_000)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    # One sender here; its first batch is held at Postmark, the second waits queued.
    postmark.faults.script(["held"], endpoint="/email/batch")
    postmark.latency = 0.3  # the rest takes the other process a few seconds
    other = None
    try:
        with running(desk, replace(FAST, in_flight=1, reconcile_window=20.0)) as engine:
            wait_until(lambda: len(_batches(desk, "in_flight")) == 1, timeout=30)
            wait_until(lambda: len(_batches(desk, "claimed")) >= 1, timeout=30)
            stale, claimer = _batches(desk, "claimed")[0]
            assert claimer == engine.worker
            stale_rows = claimed_addresses(desk, stale)
            # The other process (the real clock: this one's lease is long past).
            other = spawn_with_window(database_url, postmark.url, send_id, 20.0)
            # Once the stale batch's readers have their message from there,
            # Postmark answers the held batch and this sender goes on.
            wait_until(lambda: stale_rows <= _received(postmark), timeout=60)
            postmark.faults.let_go()
            assert other.wait(timeout=60) == 0
            wait_until(lambda: send_state(desk, send_id) == "finished", timeout=30)
    finally:
        postmark.faults.let_go()
        if other is not None and other.poll() is None:
            other.kill()
            other.wait(timeout=10)
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 1_000}
    assert "gone before sending" in _note(desk, stale)  # taken from a live worker
