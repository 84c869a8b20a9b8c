"""Due dates, reminder slots and the reminder duty, under simulated time.

Most tests are pure functions of (now, settings); the month-long runs drive
`post_due_reminder` with a FrozenClock over a real database, restarting the
desk midway. Helpers here (`make_desk`, `scheduled_issue`, …) are shared by
the other schedule test modules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import approvals, issues, schedule
from bot.clock import Clock, FrozenClock
from bot.desk import CollectingNotifier, Desk
from bot.settings import Settings
from storage.db import Database
from storage.models import Issue, IssueState, OnceMarker, Send, SendState
from tests.fixtures.desk import APPROVER, APPROVER_2, EDITOR, build_desk, desk_settings

BODY = "Hello {{ subscriber.name }}, here is the news of the month."


def make_settings(**overrides: Any) -> Settings:
    return desk_settings(**overrides)


def make_desk(db: Database, clock: Clock, **overrides: Any) -> Desk:
    return build_desk(db, clock, **overrides)


def notices(desk: Desk) -> list[Any]:
    assert isinstance(desk.notifier, CollectingNotifier)
    return list(desk.notifier.notices)


def scheduled_issue(desk: Desk, clock: FrozenClock, at: datetime) -> tuple[int, int]:
    """An issue approved for sending at `at` (the clock must be before it)."""
    saved = issues.create(desk, actor=EDITOR, subject="December news", body=BODY)
    card = approvals.submit(desk, saved.issue_id, actor=EDITOR, scheduled_at=at)
    approvals.approve(desk, card.request_id, actor=APPROVER)
    return saved.issue_id, card.request_id


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


# --- due dates and slots -----------------------------------------------------------------


def test_tokyo_monthly_slots_are_at_ten_local_on_the_right_days() -> None:
    s = make_settings()
    due = schedule.due_at_or_after(s, utc(2026, 11, 2))
    assert due == local("Asia/Tokyo", 2026, 12, 1, 10)
    got = [(x.days, x.at.astimezone(s.tz)) for x in schedule.slots_for(s, due)]
    assert got == [
        (7, local("Asia/Tokyo", 2026, 11, 24, 10)),
        (3, local("Asia/Tokyo", 2026, 11, 28, 10)),
        (1, local("Asia/Tokyo", 2026, 11, 30, 10)),
    ]


def test_local_day_differs_from_utc_day_in_tokyo() -> None:
    # 08:00 in Tokyo is 23:00 UTC the day before: the reminder belongs to the local day.
    s = make_settings(ISSUE_SCHEDULE="0 8 1 * *", REMIND_DAYS_BEFORE="1")
    due = schedule.due_at_or_after(s, utc(2026, 11, 2))
    assert due is not None
    (slot,) = schedule.slots_for(s, due)
    assert slot.at == utc(2026, 11, 29, 23)
    assert slot.at.astimezone(s.tz).date() == date(2026, 11, 30)
    assert schedule.reminder_due(s, utc(2026, 11, 30, 14, 59)) == slot  # 23:59 local
    assert schedule.reminder_due(s, utc(2026, 11, 30, 15, 0)) is None  # next local day


@pytest.mark.parametrize(
    ("year", "days", "expected"),
    [
        (2027, 1, date(2027, 2, 28)),
        (2028, 1, date(2028, 2, 29)),
        (2027, 3, date(2027, 2, 26)),
        (2028, 3, date(2028, 2, 27)),
    ],
)
def test_month_end_and_leap_years(year: int, days: int, expected: date) -> None:
    s = make_settings(REMIND_DAYS_BEFORE=str(days))
    due = schedule.due_at_or_after(s, utc(year, 2, 15))
    assert due == local("Asia/Tokyo", year, 3, 1, 10)
    (slot,) = schedule.slots_for(s, due)
    assert slot.at.astimezone(s.tz).date() == expected


def test_a_schedule_on_february_29_fires_only_in_leap_years() -> None:
    s = make_settings(ISSUE_SCHEDULE="0 10 29 2 *", REMIND_DAYS_BEFORE="1")
    assert schedule.due_at_or_after(s, utc(2026, 3, 1)) == local("Asia/Tokyo", 2028, 2, 29, 10)
    assert schedule.due_before(s, utc(2031, 1, 1)) == local("Asia/Tokyo", 2028, 2, 29, 10)
    (slot,) = schedule.slots_for(s, local("Asia/Tokyo", 2028, 2, 29, 10).astimezone(UTC))
    assert slot.at == local("Asia/Tokyo", 2028, 2, 28, 10)


def test_berlin_reminders_keep_local_time_across_daylight_saving() -> None:
    s = make_settings(TIMEZONE="Europe/Berlin")
    spring = schedule.due_at_or_after(s, utc(2026, 3, 20))
    assert spring == utc(2026, 4, 1, 8)  # 10:00 CEST
    at = {x.days: x.at for x in schedule.slots_for(s, spring)}
    assert at[7] == utc(2026, 3, 25, 9)  # 10:00 CET, before the change on 29 March
    assert at[3] == utc(2026, 3, 29, 8)  # 10:00 CEST, on the day of the change
    assert spring - at[7] == timedelta(days=7, hours=-1)  # 7 calendar days, not 7x24 hours
    autumn = schedule.due_at_or_after(s, utc(2026, 10, 20))
    assert autumn == utc(2026, 11, 1, 9)  # 10:00 CET
    at = {x.days: x.at for x in schedule.slots_for(s, autumn)}
    assert at[7] == utc(2026, 10, 25, 9)  # 10:00 CET on the day clocks go back
    assert at[3] == utc(2026, 10, 29, 9)


def test_reminder_due_window_is_its_own_local_day() -> None:
    s = make_settings()
    slot_at = local("Asia/Tokyo", 2026, 11, 24, 10)
    assert schedule.reminder_due(s, slot_at - timedelta(seconds=1)) is None
    found = schedule.reminder_due(s, slot_at)
    assert found is not None and found.days == 7
    late = schedule.reminder_due(s, local("Asia/Tokyo", 2026, 11, 24, 23, 59))
    assert late == found
    assert schedule.reminder_due(s, local("Asia/Tokyo", 2026, 11, 25, 0, 0)) is None


def test_no_reminders_configured_means_none() -> None:
    s = make_settings(REMIND_DAYS_BEFORE="")
    assert schedule.reminder_due(s, local("Asia/Tokyo", 2026, 11, 30, 10)) is None


ZONES = ["Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]


@hsettings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    day=st.integers(1, 28),
    days_before=st.integers(0, 60),
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)),
)
def test_slots_are_n_local_days_before_at_the_same_wall_time(
    zone: str, hour: int, minute: int, day: int, days_before: int, start: datetime
) -> None:
    s = make_settings(
        TIMEZONE=zone,
        ISSUE_SCHEDULE=f"{minute} {hour} {day} * *",
        REMIND_DAYS_BEFORE=str(days_before),
    )
    due = schedule.due_at_or_after(s, start.replace(tzinfo=UTC))
    assert due is not None
    (slot,) = schedule.slots_for(s, due)
    due_local, slot_local = due.astimezone(s.tz), slot.at.astimezone(s.tz)
    wanted_wall = due_local.replace(tzinfo=None) - timedelta(days=days_before)
    # The wall time exists that day unless it fell into a spring-forward gap.
    round_trip = wanted_wall.replace(tzinfo=s.tz).astimezone(UTC).astimezone(s.tz)
    if round_trip.replace(tzinfo=None) == wanted_wall:
        assert slot_local.replace(tzinfo=None) == wanted_wall
    assert slot_local.date() == due_local.date() - timedelta(days=days_before)
    # The reminder is what reminder_due picks at its own moment.
    found = schedule.reminder_due(s, slot.at)
    assert found is not None and found.at == slot.at


@pytest.mark.parametrize(
    ("late", "decision"),
    [
        (timedelta(seconds=-1), schedule.Decision.WAIT),
        (timedelta(0), schedule.Decision.START),
        (timedelta(minutes=60), schedule.Decision.START),
        (timedelta(minutes=60, seconds=1), schedule.Decision.MISSED),
    ],
)
def test_scheduled_decision_grace_window(late: timedelta, decision: schedule.Decision) -> None:
    at = utc(2026, 12, 1, 1)
    assert schedule.scheduled_decision(at + late, at, timedelta(minutes=60)) == decision


# --- the reminder duty over a simulated month --------------------------------------------


def _run_month(desk: Desk, clock: FrozenClock, start: datetime, end: datetime, step: timedelta):
    posted = []
    while clock.now() < end:
        notice = schedule.post_due_reminder(desk)
        if notice is not None:
            posted.append((clock.now(), notice))
        clock.advance(step)
    return posted


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "Europe/Berlin"])
def test_a_month_of_reminders_across_a_restart(db: Database, zone: str) -> None:
    clock = FrozenClock(utc(2026, 10, 2))
    desk = make_desk(db, clock, TIMEZONE=zone)
    tz = ZoneInfo(zone)
    first = _run_month(desk, clock, clock.now(), utc(2026, 10, 27), timedelta(minutes=20))
    # A restart: a new desk over the same database, as after a crash.
    desk = make_desk(db, clock, TIMEZONE=zone)
    clock.set(clock.now() - timedelta(hours=30))  # even replaying a day posts nothing twice
    second = _run_month(desk, clock, clock.now(), utc(2026, 11, 2), timedelta(minutes=20))
    posted = first + second
    days = [(n.params["days"], at.astimezone(tz).date()) for at, n in posted]
    assert days == [
        (7, date(2026, 10, 25)),
        (3, date(2026, 10, 29)),
        (1, date(2026, 10, 31)),
    ]
    for at, _ in posted:
        local_at = at.astimezone(tz)
        assert (local_at.hour, local_at.minute) == (10, 0)
    assert all(n.params["stage"] == "none" for _, n in posted)
    with db.sessions() as session:
        keys = sorted(session.execute(select(OnceMarker.key)).scalars())
    assert keys == [
        "reminder:2026-11-01T10:00:1",
        "reminder:2026-11-01T10:00:3",
        "reminder:2026-11-01T10:00:7",
    ]


def test_reminders_follow_the_issue_and_stop_once_sent(db: Database) -> None:
    tz = ZoneInfo("Asia/Tokyo")
    clock = FrozenClock(local("Asia/Tokyo", 2026, 11, 24, 10))
    desk = make_desk(db, clock)
    first = schedule.post_due_reminder(desk)
    assert first is not None and first.params["stage"] == "none"

    clock.set(local("Asia/Tokyo", 2026, 11, 26, 9))
    saved = issues.create(desk, actor=EDITOR, subject="December news", body=BODY)
    card = approvals.submit(desk, saved.issue_id, actor=APPROVER_2)
    clock.set(local("Asia/Tokyo", 2026, 11, 28, 10, 5))
    second = schedule.post_due_reminder(desk)
    assert second is not None
    assert second.params["stage"] == "awaiting_approval"
    assert second.issue_id == saved.issue_id and second.request_id == card.request_id
    # Neither the requester (APPROVER_2) nor the author (EDITOR) may approve.
    assert second.params["approvers"] == [APPROVER]

    # The issue goes out before the last reminder: no reminder then.
    clock.set(local("Asia/Tokyo", 2026, 11, 29, 12))
    with db.transaction() as session:
        issue = session.get(Issue, saved.issue_id)
        assert issue is not None
        issue.state = IssueState.SENT
        session.add(
            Send(
                issue_id=issue.id,
                version_id=issue.current_version_id,
                approval_id=card.request_id,
                state=SendState.FINISHED,
                created_at=clock.now(),
                started_at=clock.now(),
            )
        )
    clock.set(local("Asia/Tokyo", 2026, 11, 30, 10))
    assert schedule.post_due_reminder(desk) is None
    with db.sessions() as session:
        status = schedule.month_status(
            session, desk.settings, local("Asia/Tokyo", 2026, 12, 1, 10).astimezone(UTC)
        )
        assert status.stage == schedule.Stage.SENT
        # ...but December's issue does not count for January.
        january = schedule.month_status(
            session, desk.settings, local("Asia/Tokyo", 2027, 1, 1, 10).astimezone(UTC)
        )
        assert january.stage == schedule.Stage.NONE
    assert clock.now().astimezone(tz).day == 30


def test_a_late_send_of_last_months_issue_does_not_silence_this_month(db: Database) -> None:
    clock = FrozenClock(local("Asia/Tokyo", 2026, 10, 20, 9))
    desk = make_desk(db, clock)
    saved = issues.create(desk, actor=EDITOR, subject="November news", body=BODY)
    # Sent three days after its due date (1 November).
    with db.transaction() as session:
        issue = session.get(Issue, saved.issue_id)
        assert issue is not None
        issue.state = IssueState.SENT
        issue.updated_at = local("Asia/Tokyo", 2026, 11, 4, 9).astimezone(UTC)
    clock.set(local("Asia/Tokyo", 2026, 11, 24, 10))
    notice = schedule.post_due_reminder(desk)
    assert notice is not None and notice.params["stage"] == "none"


def test_scheduled_issue_is_reported_with_its_time(db: Database) -> None:
    clock = FrozenClock(local("Asia/Tokyo", 2026, 11, 20, 9))
    desk = make_desk(db, clock)
    at = local("Asia/Tokyo", 2026, 12, 1, 9).astimezone(UTC)
    issue_id, request_id = scheduled_issue(desk, clock, at)
    clock.set(local("Asia/Tokyo", 2026, 11, 24, 10))
    notice = schedule.post_due_reminder(desk)
    assert notice is not None
    assert notice.params["stage"] == "scheduled"
    assert notice.params["scheduled_at"] == at.isoformat()
    assert (notice.issue_id, notice.request_id) == (issue_id, request_id)
    out = schedule.outlook(desk)
    assert [s.request_id for s in out.scheduled] == [request_id]
    assert [s.days for s in out.reminders] == [3, 1]
    # Shown once: the status sentence names it, the list of other scheduled sends not.
    from handlers.schedule import outlook_blocks

    text, _ = outlook_blocks(out, ZoneInfo("Asia/Tokyo"), "C0NEWS0001")
    assert text.count(f"#{issue_id}") == 1, text
    assert "No sends are scheduled" not in text


def test_due_dates_do_not_skip_a_month_on_a_spring_forward_day() -> None:
    # APScheduler 3.11's zone-aware cron answers 1 May here; we must say 1 April.
    s = make_settings(TIMEZONE="Europe/Berlin", ISSUE_SCHEDULE="0 0 1 * *")
    assert schedule.due_at_or_after(s, local("Europe/Berlin", 2026, 3, 29, 0)) == local(
        "Europe/Berlin", 2026, 4, 1, 0
    )


def test_reminder_trigger_walks_the_slots_and_survives_pickling() -> None:
    import pickle

    s = make_settings(TIMEZONE="Europe/Berlin")
    trig = pickle.loads(pickle.dumps(schedule.ReminderTrigger(schedule.FixedCadence.of(s))))  # noqa: S301 - our own bytes
    fires, previous = [], None
    now = utc(2026, 3, 20)
    for _ in range(4):
        previous = trig.get_next_fire_time(previous, now)
        fires.append(previous)
    assert fires == [
        local("Europe/Berlin", 2026, 3, 25, 10),
        local("Europe/Berlin", 2026, 3, 29, 10),
        local("Europe/Berlin", 2026, 3, 31, 10),
        local("Europe/Berlin", 2026, 4, 24, 10),
    ]
