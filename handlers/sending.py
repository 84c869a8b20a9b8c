"""The Slack side of sending: `/newsletter status [ID]`, `/newsletter halt`,
`/newsletter resume ID`, the Halt button, and how the delivery engine's
notices appear in the newsletter channel.

One progress message per send (posted on the first notice, then updated:
sent / total, failed, suppressed, rate, time left, a Halt button), a final
summary, and notices for halts, refused starts and batches whose fate is
unknown. Channel messages carry counts only, never addresses (invariant 9).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, Respond

from bot import approvals, delivery
from bot.desk import Desk, Notice
from handlers import blocks
from handlers.ids import Action, Block
from handlers.mrkdwn import Mrkdwn
from handlers.newsletter import Invocation, refresh_card, reply_with_card_state, subcommand
from handlers.notifier import SlackNotifier, on_notice
from handlers.replies import ephemeral
from handlers.texts import t

log = logging.getLogger(__name__)


_progress_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _reason_text(params: dict[str, Any]) -> Mrkdwn:
    """Why a send halted, for the channel: Postmark's words may quote an address."""
    reason = str(params.get("reason") or "manual")
    return t(f"send.halt_reason.{reason}", detail=blocks.channel_typed(params.get("detail", "")))


def _stage_text(params: dict[str, Any], tz: ZoneInfo | None) -> Mrkdwn | None:
    """The canary's line: what goes first, or when the hold ends (bot.canary)."""
    stage = params.get("stage")
    if stage == "canary":
        return t("send.progress.canary", **params)
    if stage == "hold":
        until = params.get("hold_until") or ""
        if until and tz is not None:
            until = blocks.when(datetime.fromisoformat(until), tz)
        return t("send.progress.hold", **{**params, "until": until})
    return None


def _send_rest_button(params: dict[str, Any]) -> dict[str, Any]:
    """ "Send the rest now": shown to all, allowed to approvers only (bot.canary decides)."""
    return {
        "type": "button",
        "action_id": Action.SEND_REST,
        "text": {"type": "plain_text", "text": t("send.progress.send_rest")},
        "value": str(params.get("send", "")),
        "confirm": blocks.confirm(
            t("send.progress.send_rest"),
            t("send.progress.send_rest_confirm", **params),
            t("send.progress.send_rest"),
            t("send.progress.keep_holding"),
        ),
    }


def progress_blocks(
    params: dict[str, Any], *, final: bool = False, tz: ZoneInfo | None = None
) -> blocks.Blocks:
    """The progress message: a bar, counts, rate, time left, the canary's stage,
    and the Halt (and, during a canary, "Send the rest now") button."""
    issue = params.get("issue", "?")
    bar, percent = blocks.progress_bar(int(params.get("done") or 0), int(params.get("total") or 0))
    out: blocks.Blocks = [
        blocks.header(t("send.progress.title", issue=issue)),
        blocks.section(t("send.progress.bar", bar=bar, percent=percent)),
        blocks.section(t("send.progress.counts", **params)),
    ]
    state = params.get("state")
    if state == "halted":
        # Until the batches on their way have landed, "sent" is not final yet.
        key = (
            "send.progress.state.halted_landing"
            if params.get("in_flight")
            else "send.progress.state.halted"
        )
        out.append(
            blocks.section(
                t(
                    key,
                    reason=_reason_text({"reason": params.get("halt_reason", "").split(":")[0]}),
                    sent=params.get("sent", 0),
                    in_flight=params.get("in_flight", 0),
                    pending=params.get("pending", 0),
                )
            )
        )
    elif state == "finished" or final:
        out.append(blocks.section(t("send.progress.state.finished")))
    else:
        stage_text = _stage_text(params, tz)
        if stage_text:
            out.append(blocks.section(stage_text))
        rate = params.get("rate")
        if params.get("stage") != "hold":
            out.append(
                blocks.context(
                    t("send.progress.rate", rate=rate, eta=_duration(params.get("eta_seconds")))
                    if rate
                    else t("send.progress.rate_unknown")
                )
            )
        elements: list[dict[str, Any]] = [
            {
                "type": "button",
                "action_id": Action.HALT,
                "style": "danger",
                "text": {"type": "plain_text", "text": t("send.progress.halt")},
                "value": str(params.get("send", "")),
            }
        ]
        if stage_text:
            elements.append(_send_rest_button(params))
        out.append({"type": "actions", "block_id": Block.PROGRESS_ACTIONS, "elements": elements})
    return out


def _as_it_is_now(desk: Desk, send_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """A notice's counts were taken when it was raised, and the send may have
    moved on before it is drawn: the engine's progress notice, counted while
    sending, can reach the lock after a person's halt has drawn the halted
    message, and would bring its Halt button back. A notice of another state
    than the send's own now is stale: the send is drawn as it is."""
    current = report_params(desk, send_id)
    if current and current.get("state") != params.get("state"):
        return current
    return params


def show_progress_of(notifier: SlackNotifier, notice: Notice, params: dict[str, Any]) -> None:
    """Post the send's one progress message, or update it."""
    desk = notifier.desk
    assert desk is not None and notice.send_id is not None
    with _progress_locks[notice.send_id]:
        params = _as_it_is_now(desk, notice.send_id, params)
        text = t("send.progress.counts", **params)
        message_blocks = progress_blocks(params, tz=desk.settings.tz)
        channel, ts = delivery.progress_message(desk, notice.send_id)
        if channel and ts:
            notifier.update(channel, ts, text, message_blocks)
            return
        posted = notifier.post(text, message_blocks)
        if posted:
            delivery.set_progress_message(
                desk, notice.send_id, desk.settings.NEWSLETTER_CHANNEL, posted
            )


def report_params(desk: Desk, send_id: int) -> dict[str, Any]:
    reports = delivery.status(desk, send_id=send_id)
    return reports[0].as_params() if reports else {}


@on_notice("send.started")
@on_notice("send.progress")
def show_progress(notifier: SlackNotifier, notice: Notice) -> None:
    assert notifier.desk is not None and notice.send_id is not None
    params = (
        notice.params if "sent" in notice.params else report_params(notifier.desk, notice.send_id)
    )
    show_progress_of(notifier, notice, params)


@on_notice("send.finished")
def show_finished(notifier: SlackNotifier, notice: Notice) -> None:
    show_progress_of(notifier, notice, notice.params)
    text = t("send.summary", **notice.params)
    summary = [blocks.section(text)]
    if notice.params.get("unknown"):
        summary.append(blocks.context(t("send.summary.unknown_hint", **notice.params)))
    notifier.post(text, summary)


@on_notice("send.seed_copies")
def show_seed_copies(notifier: SlackNotifier, notice: Notice) -> None:
    """The team's seed copies went out (counts only, never the addresses)."""
    params = {"issue": notice.issue_id, **notice.params}
    sentences = [t("send.seed_copies", **params)]
    if params.get("skipped"):
        sentences.append(t("send.seed_copies.skipped", **params))
    if params.get("failed"):
        sentences.append(t("send.seed_copies.failed", **params))
    text = blocks.lines(sentences)
    notifier.post(text, blocks.message(text))


@on_notice("send.halted")
def show_halted(notifier: SlackNotifier, notice: Notice) -> None:
    params = dict(notice.params)
    show_progress_of(notifier, notice, params)
    text = t(
        "send.halted",
        issue=notice.issue_id,
        reason_text=_reason_text(params),
        sent=params.get("sent", 0),
        in_flight=params.get("in_flight", 0),
        pending=params.get("pending", 0),
    )
    message = [blocks.section(text)]
    if params.get("reason") == "manual":
        message.append(blocks.context(t("send.halted.by", actor=params.get("actor", ""))))
    notifier.post(text, message)


@on_notice("send.halt_settled")
def show_halt_settled(notifier: SlackNotifier, notice: Notice) -> None:
    """The batches on their way at the halt have landed: the real counts."""
    show_progress_of(notifier, notice, dict(notice.params))
    text = t("send.halt_settled", **notice.params)
    notifier.post(text, blocks.message(text))


@on_notice("send.resumed")
def show_resumed(notifier: SlackNotifier, notice: Notice) -> None:
    assert notifier.desk is not None and notice.send_id is not None
    text = t("send.resumed", issue=notice.issue_id, **notice.params)
    notifier.post(text, blocks.message(text))
    show_progress_of(notifier, notice, report_params(notifier.desk, notice.send_id))


@on_notice("send.refused")
def show_refused(notifier: SlackNotifier, notice: Notice) -> None:
    tz = notifier.settings.tz
    params = {
        k: blocks.when(v, tz) if isinstance(v, datetime) else v
        for k, v in notice.params.items()
        if k != "code"
    }
    text = t(f"send.refused.{notice.params.get('code')}", issue=notice.issue_id, **params)
    notifier.post(text, blocks.message(text))
    if notifier.desk is not None and notice.request_id is not None:
        refresh_card(notifier.desk, notifier.client, notice.request_id)


@on_notice("send.start_failed")
def show_start_failed(notifier: SlackNotifier, notice: Notice) -> None:
    params = {k: blocks.channel_typed(str(v)) for k, v in notice.params.items()}
    text = t("send.start_failed", issue=notice.issue_id, **params)
    notifier.post(text, blocks.message(text))


@on_notice("send.unknown")
def show_unknown(notifier: SlackNotifier, notice: Notice) -> None:
    text = t("send.unknown", issue=notice.issue_id, **notice.params)
    notifier.post(text, blocks.message(text))


# --- commands and the button -------------------------------------------------------------


def _halt_reply(desk: Desk, actor: str) -> Mrkdwn:
    """What the kill switch stopped: sends in progress, approvals not yet
    started, scheduled issues with their times."""
    halted = delivery.halt_all(desk, actor=actor)
    if not halted:
        return t("halt.nothing")
    lines: list[Mrkdwn] = []
    if halted.sends:
        issues = ", ".join(f"#{issue_id}" for _, issue_id in halted.sends)
        lines.append(t("halt.done.sending", count=len(halted.sends), issues=issues))
    if halted.approved:
        issues = ", ".join(f"#{issue_id}" for issue_id in halted.approved)
        lines.append(t("halt.done.approved", count=len(halted.approved), issues=issues))
    if halted.scheduled:
        tz = desk.settings.tz
        items = Mrkdwn(", ").join(
            t("halt.done.scheduled_item", issue=issue_id, when=blocks.when(at, tz))
            for issue_id, at in halted.scheduled
        )
        lines.append(t("halt.done.scheduled", count=len(halted.scheduled), items=items))
    lines.append(t("halt.done.again"))
    return blocks.lines(lines)


@subcommand("halt")
def halt(inv: Invocation) -> None:
    inv.reply(_halt_reply(inv.desk, inv.user))


@subcommand("status")
def status(inv: Invocation) -> None:
    reports = delivery.status(inv.desk, issue_id=inv.parsed.issue_id)
    if not reports:
        inv.reply(t("status.none"))
        return
    lines = []
    for report in reports:
        lines.append(t("status.line", subject=report.subject, **report.as_params()))
        if report.state == "halted":
            lines.append(t("status.halted_by", who=report.halted_by, reason=report.halt_reason))
    inv.reply(lines[0], [blocks.section(blocks.lines(lines))])


@subcommand("resume")
def resume(inv: Invocation) -> None:
    assert inv.parsed.issue_id is not None
    card = approvals.request_resume(inv.desk, inv.parsed.issue_id, actor=inv.user)
    reply_with_card_state(
        inv,
        card,
        t(
            "resume.asked",
            issue=card.issue_id,
            channel=inv.desk.settings.NEWSLETTER_CHANNEL,
            recipients=card.recipients,
        ),
    )


def register(app: App, desk: Desk) -> None:
    @app.action(Action.HALT)
    def halt_button(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        # Anyone on the team may halt (the access middleware checked that).
        ephemeral(respond, _halt_reply(desk, body["user"]["id"]))
