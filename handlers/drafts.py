"""The draft modal's submission: save a new issue or a new version.

Problems with the template are answered inside the modal
(`response_action: errors`) under the field they concern, so the author
fixes them where they typed; nothing is saved then. Saving is quick, so it
happens before the ack, as Slack requires for modal errors.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import issues
from bot.desk import Desk
from bot.refusal import Refusal
from bot.rendering import TemplateProblem
from handlers import blocks
from handlers.ids import Action, Block, Callback
from handlers.mrkdwn import plain
from handlers.replies import refusal_text
from handlers.texts import t

log = logging.getLogger(__name__)


def field_value(view: dict[str, Any], block_id: str) -> str:
    state = view.get("state", {}).get("values", {})
    value = (state.get(block_id) or {}).get(Action.VALUE) or {}
    return str(value.get("value") or "")


def register(app: App, desk: Desk) -> None:
    @app.view(Callback.DRAFT)
    def save_draft(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        subject = field_value(view, Block.SUBJECT)
        text = field_value(view, Block.BODY)
        raw_id = str(view.get("private_metadata") or "").strip()
        number = raw_id.removeprefix(blocks.CORRECTION_PREFIX)
        if raw_id and not (number.isascii() and number.isdigit() and len(number) <= 12):
            # Not a modal this bot opened (it writes an issue number, a correction's, or nothing).
            ack(
                response_action="errors",
                errors={Block.SUBJECT: plain(t("draft.no_such_issue", issue=raw_id[:20]))},
            )
            return
        try:
            if raw_id.startswith(blocks.CORRECTION_PREFIX):
                saved = issues.create(
                    desk,
                    actor=user,
                    subject=subject,
                    body=text,
                    correction=int(raw_id[len(blocks.CORRECTION_PREFIX) :]),
                )
            elif raw_id:
                saved = issues.save_version(
                    desk, int(raw_id), actor=user, subject=subject, body=text
                )
            else:
                saved = issues.create(desk, actor=user, subject=subject, body=text)
        except TemplateProblem as problem:
            block = Block.SUBJECT if problem.field == "subject" else Block.BODY
            ack(
                response_action="errors",
                errors={block: plain(t("template.problem", problem=str(problem)))},
            )
            return
        except (Refusal, ValueError) as exc:
            message = (
                refusal_text(exc) if isinstance(exc, Refusal) else t("generic.error", error="id")
            )
            ack(response_action="errors", errors={Block.SUBJECT: plain(message)})
            return
        ack()
        key = "draft.edit_voided" if saved.voided_request_ids else "draft.saved"
        text_out = t(
            key, issue=saved.issue_id, version=saved.version_number, hash12=saved.content_hash[:12]
        )
        # The confirmation goes to the author alone (a DM from the bot).
        client.chat_postMessage(channel=user, text=text_out)
