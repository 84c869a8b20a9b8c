"""No duplicate when Postmark is slow to show what it took (invariant 8).

A batch whose fate is unknown is settled as soon as Postmark's search shows
it, and re-sent only when the search still does not show it after the
reconciliation window (counted from the batch's last request, which is stored,
so a process that takes over after `kill -9` counts from the same moment). The
Postmark stand-in lags its search index (`index_lag`) and processes a batch
after the client gave up (`process_late`); every recipient gets exactly one
message through both, and through a kill during the wait.

Run as a module (`python -m tests.test_delivery_reconcile DB_URL POSTMARK_URL
SEND_ID WINDOW`) it is a sending process that runs until the send is finished.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import delivery
from bot.clock import FrozenClock, SystemClock
from storage.db import connect
from storage.models import DeliveryBatch
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    approved_request,
    assert_exactly_once,
    ledger_rows,
    make_desk,
    running,
    send_state,
    wait_until,
)
from tests.test_delivery_crash import CRASHY

ROOT = Path(__file__).resolve().parent.parent
BATCH = "/email/batch"


# A batch the search finds is settled at once, whatever the window: tests of
# that path give a window far longer than the delays they script, so that a
# loaded machine (the stand-in starved of CPU for a second or more, measured)
# cannot make their premise false and have the batch taken for lost.
FOUND_WINDOW = 10.0


def _options(window: float):
    return replace(FAST, reconcile_window=window, reconcile_interval=0.1, reconcile_agree=2)


def _notes(desk) -> list[str]:
    with desk.db.sessions() as session:
        return list(session.execute(select(DeliveryBatch.error)).scalars())


def test_a_lost_reply_seen_late_by_the_search_is_settled_not_resent(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 150)  # three batches of 50
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.index_lag = 1.0  # longer than the old fixed 0.3 s settle time of these tests
    postmark.faults.script([None, "reply_lost"], endpoint=BATCH)
    with running(desk, _options(window=FOUND_WINDOW)):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=30)
    assert postmark.faults.calls(BATCH) == 3  # the lost batch was never sent again
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 150}


def test_the_fault_is_real_a_window_shorter_than_the_lag_would_resend(db, postmark, clock):
    """The premise of the test above: with a window shorter than the index
    lag, the batch Postmark took is taken for lost and sent again."""
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 50)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.index_lag = 1.5
    postmark.faults.script(["reply_lost"], endpoint=BATCH)
    with running(desk, _options(window=0.2)):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=30)
    assert postmark.faults.calls(BATCH) == 2
    assert len(postmark.messages(stream="broadcast")) == 100  # everyone twice


def test_a_batch_processed_after_the_client_gave_up_is_found_not_resent(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 120)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.late_process_seconds = 1.0
    postmark.index_lag = 0.5
    postmark.faults.script(["process_late"], endpoint=BATCH)
    with running(desk, _options(window=FOUND_WINDOW)):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=30)
    assert postmark.faults.calls(BATCH) == 3
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 120}


def test_a_batch_postmark_never_took_is_resent_only_after_the_window(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 50)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.index_lag = 0.3
    postmark.faults.script(["reset"], endpoint=BATCH)  # dropped before processing
    window = 1.5
    started = time.monotonic()
    with running(desk, _options(window=window)):
        wait_until(lambda: postmark.faults.calls(BATCH) == 2, timeout=30)
        resent_after = time.monotonic() - started
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=30)
    assert resent_after >= window
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 50}


def test_what_the_search_cannot_tell_stays_unknown_and_is_shown(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 50)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.script(["process_late"], endpoint=BATCH)
    postmark.faults.late_process_seconds = 0.5
    postmark.faults.script(["503"] * 50, endpoint="/messages/outbound")
    with running(desk, _options(window=1.0)):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=30)
        time.sleep(0.7)  # the late processing lands meanwhile
    assert {s for _, s, _, _ in ledger_rows(desk, send_id)} == {"unknown"}
    assert postmark.faults.calls(BATCH) == 1  # never re-sent blindly
    assert len(postmark.messages(stream="broadcast")) == 50
    unknown = [n for n in desk.notifier.notices if n.kind == "send.unknown"]  # type: ignore[attr-defined]
    assert unknown and unknown[0].params["count"] == 50


def test_a_halt_while_a_batch_is_reconciled_does_not_resend_it(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 50)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.script(["reset"], endpoint=BATCH)
    with running(desk, _options(window=1.0)):
        wait_until(lambda: postmark.faults.calls(BATCH) == 1)
        delivery.halt_all(desk, actor="U0EDITOR1")
        wait_until(lambda: not any(s == "batched" for _, s, _, _ in ledger_rows(desk, send_id)))
        time.sleep(0.3)
    assert postmark.faults.calls(BATCH) == 1
    assert {s for _, s, _, _ in ledger_rows(desk, send_id)} == {"pending"}


# --- the crash test's duplicate (s21) ---------------------------------------------------


def _held_batch(desk, postmark, window: float) -> tuple[int, int]:
    """40 readers, one batch: Postmark sits on the request past the client's
    read timeout (as the stand-in does when starved of CPU under load), the
    first search fails ("reconciling batch 1: search failed (FateUnknown)"), and
    the request is processed once the engine has sent the batch again, or after
    5 s if it has not. (send id, readers who got two copies)."""
    add_subscribers(desk, 40)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.script(["held"], endpoint=BATCH)
    postmark.faults.script(["503"], endpoint="/messages/outbound")
    try:
        with running(desk, replace(CRASHY, reconcile_window=window)):
            wait_until(lambda: postmark.faults.calls("/messages/outbound") >= 2, timeout=30)
            resent = _waited(lambda: postmark.faults.calls(BATCH) >= 2, seconds=5.0)
            postmark.faults.let_go()
            wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
            wait_until(lambda: len(postmark.messages(stream="broadcast")) >= 40 * (1 + resent))
    finally:
        postmark.faults.let_go()
    per_address = Counter(m.Recipients[0] for m in postmark.messages(stream="broadcast"))
    return send_id, sum(1 for n in per_address.values() if n > 1)


def _waited(predicate, *, seconds: float) -> bool:
    try:
        wait_until(predicate, timeout=seconds)
    except AssertionError:
        return False
    return True


def test_the_crash_tests_duplicate_a_window_shorter_than_postmarks_delay_resends(
    db, postmark, clock
):
    """What the crash test saw once under load: its window (then 0.3 s) was
    shorter than the time the loaded stand-in took to process a request whose
    client had given up, so the batch was taken for lost and sent again: 40
    readers (one batch) with two copies. The engine did what its window said."""
    desk = make_desk(db, postmark.url, clock, read_timeout=1.0)
    assert _held_batch(desk, postmark, window=0.3)[1] == 40


def test_with_the_crash_tests_window_a_late_batch_is_found_not_resent(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock, read_timeout=1.0)
    window = CRASHY.reconcile_window
    assert window is not None and window > 1.0 + 5.0  # the read timeout and the hold
    send_id, twice = _held_batch(desk, postmark, window=window)
    assert twice == 0
    assert postmark.faults.calls(BATCH) == 1
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 40}


# --- kill -9 during the wait ---------------------------------------------------------------


def _worker(database_url: str, postmark_url: str, send_id: int, window: float) -> int:
    db = connect(database_url)
    desk = make_desk(db, postmark_url, SystemClock())
    engine = delivery.new_engine(desk, _options(window))
    engine.start()
    try:
        while send_state(desk, send_id) != "finished":
            time.sleep(0.05)
    finally:
        engine.stop()
    return 0


def _spawn(database_url: str, postmark_url: str, send_id: int, window: float):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.test_delivery_reconcile",
            database_url,
            postmark_url,
            str(send_id),
            str(window),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _in_flight_since(desk):
    with desk.db.sessions() as session:
        return session.execute(
            select(DeliveryBatch.attempted_at)
            .where(DeliveryBatch.state == "in_flight")
            .order_by(DeliveryBatch.id)
            .limit(1)
        ).scalar_one_or_none()


@pytest.mark.parametrize("fault", ["process_late", "reset"])
def test_killed_while_waiting_for_the_search_the_next_process_sends_each_once(
    db, database_url, postmark, fault
):
    """`process_late`: Postmark takes the batch after the sender gave up and the
    sender is killed before the search shows it; the next process finds it and
    sends nothing again. `reset`: Postmark never took it; the next process
    re-sends it, but not before the window counted from the first request."""
    desk = make_desk(db, postmark.url, FrozenClock())
    add_subscribers(desk, 80)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    window = 3.0
    postmark.faults.late_process_seconds = 1.5
    postmark.index_lag = 0.5
    postmark.faults.script([fault], endpoint=BATCH)
    first = _spawn(database_url, postmark.url, send_id, window)
    try:
        wait_until(lambda: any(f.kind == fault for f in postmark.faults.applied), timeout=30)
        wait_until(lambda: _in_flight_since(desk) is not None, timeout=10)
        time.sleep(0.3)  # the worker is waiting for the search now
        assert first.poll() is None
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(timeout=10)
    since = _in_flight_since(desk)
    assert since is not None  # the batch's fate is still open
    second = _spawn(database_url, postmark.url, send_id, window)
    assert second.wait(timeout=60) == 0
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 80}
    assert any("reconciled after its worker was gone" in note for note in _notes(desk))
    if fault == "process_late":
        assert postmark.faults.calls(BATCH) == 2  # the taken batch was not sent again
    else:
        assert postmark.faults.calls(BATCH) == 3
        resent = [m.ReceivedAt for m in postmark.messages(stream="broadcast")]
        # The batch sent again left no earlier than the window after the first try.
        assert max(resent) >= since + timedelta(seconds=window)


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
