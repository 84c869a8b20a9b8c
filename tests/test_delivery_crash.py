"""THE test: a sending process killed with SIGKILL at random moments, again
and again, against the Postmark stand-in in this process; afterwards the
stand-in's store is compared with the ledger: nobody got two copies, nobody
was skipped.

Run as a module (`python -m tests.test_delivery_crash DB_URL POSTMARK_URL`)
it is the sending process: an engine that runs until the send is finished.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import delivery
from bot.clock import FrozenClock, SystemClock
from bot.delivery_engine import Engine
from storage.db import connect
from storage.models import DeliveryBatch
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
    send_state,
)

ROOT = Path(__file__).resolve().parent.parent
# The reconciliation window must cover how late Postmark (here the stand-in)
# may process a request after its client gave up or died: with FAST's 0.3 s,
# a stand-in starved of CPU under load (a second and more, measured) processed
# a batch after it had been taken for lost and sent again (40 readers got two
# copies once, at load ~23; test_delivery_reconcile shows it deterministically).
# A batch found by the search is settled at once, so the window costs time only
# for batches Postmark never took.
CRASHY = replace(
    FAST,
    batch_size=40,
    progress_seconds=5.0,
    start_retry_seconds=60.0,
    reconcile_window=15.0,
)


def _worker(database_url: str, postmark_url: str, send_id: int) -> int:
    db = connect(database_url)
    desk = make_desk(db, postmark_url, SystemClock())
    engine = Engine(desk, CRASHY)
    engine.start()
    print("engine started", flush=True)  # the parent's clock for the kill starts here
    try:
        while send_state(desk, send_id) != "finished":
            time.sleep(0.05)
    finally:
        engine.stop()
    return 0


def _spawn(database_url: str, postmark_url: str, send_id: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.test_delivery_crash",
            database_url,
            postmark_url,
            str(send_id),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )


def _wait_until_started(process: subprocess.Popen[bytes]) -> None:
    """Block until the worker's engine runs: on a loaded machine the interpreter's
    start-up alone can take longer than the random delay before the kill, and a
    kill during imports exercises no recovery path at all."""
    assert process.stdout is not None
    process.stdout.readline()


@pytest.mark.slow
def test_killed_at_random_moments_nobody_gets_two_copies_and_nobody_is_skipped(
    db, database_url, postmark
):
    desk = make_desk(db, postmark.url, FrozenClock())
    add_subscribers(desk, 3_000)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    # Requests are on the wire when the kill comes, and slow enough that one life
    # (at most 0.6 s of sending, at most 3 batches of 40 per 0.15 s) sends at most
    # about 500 of the 3,000: the send cannot end before the five kills it needs.
    postmark.latency = 0.15
    rng = random.Random(20261102)
    kills = 0
    # Kill at random moments until both recovery paths have been seen at least
    # once (where a kill lands depends on timing, so the count of kills is not
    # fixed), and at least five times in all.
    for _ in range(30):
        if send_state(desk, send_id) == "finished" or (kills >= 5 and both_paths_seen(desk)):
            break
        process = _spawn(database_url, postmark.url, send_id)
        _wait_until_started(process)
        time.sleep(rng.uniform(0.05, 0.6))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait(timeout=10)  # reaped: a zombie would look alive
    final = _spawn(database_url, postmark.url, send_id)
    assert final.wait(timeout=60) == 0
    assert kills >= 5
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 3_000}
    # The kills did land in the middle of things: batches claimed by a dead
    # process were released, and batches on the wire were reconciled.
    assert both_paths_seen(desk)


def both_paths_seen(desk) -> bool:
    with desk.db.sessions() as session:
        notes = list(session.execute(select(DeliveryBatch.error)).scalars())
    released = any("gone before sending" in note for note in notes)
    reconciled = any("reconciled after its worker was gone" in note for note in notes)
    return released and reconciled


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1], sys.argv[2], int(sys.argv[3])))
