"""When the monthly issue is due, when to remind the team, what is still
needed, and which scheduled sends are due — as pure functions of
(now, settings, state), plus the two one-off duties built on them.

Due dates come from `ISSUE_SCHEDULE` (cron, evaluated in `TIMEZONE`, with the
same `CronTrigger.from_crontab` that `bot.settings` validates it with, so a
malformed schedule has already stopped start-up with an error naming
`ISSUE_SCHEDULE`). A reminder "N days before" is at the due date's local wall
time N calendar days earlier — not N×24 hours, which would drift by an hour
across a daylight-saving change — and is posted on its own local day or not at
all: a bot that was down at 10:00 still reminds at 15:00, never the next day.

"This month's issue" for a due date D: an issue that went out (sent, sending or
halted) counts for the due date nearest to the moment its send started, so a
late November issue sent on 3 November never silences December's reminders;
any unsent, uncancelled issue counts for the coming due date (the most
advanced one wins).

Exactly once: each one-off duty inserts a `OnceMarker` (`reminder:…`,
`scheduled-send:…`, `scheduled-missed:…`) in the same transaction that decides
to act, so a restart, a second process or a late APScheduler run finds the
marker and does nothing. A reminder whose Slack post fails after commit is not
retried (at most once: a duplicate reminder is worse than a lost one).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot import audit, issues, leases, states
from bot.desk import Desk, DirectoryError, Notice
from bot.settings import Settings
from storage.models import (
    ApprovalRequest,
    ApprovalState,
    Issue,
    IssueState,
    IssueVersion,
    OnceMarker,
    Send,
)

log = logging.getLogger(__name__)

# How far back to look for the previous due date: a month, a year, then a
# leap-year cycle twice (a schedule like "0 10 29 2 *" fires every 4 years).
_LOOKBACK = (timedelta(days=32), timedelta(days=367), timedelta(days=4 * 366 + 1))
_LOOKBACK_MAX = timedelta(days=8 * 366 + 2)


# --- due dates and reminder slots (pure) ------------------------------------------------


class Cadence(Protocol):
    """What the due-date arithmetic needs; `Settings` is one."""

    @property
    def ISSUE_SCHEDULE(self) -> str: ...

    @property
    def tz(self) -> ZoneInfo: ...

    @property
    def remind_days_before(self) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class FixedCadence:
    """A picklable Cadence (for the reminder trigger in the job store)."""

    ISSUE_SCHEDULE: str
    zone: str
    days: tuple[int, ...]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def remind_days_before(self) -> tuple[int, ...]:
        return self.days

    @classmethod
    def of(cls, settings: Settings) -> FixedCadence:
        return cls(settings.ISSUE_SCHEDULE, settings.TIMEZONE, settings.remind_days_before)


def trigger(settings: Cadence) -> CronTrigger:
    """The due-date cron on the local wall clock: the same parse that settings
    validated, evaluated in UTC on naive local times. APScheduler 3.11's own
    zone handling skips a month when asked on a spring-forward day before the
    change (e.g. "0 0 1 * *" from 29 March 00:00 in Berlin gives 1 May)."""
    return CronTrigger.from_crontab(settings.ISSUE_SCHEDULE, timezone=UTC)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=UTC)


def _real(wall: datetime, tz: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=tz).astimezone(UTC)


def dues_between(settings: Cadence, start: datetime, end: datetime) -> Iterator[datetime]:
    """Due times (UTC) in [start, end), in order."""
    cron, tz = trigger(settings), settings.tz
    fire = cron.get_next_fire_time(None, _wall(start, tz))
    while fire is not None:
        real = _real(fire, tz)
        if real >= end:
            return
        if real >= start:  # a repeated wall time resolves to its first occurrence
            yield real
        fire = cron.get_next_fire_time(fire, fire + timedelta(seconds=1))


def due_at_or_after(settings: Cadence, moment: datetime) -> datetime | None:
    """The first due time at or after `moment` (UTC), or None if the cron never fires."""
    return next(dues_between(settings, moment, moment + _LOOKBACK_MAX), None)


def due_after(settings: Cadence, moment: datetime) -> datetime | None:
    """The first due time strictly after `moment`."""
    return due_at_or_after(settings, moment + timedelta(microseconds=1))


def due_before(settings: Cadence, moment: datetime) -> datetime | None:
    """The last due time strictly before `moment` (cron has no reverse: look back)."""
    for span in (*_LOOKBACK, _LOOKBACK_MAX):
        found = None
        for due in dues_between(settings, moment - span, moment):
            found = due
        if found is not None:
            return found
    return None


def local_days_before(due: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The same local wall time `days` calendar days before `due` (UTC result).

    A wall time that does not exist that day (a spring-forward gap) resolves
    the way zoneinfo does (fold=0: the offset before the change).
    """
    local = due.astimezone(tz)
    wall = local.replace(tzinfo=None) - timedelta(days=days)
    return wall.replace(tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Slot:
    """One reminder: `days` before the due time `due`, at `at` (UTC)."""

    due: datetime
    days: int
    at: datetime

    def key(self, tz: ZoneInfo) -> str:
        return f"reminder:{self.due.astimezone(tz):%Y-%m-%dT%H:%M}:{self.days}"

    def local_day_end(self, tz: ZoneInfo) -> datetime:
        """Midnight after the slot's local day: the last moment it may be posted."""
        day = self.at.astimezone(tz).date() + timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def slots_for(settings: Cadence, due: datetime) -> list[Slot]:
    return [
        Slot(due=due, days=n, at=local_days_before(due, n, settings.tz))
        for n in settings.remind_days_before
    ]


def reminder_due(settings: Cadence, now: datetime) -> Slot | None:
    """The reminder to post at `now`: the latest slot that has come and whose
    local day is still today. None if there is none (or no reminders are set)."""
    if not settings.remind_days_before:
        return None
    reach = timedelta(days=max(settings.remind_days_before) + 2)
    candidates = [
        slot
        for due in dues_between(settings, now - timedelta(days=2), now + reach)
        for slot in slots_for(settings, due)
        if slot.at <= now < slot.local_day_end(settings.tz)
    ]
    return max(candidates, key=lambda s: (s.at, -s.days), default=None)


def upcoming_slots(settings: Cadence, now: datetime, due: datetime) -> list[Slot]:
    """Reminders for `due` still to come after `now`."""
    return sorted((s for s in slots_for(settings, due) if s.at > now), key=lambda s: s.at)


def next_slot(settings: Cadence, moment: datetime) -> Slot | None:
    """The first reminder slot at or after `moment`."""
    if not settings.remind_days_before:
        return None
    reach = timedelta(days=max(settings.remind_days_before))
    due = due_at_or_after(settings, moment)
    while due is not None:
        found = [s for s in slots_for(settings, due) if s.at >= moment]
        if found:
            return min(found, key=lambda s: s.at)
        if due - reach > moment + _LOOKBACK_MAX:
            return None
        due = due_after(settings, due)
    return None


class ReminderTrigger(BaseTrigger):
    """Fires at each reminder slot (an APScheduler trigger, pickled into the job store)."""

    def __init__(self, cadence: FixedCadence) -> None:
        self.cadence = cadence

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Walk on from the previous fire (APScheduler collects missed runs so).
        start = now
        if previous_fire_time is not None:
            start = previous_fire_time + timedelta(microseconds=1)
        slot = next_slot(self.cadence, start.astimezone(UTC))
        return slot.at.astimezone(self.cadence.tz) if slot else None

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "cadence": self.cadence}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.cadence = state["cadence"]

    def __str__(self) -> str:
        return f"reminders[{self.cadence.ISSUE_SCHEDULE} {self.cadence.zone} {self.cadence.days}]"


class Decision(enum.StrEnum):
    WAIT = "wait"
    START = "start"
    MISSED = "missed"


def scheduled_decision(now: datetime, scheduled_at: datetime, grace: timedelta) -> Decision:
    """What to do with a send scheduled for `scheduled_at`, at `now`: start it on
    time or within the grace window; past that, ask people instead."""
    if now < scheduled_at:
        return Decision.WAIT
    if now - scheduled_at <= grace:
        return Decision.START
    return Decision.MISSED


def grace(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.SCHEDULED_SEND_GRACE_MINUTES)


# --- what is still needed for a due date (reads the database) ---------------------------


class Stage(enum.StrEnum):
    """Where this month's issue stands, least to most advanced."""

    NONE = "none"
    DRAFT = "draft"
    REJECTED = "rejected"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    HALTED = "halted"
    SENDING = "sending"
    SENT = "sent"


_RANK = {stage: rank for rank, stage in enumerate(Stage)}
_UNSENT = {
    IssueState.DRAFT: Stage.DRAFT,
    IssueState.REJECTED: Stage.REJECTED,
    IssueState.AWAITING_APPROVAL: Stage.AWAITING_APPROVAL,
    IssueState.APPROVED: Stage.APPROVED,
    IssueState.SCHEDULED: Stage.SCHEDULED,
}
_WENT_OUT = {
    IssueState.SENT: Stage.SENT,
    IssueState.SENDING: Stage.SENDING,
    IssueState.HALTED: Stage.HALTED,
}


@dataclass(frozen=True)
class MonthStatus:
    """What is still needed for the issue due at `due`. No personal data."""

    due: datetime
    stage: Stage
    issue_id: int | None = None
    subject: str = ""
    request_id: int | None = None
    scheduled_at: datetime | None = None
    # Who may not approve the open request (its requester and the version's author).
    excluded_approvers: frozenset[str] = field(default_factory=frozenset)


def _nearest_due_window(settings: Cadence, due: datetime) -> tuple[datetime, datetime]:
    """The moments nearer to `due` than to its neighbouring due dates."""
    before = due_before(settings, due)
    after = due_after(settings, due)
    start = before + (due - before) / 2 if before else datetime.min.replace(tzinfo=UTC)
    end = due + (after - due) / 2 if after else datetime.max.replace(tzinfo=UTC)
    return start, end


def _went_out_at(session: Session, issue: Issue) -> datetime:
    started = session.execute(
        select(func.max(func.coalesce(Send.started_at, Send.created_at))).where(
            Send.issue_id == issue.id
        )
    ).scalar_one_or_none()
    if isinstance(started, datetime):
        return started if started.tzinfo else started.replace(tzinfo=UTC)
    return issue.updated_at


def month_status(session: Session, settings: Settings, due: datetime) -> MonthStatus:
    start, end = _nearest_due_window(settings, due)
    best: tuple[int, int, Issue] | None = None
    for issue in session.execute(
        select(Issue).where(Issue.state.in_([*_UNSENT, *_WENT_OUT]))
    ).scalars():
        state = IssueState(issue.state)
        if state in _WENT_OUT:
            if not start < _went_out_at(session, issue) <= end:
                continue
            stage = _WENT_OUT[state]
        else:
            stage = _UNSENT[state]
        candidate = (_RANK[stage], issue.id, issue)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        return MonthStatus(due=due, stage=Stage.NONE)
    issue = best[2]
    stage = list(Stage)[best[0]]
    version = session.get(IssueVersion, issue.current_version_id)
    request = session.execute(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.issue_id == issue.id,
            ApprovalRequest.state.in_((ApprovalState.OPEN, ApprovalState.APPROVED)),
        )
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    excluded = frozenset(
        x for x in ((request.requester if request else None), version and version.author) if x
    )
    return MonthStatus(
        due=due,
        stage=stage,
        issue_id=issue.id,
        subject=version.subject if version else "",
        request_id=request.id if request else None,
        scheduled_at=request.scheduled_at if request else None,
        excluded_approvers=excluded,
    )


def approvers_for(desk: Desk, status: MonthStatus) -> list[str]:
    """Who may approve this month's open request (Slack ids), or [] if unknown."""
    try:
        everyone = desk.directory.approvers()
    except DirectoryError:
        return []
    return sorted(everyone - status.excluded_approvers)


# --- the reminder duty -------------------------------------------------------------------


def reminder_notice(status: MonthStatus, slot: Slot, approvers: Sequence[str]) -> Notice:
    params: dict[str, Any] = {
        "stage": str(status.stage),
        "due": status.due.isoformat(),
        "days": slot.days,
        "subject": status.subject,
        "approvers": list(approvers),
        "scheduled_at": status.scheduled_at.isoformat() if status.scheduled_at else None,
    }
    return Notice("reminder", issue_id=status.issue_id, request_id=status.request_id, params=params)


def post_due_reminder(desk: Desk) -> Notice | None:
    """Post the reminder due now, once. Returns the notice (None if nothing to do)."""
    settings, now = desk.settings, desk.clock.now()
    slot = reminder_due(settings, now)
    if slot is None:
        return None
    with desk.db.transaction() as session:
        key = slot.key(settings.tz)
        if leases.done(session, key):
            return None
        status = month_status(session, settings, slot.due)
        if status.stage == Stage.SENT:
            # No reminder once the month's issue is out; mark it so that the
            # decision is not re-made (and a later unsent draft cannot revive it).
            leases.once(session, key, at=now)
            return None
        if not leases.once(session, key, at=now):
            return None
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="reminder.posted",
            at=now,
            issue_id=status.issue_id,
            subject=key,
            stage=str(status.stage),
        )
    approvers = approvers_for(desk, status) if status.stage == Stage.AWAITING_APPROVAL else []
    notice = reminder_notice(status, slot, approvers)
    desk.notify(notice)
    return notice


# --- scheduled sends ---------------------------------------------------------------------

StartSend = Callable[[Desk, int], Any]


def _delivery_start() -> StartSend:
    """The delivery engine's start, imported when needed (it is written in parallel)."""
    from bot.delivery import start_approved  # type: ignore[attr-defined,import-not-found,unused-ignore]

    return start_approved  # type: ignore[no-any-return,unused-ignore]


@dataclass(frozen=True)
class Scheduled:
    request_id: int
    issue_id: int
    scheduled_at: datetime


def scheduled_requests(session: Session) -> list[Scheduled]:
    """Approved requests with a time whose issue is still waiting for it."""
    rows = session.execute(
        select(ApprovalRequest.id, ApprovalRequest.issue_id, ApprovalRequest.scheduled_at)
        .join(Issue, Issue.id == ApprovalRequest.issue_id)
        .where(
            ApprovalRequest.state == ApprovalState.APPROVED,
            ApprovalRequest.scheduled_at.is_not(None),
            ApprovalRequest.send_id.is_(None),
            Issue.state == IssueState.SCHEDULED,
        )
        .order_by(ApprovalRequest.scheduled_at)
    ).all()
    return [Scheduled(r[0], r[1], r[2]) for r in rows if r[2] is not None]


def run_scheduled_sends(desk: Desk, start: StartSend | None = None) -> dict[str, list[int]]:
    """Start every scheduled send whose time has come (within the grace window),
    and ask about those past it. Returns request ids by what was done."""
    now = desk.clock.now()
    with desk.db.sessions() as session:
        due = [
            (s, scheduled_decision(now, s.scheduled_at, grace(desk.settings)))
            for s in scheduled_requests(session)
        ]
    done: dict[str, list[int]] = {"started": [], "missed": []}
    for item, decision in due:
        if decision == Decision.START:
            if start is None:
                # Fails loudly (and before any marker is written, so the next
                # run retries) until the delivery engine exists.
                start = _delivery_start()
            if _start_once(desk, item, start, now):
                done["started"].append(item.request_id)
        elif decision == Decision.MISSED and _ask_once(desk, item, now):
            done["missed"].append(item.request_id)
    return done


def _start_once(desk: Desk, item: Scheduled, start: StartSend, now: datetime) -> bool:
    key = f"scheduled-send:{item.request_id}"
    with desk.db.transaction() as session:
        if not leases.once(session, key, at=now):
            return False
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="schedule.started",
            at=now,
            issue_id=item.issue_id,
            subject=f"request:{item.request_id}",
            scheduled_at=item.scheduled_at.isoformat(),
        )
    try:
        start(desk, item.request_id)
    except Exception:
        log.exception("scheduled send of request %s did not start", item.request_id)
        # If the engine recorded nothing, forget the marker so the next run
        # retries (still within grace); if it did, the send is the engine's now.
        with desk.db.transaction() as session:
            began = session.execute(
                select(Send.id).where(Send.approval_id == item.request_id).limit(1)
            ).first()
            if began is None:
                session.execute(delete(OnceMarker).where(OnceMarker.key == key))
        raise
    return True


def _ask_once(desk: Desk, item: Scheduled, now: datetime) -> bool:
    """Past the grace window: withdraw the approval (a stale issue must be
    approved again) and ask the channel whether it should still go out."""
    with desk.db.transaction() as session:
        if not leases.once(session, f"scheduled-missed:{item.request_id}", at=now):
            return False
        issue = issues.load(session, item.issue_id, lock=True)
        if issue.state != IssueState.SCHEDULED:
            return False
        voided = issues.void_requests(session, issue, actor=audit.SYSTEM, at=now, reason="missed")
        states.move(session, issue, IssueState.DRAFT, actor=audit.SYSTEM, at=now, reason="missed")
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="schedule.missed",
            at=now,
            issue_id=item.issue_id,
            subject=f"request:{item.request_id}",
            scheduled_at=item.scheduled_at.isoformat(),
            voided=voided,
        )
    desk.notify(
        Notice(
            "schedule.missed",
            issue_id=item.issue_id,
            request_id=item.request_id,
            params={
                "scheduled_at": item.scheduled_at.isoformat(),
                "minutes_late": int((now - item.scheduled_at).total_seconds() // 60),
            },
        )
    )
    return True


# --- what is coming (for /newsletter schedule) -------------------------------------------


@dataclass(frozen=True)
class Outlook:
    now: datetime
    next_due: datetime | None
    status: MonthStatus | None
    reminders: list[Slot]
    scheduled: list[Scheduled]
    approvers: list[str]


def outlook(desk: Desk) -> Outlook:
    settings, now = desk.settings, desk.clock.now()
    due = due_at_or_after(settings, now)
    with desk.db.sessions() as session:
        status = month_status(session, settings, due) if due else None
        scheduled = scheduled_requests(session)
    reminders = upcoming_slots(settings, now, due) if due else []
    if status and status.stage == Stage.SENT:
        reminders = []
    approvers = (
        approvers_for(desk, status) if status and status.stage == Stage.AWAITING_APPROVAL else []
    )
    return Outlook(now, due, status, reminders, scheduled, approvers)
