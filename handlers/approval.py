"""The approval card's buttons, the reject modal, and the card's redraws.

Approve: ack at once, then `bot.approvals.approve` decides on the server; a
refusal goes only to the clicker, and changes nothing. The card is redrawn
from the request's state, whatever it is.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import approvals
from bot.desk import Desk, Notice
from bot.refusal import Refusal
from handlers import blocks
from handlers.drafts import field_value
from handlers.ids import Action, Block, Callback
from handlers.mrkdwn import plain
from handlers.newsletter import refresh_card, send_test_copy, show_preview
from handlers.notifier import SlackNotifier, on_notice
from handlers.replies import ephemeral, refusal_text
from handlers.texts import t

log = logging.getLogger(__name__)


def _request_id(body: dict[str, Any]) -> int | None:
    try:
        return int(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        return None


def _metadata_request_id(view: dict[str, Any]) -> int | None:
    """The request id the reject modal carries in `private_metadata` ("id|channel|ts")."""
    first = str(view.get("private_metadata") or "").split("|")[0]
    return int(first) if first.isascii() and first.isdigit() and len(first) <= 12 else None


def _explain(respond: Respond, exc: Refusal) -> None:
    text = refusal_text(exc)
    ephemeral(respond, text)


def register(app: App, desk: Desk) -> None:
    @app.action(Action.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        request_id = _request_id(body)
        if request_id is None:
            ephemeral(respond, t("refusal.request_not_found"))
            return
        try:
            approvals.approve(desk, request_id, actor=body["user"]["id"])
        except Refusal as exc:
            _explain(respond, exc)
            return
        refresh_card(desk, client, request_id)

    def clicked_card(body: dict[str, Any], respond: Respond) -> approvals.Card | None:
        """The card whose button was clicked; None, the clicker told why, when none."""
        request_id = _request_id(body)
        if request_id is None:
            ephemeral(respond, t("refusal.request_not_found"))
            return None
        try:
            return approvals.card(desk, request_id)
        except Refusal as exc:
            _explain(respond, exc)
            return None

    @app.action(Action.PREVIEW)
    def preview(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        """The same preview as `/newsletter show`, to whoever clicks (the team)."""
        ack()
        card = clicked_card(body, respond)
        if card is None:
            return
        channel = str((body.get("container") or {}).get("channel_id") or "")
        try:
            show_preview(desk, client, channel, body["user"]["id"], card.issue_id)
        except Refusal as exc:
            _explain(respond, exc)

    @app.action(Action.TEST_COPY)
    def test_copy(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        """A [TEST] copy to the clicker's own address, with the clicker's own name."""
        ack()
        card = clicked_card(body, respond)
        if card is None:
            return
        try:
            ephemeral(respond, send_test_copy(desk, body["user"]["id"], card.issue_id))
        except Refusal as exc:
            _explain(respond, exc)

    @app.action(Action.REJECT)
    def reject(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        request_id = _request_id(body)
        if request_id is None:
            ephemeral(respond, t("refusal.request_not_found"))
            return
        try:
            if not desk.directory.is_approver(body["user"]["id"]):
                raise Refusal("not_an_approver")
            card = approvals.card(desk, request_id)
        except Refusal as exc:
            _explain(respond, exc)
            return
        container = body.get("container") or {}
        client.views_open(
            trigger_id=body["trigger_id"],
            view=blocks.reject_modal(
                request_id=request_id,
                issue_id=card.issue_id,
                channel=str(container.get("channel_id", "")),
                ts=str(container.get("message_ts", "")),
            ),
        )

    @app.view(Callback.REJECT)
    def reject_reason(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        reason = field_value(view, Block.REASON).strip()
        request_id = _metadata_request_id(view)
        if request_id is None:  # not a view this bot opened: refuse, change nothing
            text = t("refusal.request_not_found")
            ack(response_action="errors", errors={Block.REASON: plain(text)})
            return
        try:
            approvals.reject(desk, request_id, actor=body["user"]["id"], reason=reason)
        except Refusal as exc:
            text = refusal_text(exc)
            ack(response_action="errors", errors={Block.REASON: plain(text)})
            return
        ack()
        refresh_card(desk, client, request_id)


@on_notice("approval.voided")
@on_notice("approval.expired")
def redraw_card(notifier: SlackNotifier, notice: Notice) -> None:
    assert notifier.desk is not None and notice.request_id is not None
    refresh_card(notifier.desk, notifier.client, notice.request_id)
    if notice.kind == "approval.voided":
        reason = notice.params.get("reason", "")
        reason_text = (
            t(f"card.void.{reason}")
            if reason in blocks.VOID_NOTES
            else blocks.channel_typed(str(reason))
        )
        text = t("notice.approval.voided", issue=notice.issue_id, reason_text=reason_text)
    elif notice.params.get("approved"):
        text = t("notice.approval.expired_unstarted", issue=notice.issue_id)
    else:
        text = t("notice.approval.expired", issue=notice.issue_id)
    notifier.post(text, blocks.message(text))
