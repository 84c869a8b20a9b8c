"""The canary end to end: the plan on the card, approval through signed Slack
requests, Postmark's webhooks POSTed by the stand-in to the bot's own webhook
endpoint, the send halting itself on a bounce spike before the rest of the
list, and "Send the rest now" on the progress message for approvers only."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from bot.standins.postmark import Outcomes
from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL
from handlers.ids import Action
from storage.models import Send
from tests.e2e.helpers import create_issue, current_card, issue_state, submit
from tests.fixtures.bot import Harness, _text_of
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    assert_exactly_once,
    running,
    send_state,
    wait_until,
)

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
CANARY = {"CANARY_PERCENT": "10", "CANARY_HOLD_MINUTES": "30"}
WEBHOOK_AUTH = ("postmark", "webhook-password-for-tests")


def _send_of(harness: Harness, issue_id: int) -> Send | None:
    with harness.desk.db.sessions() as session:
        return session.query(Send).filter(Send.issue_id == issue_id).one_or_none()


def _progress(harness: Harness):  # type: ignore[no-untyped-def]
    for message in harness.slack.channel_messages(NEWSLETTER_CHANNEL):
        if "Sending issue" in _text_of(message):
            return message
    return None


def _broadcasts(harness: Harness) -> int:
    return len(harness.postmark.messages(stream="broadcast"))


def _start(harness: Harness, readers: int, extra: str = "") -> tuple[int, int]:
    add_subscribers(harness.desk, readers)
    harness.postmark.configure_webhook(f"{harness.url}/postmark/webhook", *WEBHOOK_AUTH)
    issue_id = create_issue(
        harness, harness.editor, "12月号", "{{ subscriber.name }} 様、今月号です。"
    )
    card = submit(harness, harness.editor, issue_id, extra)
    return issue_id, card


def test_a_bounce_spike_halts_the_send_before_the_rest_of_the_list(harness_factory):
    harness: Harness = harness_factory(**CANARY)
    issue_id, card = _start(harness, 300)
    text = _text_of(current_card(harness, card))
    assert "10 % first (30 readers, drawn at random), then the rest after 30 minutes" in text
    harness.postmark.set_outcomes(Outcomes(hard_bounce=0.2))
    with running(harness.desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: (s := _send_of(harness, issue_id)) is not None and s.state == "halted")
        # Each webhook is one HTTP request into the bot: give a loaded machine time.
        assert harness.postmark.wait_for_webhooks(timeout=120)
        harness.clock.advance(timedelta(hours=1))  # past the hold: still nothing more
        time.sleep(0.5)
    send = _send_of(harness, issue_id)
    assert send is not None and send.halt_reason.startswith("canary_bounces")
    assert _broadcasts(harness) == 30
    assert all(e.delivered for e in harness.postmark.webhook_events)
    assert issue_state(harness, issue_id) == "halted"
    said = harness.channel_texts()
    assert any("the canary's bounces spiked" in t and "was not sent" in t for t in said)
    assert any("270 recipients are not sent" in t for t in said)
    for text in said:
        assert not ADDRESS.search(text), text
    ledger = assert_exactly_once(harness.desk, harness.postmark, send.id, allow_open=True)
    assert ledger == {"sent": 30, "pending": 270}


def test_send_the_rest_now_needs_an_approver_and_each_reader_gets_it_once(harness_factory):
    harness: Harness = harness_factory(**CANARY)
    issue_id, card = _start(harness, 200, "canary 20%")
    assert "20 % first (40 readers" in _text_of(current_card(harness, card))
    with running(harness.desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: (s := _send_of(harness, issue_id)) is not None and s.stage == "hold")
        wait_until(lambda: "Holding after the canary" in _text_of(_progress(harness)))
        progress = _progress(harness)
        assert "The rest (160) goes at *2026-11-02 10:30 JST*" in _text_of(progress)
        # The editor is on the team but not an approver: refused, nothing sent.
        before = len(harness.ephemeral_texts(EDITOR))
        harness.editor.click(Action.SEND_REST, message=progress)
        refusal = harness.wait_for_ephemeral(EDITOR, before + 1)[-1]
        assert "Only approvers may send the rest" in refusal
        time.sleep(0.3)
        assert _broadcasts(harness) == 40
        harness.approver.click(Action.SEND_REST, message=_progress(harness))
        wait_until(lambda: send_state(harness.desk, _send_of(harness, issue_id).id) == "finished")  # type: ignore[union-attr]
    send = _send_of(harness, issue_id)
    assert send is not None
    assert assert_exactly_once(harness.desk, harness.postmark, send.id) == {"sent": 200}
    said = harness.channel_texts()
    assert any(f"<@{APPROVER_1}> sent the rest of issue #{issue_id} now" in t for t in said)


def test_canary_off_for_one_submission(harness_factory):
    harness: Harness = harness_factory(**CANARY)
    _, card = _start(harness, 20, "canary off")
    assert "all 20 recipients at once (no canary)" in _text_of(current_card(harness, card))


def test_seed_copies_go_before_the_canary_and_their_bounces_halt_nothing(harness_factory):
    harness: Harness = harness_factory(
        **CANARY, SEED_ADDRESSES="team@example.com, desk@example.com"
    )
    issue_id, card = _start(harness, 100)
    # Seeds are not readers: the plan and the count on the card are the list's.
    text = _text_of(current_card(harness, card))
    assert "10 % first (10 readers, drawn at random)" in text
    assert "100" in text
    with running(harness.desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: (s := _send_of(harness, issue_id)) is not None and s.stage == "hold")
        stored = harness.postmark.messages(stream="broadcast")
        assert [m.Recipients[0] for m in stored[:2]] == ["team@example.com", "desk@example.com"]
        assert len(stored) == 12
        # Both seed copies bounce; Postmark POSTs the webhooks into the bot. Counted,
        # 2 of a 10-reader canary would halt the send (the limit is 5 %).
        for seed in stored[:2]:
            harness.postmark.trigger_bounce(seed.MessageID)
        assert harness.postmark.wait_for_webhooks(timeout=120)
        assert all(e.delivered for e in harness.postmark.webhook_events)
        time.sleep(0.3)
        send = _send_of(harness, issue_id)
        assert send is not None and send.state == "sending"
        harness.clock.advance(timedelta(minutes=31))
        wait_until(lambda: send_state(harness.desk, send.id) == "finished", timeout=60)
    assert assert_exactly_once(harness.desk, harness.postmark, send.id) == {"sent": 100}
    said = harness.channel_texts()
    assert any(
        f"Seed copies of issue #{issue_id} went to 2 of the team's 2 seed addresses" in t
        for t in said
    )
    for text in said:
        assert not ADDRESS.search(text), text
