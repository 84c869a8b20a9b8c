"""Drills of the runbooks whose steps are a Slack admin's, an operator's or
Postmark's dashboard's rather than the room's page: each test performs the
runbook's steps against the stand-ins (signed Slack requests into the bot, the
Slack and Postmark stand-ins as those consoles, the real `countersign` commands)
and checks the outcome the runbook promises.

- docs/runbooks/team-change: the approvers group changes mid-approval;
- docs/runbooks/rotate-tokens: the Slack and Postmark tokens are rotated;
- docs/runbooks/suppressions-out-of-step: Countersign and Postmark disagree;
- docs/runbooks/migration: a list moves in from the old system.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sqlalchemy import select

from bot.cli import main
from bot.delivery_engine import EngineOptions
from bot.settings import HELP, Settings
from bot.standins.slack import (
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    EDITOR,
    NEWSLETTER_CHANNEL,
)
from bot.standins.slack_driver import SlackDriver
from bot.subscribers import counts_by_status
from bot.suppressions import PushDuty
from handlers.ids import Action, Block
from storage.models import (
    ApprovalRequest,
    ApprovalState,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Send,
    Subscriber,
)
from tests.e2e.helpers import create_issue, current_card, request_id_of, request_state, submit
from tests.fixtures.bot import Harness
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    assert_exactly_once,
    running,
    send_state,
    wait_until,
)


def _requests_of(harness: Harness, issue_id: int) -> list[ApprovalRequest]:
    with harness.desk.db.sessions() as session:
        return list(
            session.query(ApprovalRequest)
            .filter(ApprovalRequest.issue_id == issue_id)
            .order_by(ApprovalRequest.id)
        )


def _reply(harness: Harness, user: str, containing: str) -> str:
    """The first reply to `user` that says `containing` (by content, never by count)."""
    return str(
        harness.slack.wait_for(
            lambda: next((r for r in harness.ephemeral_texts(user) if containing in r), None),
            timeout=30,
        )
    )


def test_team_change_an_approver_leaves_mid_approval(harness: Harness):
    """team-change, "Leaves": Taro is taken out of the approvers group while one
    issue waits on its card and another, scheduled, holds his approval."""
    add_subscribers(harness.desk, 30)
    waiting = create_issue(harness, harness.editor, "12月号", "今月号です。")
    waiting_card = submit(harness, harness.editor, waiting)
    scheduled = create_issue(harness, harness.editor, "号外", "号外です。")
    scheduled_card = submit(harness, harness.editor, scheduled, "at 2026-11-03 10:00")
    harness.approver2.click(Action.APPROVE, message=current_card(harness, scheduled_card))
    taros = request_id_of(harness, scheduled_card)
    harness.slack.wait_for(lambda: request_state(harness, taros) == "approved" or None)

    # 1. The Slack admin removes Taro from the approvers group. No restart: Slack tells the
    # bot (subteam_members_changed), which forgets the group it keeps for a minute.
    harness.slack.set_usergroup_users(APPROVERS_GROUP, [APPROVER_1])
    wait_until(lambda: harness.desk.directory.approvers() == {APPROVER_1}, timeout=5)
    harness.approver2.click(Action.APPROVE, message=current_card(harness, waiting_card))
    assert _reply(harness, APPROVER_2, "Only approvers may approve or reject")
    assert request_state(harness, request_id_of(harness, waiting_card)) == ApprovalState.OPEN

    # 2. `/newsletter list`, then what he approved and has not gone yet: submitted
    # again (same time), which voids his approval; a remaining approver decides.
    harness.editor.command("/newsletter", "list")
    listed = _reply(harness, EDITOR, "Issues, newest first")
    assert f"#{scheduled} · *scheduled* · 号外" in listed
    # The list does not say who approved; the card does (and `/newsletter audit ID`).
    assert f"<@{APPROVER_2}>" in str(current_card(harness, scheduled_card).blocks)
    # A scheduled issue cannot simply be submitted again ("it cannot become awaiting
    # approval"); an edit, even one that changes nothing, voids the approval.
    harness.editor.command("/newsletter", f"submit {scheduled} at 2026-11-03 10:00")
    assert _reply(harness, EDITOR, "cannot become awaiting approval")
    before = len(harness.slack.calls("views.open"))
    harness.editor.command("/newsletter", f"edit {scheduled}")
    opened = harness.slack.wait_for(lambda: harness.slack.calls("views.open")[before:] or None)
    view = opened[0].response["view"]
    harness.editor.submit_view(
        view, {Block.SUBJECT: {Action.VALUE: "号外"}, Block.BODY: {Action.VALUE: "号外です。"}}
    )
    harness.slack.wait_for(lambda: request_state(harness, taros) == ApprovalState.VOID or None)
    again = submit(harness, harness.editor, scheduled, "at 2026-11-03 10:00")
    harness.approver.click(Action.APPROVE, message=current_card(harness, again))
    # The waiting one: Alice, still an approver, approves; the send goes.
    harness.approver.click(Action.APPROVE, message=current_card(harness, waiting_card))
    with running(harness.desk, FAST):
        wait_until(
            lambda: request_state(harness, request_id_of(harness, waiting_card)) == "approved"
        )
        wait_until(lambda: _requests_of(harness, waiting)[-1].send_id is not None)
        send_id = _requests_of(harness, waiting)[-1].send_id
        assert send_id is not None
        wait_until(lambda: send_state(harness.desk, send_id) == "finished")
    live = [r for r in _requests_of(harness, scheduled) if r.state == ApprovalState.APPROVED]
    assert [r.decided_by for r in live] == [APPROVER_1]
    # One approver left, and yet an editor's issue went out: "at least two approvers, or
    # nothing can be sent" is not so (the runbook now says what one approver cannot do).
    assert harness.desk.directory.approvers() == frozenset({APPROVER_1})


def test_a_group_change_reaches_the_bot_at_once(harness: Harness):
    """The directory keeps a group's members for a minute; Slack's subteam events (which
    app.yaml subscribes to) make it ask again at once, both ways."""
    directory = harness.desk.directory
    assert directory.is_approver(APPROVER_2)  # cached now
    # Changed behind Slack's back (no event): the minute's cache still says yes.
    harness.slack.usergroups[APPROVERS_GROUP].users = [APPROVER_1]
    assert directory.is_approver(APPROVER_2)
    # The admin's change as Slack makes it: the events reach the bot's Request URL.
    harness.slack.usergroups[APPROVERS_GROUP].users = [APPROVER_1, APPROVER_2]
    events = harness.slack.set_usergroup_users(APPROVERS_GROUP, [APPROVER_1])
    assert [e["type"] for e in events] == ["subteam_members_changed", "subteam_updated"]
    assert events[0]["removed_users"] == [APPROVER_2] and events[0]["added_users"] == []
    wait_until(lambda: not directory.is_approver(APPROVER_2), timeout=5)
    harness.slack.set_usergroup_users(APPROVERS_GROUP, [APPROVER_1, APPROVER_2])
    wait_until(lambda: directory.is_approver(APPROVER_2), timeout=5)


SUPPRESSIONS = "/message-streams/{stream}/suppressions"
READERS = 400
ONE_AT_A_TIME = EngineOptions(**{**FAST.__dict__, "in_flight": 1})


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The operator's environment for `countersign …`: exactly these settings."""
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value not in (None, ""):
            monkeypatch.setenv(name, str(value))


def test_rotating_the_slack_and_postmark_tokens(
    harness_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    """rotate-tokens: halt, new Slack token and signing secret, new Postmark server token
    and webhook password, restart, `countersign check`, resume."""
    old: Harness = harness_factory()
    slack, postmark = old.slack, old.postmark
    add_subscribers(old.desk, READERS)
    issue_id = create_issue(old, old.editor, "12月号", "{{ subscriber.name }} 様")
    card = submit(old, old.editor, issue_id)
    postmark.latency = 0.5  # slow enough, one batch at a time, that the halt lands midway
    with running(old.desk, ONE_AT_A_TIME):
        old.approver.click(Action.APPROVE, message=current_card(old, card))
        wait_until(lambda: len(postmark.messages(stream="broadcast")) > 0, timeout=30)
        # 1. A leak is possible: halt first.
        old.editor.command("/newsletter", "halt")
        wait_until(lambda: _send_state_of(old, issue_id) == "halted", timeout=30)
    postmark.latency = 0.0
    sent_before = len(postmark.messages(stream="broadcast"))
    assert 0 < sent_before < READERS

    # 2. Slack: a new bot token (the old one revoked) and a new signing secret.
    new_token = slack.issue_token(slack.tokens[slack.bot_token].scopes)
    slack.revoke_token(slack.bot_token)
    new_secret = "rotated-signing-secret-" + "0" * 16
    # 3. Postmark: a new server token (the old one deleted), the webhook password changed
    # together with the webhook's credentials.
    old_server_token = postmark.server_token
    assert old_server_token is not None
    postmark.generate_server_token()  # API Tokens → "Generate another token"
    postmark.delete_server_token(old_server_token)
    new_password = "rotated-webhook-password"
    # Before the restart the bot still holds the old tokens: Postmark refuses them.
    _env(monkeypatch, old.bot.desk.settings)
    assert main(["check"]) != 0
    assert "[FAIL] Postmark server token" in capsys.readouterr().out

    # 4. Restart with the new values; `countersign check` says OK on every line.
    old.server.stop()
    new: Harness = harness_factory(
        SLACK_BOT_TOKEN=new_token,
        SLACK_SIGNING_SECRET=new_secret,
        POSTMARK_SERVER_TOKEN=postmark.server_token,
        POSTMARK_WEBHOOK_PASSWORD=new_password,
    )
    postmark.configure_webhook(f"{new.url}/postmark/webhook", "postmark", new_password)
    _env(monkeypatch, new.bot.desk.settings)
    assert main(["check"]) == 0
    printed = capsys.readouterr().out
    # Not "OK" on every line (a Bulk API not enabled is a [warn], Socket Mode unused a
    # [skip]): no [FAIL], and the last line says so.
    assert "[FAIL]" not in printed and "All checks passed" in printed, printed
    # The old signing secret and the old webhook password are refused now.
    assert new.editor.command("/newsletter", "help").status_code == 401
    stale = requests.post(
        f"{new.url}/postmark/webhook",
        json={"RecordType": "Delivery"},
        auth=("postmark", "webhook-password-for-tests"),
        timeout=10,
    )
    assert stale.status_code == 401
    driver = SlackDriver(f"{new.server.url}/slack/events", new_secret, slack)
    editor, approver = driver.as_user(EDITOR), driver.as_user(APPROVER_1)
    assert editor.command("/newsletter", "help").status_code == 200

    # 5. Resume the halted send: a new approval, then each reader exactly once.
    before = len(resume_cards(new))
    editor.command("/newsletter", f"resume {issue_id}")
    resume = new.slack.wait_for(lambda: resume_cards(new)[before:] or None)[0]
    with running(new.desk, FAST):
        approver.click(Action.APPROVE, message=resume)
        wait_until(lambda: _send_state_of(new, issue_id) == "finished", timeout=60)
    send_id = _send_id_of(new, issue_id)
    assert assert_exactly_once(new.desk, postmark, send_id) == {"sent": READERS}
    # Tokens never appear in the logs or the audit trail.
    with new.desk.db.sessions() as session:
        trail = " ".join(str(e.detail) for e in session.query(AuditEvent))
    secrets_ = (new_token, new_secret, postmark.server_token, new_password, old_server_token)
    for secret in secrets_:
        assert secret and secret not in trail and secret not in caplog.text


def resume_cards(harness: Harness) -> list[Any]:
    return [
        m
        for m in harness.slack.channel_messages(NEWSLETTER_CHANNEL)
        if Action.APPROVE in m.action_ids() and "resum" in str(m.blocks).lower()
    ]


def _send_id_of(harness: Harness, issue_id: int) -> int:
    with harness.desk.db.sessions() as session:
        send = session.query(Send).filter(Send.issue_id == issue_id).one()
        return send.id


def _send_state_of(harness: Harness, issue_id: int) -> str | None:
    with harness.desk.db.sessions() as session:
        send = session.query(Send).filter(Send.issue_id == issue_id).one_or_none()
        return send.state if send else None


def _sent_to(harness: Harness, send_id: int) -> set[str]:
    with harness.desk.db.sessions() as session:
        rows = session.execute(
            select(Subscriber.email)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.SENT)
        ).scalars()
        return set(rows)


def _approve_and_send(harness: Harness, issue_id: int) -> None:
    card = submit(harness, harness.editor, issue_id)
    with running(harness.desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: _send_state_of(harness, issue_id) == "finished", timeout=60)


def test_postmarks_suppressions_out_of_step(harness: Harness):
    """suppressions-out-of-step: an unsubscribe that could not reach Postmark, and one
    Postmark has that Countersign does not (its webhook was missed)."""
    postmark = harness.postmark
    add_subscribers(harness.desk, 40)
    # Postmark's suppressions endpoint is unavailable for a while.
    postmark.faults.script(["503"] * 3, endpoint=SUPPRESSIONS)
    harness.editor.command("/unsubscribe", "reader1@example.com asked by phone")
    assert _reply(harness, EDITOR, "reader1@example.com")
    # A reader unsubscribed through Postmark's link while the webhook was not set up.
    postmark.suppress("reader2@example.com", stream="broadcast", origin="Recipient")

    # 1. `/newsletter subscribers`: what is waiting for Postmark, and the last error.
    harness.approver.command("/newsletter", "subscribers")
    assert _reply(harness, APPROVER_1, "not reached Postmark yet")
    # 2. Postmark is back: the bot's push duty retries (here quicker than its 30 s idle).
    duty = PushDuty(harness.desk, idle=0.2, base=0.2, cap=0.5)
    duty.start()
    try:
        wait_until(lambda: postmark.is_suppressed("reader1@example.com", "broadcast"))
    finally:
        duty.stop()
    # 3–4. The next send's start pulls Postmark's list first. On a small list one address
    # is more than AUDIENCE_DRIFT (2 %) of it: the start is refused, and submitted again.
    issue_id = create_issue(harness, harness.editor, "12月号", "{{ subscriber.name }} 様")
    card = submit(harness, harness.editor, issue_id)
    harness.approver.click(Action.APPROVE, message=current_card(harness, card))
    harness.slack.wait_for(
        lambda: (
            any(
                "the audience changed from 39 to 38 recipients" in (m.text or "")
                for m in harness.slack.channel_messages(NEWSLETTER_CHANNEL)
            )
            or None
        ),
        timeout=30,
    )
    _approve_and_send(harness, issue_id)
    first = _send_id_of(harness, issue_id)
    assert assert_exactly_once(harness.desk, postmark, first) == {"sent": 38}
    assert {"reader1@example.com", "reader2@example.com"}.isdisjoint(_sent_to(harness, first))
    before = len(harness.ephemeral_texts(APPROVER_1))
    harness.approver.command("/newsletter", "subscribers")
    harness.slack.wait_for(lambda: len(harness.ephemeral_texts(APPROVER_1)) > before or None)
    assert "not reached Postmark yet" not in harness.ephemeral_texts(APPROVER_1)[-1]

    # 5. reader1 wants the newsletter again: an approver resubscribes them, which lifts
    # Postmark's suppression too (nothing to do in Postmark's dashboard).
    harness.approver.command(
        "/newsletter", 'subscribers resubscribe reader1@example.com "asked by phone on 1 Dec"'
    )
    wait_until(lambda: not postmark.is_suppressed("reader1@example.com", "broadcast"))
    next_issue = create_issue(harness, harness.editor, "1月号", "{{ subscriber.name }} 様")
    _approve_and_send(harness, next_issue)
    second = _send_id_of(harness, next_issue)
    assert "reader1@example.com" in _sent_to(harness, second)
    assert "reader2@example.com" not in _sent_to(harness, second)
    # (The store holds both sends, so each reader twice: compare this send's messages.)
    got = [
        m.Recipients[0]
        for m in postmark.messages(stream="broadcast")
        if (m.Metadata or {}).get("send_id") == str(second)
    ]
    assert len(got) == len(set(got)) == 39 and set(got) == _sent_to(harness, second)


SUBSCRIBED = (
    "Email Address,First Name,Last Name,Company\n"
    "hanako.yamada@example.com,花子,山田,見本商事\n"
    "ichiro.suzuki@example.com,一郎,鈴木,\n"
    "alice@example.com,Alice,Smith,Example Ltd\n"
    "bob@example.com,Bob,Jones,\n"
    "kenji@example.jp,健二,佐藤,テスト株式会社\n"
)
UNSUBSCRIBED = (
    "Email Address,First Name,Last Name,Company,UNSUB_TIME,UNSUB_REASON,UNSUB_REASON_OTHER\n"
    "gone@example.com,Gone,Reader,,2025-03-01 10:00:00,NORMAL,\n"
    "left@example.jp,去,人,,2025-05-02 11:00:00,OTHER,電話で依頼\n"
)
CLEANED = (
    "Email Address,First Name,Last Name,Company,CLEAN_TIME\nold@example.com,Old,Box,,2024-01-01\n"
)


def test_a_migration_from_the_old_system(
    harness: Harness,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    """migration: Mailchimp's three files (the subscribed one from Excel, in Shift_JIS),
    a do-not-mail list; backup, dry run, import, check, the counts in Slack."""
    files = {
        "subscribed.csv": SUBSCRIBED.encode("cp932"),
        "unsubscribed.csv": UNSUBSCRIBED.encode("utf-8"),
        "cleaned.csv": CLEANED.encode("utf-8"),
        "dnm.txt": b"bob@example.com\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    _env(monkeypatch, harness.bot.desk.settings)
    # 2. Back up first: SQLite with `countersign backup`; PostgreSQL is pointed to pg_dump.
    backed_up = main(["backup", str(tmp_path / "before-import.db")])
    if harness.desk.db.engine.dialect.name == "postgresql":
        assert backed_up == 2 and "pg_dump --format=custom" in capsys.readouterr().err
    else:
        assert backed_up == 0 and (tmp_path / "before-import.db").stat().st_size > 0
    # 3. Dry run: counts, nothing changed.
    dry = ["subscribers", "import", str(tmp_path / "subscribed.csv"), "--dry-run"]
    assert main([*dry, "--encoding", "cp932"]) == 0
    said = capsys.readouterr().out
    assert "5 added" in said and "Dry run: nothing was changed." in said
    with harness.desk.db.sessions() as session:
        assert counts_by_status(session, "Newsletter") == {}
    # 4. For real, every file of the export; 5. the do-not-mail list.
    subscribed = ["subscribers", "import", str(tmp_path / "subscribed.csv")]
    assert main([*subscribed, "--encoding", "cp932"]) == 0
    for name in ("unsubscribed.csv", "cleaned.csv"):
        assert main(["subscribers", "import", str(tmp_path / name)]) == 0
    assert main(["suppressions", "import", str(tmp_path / "dnm.txt")]) == 0
    said = capsys.readouterr().out
    # The names read from Shift_JIS as the old system had them.
    with harness.desk.db.sessions() as session:
        names = set(session.execute(select(Subscriber.name)).scalars())
    assert "山田花子" in names
    # 6. The counts in Slack: subscribed = active here, less the do-not-mail list.
    harness.approver.command("/newsletter", "subscribers")
    counts = _reply(harness, APPROVER_1, "*Newsletter*:")
    assert "*Newsletter*: 4 active" in counts, counts
    # An import never resubscribes a suppressed address (the same file again).
    assert main([*subscribed, "--encoding", "cp932"]) == 0
    assert "1 skipped as suppressed or unsubscribed" in capsys.readouterr().out
    with harness.desk.db.sessions() as session:
        assert counts_by_status(session, "Newsletter").get("active") == 4
        mailed = set(
            session.execute(select(Subscriber.email).where(Subscriber.status == "active")).scalars()
        )
    assert mailed.isdisjoint({"bob@example.com", "gone@example.com", "old@example.com"})
