"""The rehearsal, walked in a real browser: headless Chromium (Debian's
`chromium` package, which .ci/run installs) driven by Playwright for Python.

The editor drafts an issue in the modal, tries to approve it and is refused;
an approver approves; the outbox shows the messages as recipients see them, at a
desk's width and a phone's; at the slow pace chosen on the page the editor halts a
second send midway with the progress message's button, and a Halt pressed in a
window drawn before is answered by the bot; an unsubscribe is processed.
Screenshots go to SCREENSHOT_DIR when it is set (docs/screenshots holds two,
for the README), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dotenv import set_key
from sqlalchemy import func, select

from bot.cli import main
from bot.sample_data import sample_subscribers
from bot.settings import HELP, Settings
from bot.standins.slack import APPROVER_1, EDITOR
from bot.subscribers import counts_by_status
from handlers.rehearsal import Rehearsal, start_rehearsal
from storage.models import Issue
from tests.e2e.helpers import push_duty

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; "
        ".ci/run installs it in CI)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
expect = sync_api.expect
WAIT = 20_000  # ms
SEEDS = 3  # the room's SEED_ADDRESSES: the three team members (handlers.rehearsal)


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    # One batch in flight at a time, so that a halt lands between batches.
    base = Settings(_env_file=None, SEND_BATCHES_IN_FLIGHT=1)  # type: ignore[call-arg]
    running = start_rehearsal(base, directory=tmp_path, room_port=0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def page(rehearsal: Rehearsal) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1100, "height": 820})
            tab.set_default_timeout(WAIT)
            yield tab
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def become(page: Any, rehearsal: Rehearsal, user: str, tab: str = "channel") -> None:
    page.goto(f"{rehearsal.url}?as={user}&tab={tab}")
    expect(page.locator(f'a.me[data-user="{user}"]')).to_be_visible()


def command(page: Any, text: str) -> None:
    page.fill("#command", text)
    page.press("#command", "Enter")
    page.wait_for_load_state()


def draft(page: Any, subject: str, body: str) -> None:
    command(page, "/newsletter new")
    expect(page.locator("#modal")).to_be_visible()
    page.fill("#f-subject", subject)
    page.fill("#f-body", body)
    page.click("#modal-submit")
    expect(page.locator("#modal")).to_have_count(0)


def test_the_whole_workflow_by_hand(rehearsal: Rehearsal, page: Any, shots: Path):
    postmark = rehearsal.postmark
    become(page, rehearsal, EDITOR)

    # The editor drafts issue 1 in the modal; a template mistake is answered in the form.
    command(page, "/newsletter new")
    page.fill("#f-subject", "11月号 November news")
    page.fill("#f-body", "こんにちは {{ subscriber.nmae }} さん")
    page.click("#modal-submit")
    expect(page.locator("#modal .error")).to_be_visible()
    page.fill(
        "#f-body",
        "こんにちは {{ subscriber.name }} さん。\n\nThis month: *three* new guides.",
    )
    page.screenshot(path=str(shots / "rehearsal-draft.png"))
    page.click("#modal-submit")
    expect(page.locator("#modal")).to_have_count(0)
    # The save is answered where she typed the command, to her alone, with the next
    # step. 山田花子 uses Slack in Japanese, so what is said to her is in Japanese; the
    # channel reads the team's language (English here).
    saved = page.locator(".msg.ephemeral", has_text="第1号をバージョン 1")
    expect(saved).to_be_visible()
    expect(saved).to_contain_text("/newsletter submit 1")

    # Approve asks first, as in Slack, saying what the click will do.
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))

    # The editor submits it and tries to approve their own request: refused.
    command(page, "/newsletter submit 1")
    approve = page.locator('[data-action="approve"]')
    expect(approve).to_be_visible()
    approve.click()
    expect(page.locator(".msg.ephemeral").last).to_contain_text(
        "承認・却下ができるのは承認者のみです"
    )
    assert not postmark.messages("broadcast")

    # An approver sees it waiting on the Home tab, and approves on the card.
    become(page, rehearsal, APPROVER_1, "home")
    expect(page.locator("#home")).to_contain_text("You may approve this one")
    become(page, rehearsal, APPROVER_1)
    page.locator('[data-action="approve"]').click()
    expect(page.locator("#timeline")).to_contain_text("Approved by @Alice")
    assert len(asked) == 2 and all("Send issue #1 to 3,000 readers" in q for q in asked), asked

    # The send goes in stages, as the room's settings say: seed copies to the three team
    # members first, then a 10 % canary (300 of the 3,000 readers), then the hold.
    def broadcasts() -> int:
        return len(postmark.messages("broadcast"))

    rehearsal.room.wait_for(lambda: broadcasts() == SEEDS + 300, timeout=60)
    expect(page.locator("#timeline")).to_contain_text("Holding after the canary", timeout=30_000)
    expect(page.locator("#timeline")).to_contain_text(
        "Seed copies of issue #1 went to 3 of the team's 3 seed addresses"
    )
    seeded = [m.Recipients[0] for m in postmark.messages("broadcast")[:SEEDS]]
    assert sorted(seeded) == ["alice@example.com", "hanako@example.com", "taro@example.com"]
    page.screenshot(path=str(shots / "rehearsal-canary.png"), full_page=True)
    # Nothing more during the hold; Alice, an approver, sends the rest now.
    assert broadcasts() == SEEDS + 300
    page.locator('[data-action="send_rest"]').last.click()
    rehearsal.room.wait_for(lambda: broadcasts() == SEEDS + 3000, timeout=60)
    expect(page.locator("#timeline")).to_contain_text("Finished", timeout=30_000)
    expect(page.locator("#timeline")).to_contain_text("sent the rest of issue #1 now")
    page.screenshot(path=str(shots / "rehearsal-channel.png"), full_page=True)
    page.click("#tab-outbox")
    expect(page.locator("#tab-outbox")).to_contain_text(str(SEEDS + 3000))
    expect(page.locator("#detail-stream")).to_have_text("broadcast")
    expect(page.locator("#detail-metadata")).to_contain_text("send_id=")
    expect(page.locator("#detail-text")).to_contain_text("This month: *three* new guides.")
    frame = page.frame_locator("#outbox-detail iframe")
    expect(frame.locator("body")).to_contain_text("こんにちは")
    page.screenshot(path=str(shots / "rehearsal-outbox.png"))
    # Each message is the recipient's own: their name, nobody else's (invariant 4).
    people = {p.email: p.name for p in sample_subscribers()}
    readers = [m for m in postmark.messages("broadcast") if people.get(m.Recipients[0])]
    first, *others = readers[:3]
    assert first.TextBody is not None and people[first.Recipients[0]] in first.TextBody
    for other in others:
        if people[other.Recipients[0]] != people[first.Recipients[0]]:
            assert people[other.Recipients[0]] not in first.TextBody

    # The outbox holds at a phone's width: nothing wider than the window, the list above
    # the message.
    page.set_viewport_size({"width": 375, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    listed = page.locator("#outbox-list").bounding_box()
    detail = page.locator("#outbox-detail").bounding_box()
    assert listed and detail and listed["y"] + listed["height"] <= detail["y"] + 1
    page.screenshot(path=str(shots / "rehearsal-outbox-narrow.png"), full_page=True)
    # Its search reads the body too; a filter that matches nothing says so.
    page.fill('form.filter input[name="q"]', "three* new guides")
    page.press('form.filter input[name="q"]', "Enter")
    expect(page.locator("form.filter")).to_contain_text(f"{SEEDS + 3000} messages")
    page.fill('form.filter input[name="q"]', "no such words anywhere")
    page.press('form.filter input[name="q"]', "Enter")
    expect(page.locator("#outbox-empty")).to_contain_text("No message matches")
    page.set_viewport_size({"width": 1100, "height": 820})

    # A second issue, sent at the slow pace chosen on the page, so that the editor can
    # halt it by hand from the progress message.
    become(page, rehearsal, EDITOR)
    draft(page, "Extra edition", "Hello {{ subscriber.name }}, a short extra.")
    command(page, "/newsletter submit 2")
    become(page, rehearsal, APPROVER_1)
    page.click('#pace button[data-pace="slow"]')
    expect(page.locator("#pace")).to_have_attribute("data-pace", "slow")
    assert postmark.latency == 5.0
    page.locator('[data-action="approve"]').last.click()
    become(page, rehearsal, EDITOR)
    halt = page.locator('[data-action="halt"]').last
    expect(halt).to_be_visible(timeout=30_000)
    # Alice's window, drawn now and then left alone (its poll held back, as a client
    # that has not caught up): its Halt button will be stale.
    alice = page.context.browser.new_page(viewport={"width": 1100, "height": 820})
    alice.route("**/room/poll", lambda route: route.abort())
    become(alice, rehearsal, APPROVER_1)
    stale = alice.locator('[data-action="halt"]').last
    expect(stale).to_be_visible()
    # Its seed copies, then its canary's readers start to arrive.
    rehearsal.room.wait_for(lambda: broadcasts() > 2 * SEEDS + 3000, timeout=30)
    halt.click()
    expect(page.locator("#timeline")).to_contain_text("is halted", timeout=30_000)
    expect(page.locator('[data-action="halt"]')).to_have_count(0)
    second = broadcasts() - (2 * SEEDS + 3000)
    assert 0 < second < 3000, second
    page.screenshot(path=str(shots / "rehearsal-halted.png"), full_page=True)
    # The stale Halt is answered as Slack answers it: the bot's ephemeral, no error page.
    stale.click()
    expect(alice.locator(".msg.ephemeral").last).to_contain_text("there was nothing to halt")
    expect(alice.locator("body")).not_to_contain_text("no element with action_id")
    alice.close()
    page.click('#pace button[data-pace="instant"]')
    expect(page.locator("#pace")).to_have_attribute("data-pace", "instant")
    assert postmark.latency == 0.0

    # An unsubscribe, typed by the editor: processed, and the list counts show it.
    reader = first.Recipients[0]
    command(page, f"/unsubscribe {reader} asked by phone")
    expect(page.locator(".msg.ephemeral").last).to_contain_text("の配信を停止しました")
    with rehearsal.bot.desk.db.sessions() as session:
        assert counts_by_status(session, "Newsletter").get("unsubscribed") == 1
    # The address is shown only to the editor, never in the channel (invariant 9).
    channel_text = page.locator("#timeline .msg:not(.ephemeral)").all_inner_texts()
    assert not any(reader in text for text in channel_text)
    become(page, rehearsal, EDITOR, "home")
    expect(page.locator("#home")).to_contain_text(re.compile(r"配信停止 1 件"))


# --- the Drills tab: every drill, done in the page as its runbook says ------------------


def start_drill(page: Any, rehearsal: Rehearsal, drill: str, user: str = EDITOR) -> None:
    become(page, rehearsal, user, "drills")
    # The start is a form's POST, answered once the drill's setup is done; the page's poll
    # can show the new drill before that. Wait for the POST's own answer, so that it does
    # not land later, on the page of the next step (once, in CI, it took the page back to
    # the Drills tab while the test typed a command on the channel's).
    with page.expect_navigation(url=re.compile(r"tab=drills"), timeout=60_000):
        page.click(f'[data-drill-start="{drill}"]')
    expect(page.locator("#drill-current")).to_have_attribute("data-drill", drill)
    expect(page.locator("#drill-verdict")).to_contain_text("Running")


def drill_verdict(page: Any, rehearsal: Rehearsal, text: str) -> None:
    become(page, rehearsal, EDITOR, "drills")
    expect(page.locator("#drill-verdict")).to_contain_text("Passed", timeout=60_000)
    expect(page.locator("#drill-verdict")).to_contain_text(text)


def test_every_drill_in_the_browser(
    rehearsal: Rehearsal, page: Any, shots: Path, monkeypatch: pytest.MonkeyPatch
):
    page.on("dialog", lambda dialog: dialog.accept())  # Approve asks first, as in Slack
    drills = rehearsal.room.drills
    assert drills is not None
    drills.pace = 2.0  # seconds per batch of 500 while a drill's send is slow

    # The monthly issue: draft, preview, test copy, submit; Alice approves, sends the rest.
    start_drill(page, rehearsal, "monthly-issue")
    become(page, rehearsal, EDITOR)
    draft(page, "1月号", "{{ subscriber.name }} 様、新年のお知らせです。")
    monthly = rehearsal.bot.desk
    with monthly.db.sessions() as session:
        newest = session.execute(select(func.max(Issue.id))).scalar()
    command(page, f"/newsletter show {newest}")
    command(page, f"/newsletter test {newest}")
    rehearsal.room.wait_for(lambda: rehearsal.postmark.messages("outbound") or None)
    command(page, f"/newsletter submit {newest}")
    become(page, rehearsal, APPROVER_1)
    page.locator('[data-action="approve"]').last.click()
    send_rest = page.locator('[data-action="send_rest"]').last
    expect(send_rest).to_be_visible(timeout=60_000)
    send_rest.click()
    drill_verdict(page, rehearsal, "written, tested, approved by a second person")

    # Halt a wrong send.
    start_drill(page, rehearsal, "halt-wrong-send")
    become(page, rehearsal, EDITOR)
    command(page, "/newsletter halt")
    drill_verdict(page, rehearsal, "Halted after")
    page.screenshot(path=str(shots / "drill-halt.png"))

    # A phone unsubscribe with a name and a company: the form, as the runbook says.
    start_drill(page, rehearsal, "phone-unsubscribe")
    facts = drills.current.facts if drills.current else {}
    become(page, rehearsal, EDITOR)
    command(page, "/unsubscribe")
    expect(page.locator("#modal")).to_be_visible()
    page.fill("#f-email", facts["email"])
    page.fill("#f-name", facts["name"])  # what the caller said stays internal
    page.fill("#f-company", facts["company"])
    page.click("#modal-submit")
    drill_verdict(page, rehearsal, "the name and company reached nobody")

    # Find who got a wrong issue and send them a correction.
    start_drill(page, rehearsal, "correction")
    wrong = drills.current.facts["issue"] if drills.current else 0
    become(page, rehearsal, APPROVER_1)
    command(page, f"/newsletter recipients {wrong}")
    page.click("#tab-dm")
    expect(page.locator("[data-file]")).to_be_visible()
    become(page, rehearsal, EDITOR)
    command(page, f"/newsletter correct {wrong}")
    expect(page.locator("#modal")).to_be_visible()
    page.fill("#f-body", "{{ subscriber.name }} 様、先ほどの号の日付に誤りがありました。")
    page.click("#modal-submit")
    expect(page.locator("#modal")).to_have_count(0)
    command(page, f"/newsletter submit {wrong + 1}")
    become(page, rehearsal, APPROVER_1)
    expect(page.locator("#timeline")).to_contain_text(f"Correction of #{wrong}")
    page.locator('[data-action="approve"]').last.click()
    # The correction goes in stages too (the room's 10 % canary): as the runbook says, an
    # approver who has checked the canary's copies sends the rest now.
    send_rest = page.locator('[data-action="send_rest"]').last
    expect(send_rest).to_be_visible(timeout=60_000)
    send_rest.click()
    drill_verdict(page, rehearsal, "and nobody else")
    page.screenshot(path=str(shots / "drill-correction.png"))

    # The canary halted itself: look, suppress the bad import (a terminal), resume, approve.
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    start_drill(page, rehearsal, "canary-halted")
    canary = drills.current.facts if drills.current else {}
    expect(page.locator("#drill-command")).to_contain_text("countersign suppressions import")
    become(page, rehearsal, EDITOR)
    expect(page.locator("#timeline")).to_contain_text("the canary's bounces spiked", timeout=90_000)
    command(page, f"/newsletter report {canary['issue']}")
    expect(page.locator(".msg.ephemeral").last).to_contain_text("不達")  # her language
    monkeypatch.setenv("DATABASE_URL", rehearsal.settings.DATABASE_URL)
    assert main(["suppressions", "import", canary["file"]]) == 0
    command(page, f"/newsletter resume {canary['issue']}")
    become(page, rehearsal, APPROVER_1)
    page.locator('[data-action="approve"]').last.click()
    drill_verdict(page, rehearsal, "none of the 300 bad addresses")
    page.screenshot(path=str(shots / "drill-canary.png"))

    # An approver leaves: his approval of a scheduled issue voided by an edit, approved again.
    start_drill(page, rehearsal, "team-change")
    extra = drills.current.facts["issue"] if drills.current else 0
    become(page, rehearsal, EDITOR)
    command(page, f"/newsletter edit {extra}")
    expect(page.locator("#modal")).to_be_visible()
    page.click("#modal-submit")  # saved unchanged: an edit all the same
    expect(page.locator("#modal")).to_have_count(0)
    desk = rehearsal.bot.desk
    when = (desk.clock.now() + timedelta(days=1)).astimezone(desk.settings.tz)
    command(page, f"/newsletter submit {extra} at {when:%Y-%m-%d %H:%M}")
    become(page, rehearsal, APPROVER_1)
    page.locator('[data-action="approve"]').last.click()
    drill_verdict(page, rehearsal, "approved again by a current approver")

    # A migration from the old system, in a terminal: backup, dry run, the imports.
    start_drill(page, rehearsal, "migration")
    expect(page.locator("#drill-command")).to_contain_text("export DATABASE_URL=")
    folder = Path(drills.current.facts["folder"]) if drills.current else Path()
    subscribed = ["subscribers", "import", str(folder / "subscribed.csv"), "--encoding", "cp932"]
    assert main(["backup", str(folder / "before-import.db")]) == 0
    assert main([*subscribed, "--dry-run"]) == 0
    assert main(subscribed) == 0
    for name in ("unsubscribed.csv", "cleaned.csv"):
        assert main(["subscribers", "import", str(folder / name)]) == 0
    assert main(["suppressions", "import", str(folder / "do-not-mail.txt")]) == 0
    drill_verdict(page, rehearsal, "backup first: 3 active, 3 never to be mailed")

    # Restore from a backup, in a terminal.
    start_drill(page, rehearsal, "restore-backup")
    expect(page.locator("#drill-command")).to_contain_text("countersign restore")
    running = drills.current
    assert running is not None
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{running.facts['live']}")
    assert main(["restore", running.facts["backup"]]) == 0
    drill_verdict(page, rehearsal, "the wrong import gone")

    # Postmark's suppressions out of step: read what is waiting, `countersign check` in the
    # server's folder, approve this month's issue (its start pulls Postmark's list).
    start_drill(page, rehearsal, "suppressions-out-of-step")
    expect(page.locator("#drill-command")).to_contain_text("countersign check")
    step = drills.current.facts if drills.current else {}
    become(page, rehearsal, APPROVER_1)
    command(page, "/newsletter subscribers")
    # (Earlier drills' imports may still wait for the push duty too: "N have not reached".)
    expect(page.locator(".msg.ephemeral").last).to_contain_text("reached Postmark yet")
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(step["folder"])
    assert main(["check"]) == 0
    page.locator('[data-action="approve"]').last.click()
    push_duty(rehearsal.bot).wake()  # its next round now, rather than within 30 s
    drill_verdict(page, rehearsal, "2 suppressions pulled, 1 pushed; nobody suppressed")

    # Rotating the tokens after a leak: halt, the pages' buttons, the .env, check, restart,
    # resume with a second approval.
    drills.pace = 2.0
    start_drill(page, rehearsal, "rotate-tokens")
    rotate = drills.current.facts if drills.current else {}
    rehearsal.room.wait_for(lambda: drills.counts(rotate["send"]).get("sent"), timeout=30)
    become(page, rehearsal, EDITOR)
    command(page, "/newsletter halt")
    rehearsal.room.wait_for(lambda: drills.send_state(rotate["send"]) == "halted" or None)
    names = {
        "slack-reinstall": "SLACK_BOT_TOKEN",
        "slack-secret": "SLACK_SIGNING_SECRET",
        "postmark-token": "POSTMARK_SERVER_TOKEN",
        "postmark-webhook": "POSTMARK_WEBHOOK_PASSWORD",
    }
    become(page, rehearsal, EDITOR, "drills")
    for action in ("slack-reinstall", "slack-secret", "postmark-token", "postmark-delete"):
        page.click(f'[data-drill-action="{action}"]')
    page.click('[data-drill-action="postmark-webhook"]')
    shown = page.locator("#drill-shown li").all_inner_texts()
    assert len(shown) == 5, shown
    for action, line in zip(
        ("slack-reinstall", "slack-secret", "postmark-token", "postmark-webhook"),
        (shown[0], shown[1], shown[2], shown[4]),
        strict=True,
    ):
        set_key(rotate["env"], names[action], line.rsplit(": ", 1)[1].split(" ", 1)[0])
    monkeypatch.chdir(rotate["folder"])
    assert main(["check"]) == 0
    page.click('[data-drill-action="restart"]')
    expect(page.locator("#drill-shown")).to_contain_text("the bot restarted")
    become(page, rehearsal, EDITOR)
    command(page, f"/newsletter resume {rotate['issue']}")
    become(page, rehearsal, APPROVER_1)
    page.locator('[data-action="approve"]').last.click()
    drill_verdict(page, rehearsal, "every leaked token refused")
