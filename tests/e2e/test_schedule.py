"""The schedule end to end: a reminder appears in the Slack stand-in's
channel, and `/newsletter schedule` answers in the asking user's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot import schedule
from bot.standins.slack import APPROVER_1, EDITOR
from tests.fixtures.bot import Harness

TOKYO = ZoneInfo("Asia/Tokyo")


def test_reminder_appears_in_the_channel(harness: Harness) -> None:
    harness.clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=TOKYO))
    assert schedule.post_due_reminder(harness.desk) is not None
    assert schedule.post_due_reminder(harness.desk) is None  # once
    harness.slack.wait_for(lambda: len(harness.channel_texts()) >= 1, 5)
    (text,) = harness.channel_texts()[-1:]
    assert "due in 3 days, on 2026-12-01 10:00 JST" in text
    assert "There is no draft yet" in text


def test_schedule_command_answers_in_the_users_zone(harness: Harness) -> None:
    harness.clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=TOKYO))
    harness.approver.command("/newsletter", "schedule")  # Alice is in Europe/London
    (text,) = harness.wait_for_ephemeral(APPROVER_1)
    assert "The next issue is due on 2026-12-01 01:00 GMT." in text
    assert "2026-11-24 01:00 GMT, 2026-11-28 01:00 GMT, 2026-11-30 01:00 GMT" in text
    assert "No sends are scheduled." in text
    harness.editor.command("/newsletter", "schedule")  # Hanako is in Asia/Tokyo
    (text,) = harness.wait_for_ephemeral(EDITOR)
    assert "The next issue is due on 2026-12-01 10:00 JST." in text


def test_a_missed_scheduled_send_is_asked_about_in_the_channel(harness: Harness) -> None:
    from datetime import timedelta

    from bot import approvals, issues

    at = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO)
    harness.clock.set(at - timedelta(days=1))
    saved = issues.create(
        harness.desk, actor=EDITOR, subject="December", body="Hello {{ subscriber.name }}."
    )
    card = approvals.submit(harness.desk, saved.issue_id, actor=EDITOR, scheduled_at=at)
    approvals.approve(harness.desk, card.request_id, actor=APPROVER_1)
    harness.clock.set(at + timedelta(hours=2))
    started: list[int] = []
    done = schedule.run_scheduled_sends(harness.desk, lambda desk, rid: started.append(rid))
    assert done["missed"] == [card.request_id] and started == []
    harness.slack.wait_for(
        lambda: any("was scheduled to go out" in t for t in harness.channel_texts()), 5
    )
    text = next(t for t in harness.channel_texts() if "was scheduled to go out" in t)
    assert f"Issue #{saved.issue_id} was scheduled to go out on 2026-12-01 10:00 JST" in text
    assert "120 minutes late is past the 60-minute window" in text
