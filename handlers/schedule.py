"""The schedule's Slack face: `/newsletter schedule` (what is coming, in the
asking user's time zone) and the channel messages of `bot.schedule` and
`bot.scheduler` — reminders, the "missed scheduled send — should it still go
out?" question, and the stalled-send watchdog.

Channel messages show times in TIMEZONE (the team's zone) and never contain
addresses (invariant 9): counts, issue numbers, subjects and Slack mentions.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import schedule
from bot.desk import Desk, Notice
from handlers import blocks
from handlers.mrkdwn import Mrkdwn, mention
from handlers.newsletter import Invocation, refresh_card, subcommand
from handlers.notifier import SlackNotifier, on_notice
from handlers.texts import t

log = logging.getLogger(__name__)


def register(app: App, desk: Desk) -> None:
    """Nothing to add to Bolt: the subcommand and the notice renderers register
    themselves on import; the runner is a background duty (handlers.app)."""


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _mentions(user_ids: list[str]) -> Mrkdwn:
    return Mrkdwn(", ").join(mention(u) for u in user_ids)


def status_text(
    stage: str,
    *,
    issue: int | None,
    subject: str,
    scheduled_at: datetime | None,
    approvers: list[str],
    tz: ZoneInfo,
) -> Mrkdwn:
    """The sentence saying where this month's issue stands."""
    key = f"schedule.status.{stage}"
    if stage == schedule.Stage.AWAITING_APPROVAL and not approvers:
        key = "schedule.status.awaiting_approval_anyone"
    return t(
        key,
        issue=issue,
        subject=subject,
        when=blocks.when(scheduled_at, tz),
        approvers=_mentions(approvers),
    )


def lead_text(days: int, due: datetime, tz: ZoneInfo) -> Mrkdwn:
    key = {0: "schedule.lead.today", 1: "schedule.lead.tomorrow"}.get(days, "schedule.lead.days")
    return t(key, days=days, due=blocks.when(due, tz))


@on_notice("reminder")
def render_reminder(notifier: SlackNotifier, notice: Notice) -> None:
    tz = notifier.settings.tz
    params = notice.params
    due = _parse(params.get("due"))
    assert due is not None
    lead = lead_text(int(params.get("days", 0)), due, tz)
    status = status_text(
        str(params.get("stage", "none")),
        issue=notice.issue_id,
        subject=str(params.get("subject", "")),  # made channel-safe by SlackNotifier
        scheduled_at=_parse(params.get("scheduled_at")),
        approvers=list(params.get("approvers") or []),
        tz=tz,
    )
    notifier.post(Mrkdwn(" ").join([lead, status]), [blocks.section(lead), blocks.section(status)])


@on_notice("schedule.missed")
def render_missed(notifier: SlackNotifier, notice: Notice) -> None:
    if notifier.desk is not None and notice.request_id is not None:
        refresh_card(notifier.desk, notifier.client, notice.request_id)
    text = t(
        "schedule.missed",
        issue=notice.issue_id,
        when=blocks.when(_parse(notice.params.get("scheduled_at")), notifier.settings.tz),
        minutes=notice.params.get("minutes_late", 0),
        grace=notifier.settings.SCHEDULED_SEND_GRACE_MINUTES,
    )
    notifier.post(text, blocks.message(text))


@on_notice("schedule.stalled")
def render_stalled(notifier: SlackNotifier, notice: Notice) -> None:
    text = t(
        "schedule.stalled",
        issue=notice.issue_id,
        minutes=notice.params.get("minutes", 0),
        since=blocks.when(_parse(notice.params.get("since")), notifier.settings.tz),
    )
    notifier.post(text, blocks.message(text))


def user_zone(client: WebClient, user_id: str, fallback: ZoneInfo) -> ZoneInfo:
    """The user's time zone from their Slack profile (users.info `tz`)."""
    try:
        user = client.users_info(user=user_id).get("user") or {}
        return ZoneInfo(str(user.get("tz") or ""))
    except (SlackApiError, ZoneInfoNotFoundError, ValueError):
        return fallback


def outlook_blocks(
    outlook: schedule.Outlook, tz: ZoneInfo, channel: str
) -> tuple[Mrkdwn, list[dict[str, Any]]]:
    lines: list[Mrkdwn] = []
    if outlook.next_due is None:
        lines.append(t("schedule.no_due"))
    else:
        lines.append(t("schedule.next_due", due=blocks.when(outlook.next_due, tz)))
    if outlook.status is not None:
        lines.append(
            status_text(
                outlook.status.stage,
                issue=outlook.status.issue_id,
                subject=outlook.status.subject,
                scheduled_at=outlook.status.scheduled_at,
                approvers=outlook.approvers,
                tz=tz,
            )
        )
    if outlook.reminders:
        dates = ", ".join(blocks.when(s.at, tz) for s in outlook.reminders)
        lines.append(t("schedule.reminders", channel=channel, dates=dates))
    else:
        lines.append(t("schedule.no_reminders"))
    # This month's issue, when scheduled, was named in the status sentence already.
    said = (
        outlook.status.issue_id
        if outlook.status is not None and outlook.status.stage == schedule.Stage.SCHEDULED
        else None
    )
    others = [s for s in outlook.scheduled if s.issue_id != said]
    if others:
        lines += [
            t("schedule.scheduled_send", issue=s.issue_id, when=blocks.when(s.scheduled_at, tz))
            for s in others
        ]
    elif said is None:
        lines.append(t("schedule.no_scheduled"))
    zone = t("schedule.your_zone", tz=str(tz))
    block_list = [
        blocks.header(t("schedule.title")),
        *(blocks.section(line) for line in lines),
        blocks.context(zone),
    ]
    return blocks.lines([t("schedule.title"), *lines]), block_list


@subcommand("schedule")
def schedule_(inv: Invocation) -> None:
    tz = user_zone(inv.client, inv.user, inv.desk.settings.tz)
    text, block_list = outlook_blocks(
        schedule.outlook(inv.desk), tz, inv.desk.settings.NEWSLETTER_CHANNEL
    )
    inv.reply(text, block_list)
