"""The scheduler: APScheduler 3's `BackgroundScheduler`, its jobs persisted by
`SQLAlchemyJobStore` in the application's database (table `apscheduler_jobs`,
created by the job store itself), run by one process at a time.

One runner: every process starts a `ScheduleRunner`; a heartbeat thread takes
or renews the lease `scheduler` (bot.leases). Only the holder runs the
APScheduler; a holder that fails to renew stops it; a standby takes over once
the lease has expired (a clean stop releases it at once). One-off duties are
exactly-once on their own (OnceMarkers), so a paused ex-holder finishing a job
late cannot repeat them.

Jobs (fixed ids, registered with `replace_existing=True` before the scheduler
starts, so a restart or a takeover replaces the stored ones with this
process's):

- `reminders`: at each reminder slot (`bot.schedule.ReminderTrigger`: the due
  date's local wall time N calendar days before), and `reminders-at-start`
  once at start. coalesce=True, misfire_grace_time=None
  (any lateness): the duty itself decides (`bot.schedule.reminder_due`) — the
  latest reminder, on its own local day only; missed fires collapse to one run.
- `scheduled-sends`: every minute at second 0, and once at start.
  coalesce=True, misfire_grace_time=None. Scheduled times are whole minutes,
  so this starts them on time; staleness is judged against the send's own time
  and SCHEDULED_SEND_GRACE_MINUTES, not against the job's lateness, so after
  downtime one run either starts a send (within grace) or asks the channel.
- `approval-expiry`: every minute. coalesce=True, misfire_grace_time=60 s:
  cards should flip to "expired" promptly, a run later than its interval is
  pointless (the next one comes), and `approve()` checks expiry itself.
- `suppression-sync`: every 15 minutes. coalesce=True, misfire_grace_time=15
  min: late within an interval is still useful; later, the next run is as good.
- `stalled-sends`: every 5 minutes. coalesce=True, misfire_grace_time=5 min,
  for the same reason.
- `day-after-reports`: every 10 minutes, and once at start: the report of each
  send that finished a day ago, posted once (`bot.outcomes.post_day_after_reports`).
- `outbox`: every 30 s, and once at start: notices Slack did not take when
  they were raised (an approval card, a halt, a failure), with backoff
  (`bot.outbox.deliver`). coalesce=True, misfire_grace_time=30 s.

All jobs have `max_instances=1`. Jobs are module-level functions taking the
runner's key (job state is pickled into the database; a `Desk` is not), and
they find their runner in this process's registry.

The clock: the duties read `desk.clock`; APScheduler itself reads the system
clock, which tests move with time-machine.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import approvals, audit, leases, outbox, outcomes, schedule, suppressions
from bot.clock import Clock
from bot.desk import Desk, Notice
from storage.models import Send

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(seconds=30)
STALL_AFTER = timedelta(minutes=10)

StalledSends = Callable[[Desk, timedelta], Sequence[Any]]


# --- the housekeeping duties -------------------------------------------------------------


def expire_approvals(desk: Desk) -> int:
    """Expire open requests past their TTL; `approval.expired` notices redraw the cards."""
    return len(approvals.expire_due(desk))


def sync_suppressions(desk: Desk) -> int:
    """Pull Postmark's suppressions; push ours if the unsubscribe module can."""
    new = suppressions.sync_from_postmark(desk)
    push = getattr(suppressions, "push_pending", None)
    if callable(push):
        push(desk)
    return new


def _delivery_stalled() -> StalledSends:
    from bot.delivery import stalled_sends  # type: ignore[attr-defined,import-not-found,unused-ignore]

    return stalled_sends  # type: ignore[no-any-return,unused-ignore]


def _send_id(item: Any) -> int:
    if isinstance(item, int):
        return item
    for name in ("send_id", "id"):
        value = getattr(item, name, None)
        if isinstance(value, int):
            return value
    raise TypeError(f"cannot tell which send {type(item).__name__} is")


def watch_stalls(desk: Desk, stalled: StalledSends | None = None) -> list[int]:
    """Tell the channel about sends with no progress for STALL_AFTER, once per
    stall (a send that moves again and stalls again is reported again)."""
    stalled = stalled or _delivery_stalled()
    now = desk.clock.now()
    reported: list[int] = []
    for item in stalled(desk, STALL_AFTER):
        send_id = _send_id(item)
        with desk.db.transaction() as session:
            send = session.get(Send, send_id)
            if send is None:
                continue
            since = send.last_progress_at or send.started_at or send.created_at
            if not leases.once(session, f"stalled:{send_id}:{since.isoformat()}", at=now):
                continue
            issue_id = send.issue_id
            audit.record(
                session,
                actor=audit.SYSTEM,
                action="schedule.stalled",
                at=now,
                issue_id=issue_id,
                subject=f"send:{send_id}",
                since=since.isoformat(),
            )
        desk.notify(
            Notice(
                "schedule.stalled",
                issue_id=issue_id,
                send_id=send_id,
                params={
                    "since": since.isoformat(),
                    "minutes": int((now - since).total_seconds() // 60),
                },
            )
        )
        reported.append(send_id)
    return reported


# --- jobs (module-level: their references are pickled into the job store) ----------------

_RUNNERS: dict[str, ScheduleRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def _runner(key: str) -> ScheduleRunner | None:
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
    if runner is None:
        log.warning("scheduler job for a runner that is gone (%s); skipped", key)
    return runner


def job_reminders(key: str) -> None:
    runner = _runner(key)
    if runner is not None:
        schedule.post_due_reminder(runner.desk)


def job_scheduled_sends(key: str) -> None:
    runner = _runner(key)
    if runner is not None:
        schedule.run_scheduled_sends(runner.desk, runner.start_send)


def job_approval_expiry(key: str) -> None:
    runner = _runner(key)
    if runner is not None:
        expire_approvals(runner.desk)


def job_suppression_sync(key: str) -> None:
    runner = _runner(key)
    if runner is not None:
        sync_suppressions(runner.desk)


def job_stalled_sends(key: str) -> None:
    runner = _runner(key)
    if runner is not None:
        watch_stalls(runner.desk, runner.stalled_sends)


def job_day_after_reports(key: str) -> None:
    runner = _runner(key)
    if runner is not None:
        outcomes.post_day_after_reports(runner.desk)


def job_outbox(key: str) -> None:
    runner = _runner(key)
    if runner is not None:
        outbox.deliver(runner.desk)


def register_jobs(scheduler: BackgroundScheduler, desk: Desk, key: str) -> list[str]:
    """Add every job with its fixed id; return the ids."""
    tz = desk.settings.tz
    now = datetime.now(tz)
    common: dict[str, Any] = {"args": (key,), "replace_existing": True, "max_instances": 1}
    scheduler.add_job(
        job_reminders,
        schedule.ReminderTrigger(schedule.FixedCadence.of(desk.settings)),
        id="reminders",
        coalesce=True,
        misfire_grace_time=None,
        **common,
    )
    # The same duty once at start: a reminder missed while down, on its own day.
    scheduler.add_job(
        job_reminders,
        "date",
        run_date=now,
        id="reminders-at-start",
        coalesce=True,
        misfire_grace_time=None,
        **common,
    )
    scheduler.add_job(
        job_scheduled_sends,
        CronTrigger(second=0, timezone=tz),
        id="scheduled-sends",
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=now,  # at start too: a send due while the bot was down
        **common,
    )
    scheduler.add_job(
        job_approval_expiry,
        IntervalTrigger(minutes=1, timezone=tz),
        id="approval-expiry",
        coalesce=True,
        misfire_grace_time=60,
        **common,
    )
    scheduler.add_job(
        job_suppression_sync,
        IntervalTrigger(minutes=15, timezone=tz),
        id="suppression-sync",
        coalesce=True,
        misfire_grace_time=15 * 60,
        **common,
    )
    scheduler.add_job(
        job_stalled_sends,
        IntervalTrigger(minutes=5, timezone=tz),
        id="stalled-sends",
        coalesce=True,
        misfire_grace_time=5 * 60,
        **common,
    )
    scheduler.add_job(
        job_day_after_reports,
        IntervalTrigger(minutes=10, timezone=tz),
        id="day-after-reports",
        coalesce=True,
        misfire_grace_time=10 * 60,
        next_run_time=now,  # at start too: a report due while the bot was down
        **common,
    )
    scheduler.add_job(
        job_outbox,
        IntervalTrigger(seconds=outbox.DUTY_SECONDS, timezone=tz),
        id="outbox",
        coalesce=True,
        misfire_grace_time=outbox.DUTY_SECONDS,
        next_run_time=now,  # at start too: notices Slack did not take before a restart
        **common,
    )
    return [
        "reminders",
        "reminders-at-start",
        "scheduled-sends",
        "approval-expiry",
        "suppression-sync",
        "stalled-sends",
        "day-after-reports",
        "outbox",
    ]


def _holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ScheduleRunner:
    """The scheduler of one process, running only while it holds the lease.

    `start_send` and `stalled_sends` default to the delivery engine's
    functions (imported when first needed); tests pass doubles. `clock`
    defaults to the desk's and times the lease.
    """

    def __init__(
        self,
        desk: Desk,
        *,
        holder: str | None = None,
        lease_ttl: timedelta = LEASE_TTL,
        heartbeat: float | None = None,
        clock: Clock | None = None,
        start_send: schedule.StartSend | None = None,
        stalled_sends: StalledSends | None = None,
    ) -> None:
        self.desk = desk
        self.holder = holder or _holder_id()
        self.lease_ttl = lease_ttl
        # Renew three times per TTL: two renewals may fail before the lease lapses.
        self.heartbeat = heartbeat if heartbeat is not None else lease_ttl.total_seconds() / 3
        self.clock = clock or desk.clock
        self.start_send = start_send
        self.stalled_sends = stalled_sends
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._held_until: datetime | None = None

    # public ---------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        with self._lock:
            return self._scheduler is not None

    @property
    def scheduler(self) -> BackgroundScheduler | None:
        return self._scheduler

    def start(self) -> None:
        with _RUNNERS_LOCK:
            _RUNNERS[self.holder] = self
        self._stop.clear()
        self.beat()  # try at once, so a lone process starts without waiting
        self._thread = threading.Thread(target=self._loop, name="scheduler-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat + 5)
        self._stop_scheduler()
        try:
            leases.release(self.desk.db, LEASE_NAME, self.holder, now=self.clock.now())
        except Exception:
            log.exception("could not release the scheduler lease")
        with _RUNNERS_LOCK:
            _RUNNERS.pop(self.holder, None)

    def beat(self) -> bool:
        """One heartbeat: take or renew the lease, start or stop the scheduler."""
        now = self.clock.now()
        try:
            held = leases.acquire(
                self.desk.db, LEASE_NAME, self.holder, now=now, ttl=self.lease_ttl
            )
        except Exception:
            log.exception("scheduler lease heartbeat failed")
            # Unsure: keep running only while the last renewal is still valid.
            with self._lock:
                held = self._held_until is not None and now < self._held_until
        if held:
            with self._lock:
                self._held_until = now + self.lease_ttl
            if not self.is_running:
                self._start_scheduler()
        else:
            with self._lock:
                self._held_until = None
            if self.is_running:
                log.warning("scheduler lease lost to another process; stopping here")
                self._stop_scheduler()
        return held

    # internals ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                self.beat()
            except Exception:  # the heartbeat must outlive any one failure
                log.exception("scheduler heartbeat failed")

    def _start_scheduler(self) -> None:
        # A fresh scheduler each time: APScheduler 3 executors do not restart.
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.desk.db.engine)},
            executors={"default": ThreadPoolExecutor(4)},
            timezone=self.desk.settings.tz,
        )
        register_jobs(scheduler, self.desk, self.holder)
        scheduler.start()
        with self._lock:
            self._scheduler = scheduler
        log.info("scheduler started (holder %s)", self.holder)

    def _stop_scheduler(self) -> None:
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
            log.info("scheduler stopped (holder %s)", self.holder)


def background(desk: Desk, **options: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """A (start, stop) pair for `Bot.background`."""
    runner = ScheduleRunner(desk, **options)
    return runner.start, runner.stop
