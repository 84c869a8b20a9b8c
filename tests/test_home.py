"""The App Home tab: published on app_home_opened, through the real bot and
the Slack stand-in; and its pure Block Kit builder."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot import approvals, delivery, issues, outcomes
from bot.standins.slack import APPROVER_1, APPROVER_2, EDITOR, OUTSIDER
from handlers import home
from tests.fixtures.bot import Harness, _text_of
from tests.fixtures.delivery import (
    add_subscribers,
    approved_request,
    running,
    send_state,
    wait_until,
)


def home_text(harness: Harness, user: str) -> str:
    before = (harness.slack.home_view(user) or {}).get("hash")
    response = harness.as_user(user).open_app_home()
    assert response.status_code == 200
    view = harness.slack.wait_for(
        lambda: (v := harness.slack.home_view(user)) is not None and v.get("hash") != before and v
    )
    return _text_of(type("V", (), {"text": "", "blocks": view["blocks"]})())


def test_home_on_an_empty_desk(harness: Harness):
    text = home_text(harness, EDITOR)
    # FrozenClock: 2026-11-02 10:00 JST; ISSUE_SCHEDULE 0 10 1 * * in Asia/Tokyo.
    assert "The next issue is due *2026-12-01 10:00 JST*" in text
    assert "No issues yet" in text
    assert "No approval requests are waiting." in text
    assert "Nothing has been sent yet." in text
    assert "Newsletter: 0 active" in text


def test_home_shows_approvals_and_who_may_approve_them(harness: Harness):
    desk = harness.desk
    saved = issues.create(
        desk, actor=EDITOR, subject="November", body="Hello {{ subscriber.name }}"
    )
    card = approvals.submit(desk, saved.issue_id, actor=APPROVER_2)
    assert card.recipients == 0
    editor = home_text(harness, EDITOR)
    approver = home_text(harness, APPROVER_1)
    requester = home_text(harness, APPROVER_2)
    assert "awaiting approval: 1" in editor  # states by their shown names
    assert f"*#{saved.issue_id}* November · 0 recipients · hash `{card.hash12}`" in approver
    assert "You are not an approver" in editor  # the editor is not in the group
    assert "You may approve this one" in approver
    assert "You asked for this approval" in requester
    # Each Home tab is that user's own: three separate views.
    ids = {harness.slack.home_view(u)["id"] for u in (EDITOR, APPROVER_1, APPROVER_2)}
    assert len(ids) == 3


def test_home_says_so_when_the_viewer_wrote_the_version(harness: Harness):
    desk = harness.desk
    saved = issues.create(desk, actor=APPROVER_1, subject="Written by an approver", body="Hi")
    approvals.submit(desk, saved.issue_id, actor=EDITOR)
    assert "You wrote this version" in home_text(harness, APPROVER_1)
    assert "You may approve this one" in home_text(harness, APPROVER_2)


def test_an_outsider_gets_no_home_tab(harness: Harness):
    response = harness.outsider.open_app_home()
    assert response.status_code == 200
    assert harness.slack.home_view(OUTSIDER) is None
    assert not harness.slack.calls("views.publish")


def test_the_messages_tab_publishes_nothing(harness: Harness):
    harness.editor.open_app_home(tab="messages")
    harness.editor.command("/newsletter", "help")  # something that surely completes after
    harness.wait_for_ephemeral(EDITOR)
    assert harness.slack.home_view(EDITOR) is None


def test_home_view_draws_the_last_three_issues_and_list_counts():
    tz = ZoneInfo("Asia/Tokyo")

    def figures(issue: int, subject: str, state: str = "finished") -> outcomes.Figures:
        return outcomes.Figures(
            send_id=issue,
            issue_id=issue,
            subject=subject,
            state=state,
            total=3000,
            sent=2990,
            delivered=2950,
            bounced=40,
            hard_bounces=30,
            soft_bounces=12,
            complaints=1,
            unsubscribes=9,
            failed=3,
            suppressed=7,
            unknown=0,
            remaining=0,
            started_at=datetime(2026, 11, 1, 1, 0, tzinfo=UTC),
            finished_at=datetime(2026, 11, 1, 1, 9, tzinfo=UTC),
        )

    summary = home.HomeSummary(
        viewer=EDITOR,
        now=datetime(2026, 11, 2, 1, 0, tzinfo=UTC),
        next_due=None,
        schedule="0 10 30 2 *",
        issues_by_state={"sent": 2, "draft": 1, "mystery": 4},
        recent=[figures(9, "十二月号", "sending"), figures(8, "November"), figures(7, "October")],
        list_name="Newsletter",
        list_counts={"active": 2990, "unsubscribed": 8, "inactive": 2},
        suppressions=10,
    )
    view = home.home_view(summary, tz)
    assert view["type"] == "home"
    text = _text_of(type("V", (), {"text": "", "blocks": view["blocks"]})())
    assert "never fires again" in text
    # States in the state machine's order; unknown ones last.
    assert text.index("draft: 1") < text.index("sent: 2") < text.index("mystery: 4")
    assert text.index("*#9* 十二月号") < text.index("*#8* November") < text.index("*#7*")
    assert (
        "2990 of 3000 sent, 3 failed, 7 suppressed · 2950 delivered, 40 bounced, "
        "1 spam complaints, 9 unsubscribed"
    ) in text
    assert "Started 2026-11-01 10:00 JST, finished 2026-11-01 10:09 JST" in text
    assert "2990 active, 8 unsubscribed, 2 inactive, 0 invalid · 10 suppressions" in text
    assert "@" not in text.replace("<@", "")  # counts only: no addresses
    # The send still under way has its progress bar; finished ones do not.
    assert text.count("▓") == 10 and "100 %" in text


def test_home_says_how_many_more_approvals_wait_beyond_those_shown():
    from bot import approvals

    at = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    card = approvals.Card(
        request_id=1, issue_id=1, kind="send", state="open", list_name="Newsletter",
        recipients=3000, subject="十二月号", content_hash="ab" * 32, version_number=1,
        author=EDITOR, requester=EDITOR, scheduled_at=None, expires_at=at,
        override_reason=None, overridden=(), decided_by=None, decided_at=None,
        decision_note="", card_channel=None, card_ts=None, start_by=at,
    )  # fmt: skip
    waiting = [home.WaitingApproval(card, "yes")] * (home.SHOWN_APPROVALS + 4)
    summary = home.HomeSummary(
        viewer=EDITOR,
        now=datetime(2026, 11, 2, 1, 0, tzinfo=UTC),
        next_due=None,
        schedule="0 10 1 * *",
        issues_by_state={},
        waiting=waiting,
    )
    text = _text_of(
        type("V", (), {"text": "", "blocks": home.home_view(summary, ZoneInfo("UTC"))["blocks"]})()
    )
    assert "…and 4 more waiting" in text


def test_home_shows_the_figures_of_a_real_send(harness: Harness):
    desk = harness.desk
    add_subscribers(desk, 5)
    send_id = delivery.start_approved(desk, approved_request(desk, subject="Real news"))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    text = home_text(harness, EDITOR)
    assert "Real news · finished · 5 of 5 sent, 0 failed, 0 suppressed · 0 delivered" in text
