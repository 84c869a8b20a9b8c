"""A hostile subject and a hostile list name through the views of a staged send
and its report, end to end (signed Slack requests, the Postmark stand-in's
webhooks POSTed into the bot): the approval card, the progress message with
its canary hold, the seed-copy notice, `/newsletter report ID`, the chart's
upload, the day-after post in the issue's thread and App Home.

Everywhere Slack shows them they are the literal text (handlers/mrkdwn.py:
`&`, `<`, `>` escaped, so no mention, link or entity is parsed; `*`, `_`, `~`
and backticks are left as typed); in the channel, the subject's address is
removed too (invariant 9). The checks are tests/fixtures/slack_text.py's,
written independently of handlers.mrkdwn."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot import outcomes
from bot.standins.postmark import Outcomes
from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL
from handlers.ids import Action
from storage.models import Send
from tests.e2e.helpers import create_issue, current_card, submit
from tests.fixtures.bot import Harness
from tests.fixtures.delivery import FAST, add_subscribers, running, send_state, wait_until
from tests.fixtures.slack_text import assert_safe, mrkdwn_texts, plain_texts, shown

# Mentions, a disguised link, entities typed as text, mrkdwn markers, a full-width
# mention, a right-to-left override hiding a file name, an emoji code, an address.
PIECES = (
    "<!channel>",
    "<@U0APPROV1>",
    "<!subteam^S0ABCDEF>",
    "*bold*",
    "_it_",
    "~gone~",
    "`code`",
    "&lt;b&gt;",
    "&amp;",
    "<https://evil.example.com|x>",
    "A<B & C>D",
    "> quote",
    ":rotating_light:",
)
TRICKS = "＜!here＞ \u202egnp.exe\u202c"
ADDRESS = "taro@example.com"
SUBJECT = " ".join(PIECES) + f" {TRICKS} {ADDRESS}"
LIST = "<!here> *News* & Co <https://evil.example.com|list>"
WEBHOOK_AUTH = ("postmark", "webhook-password-for-tests")


def _payload(message: Any) -> dict[str, Any]:
    return {"text": getattr(message, "text", "") or "", "blocks": getattr(message, "blocks", [])}


def _shown(payload: Any) -> str:
    """What Slack shows of a payload's mrkdwn and plain texts."""
    return "\n".join([shown(t) for t in mrkdwn_texts(payload)] + list(plain_texts(payload)))


def _channel(harness: Harness) -> list[Any]:
    return harness.slack.channel_messages(NEWSLETTER_CHANNEL)


def _send(harness: Harness, issue_id: int) -> Send | None:
    with harness.desk.db.sessions() as session:
        return session.query(Send).filter(Send.issue_id == issue_id).one_or_none()


def _holding(harness: Harness) -> Any:
    for message in _channel(harness):
        if Action.SEND_REST in message.action_ids():
            return message
    return None


def test_a_hostile_subject_and_list_name_are_literal_text_in_every_view(harness_factory):
    assert len(SUBJECT) <= 250  # the longest subject an issue may have (bot.rendering)
    harness: Harness = harness_factory(
        CANARY_PERCENT="10",
        CANARY_HOLD_MINUTES="30",
        SEED_ADDRESSES="team@example.com",
        NEWSLETTER_NAME=LIST,
    )
    add_subscribers(harness.desk, 60, list_name=LIST)
    harness.postmark.configure_webhook(f"{harness.url}/postmark/webhook", *WEBHOOK_AUTH)
    harness.postmark.set_outcomes(Outcomes(soft_bounce=0.05, unsubscribe=0.05))
    issue_id = create_issue(
        harness, harness.editor, SUBJECT, "{{ subscriber.name }} 様、今月号です。"
    )
    # The subject names an address: preflight stops it unless overridden (in red, audited).
    card = submit(harness, harness.editor, issue_id, 'override "checked: a test subject"')
    with running(harness.desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        held = harness.slack.wait_for(lambda: _holding(harness), timeout=60)
        harness.approver.click(Action.SEND_REST, message=held)
        wait_until(
            lambda: (s := _send(harness, issue_id)) is not None and s.state == "finished",
            timeout=60,
        )
    send = _send(harness, issue_id)
    assert send is not None and send_state(harness.desk, send.id) == "finished"
    assert harness.postmark.wait_for_webhooks(timeout=120)

    # The report, as the editor asked for it (ephemeral: the subject whole, as typed).
    uploads = len(harness.slack.files)
    harness.editor.command("/newsletter", f"report {issue_id}")
    report = harness.slack.wait_for(
        lambda: next(
            (
                m
                for m in harness.slack.ephemeral_messages(EDITOR)
                if f"How issue #{issue_id} did" in _shown(_payload(m))
            ),
            None,
        )
    )
    assert_safe(_payload(report), channel=False, where="report")
    assert SUBJECT in _shown(_payload(report))
    # The chart: uploaded into the issue's thread, its title and comment safe too.
    wait_until(lambda: len(harness.slack.files) == uploads + 1, timeout=60)
    [chart] = list(harness.slack.files.values())[uploads:]
    for text in (chart.title, chart.name, *(m.text or "" for m in _channel(harness) if m.files)):
        assert "evil" not in text and ADDRESS not in text and "<!" not in text, text

    # The day-after post, in the channel's thread of the issue.
    harness.clock.advance(timedelta(hours=24, minutes=1))
    assert outcomes.post_day_after_reports(harness.desk) == [send.id]
    day_after = [m for m in _channel(harness) if "A day after issue" in _shown(_payload(m))]
    assert len(day_after) == 1 and day_after[0].thread_ts == send.progress_ts
    said = _shown(_payload(day_after[0]))
    assert "[address removed]" in said and ADDRESS not in said
    for piece in PIECES:
        assert piece in said, piece

    # Every message in the channel (card, progress and hold, seed copies, the rest sent,
    # the summary, the chart, the day-after post): nothing parsed, no address.
    for message in _channel(harness):
        assert_safe(_payload(message), channel=True, where=message.ts)
    card_text = _shown(_payload(current_card(harness, card)))
    for piece in PIECES:
        assert piece in card_text, piece

    # App Home: the last issues' figures and the list, literal (only the viewer sees it).
    before = (harness.slack.home_view(APPROVER_1) or {}).get("hash")
    assert harness.approver.open_app_home().status_code == 200
    home = harness.slack.wait_for(
        lambda: (
            (v := harness.slack.home_view(APPROVER_1)) is not None and v.get("hash") != before and v
        )
    )
    assert_safe(home, channel=False, where="home")
    home_text = _shown(home)
    assert SUBJECT in home_text
    # The list's line: its name literal, its counts after the send (3 of 60 unsubscribed).
    assert f"{LIST}: 57 active, 3 unsubscribed" in home_text, home_text
