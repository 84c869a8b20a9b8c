"""How each issue did, end to end: a real send through the engine, Postmark's
webhooks POSTed by the stand-in to the bot's endpoint, `/newsletter report ID`
(Block Kit bars, the 48-hour chart uploaded into the issue's thread), and the
day-after post — every figure checked against the ledger and the webhooks the
stand-in sent."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from io import BytesIO

from PIL import Image

from bot import outcomes
from bot.standins.postmark import Outcomes
from bot.standins.slack import EDITOR, NEWSLETTER_CHANNEL
from handlers.ids import Action
from storage.models import Send
from tests.e2e.helpers import create_issue, current_card, submit
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
WEBHOOK_AUTH = ("postmark", "webhook-password-for-tests")


def _sent_issue(harness: Harness, readers: int, plan: Outcomes) -> tuple[int, int]:
    desk = harness.desk
    add_subscribers(desk, readers)
    harness.postmark.configure_webhook(f"{harness.url}/postmark/webhook", *WEBHOOK_AUTH)
    harness.postmark.set_outcomes(plan)
    issue_id = create_issue(harness, harness.editor, "12月号 特集", "今月号です。")
    card = submit(harness, harness.editor, issue_id)
    with running(desk, FAST):
        harness.approver.click(Action.APPROVE, message=current_card(harness, card))
        wait_until(lambda: _send_id(harness, issue_id) is not None)
        send_id = _send_id(harness, issue_id)
        assert send_id is not None
        wait_until(lambda: send_state(desk, send_id) == "finished")
    # Each webhook is one HTTP request into the bot: give a loaded machine time.
    assert harness.postmark.wait_for_webhooks(timeout=120)
    return issue_id, send_id


def _send_id(harness: Harness, issue_id: int) -> int | None:
    with harness.desk.db.sessions() as session:
        send = session.query(Send).filter(Send.issue_id == issue_id).one_or_none()
        return send.id if send else None


def test_the_report_shows_the_ledger_and_the_webhooks_and_the_chart(harness: Harness):
    plan = Outcomes(hard_bounce=0.04, soft_bounce=0.02, complaint=0.01, unsubscribe=0.03)
    issue_id, send_id = _sent_issue(harness, 100, plan)
    ledger = assert_exactly_once(harness.desk, harness.postmark, send_id)
    assert ledger == {"sent": 100}
    events = harness.postmark.webhook_events
    assert all(e.status == 200 for e in events)
    said = Counter(
        (e.record_type, e.payload.get("Type") or e.payload.get("SuppressionReason")) for e in events
    )
    [figures] = outcomes.figures(harness.desk, send_id=send_id)
    assert (figures.sent, figures.failed, figures.suppressed) == (ledger["sent"], 0, 0)
    assert figures.delivered == said[("Delivery", None)] == 100 - 4 - 2
    assert figures.hard_bounces == said[("Bounce", "HardBounce")] == 4
    assert figures.soft_bounces == said[("Bounce", "SoftBounce")] == 2
    assert figures.complaints == said[("SubscriptionChange", "SpamComplaint")] == 1
    assert figures.unsubscribes == said[("SubscriptionChange", "ManualSuppression")] == 3

    uploads_before = len(harness.slack.files)
    harness.editor.command("/newsletter", f"report {issue_id}")
    reply = harness.slack.wait_for(
        lambda: next(
            (m for m in harness.slack.ephemeral_messages(EDITOR) if "How issue" in _text_of(m)),
            None,
        )
    )
    text = _text_of(reply)
    assert f"How issue #{issue_id} did" in text
    assert "*100* sent (100.0 %)" in text
    assert "*94* delivered (94.0 %)" in text
    assert "*6* bounced (4 hard, 2 soft) (6.0 %)" in text
    assert "*1* spam complaints (1.0 %)" in text
    assert "*3* unsubscribed from this issue (3.0 %)" in text
    assert "`████████████████████` *100* sent" in text
    assert "`█···················` *1* spam complaints" in text  # above zero: never empty
    assert "*12月号 特集* · finished · 100 recipients" in text
    # The chart: one PNG, uploaded into the issue's thread in the channel.
    # Drawing the chart may take a while on a loaded machine (matplotlib's first import).
    wait_until(lambda: len(harness.slack.files) == uploads_before + 1, timeout=60)
    # Found by what it says, not by counting replies (the save's confirmation is one too).
    harness.wait_reply(EDITOR, "The 48-hour chart is in the issue's thread", timeout=30)
    [chart] = list(harness.slack.files.values())[uploads_before:]
    assert chart.name == f"issue-{issue_id}-48h.png" and chart.channels == [NEWSLETTER_CHANNEL]
    with Image.open(BytesIO(chart.content)) as image:
        assert image.format == "PNG" and image.size == (800, 320)
    progress_ts = _progress_ts(harness, send_id)
    shared = [m for m in harness.slack.channel_messages(NEWSLETTER_CHANNEL) if m.files]
    assert [m.thread_ts for m in shared] == [progress_ts]
    for message in harness.slack.channel_messages(NEWSLETTER_CHANNEL):
        assert not ADDRESS.search(_text_of(message))


def _progress_ts(harness: Harness, send_id: int) -> str:
    with harness.desk.db.sessions() as session:
        send = session.get(Send, send_id)
        assert send is not None and send.progress_ts
        return send.progress_ts


def test_the_day_after_post_lands_once_in_the_issues_thread(harness: Harness):
    issue_id, send_id = _sent_issue(harness, 40, Outcomes(hard_bounce=0.1))
    progress_ts = _progress_ts(harness, send_id)
    harness.clock.advance(timedelta(hours=24, minutes=1))
    assert outcomes.post_day_after_reports(harness.desk) == [send_id]
    assert outcomes.post_day_after_reports(harness.desk) == []
    in_thread = [
        m
        for m in harness.slack.channel_messages(NEWSLETTER_CHANNEL)
        if m.thread_ts == progress_ts and m.ts != progress_ts
    ]
    posts = [m for m in in_thread if "A day after issue" in _text_of(m)]
    assert len(posts) == 1
    assert f"How issue #{issue_id} did" in _text_of(posts[0])
    assert "*4* bounced (4 hard, 0 soft) (10.0 %)" in _text_of(posts[0])
    assert [m for m in in_thread if m.files], "the chart is in the thread too"


def test_a_report_of_an_issue_never_sent_says_so(harness: Harness):
    issue_id = create_issue(harness, harness.editor, "下書き", "本文です。")
    harness.editor.command("/newsletter", f"report {issue_id}")
    harness.wait_reply(EDITOR, f"Issue #{issue_id} has not been sent")
    assert harness.slack.files == {}
