"""The canary in Slack: "Send the rest now", and how the canary's stages and
its halts appear in the newsletter channel (bot.canary decides them).

The progress message shows the canary and the hold (`handlers.sending`);
here are the button's listener — anyone may press it, only an approver's
press sends the rest (checked on the server, `bot.canary.release_now`) — and
the notices: the hold began, the rest goes (the hold was over, or an
approver sent it), and the reasons a canary halts its send. Counts only,
never addresses (invariant 9).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond

from bot import canary
from bot.desk import Desk, Notice
from bot.refusal import Refusal
from handlers import blocks
from handlers.ids import Action
from handlers.notifier import SlackNotifier, on_notice
from handlers.replies import ephemeral, refusal_text
from handlers.sending import report_params, show_progress_of
from handlers.texts import t


@on_notice("send.canary_hold")
def show_hold(notifier: SlackNotifier, notice: Notice) -> None:
    desk = notifier.desk
    assert desk is not None and notice.send_id is not None
    params = report_params(desk, notice.send_id)
    show_progress_of(notifier, notice, params)
    until = params.get("hold_until") or notice.params.get("until", "")
    text = t(
        "canary.hold",
        issue=notice.issue_id,
        canary=notice.params.get("canary", 0),
        until=_when(desk, until),
        bounces=f"{desk.settings.CANARY_MAX_BOUNCE_PERCENT:g}",
        complaints=f"{desk.settings.CANARY_MAX_COMPLAINT_PERCENT:g}",
    )
    notifier.post(text, blocks.message(text))


@on_notice("send.canary_released")
def show_released(notifier: SlackNotifier, notice: Notice) -> None:
    desk = notifier.desk
    assert desk is not None and notice.send_id is not None
    show_progress_of(notifier, notice, report_params(desk, notice.send_id))
    why = "by_hand" if notice.params.get("why") == "by_hand" else "hold_over"
    text = t(f"canary.released.{why}", issue=notice.issue_id, **notice.params)
    notifier.post(text, blocks.message(text))


def _when(desk: Desk, iso: str) -> str:
    try:
        return blocks.when(datetime.fromisoformat(iso), desk.settings.tz)
    except ValueError:
        return iso


def _send_id(body: dict[str, Any]) -> int | None:
    try:
        return int(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        return None


def register(app: App, desk: Desk) -> None:
    @app.action(Action.SEND_REST)
    def send_rest(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        send_id = _send_id(body)
        if send_id is None:
            ephemeral(respond, t("refusal.no_canary_hold"))
            return
        try:
            canary.release_now(desk, send_id, actor=body["user"]["id"])
        except Refusal as exc:
            text = refusal_text(exc)
            ephemeral(respond, text)
