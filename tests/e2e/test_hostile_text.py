"""Hostile typed text through the real bot and the Slack stand-in: a subject
holding `<!channel>`, a disguised link and an address; an override reason and
a reject reason holding an address and a phone number; every channel notice
with hostile parameters. Nothing in the channel parses as a control sequence
or shows personal data; the ephemeral preview shows the subject as typed."""

from __future__ import annotations

from bot.desk import Notice
from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL
from handlers.ids import Action, Block
from handlers.notifier import RENDERERS
from tests.e2e.helpers import create_issue, current_card, request_id_of, request_state, submit
from tests.fixtures.bot import Harness
from tests.fixtures.slack_text import assert_safe, mrkdwn_texts, shown

SUBJECT = "<!channel> Sale A<B & C <https://evil.example|Approve here> taro@example.com"
REASON = "ask ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ or call 03-1234-5678 <!here>"


def payload(message: object) -> dict[str, object]:
    return {"text": getattr(message, "text", ""), "blocks": getattr(message, "blocks", [])}


def channel_is_safe(harness: Harness) -> list[str]:
    texts: list[str] = []
    for message in harness.slack.channel_messages(NEWSLETTER_CHANNEL):
        assert_safe(payload(message), channel=True, where=message.ts)
        texts += mrkdwn_texts(payload(message))
    return texts


def test_hostile_subject_and_reasons_are_harmless_in_the_channel(harness: Harness):
    issue_id = create_issue(harness, harness.editor, subject=SUBJECT, body="Hello")
    card = submit(harness, harness.as_user(APPROVER_1), issue_id, f'override "{REASON}"')
    request_id = request_id_of(harness, card)
    shown_text = shown("\n".join(channel_is_safe(harness)))
    assert "<!channel> Sale A<B & C <https://evil.example|Approve here>" in shown_text
    assert "[address removed]" in shown_text and "[phone number removed]" in shown_text

    # The other approver rejects, with a reason holding personal data.
    before = len(harness.slack.calls("views.open"))
    harness.approver2.click(Action.REJECT, str(request_id), message=current_card(harness, card))
    opened = harness.slack.wait_for(lambda: harness.slack.calls("views.open")[before:] or None)
    harness.approver2.submit_view(
        opened[0].response["view"], {Block.REASON: {Action.VALUE: REASON}}
    )
    harness.slack.wait_for(lambda: request_state(harness, request_id) == "rejected" or None)
    harness.slack.wait_for(
        lambda: "Rejected by" in "".join(mrkdwn_texts(payload(current_card(harness, card)))) or None
    )
    channel_is_safe(harness)

    # The preview is ephemeral: the subject shown as typed, escaped, address included.
    harness.editor.command("/newsletter", f"show {issue_id}")
    preview = payload(
        harness.slack.wait_for(
            lambda: next(
                (
                    m
                    for m in harness.slack.ephemeral_messages(EDITOR)
                    if "Sale A" in "".join(mrkdwn_texts(payload(m)))
                ),
                None,
            )
        )
    )
    assert_safe(preview, channel=False)
    assert "&lt;!channel&gt; Sale A&lt;B &amp; C" in "".join(mrkdwn_texts(preview))


def test_every_channel_notice_with_hostile_parameters_is_harmless(harness: Harness):
    hostile = {
        name: REASON
        for name in (
            "reason",
            "detail",
            "subject",
            "actor",
            "approver",
            "pending",
            "tag",
            "batch",
            "count",
            "now",
            "approved",
            "state",
            "code",
            "due",
            "days",
            "stage",
            "minutes",
            "since",
            "scheduled_at",
        )
    }
    for kind in sorted(RENDERERS):
        harness.desk.notifier.notify(Notice(kind, issue_id=1, params=dict(hostile)))
    harness.desk.notifier.notify(
        Notice("send.halted", issue_id=1, params={"reason": "postmark_refused", "detail": REASON})
    )
    harness.desk.notifier.notify(Notice("send.start_failed", issue_id=1, params={"reason": REASON}))
    texts = channel_is_safe(harness)
    assert texts, "no notice reached the channel"
