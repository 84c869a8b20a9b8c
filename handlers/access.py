"""Who may use the bot: a global Bolt middleware checks TEAM on every
command, click, submission and event — on the server, never by hiding
buttons. Others get a polite refusal only they can see.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse, Respond

from bot.desk import Desk, DirectoryError
from handlers import blocks, texts
from handlers.ids import Block
from handlers.mrkdwn import plain
from handlers.replies import refusal_text
from handlers.texts import t

log = logging.getLogger(__name__)


def register(app: App, desk: Desk) -> None:
    @app.middleware
    def team_only(
        body: dict[str, Any], context: BoltContext, respond: Respond, next: Callable[[], Any]
    ) -> BoltResponse | None:
        user = context.user_id
        # Everything answered to this person is in their own Slack language.
        texts.answer_request_in(
            texts.language_of_locale(desk.directory.locale_of(user)) if user else None
        )
        if user is None:
            return next()  # e.g. url_verification, events without a user
        try:
            allowed = desk.directory.is_team_member(user)
            text = t("access.not_team")
        except DirectoryError as exc:
            allowed, text = False, refusal_text(exc)
        if allowed:
            return next()
        log.info("refused a request from a user outside the team")
        # A middleware that stops the chain answers Slack itself.
        kind = body.get("type")
        if kind == "view_submission":
            first = next_input_block(body) or Block.SUBJECT
            errors = {"response_action": "errors", "errors": {first: plain(text)}}
            return BoltResponse(
                status=200, body=json.dumps(errors), headers={"content-type": "application/json"}
            )
        if kind == "block_actions" and body.get("response_url"):
            respond(
                text=text,
                blocks=blocks.message(text),
                response_type="ephemeral",
                replace_original=False,
            )
        if body.get("command"):
            return BoltResponse(status=200, body=text)  # shown only to the person who typed it
        return BoltResponse(status=200, body="")


def next_input_block(body: dict[str, Any]) -> str | None:
    for block in (body.get("view") or {}).get("blocks", []):
        if block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return None
