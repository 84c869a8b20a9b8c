"""Each drill of the rehearsal room, done the way its runbook says — through signed
Slack requests into the real bot, and the real `countersign restore` — and judged:
the verdict passes with its time, and a drill left undone does not pass."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from dotenv import set_key
from sqlalchemy import func, select

from bot import approvals, issues
from bot.cli import main
from bot.drills import CALLER, Verdict
from bot.settings import HELP, Settings
from bot.standins.slack import APPROVER_1, APPROVER_2, EDITOR, NEWSLETTER_CHANNEL
from handlers.ids import Action, Block
from handlers.rehearsal import Rehearsal, start_rehearsal
from storage.models import ApprovalRequest, ApprovalState, Issue
from tests.e2e.helpers import push_duty

READERS = 1200  # three batches of 500, 500 and 200
PACE = 1.0  # seconds per Postmark request during a drill's slow send


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    base = Settings(_env_file=None, SEND_BATCHES_IN_FLIGHT=1)  # type: ignore[call-arg]
    running = start_rehearsal(base, directory=tmp_path, room_port=0, sample_size=READERS)
    assert running.room.drills is not None
    running.room.drills.pace = PACE
    try:
        yield running
    finally:
        running.stop()


def verdict_of(rehearsal: Rehearsal, timeout: float = 60.0) -> Verdict:
    drills = rehearsal.room.drills
    assert drills is not None
    return rehearsal.room.wait_for(drills.check, timeout=timeout, interval=0.1)


def as_user(rehearsal: Rehearsal, user: str) -> Any:
    driver = rehearsal.room.driver
    assert driver is not None
    return driver.as_user(user, channel=NEWSLETTER_CHANNEL)


def test_halt_a_wrong_send(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("halt-wrong-send")
    assert drills.check() is None  # under way
    rehearsal.room.wait_for(lambda: drills.counts(running.facts["send"]).get("sent"), timeout=30)
    as_user(rehearsal, EDITOR).command("/newsletter", "halt")
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    match = re.fullmatch(r"Halted after ([\d,]+) of ([\d,]+) in \d+ s\.", verdict.text)
    assert (
        match
        and 0 < int(match.group(1).replace(",", "")) < READERS
        and match.group(2) == f"{READERS:,}"
    )


def test_a_wrong_send_left_running_does_not_pass(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    drills.start("halt-wrong-send")
    rehearsal.postmark.latency = 0.0  # nobody acts; let it run out quickly
    verdict = verdict_of(rehearsal)
    assert not verdict.passed
    assert verdict.text.startswith(f"Not halted: it reached all {READERS:,} readers")


def test_a_phone_unsubscribe_with_a_name_and_a_company(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    drills.start("phone-unsubscribe")
    name, company, email = CALLER
    as_user(rehearsal, EDITOR).command("/unsubscribe", f"{email} {name} {company} から電話")
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        r"Unsubscribed in \d+ s; the name and company reached nobody\.", verdict.text
    )


def test_find_who_got_a_wrong_issue_and_send_them_a_correction(rehearsal: Rehearsal):
    room = rehearsal.room
    drills = room.drills
    assert drills is not None
    running = drills.start("correction")
    wrong = running.facts["issue"]
    approver, editor = as_user(rehearsal, APPROVER_1), as_user(rehearsal, EDITOR)
    approver.command("/newsletter", f"recipients {wrong}")
    room.wait_for(lambda: room.files or None, timeout=15)
    before = len(room.calls("views.open"))
    editor.command("/newsletter", f"correct {wrong}")
    call = room.wait_for(lambda: room.calls("views.open")[before:] or None)[0]
    view = call.response["view"]
    editor.submit_view(
        view,
        {
            Block.SUBJECT: {Action.VALUE: "訂正：12月号"},
            Block.BODY: {Action.VALUE: "{{ subscriber.name }} 様、先ほどの号に誤りがありました。"},
        },
    )
    correction = wrong + 1
    editor.command("/newsletter", f"submit {correction}")

    def card() -> Any:
        for message in room.channel_messages(NEWSLETTER_CHANNEL):
            if f"Correction of #{wrong}" in str(message.blocks) and Action.APPROVE in (
                message.action_ids()
            ):
                return message
        return None

    approver.click(Action.APPROVE, message=room.wait_for(card, timeout=15))

    def holding() -> Any:
        # The room's 10 % canary: the correction's progress message, holding the rest.
        for message in room.channel_messages(NEWSLETTER_CHANNEL):
            if Action.SEND_REST in message.action_ids():
                return message
        return None

    # As the runbook says: an approver who has checked the canary's copies sends the rest.
    assert drills.check() is None
    approver.click(Action.SEND_REST, message=room.wait_for(holding, timeout=60))
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        r"The correction reached the [\d,]+ readers and nobody else, in \d+ s\.", verdict.text
    )


def test_restore_from_a_backup(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("restore-backup")
    assert "countersign restore" in running.facts["command"]
    time.sleep(0.2)
    assert drills.check() is None  # nothing restored yet
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{running.facts['live']}")
    assert main(["restore", running.facts["backup"]]) == 0, capsys.readouterr().err
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        rf"Restored in \d+ s: {READERS:,} subscribers, the wrong import gone\.", verdict.text
    )


def _canary_drill(rehearsal: Rehearsal) -> Any:
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("canary-halted")
    send_id = running.facts["send"]
    # The canary's bounces come back as Postmark's webhooks; the send halts itself.
    rehearsal.room.wait_for(lambda: drills.send_state(send_id) == "halted" or None, timeout=90)
    assert drills.check() is None  # halted is the situation, not the goal
    return running


def _resume(rehearsal: Rehearsal, issue_id: int) -> None:
    """The runbook's last step: `/newsletter resume N`, and a second person approves."""
    room = rehearsal.room
    as_user(rehearsal, EDITOR).command("/newsletter", f"resume {issue_id}")

    def card() -> Any:
        for message in room.channel_messages(NEWSLETTER_CHANNEL):
            if Action.APPROVE in message.action_ids() and "resum" in str(message.blocks).lower():
                return message
        return None

    as_user(rehearsal, APPROVER_1).click(Action.APPROVE, message=room.wait_for(card, timeout=30))


def test_the_canary_halted_itself(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    running = _canary_drill(rehearsal)
    issue_id, drills = running.facts["issue"], rehearsal.room.drills
    assert drills is not None
    rehearsal.room.wait_for(
        lambda: (
            any(
                "the canary's bounces spiked" in (m.text or "")
                for m in rehearsal.room.channel_messages(NEWSLETTER_CHANNEL)
            )
            or None
        )
    )
    # 1–2: look (the report), leave it halted. 3: it was the list: suppress the bad import.
    approver = as_user(rehearsal, APPROVER_1)
    approver.command("/newsletter", f"report {issue_id}")
    rehearsal.room.wait_for(
        lambda: (
            any(
                "bounced" in (m.text or "") + str(m.blocks)
                for m in rehearsal.room.ephemeral_messages(APPROVER_1)
            )
            or None
        )
    )
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", rehearsal.settings.DATABASE_URL)
    assert main(["suppressions", "import", running.facts["file"]]) == 0, capsys.readouterr().err
    _resume(rehearsal, issue_id)
    verdict = verdict_of(rehearsal, timeout=120)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        r"The canary halted it; the rest \([\d,]+ readers\) went after a second person's "
        r"approval, none of the 300 bad addresses, in \d+ s\.",
        verdict.text,
    )


def test_resuming_a_canary_halt_without_fixing_the_list_does_not_pass(rehearsal: Rehearsal):
    running = _canary_drill(rehearsal)
    _resume(rehearsal, running.facts["issue"])
    verdict = verdict_of(rehearsal, timeout=120)
    assert not verdict.passed
    assert "addresses of the bad import got it too" in verdict.text


def _operator(monkeypatch: pytest.MonkeyPatch, rehearsal: Rehearsal) -> None:
    """A terminal on the room's machine: only DATABASE_URL, as the drill's command says."""
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", rehearsal.settings.DATABASE_URL)


def test_a_migration_from_the_old_system(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("migration")
    assert f"export DATABASE_URL={rehearsal.settings.DATABASE_URL}" in running.facts["command"]
    folder = Path(running.facts["folder"])
    _operator(monkeypatch, rehearsal)
    # The runbook's steps: backup, dry run, the three files, the do-not-mail list.
    assert main(["backup", str(folder / "before-import.db")]) == 0
    subscribed = ["subscribers", "import", str(folder / "subscribed.csv"), "--encoding", "cp932"]
    assert main([*subscribed, "--dry-run"]) == 0
    assert drills.check() is None  # a dry run changes nothing
    assert main(subscribed) == 0
    assert drills.check() is None  # not all in yet (the do-not-mail list is still to come)
    for name in ("unsubscribed.csv", "cleaned.csv"):
        assert main(["subscribers", "import", str(folder / name)]) == 0
    assert main(["suppressions", "import", str(folder / "do-not-mail.txt")]) == 0, (
        capsys.readouterr().err
    )
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        r"Migrated in \d+ s, backup first: 3 active, 3 never to be mailed\.", verdict.text
    )


def test_a_migration_without_a_backup_first_does_not_pass(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch
):
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("migration")
    _operator(monkeypatch, rehearsal)
    folder = Path(running.facts["folder"])
    assert main(["subscribers", "import", str(folder / "unsubscribed.csv")]) == 0
    verdict = verdict_of(rehearsal)
    assert not verdict.passed and verdict.text.startswith("Imported without a backup first")


def test_an_approver_leaves(rehearsal: Rehearsal):
    room = rehearsal.room
    drills = room.drills
    assert drills is not None
    running = drills.start("team-change")
    issue_id = running.facts["issue"]
    assert drills.check() is None  # his approval still stands
    editor, alice = as_user(rehearsal, EDITOR), as_user(rehearsal, APPROVER_1)
    # The runbook: an edit (even one that changes nothing) voids his approval…
    before = len(room.calls("views.open"))
    editor.command("/newsletter", f"edit {issue_id}")
    view = room.wait_for(lambda: room.calls("views.open")[before:] or None)[0].response["view"]
    editor.submit_view(
        view,
        {
            Block.SUBJECT: {Action.VALUE: "号外：年末のお知らせ"},
            Block.BODY: {Action.VALUE: "{{ subscriber.name }} 様"},
        },
    )
    # …then it is submitted again for the same time, and Alice approves.
    desk = rehearsal.bot.desk
    when = (desk.clock.now() + timedelta(days=1)).astimezone(desk.settings.tz)
    editor.command("/newsletter", f"submit {issue_id} at {when:%Y-%m-%d %H:%M}")

    def card() -> Any:
        for message in room.channel_messages(NEWSLETTER_CHANNEL):
            if Action.APPROVE in message.action_ids() and f"#{issue_id}" in str(message.blocks):
                return message
        return None

    alice.click(Action.APPROVE, message=room.wait_for(card, timeout=30))
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        rf"His approval was voided and #{issue_id} approved again by a current approver, "
        r"in \d+ s\.",
        verdict.text,
    )


def _write_and_submit(rehearsal: Rehearsal, *, test_copy: bool) -> None:
    """The monthly runbook's steps 1–5 through Slack (step 3, the test copy, if asked)."""
    room = rehearsal.room
    editor, alice = as_user(rehearsal, EDITOR), as_user(rehearsal, APPROVER_1)
    before = len(room.calls("views.open"))
    editor.command("/newsletter", "new")
    view = room.wait_for(lambda: room.calls("views.open")[before:] or None)[0].response["view"]
    editor.submit_view(
        view,
        {
            Block.SUBJECT: {Action.VALUE: "1月号"},
            Block.BODY: {Action.VALUE: "{{ subscriber.name }} 様、新年のお知らせです。"},
        },
    )
    issue_id = room.wait_for(lambda: _newest_issue(rehearsal), timeout=30)
    editor.command("/newsletter", f"show {issue_id}")
    if test_copy:
        outbox = len(rehearsal.postmark.messages())
        editor.command("/newsletter", f"test {issue_id}")
        room.wait_for(lambda: len(rehearsal.postmark.messages()) > outbox or None, timeout=30)
    editor.command("/newsletter", f"submit {issue_id}")

    def card() -> Any:
        for message in room.channel_messages(NEWSLETTER_CHANNEL):
            if Action.APPROVE in message.action_ids() and f"#{issue_id}" in str(message.blocks):
                return message
        return None

    alice.click(Action.APPROVE, message=room.wait_for(card, timeout=30))

    def holding() -> Any:
        for message in room.channel_messages(NEWSLETTER_CHANNEL):
            if Action.SEND_REST in message.action_ids():
                return message
        return None

    # Step 6: the canary, the hold; the seed copy looked fine, so the rest goes now.
    alice.click(Action.SEND_REST, message=room.wait_for(holding, timeout=60))


def _newest_issue(rehearsal: Rehearsal) -> int | None:
    with rehearsal.bot.desk.db.sessions() as session:
        return session.execute(select(func.max(Issue.id))).scalar()


def test_the_monthly_issue(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    drills.start("monthly-issue")
    assert drills.check() is None
    _write_and_submit(rehearsal, test_copy=True)
    verdict = verdict_of(rehearsal, timeout=120)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        rf"#\d+ written, tested, approved by a second person and sent to {READERS:,} readers "
        r"in \d+ s\.",
        verdict.text,
    )


def test_the_monthly_issue_without_a_test_copy_does_not_pass(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    drills.start("monthly-issue")
    _write_and_submit(rehearsal, test_copy=False)
    verdict = verdict_of(rehearsal, timeout=120)
    assert not verdict.passed and "nobody opened a test copy" in verdict.text


def _in_a_terminal(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """A terminal on the server, in `folder`: nothing from the environment, only the
    folder's .env (what `countersign …` reads there)."""
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(folder)


def _card_of(rehearsal: Rehearsal, issue_id: int) -> Any:
    def card() -> Any:
        for message in rehearsal.room.channel_messages(NEWSLETTER_CHANNEL):
            if Action.APPROVE in message.action_ids() and f"#{issue_id}" in str(message.blocks):
                return message
        return None

    return rehearsal.room.wait_for(card, timeout=30)


def _reply_to(rehearsal: Rehearsal, user: str, containing: str) -> str:
    room = rehearsal.room
    return str(
        room.wait_for(
            lambda: next(
                (
                    m.text
                    for m in room.ephemeral_messages(user, NEWSLETTER_CHANNEL)
                    if containing in (m.text or "")
                ),
                None,
            ),
            timeout=30,
        )
    )


def test_postmarks_suppressions_out_of_step(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    drills = rehearsal.room.drills
    assert drills is not None
    # The bot's push duty wakes every 30 s by itself; once, in CI, its round fell between
    # the drill's setup and the first look, and the phoned one was at Postmark already.
    # Here it does its round when step 4 says.
    duty = push_duty(rehearsal.bot)
    duty.stop()
    running = drills.start("suppressions-out-of-step")
    emails = running.facts["emails"]
    postmark, stream = rehearsal.postmark, rehearsal.settings.POSTMARK_BROADCAST_STREAM
    # The situation is real: one side each.
    assert not postmark.is_suppressed(emails["phoned"], stream)
    assert postmark.is_suppressed(emails["link"], stream)
    assert postmark.is_suppressed(emails["spam"], stream)
    assert drills.check() is None
    alice = as_user(rehearsal, APPROVER_1)
    # 1. `/newsletter subscribers`: what has not reached Postmark, and the last error.
    alice.command("/newsletter", "subscribers")
    said = _reply_to(rehearsal, APPROVER_1, "has not reached Postmark yet")
    assert "1 suppression has not reached Postmark yet" in said and "last error" in said
    # 2. `countersign check`, in the server's folder as the drill's command says.
    assert running.facts["command"] == f"cd {running.facts['folder']} && countersign check"
    _in_a_terminal(monkeypatch, Path(running.facts["folder"]))
    assert main(["check"]) == 0
    printed = capsys.readouterr().out
    assert "[FAIL]" not in printed and "All checks passed" in printed, printed
    # 3. The issue's start pulls Postmark's list first.
    alice.click(Action.APPROVE, message=_card_of(rehearsal, running.facts["issue"]))
    # 4. The bot pushes the phoned one (its push duty's next round; here not 30 s later).
    duty.start()
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        r"Both sides agree after \d+ s: 2 suppressions pulled, 1 pushed; nobody suppressed "
        rf"was mailed; #{running.facts['issue']} went to {READERS:,} readers\.",
        verdict.text,
    )
    assert postmark.is_suppressed(emails["phoned"], stream)
    got = {m.Recipients[0] for m in postmark.messages("broadcast")}
    assert got.isdisjoint(emails.values()) and len(got) >= READERS


def test_resubscribing_to_get_in_step_does_not_pass(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("suppressions-out-of-step")
    phoned = running.facts["emails"]["phoned"]
    # "Make both sides agree" the wrong way: lift the suppression nobody asked to lift.
    as_user(rehearsal, APPROVER_1).command(
        "/newsletter", f'subscribers resubscribe {phoned} "make both sides agree"'
    )
    verdict = verdict_of(rehearsal)
    assert not verdict.passed
    assert verdict.text.startswith(f"{phoned} was resubscribed, but nobody asked")


def test_out_of_step_left_alone_is_not_over(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("suppressions-out-of-step")
    # The push duty does its part by itself; Postmark's two stay unknown here until a
    # pull (a send's start, or the quarter-hourly sync): not in step, no verdict.
    push_duty(rehearsal.bot).wake()
    stream = rehearsal.settings.POSTMARK_BROADCAST_STREAM
    rehearsal.room.wait_for(
        lambda: rehearsal.postmark.is_suppressed(running.facts["emails"]["phoned"], stream),
        timeout=30,
    )
    time.sleep(0.5)
    assert drills.check() is None


def test_an_approver_leaves_started_again_within_the_minute(rehearsal: Rehearsal):
    """The bot keeps the approvers group for a minute. Started again at once, the drill
    puts Taro back (its setup approves as him) and takes him out again: Slack's
    subteam_members_changed tells the bot each time, so neither waits out the minute."""
    drills = rehearsal.room.drills
    assert drills is not None
    drills.start("team-change")
    running = drills.start("team-change")  # refused within the minute before the events
    assert drills.check() is None
    assert APPROVER_2 not in rehearsal.bot.desk.directory.approvers()
    # A click of his on a waiting card, right away: refused, as the runbook says.
    desk = rehearsal.bot.desk
    saved = issues.create(desk, actor=EDITOR, subject="1月号", body="{{ subscriber.name }} 様")
    card = approvals.submit(desk, saved.issue_id, actor=EDITOR, canary_percent=0)
    taro = as_user(rehearsal, APPROVER_2)  # 佐藤太郎 uses Slack in Japanese
    taro.click(Action.APPROVE, message=_card_of(rehearsal, saved.issue_id))
    assert _reply_to(rehearsal, APPROVER_2, "承認・却下ができるのは承認者のみです")
    with desk.db.sessions() as session:
        request = session.get(ApprovalRequest, card.request_id)
        assert request is not None and request.state == ApprovalState.OPEN
    assert drills.current is running and drills.check() is None


def _halted_mid_send(rehearsal: Rehearsal, drill: str) -> Any:
    """Start `drill` (a slow send under way) and halt it as step 1 says."""
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start(drill)
    send_id = running.facts["send"]
    rehearsal.room.wait_for(lambda: drills.counts(send_id).get("sent"), timeout=30)
    as_user(rehearsal, EDITOR).command("/newsletter", "halt")
    rehearsal.room.wait_for(lambda: drills.send_state(send_id) == "halted" or None, timeout=30)
    return running


def _press(rehearsal: Rehearsal, action: str) -> str:
    """A button of the drill's pages (Slack's, Postmark's, the server's): what it shows."""
    drills = rehearsal.room.drills
    assert drills is not None
    return drills.act(action)


def _new_value(shown: str) -> str:
    return shown.rsplit(": ", 1)[1].split(" ", 1)[0]


def _check(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`countersign check` in the terminal's folder: its exit code and what it printed."""
    code = main(["check"])
    return code, capsys.readouterr().out


def test_rotating_the_tokens_after_a_leak(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    running = _halted_mid_send(rehearsal, "rotate-tokens")
    drills = rehearsal.room.drills
    assert drills is not None and drills.check() is None
    folder, env = Path(running.facts["folder"]), Path(running.facts["env"])
    leaked = running.facts["leaked"]
    _in_a_terminal(monkeypatch, folder)
    # 2. Slack's app pages: a new bot token (the old one revoked), a new signing secret.
    new = {"SLACK_BOT_TOKEN": _new_value(_press(rehearsal, "slack-reinstall"))}
    new["SLACK_SIGNING_SECRET"] = _new_value(_press(rehearsal, "slack-secret"))
    # The running bot holds the old secret: Slack's requests are refused until the restart.
    assert as_user(rehearsal, EDITOR).command("/newsletter", "help").status_code == 401
    # 3. Postmark: another server token, then the old one deleted; the webhook's password.
    new["POSTMARK_SERVER_TOKEN"] = _new_value(_press(rehearsal, "postmark-token"))
    assert _press(rehearsal, "postmark-delete").endswith("requests with it are refused.")
    new["POSTMARK_WEBHOOK_PASSWORD"] = _new_value(_press(rehearsal, "postmark-webhook"))
    stale = requests.get(
        f"{rehearsal.postmark.url}message-streams",
        headers={"X-Postmark-Server-Token": leaked["POSTMARK_SERVER_TOKEN"]},
        timeout=10,
    )
    assert stale.status_code == 401
    # `countersign check` with the leaked .env fails…
    code, printed = _check(capsys)
    assert code != 0 and "[FAIL] Postmark server token" in printed, printed
    # …and passes once the new values are in it (as a person edits the file).
    for name, value in new.items():
        set_key(env, name, value)
    code, printed = _check(capsys)
    assert code == 0 and "[FAIL]" not in printed and "All checks passed" in printed, printed
    assert drills.check() is None
    # 4. Restart the bot; 5. resume with a second approval.
    assert (
        _press(rehearsal, "restart")
        == "Server: the bot restarted with the tokens of drill-rotate/.env."
    )
    assert new["POSTMARK_SERVER_TOKEN"] == rehearsal.bot.desk.settings.POSTMARK_SERVER_TOKEN
    _resume(rehearsal, running.facts["issue"])
    verdict = verdict_of(rehearsal)
    assert verdict.passed, verdict.text
    assert re.fullmatch(
        r"Halted first, every leaked token refused, the bot restarted on the new ones and the "
        rf"send resumed: {READERS:,} readers, nobody twice, in \d+ s\.",
        verdict.text,
    )
    got = [m.Recipients[0] for m in rehearsal.postmark.messages("broadcast")]
    assert len(got) == len(set(got))


def test_rotating_before_halting_does_not_pass(rehearsal: Rehearsal):
    drills = rehearsal.room.drills
    assert drills is not None
    running = drills.start("rotate-tokens")
    rehearsal.room.wait_for(lambda: drills.counts(running.facts["send"]).get("sent"), timeout=30)
    _press(rehearsal, "postmark-token")
    verdict = verdict_of(rehearsal)
    assert not verdict.passed
    assert verdict.text.startswith("A token was rotated while the send was still going")


def test_resuming_with_the_leaked_postmark_token_still_valid_does_not_pass(
    rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch
):
    running = _halted_mid_send(rehearsal, "rotate-tokens")
    env = Path(running.facts["env"])
    set_key(env, "SLACK_BOT_TOKEN", _new_value(_press(rehearsal, "slack-reinstall")))
    set_key(env, "SLACK_SIGNING_SECRET", _new_value(_press(rehearsal, "slack-secret")))
    set_key(env, "POSTMARK_SERVER_TOKEN", _new_value(_press(rehearsal, "postmark-token")))
    set_key(env, "POSTMARK_WEBHOOK_PASSWORD", _new_value(_press(rehearsal, "postmark-webhook")))
    _press(rehearsal, "restart")  # the old server token was never deleted
    _resume(rehearsal, running.facts["issue"])
    verdict = verdict_of(rehearsal)
    assert not verdict.passed
    assert verdict.text.startswith(
        "The send resumed, but the old Postmark server token still works"
    )
