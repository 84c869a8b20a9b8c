"""The outbox (bot.outbox): a notice Slack did not take is kept in the database
and delivered later, once; only the newest progress of a send is worth
posting; two processes do not post one notice twice; an approval request and
its card's notice are written together; a restart delivers what was left."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot import approvals, outbox, scheduler
from bot.clock import FrozenClock, SystemClock
from bot.desk import Notice
from storage.db import Database, connect
from storage.models import ApprovalRequest, OutboxMessage
from tests.fixtures.delivery import add_subscribers
from tests.fixtures.desk import EDITOR, build_desk


class FlakyNotifier:
    """Slack as the notifier sees it: the first `failures` deliveries fail."""

    def __init__(self, failures: int = 0, pause: float = 0.0) -> None:
        self.failures = failures
        self.pause = pause
        self.delivered: list[Notice] = []
        self._lock = threading.Lock()

    def notify(self, notice: Notice) -> None:
        with contextlib.suppress(outbox.NotDelivered):
            self.deliver(notice)

    def deliver(self, notice: Notice) -> None:
        time.sleep(self.pause)
        with self._lock:
            if self.failures > 0:
                self.failures -= 1
                raise outbox.NotDelivered("internal_error")
            self.delivered.append(notice)

    def kinds(self) -> list[str]:
        return [n.kind for n in self.delivered]


def _desk(db: Database, clock, notifier: FlakyNotifier):
    desk = build_desk(db, clock)
    desk.notifier = notifier
    return desk


def test_a_notice_slack_did_not_take_is_kept_and_delivered_later_once(db: Database) -> None:
    clock = FrozenClock()
    notifier = FlakyNotifier(failures=2)
    desk = _desk(db, clock, notifier)
    desk.notify(Notice("send.halted", issue_id=3, send_id=7, params={"reason": "manual"}))
    assert notifier.delivered == []
    [row] = outbox.undelivered(desk)
    assert row.kind == "send.halted" and row.attempts == 1 and "internal_error" in row.last_error
    assert outbox.deliver(desk) == 0  # not due yet: it waits for its retry
    clock.advance(outbox.FIRST_RETRY)
    assert outbox.deliver(desk) == 0  # fails again; the next wait is twice as long
    clock.advance(outbox.FIRST_RETRY)
    assert outbox.deliver(desk) == 0
    clock.advance(outbox.FIRST_RETRY)
    assert outbox.deliver(desk) == 1
    assert notifier.kinds() == ["send.halted"]
    assert notifier.delivered[0].params == {"reason": "manual"}
    assert notifier.delivered[0].send_id == 7 and notifier.delivered[0].issue_id == 3
    clock.advance(timedelta(hours=1))
    assert outbox.deliver(desk) == 0
    assert outbox.undelivered(desk) == []
    assert notifier.kinds() == ["send.halted"]


def test_a_notice_is_retried_with_growing_waits_and_then_left_for_people(db: Database) -> None:
    clock = FrozenClock()
    notifier = FlakyNotifier(failures=10_000)
    desk = _desk(db, clock, notifier)
    desk.notify(Notice("send.unknown", issue_id=1, send_id=1))
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS + 5):
        [row] = outbox.undelivered(desk)
        waits.append(row.next_attempt_at - clock.now())
        clock.set(row.next_attempt_at)
        outbox.deliver(desk)
    [row] = outbox.undelivered(desk)
    assert row.attempts == outbox.MAX_ATTEMPTS
    assert waits[0] == outbox.FIRST_RETRY and waits[1] == 2 * outbox.FIRST_RETRY
    assert max(waits) == outbox.LONGEST_RETRY
    assert waits == sorted(waits[: outbox.MAX_ATTEMPTS]) + waits[outbox.MAX_ATTEMPTS :]


def test_only_the_newest_progress_of_a_send_goes_out(db: Database) -> None:
    clock = FrozenClock()
    notifier = FlakyNotifier(failures=3)
    desk = _desk(db, clock, notifier)
    for done in (10, 20):
        desk.notify(Notice("send.progress", issue_id=1, send_id=5, params={"done": done}))
    desk.notify(Notice("send.progress", issue_id=2, send_id=6, params={"done": 1}))
    assert notifier.delivered == []
    clock.advance(timedelta(minutes=1))
    assert outbox.deliver(desk) == 2
    assert sorted((n.send_id, n.params["done"]) for n in notifier.delivered) == [(5, 20), (6, 1)]
    assert outbox.undelivered(desk) == []


def test_params_come_back_as_they_were(db: Database) -> None:
    clock = FrozenClock()
    notifier = FlakyNotifier(failures=1)
    desk = _desk(db, clock, notifier)
    at = datetime(2026, 12, 24, 9, 30, tzinfo=UTC)
    params = {"code": "approval_expired", "expired_at": at, "codes": ["a", "b"], "n": 3}
    desk.notify(Notice("send.refused", issue_id=1, request_id=2, params=params))
    clock.advance(timedelta(minutes=1))
    assert outbox.deliver(desk) == 1
    assert notifier.delivered[0].params == params


def test_two_processes_post_each_notice_once(db: Database, database_url: str) -> None:
    clock = FrozenClock()
    first = _desk(db, clock, FlakyNotifier(failures=20))
    for i in range(20):
        first.notify(Notice("send.unknown", issue_id=i, send_id=i))
    clock.advance(timedelta(minutes=1))
    others = [FlakyNotifier(pause=0.01) for _ in range(2)]
    desks = [_desk(connect(database_url), clock, n) for n in others]
    threads = [threading.Thread(target=outbox.deliver, args=(d,)) for d in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    delivered = sorted(n.issue_id or 0 for other in others for n in other.delivered)
    assert delivered == list(range(20))
    for desk in desks:
        desk.db.dispose()


def test_an_approval_request_is_written_with_its_cards_notice(db: Database) -> None:
    """Slack down at the submit: the request is open and its card is on its way."""
    from bot import issues

    clock = FrozenClock()
    notifier = FlakyNotifier(failures=1)
    desk = _desk(db, clock, notifier)
    add_subscribers(desk, 3)
    saved = issues.create(desk, actor=EDITOR, subject="12月号", body="本文です。")
    card = approvals.submit(desk, saved.issue_id, actor=EDITOR)
    with desk.db.sessions() as session:
        rows = session.execute(select(OutboxMessage.kind, OutboxMessage.request_id)).all()
        requests = session.execute(select(ApprovalRequest.id)).scalars().all()
    assert requests == [card.request_id]
    assert [tuple(r) for r in rows] == [("approval.card", card.request_id)]
    assert notifier.delivered == []
    clock.advance(timedelta(minutes=1))
    assert outbox.deliver(desk) == 1
    assert [(n.kind, n.request_id) for n in notifier.delivered] == [
        ("approval.card", card.request_id)
    ]


def test_after_a_restart_the_scheduler_delivers_what_slack_did_not_take(db: Database) -> None:
    # Before the restart (an hour ago): Slack did not take the notice.
    before = _desk(db, FrozenClock(datetime.now(UTC) - timedelta(hours=1)), FlakyNotifier(1))
    before.notify(Notice("send.halted", issue_id=4, send_id=9, params={"reason": "manual"}))
    assert len(outbox.undelivered(before)) == 1
    # The next process: its scheduler's outbox duty runs at start.
    notifier = FlakyNotifier()
    after = _desk(db, SystemClock(), notifier)
    runner = scheduler.ScheduleRunner(
        after, start_send=lambda d, r: None, stalled_sends=lambda d, o: []
    )
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while not notifier.delivered and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert notifier.kinds() == ["send.halted"]
    assert outbox.undelivered(after) == []
