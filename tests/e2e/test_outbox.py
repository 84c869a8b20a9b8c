"""The outbox end to end (bot.outbox): Slack refuses the approval card at the
submit; the request is open, the editor is told the card is on its way, the
outbox duty posts it once Slack answers, and the second person approves from
it. Nothing is posted twice."""

from __future__ import annotations

from datetime import timedelta

from bot import outbox
from bot.standins.slack import NEWSLETTER_CHANNEL
from tests.e2e.helpers import cards, create_issue, request_id_of, request_state
from tests.e2e.test_approval import LATER, approve, wait_reply
from tests.fixtures.bot import Harness


def test_a_card_slack_did_not_take_is_posted_later_and_can_be_approved(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "12月号", "今月のお知らせです。")
    harness.slack.fail_next("chat.postMessage", "internal_error")
    harness.editor.command("/newsletter", f"submit {issue_id} {LATER}")
    reply = wait_reply(harness, harness.editor.user_id, "has not taken the request's card")
    assert f"<#{NEWSLETTER_CHANNEL}>" in reply
    assert cards(harness) == []
    [pending] = outbox.undelivered(harness.desk)
    assert pending.kind == "approval.card" and request_state(harness, pending.request_id) == "open"
    # Slack answers again; the duty's next round (after the first retry wait).
    assert outbox.deliver(harness.desk) == 0
    harness.clock.advance(outbox.FIRST_RETRY)
    assert outbox.deliver(harness.desk) == 1
    [card] = cards(harness)
    assert request_id_of(harness, card) == pending.request_id
    harness.clock.advance(timedelta(hours=1))
    assert outbox.deliver(harness.desk) == 0
    assert len(cards(harness)) == 1
    approve(harness, harness.approver, card)
    harness.slack.wait_for(lambda: request_state(harness, pending.request_id) == "approved")


def test_a_card_slack_took_at_once_is_not_posted_again(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "12月号", "今月のお知らせです。")
    harness.editor.command("/newsletter", f"submit {issue_id} {LATER}")
    wait_reply(harness, harness.editor.user_id, "Asked for approval")
    assert len(cards(harness)) == 1
    assert outbox.undelivered(harness.desk) == []
    assert not any("has not taken" in r for r in harness.ephemeral_texts(harness.editor.user_id))
