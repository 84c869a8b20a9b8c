"""How each issue did: `/newsletter report ID`, the day-after post in the
issue's thread, and the report's Block Kit.

The report (`bot.outcomes.figures`): sent, delivered, bounced (hard and
soft), spam complaints, unsubscribes, failed, suppressed — each with a bar
drawn in Block Kit (a monospaced run of blocks, its length the figure's
share) — and a chart of bounces and unsubscribes over the first 48 hours
(`bot.report_chart`), uploaded with `files_upload_v2` into the issue's
thread (the send's progress message) in the newsletter channel. Counts
only, never an address (invariant 9), so the channel may see all of it; the
command's reply itself is ephemeral.

Opens and clicks are not shown: every broadcast is sent with open and link
tracking off (`bot.postmark`), so there are none to count.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import delivery, outcomes, report_chart
from bot.desk import Desk, Notice
from bot.outcomes import Figures
from bot.refusal import Refusal
from handlers import blocks, texts
from handlers.mrkdwn import Mrkdwn
from handlers.newsletter import Invocation, subcommand
from handlers.notifier import SlackNotifier, on_notice
from handlers.texts import state_name, t

log = logging.getLogger(__name__)

BAR_CELLS = 20


def _bar(value: int, base: int) -> str:
    filled = round(BAR_CELLS * value / base) if base > 0 else 0
    if value > 0:
        filled = max(1, filled)  # a figure above zero never looks like zero
    filled = min(BAR_CELLS, filled)
    return "█" * filled + "·" * (BAR_CELLS - filled)


def _share(value: int, base: int) -> str:
    return f"{100 * value / base:.1f}" if base > 0 else "0.0"


def _line(label: str, value: int, base: int) -> Mrkdwn:
    return t(
        "report.line", bar=_bar(value, base), value=value, label=label, share=_share(value, base)
    )


def report_blocks(figures: Figures, *, in_channel: bool = False) -> blocks.Blocks:
    """The report: a header, the subject line, one bar per figure, the bases.
    `in_channel`: the subject without addresses and phone numbers (invariant 9)."""
    f = figures
    subject = blocks.channel_typed(f.subject) if in_channel else f.subject
    of_total = [
        (t("report.label.sent"), f.sent),
        (t("report.label.failed"), f.failed),
        (t("report.label.suppressed"), f.suppressed),
    ]
    if f.unknown:
        of_total.append((t("report.label.unknown"), f.unknown))
    if f.remaining:
        of_total.append((t("report.label.remaining"), f.remaining))
    of_sent = [
        (t("report.label.delivered"), f.delivered),
        (t("report.label.bounced", hard=f.hard_bounces, soft=f.soft_bounces), f.bounced),
        (t("report.label.complaints"), f.complaints),
        (t("report.label.unsubscribes"), f.unsubscribes),
    ]
    lines = [_line(label, value, f.total) for label, value in of_total]
    lines += [_line(label, value, f.sent) for label, value in of_sent]
    return [
        blocks.header(t("report.title", issue=f.issue_id)),
        blocks.section(
            t("report.subject", subject=subject, state=state_name(f.state), total=f.total)
        ),
        # One section per figure: each bar is one whole sentence of the catalogue.
        *(blocks.section(line) for line in lines),
        blocks.context(t("report.bases", total=f.total, sent=f.sent)),
    ]


def _latest(desk: Desk, issue_id: int) -> Figures | None:
    found = outcomes.figures(desk, issue_id=issue_id)
    return found[0] if found else None


def upload_chart(desk: Desk, client: WebClient, figures: Figures) -> str | None:
    """Draw the 48-hour chart and upload it into the issue's thread; None when done,
    else the error Slack (or the drawing) gave."""
    timeline = outcomes.timeline(desk, figures.send_id)
    if timeline is None:
        return "not started"
    labels = report_chart.ChartLabels(
        title=t("report.chart.title", issue=figures.issue_id),
        hours=t("report.chart.hours"),
        count=t("report.chart.count"),
        bounces=t("report.chart.bounces"),
        unsubscribes=t("report.chart.unsubscribes"),
    )
    png = report_chart.draw(timeline, labels)
    channel, ts = delivery.progress_message(desk, figures.send_id)
    upload: dict[str, Any] = {
        "channel": channel or desk.settings.NEWSLETTER_CHANNEL,
        "content": png,
        "filename": f"issue-{figures.issue_id}-48h.png",
        "title": t("report.chart.title", issue=figures.issue_id),
        "initial_comment": t("report.chart.comment", issue=figures.issue_id),
    }
    if ts:
        upload["thread_ts"] = ts
    try:
        client.files_upload_v2(**upload)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "error")
        log.warning("the report chart of send %s was not uploaded: %s", figures.send_id, error)
        return error
    return None


@subcommand("report")
def report(inv: Invocation) -> None:
    assert inv.parsed.issue_id is not None
    figures = _latest(inv.desk, inv.parsed.issue_id)
    if figures is None:
        raise Refusal("report_not_sent", issue=inv.parsed.issue_id)
    # The figures at once; the chart (drawing and uploading take a moment) after.
    inv.reply(t("report.title", issue=figures.issue_id), report_blocks(figures))
    with texts.speaking(None):  # the chart goes to the channel: the team's language
        error = upload_chart(inv.desk, inv.client, figures)
    inv.reply(
        t("report.chart.failed", error=error)
        if error
        else t("report.chart.posted", channel=inv.desk.settings.NEWSLETTER_CHANNEL)
    )


@on_notice("report.day_after")
def post_day_after(notifier: SlackNotifier, notice: Notice) -> None:
    """The report in the issue's thread, a day after its send finished."""
    desk = notifier.desk
    assert desk is not None and notice.send_id is not None
    found = outcomes.figures(desk, send_id=notice.send_id)
    if not found:
        return
    figures = found[0]
    intro = t("report.day_after", issue=figures.issue_id)
    channel, ts = delivery.progress_message(desk, figures.send_id)
    # Through the notifier, like every channel post: its last look for addresses.
    notifier.post(
        intro,
        [blocks.section(intro), *report_blocks(figures, in_channel=True)],
        channel=channel,
        thread_ts=ts,
    )
    upload_chart(desk, notifier.client, figures)


def register(app: Any, desk: Desk) -> None:
    """Nothing to wire: the subcommand and the notice register themselves on import."""
