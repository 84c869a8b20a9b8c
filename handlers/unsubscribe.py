"""`/unsubscribe`: the Slack face of `bot.unsubscribe`.

- `/unsubscribe EMAIL [list:NAME] [note]` processes a request at once;
- `/unsubscribe` alone opens a modal (callback `unsubscribe`): the address,
  the reader's name and company as they gave them (optional, internal), an
  internal note, and "send a confirmation to this address".

Every reply goes to the operator alone: the command's `respond` as an
ephemeral message; after the modal, an ephemeral message in the channel the
command was typed in (or, if the bot cannot post there, a direct message).
Nothing about an unsubscribe is posted in a channel (invariant 9), and the
typed name, company and note are never echoed nor put into any email.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import unsubscribe
from bot.desk import Desk
from bot.refusal import Refusal
from handlers import blocks
from handlers.drafts import field_value
from handlers.ids import Action, Block, Callback, Command
from handlers.mrkdwn import Mrkdwn, plain
from handlers.replies import ephemeral, refusal_text
from handlers.texts import t

log = logging.getLogger(__name__)

CONFIRM_OPTION = "confirm"
LIST_PREFIX = "list:"


def parse_command(text: str) -> unsubscribe.Request | None:
    """`EMAIL [list:NAME] [note…]` → a Request; empty text → None (open the modal)."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return None
    email, rest = words[0], (words[1] if len(words) > 1 else "")
    list_name: str | None = None
    if rest.lower().startswith(LIST_PREFIX):
        first, _, rest = rest.partition(" ")
        list_name = first[len(LIST_PREFIX) :] or None
    return unsubscribe.Request(email=email, note=rest.strip(), list_name=list_name)


def outcome_text(outcome: unsubscribe.Outcome) -> Mrkdwn:
    """The operator's reply: whole sentences, one after the other."""
    rec = outcome.recorded
    address = rec.email
    if not rec.newly_suppressed and rec.unsubscribed_now == 0:
        first = t("unsubscribe.already", address=address)
    elif rec.subscriptions == 0:
        key = "unsubscribe.not_on_list" if rec.scope == "*" else "unsubscribe.not_on_named_list"
        first = t(key, address=address, list_name=rec.scope)
    elif rec.scope == "*":
        first = t("unsubscribe.done_all", address=address, count=rec.unsubscribed_now)
    else:
        first = t("unsubscribe.done_list", address=address, list_name=rec.scope)
    sentences = [first, t(f"unsubscribe.push_{outcome.push_state}")]
    sentences.append(
        t(
            f"unsubscribe.confirmation_{outcome.confirmation}"
            if outcome.confirmation != unsubscribe.ConfirmationState.NOT_REQUESTED
            else "unsubscribe.confirmation_none",
            address=address,
            error=outcome.confirmation_error,
        )
    )
    return Mrkdwn(" ").join(sentences)


def modal(channel: str) -> dict[str, Any]:
    def text_input(block_id: str, label: str, *, optional: bool, **element: Any) -> dict[str, Any]:
        block: dict[str, Any] = {
            "type": "input",
            "block_id": block_id,
            "optional": optional,
            "label": {"type": "plain_text", "text": t(label)},
            "element": {"type": "plain_text_input", "action_id": Action.VALUE, **element},
        }
        return block

    name = text_input(Block.NAME, "unsubscribe.name_label", optional=True, max_length=200)
    name["hint"] = {"type": "plain_text", "text": t("unsubscribe.internal_hint")}
    company = text_input(Block.COMPANY, "unsubscribe.company_label", optional=True, max_length=200)
    company["hint"] = {"type": "plain_text", "text": t("unsubscribe.internal_hint")}
    return {
        "type": "modal",
        "callback_id": Callback.UNSUBSCRIBE,
        "private_metadata": channel,
        "title": {"type": "plain_text", "text": t("unsubscribe.title")[:24]},
        "submit": {"type": "plain_text", "text": t("unsubscribe.submit")},
        "close": {"type": "plain_text", "text": t("draft.cancel")},
        "blocks": [
            text_input(Block.EMAIL, "unsubscribe.email_label", optional=False, max_length=254),
            name,
            company,
            text_input(
                Block.NOTE, "unsubscribe.note_label", optional=True, multiline=True, max_length=2000
            ),
            {
                "type": "input",
                "block_id": Block.CONFIRM,
                "optional": True,
                "label": {"type": "plain_text", "text": t("unsubscribe.confirm_label")},
                "hint": {"type": "plain_text", "text": t("unsubscribe.confirm_hint")},
                "element": {
                    "type": "checkboxes",
                    "action_id": Action.VALUE,
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": t("unsubscribe.confirm_option")},
                            "value": CONFIRM_OPTION,
                        }
                    ],
                },
            },
        ],
    }


def _confirm_ticked(view: dict[str, Any]) -> bool:
    state = view.get("state", {}).get("values", {})
    chosen = ((state.get(Block.CONFIRM) or {}).get(Action.VALUE) or {}).get("selected_options")
    return any(o.get("value") == CONFIRM_OPTION for o in chosen or [])


def tell_operator(client: WebClient, user: str, channel: str, text: Mrkdwn) -> None:
    """An ephemeral message to `user` alone; a DM when the channel will not do."""
    if channel:
        try:
            client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=blocks.message(text)
            )
            return
        except SlackApiError as exc:
            log.info("ephemeral reply not possible (%s); sending a DM", exc.response.get("error"))
    client.chat_postMessage(channel=user, text=text, blocks=blocks.message(text))


def register(app: App, desk: Desk) -> None:
    @app.command(Command.UNSUBSCRIBE)
    def command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()  # an empty ack: Slack shows nothing, not even the typed command
        user = command["user_id"]
        request = parse_command(command.get("text", ""))
        if request is None:
            client.views_open(
                trigger_id=command["trigger_id"], view=modal(command.get("channel_id", ""))
            )
            return
        try:
            outcome = unsubscribe.process(desk, request, actor=user)
        except Refusal as refusal:
            ephemeral(respond, refusal_text(refusal))
            return
        except Exception as exc:
            log.exception("/unsubscribe failed")
            ephemeral(respond, t("unsubscribe.failed", error=type(exc).__name__))
            return
        ephemeral(respond, outcome_text(outcome))

    @app.view(Callback.UNSUBSCRIBE)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        request = unsubscribe.Request(
            email=field_value(view, Block.EMAIL),
            name=field_value(view, Block.NAME),
            company=field_value(view, Block.COMPANY),
            note=field_value(view, Block.NOTE),
            confirm=_confirm_ticked(view),
        )
        # The local part runs before the ack: an invalid address is answered
        # under the field, and when the modal closes the suppression holds.
        try:
            recorded = unsubscribe.record(desk, request, actor=user)
        except Refusal as refusal:
            ack(response_action="errors", errors={Block.EMAIL: plain(refusal_text(refusal))})
            return
        ack()
        channel = str(view.get("private_metadata") or "")
        try:
            outcome = unsubscribe.complete(desk, recorded, actor=user)
            text = outcome_text(outcome)
        except Exception as exc:
            log.exception("unsubscribe modal: completing the request failed")
            text = t("unsubscribe.failed", error=type(exc).__name__)
        tell_operator(client, user, channel, text)
