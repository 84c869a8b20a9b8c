"""Who may use the bot: a global Bolt middleware checks TEAM on every
command, click, submission and event — on the server, never by hiding
buttons. Others get a polite refusal only they can see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.desk import Desk, DirectoryError
from handlers import blocks
from handlers.ids import Block
from handlers.texts import t

log = logging.getLogger(__name__)


def refusal_text(error: DirectoryError) -> str:
    if error.code == "plan_upgrade_required":
        return t("access.directory_plan")
    return t("access.directory_error", error=error.params.get("error", "unknown_error"))


def register(app: App, desk: Desk) -> None:
    @app.middleware
    def team_only(
        body: dict[str, Any],
        context: BoltContext,
        ack: Ack,
        respond: Respond,
        next: Callable[[], Any],
    ) -> Any:
        user = context.user_id
        if user is None:
            return next()  # e.g. url_verification, events without a user
        try:
            allowed = desk.directory.is_team_member(user)
            text = t("access.not_team")
        except DirectoryError as exc:
            allowed, text = False, refusal_text(exc)
        if allowed:
            return next()
        log.info("refused %s from a user outside the team", body.get("type") or body.get("command"))
        kind = body.get("type")
        if kind == "view_submission":
            first = next_input_block(body) or Block.SUBJECT
            ack(response_action="errors", errors={first: text})
        elif kind == "event_callback":
            return None  # app_home_opened and friends: nothing to show an outsider
        else:
            ack()
            if body.get("response_url"):
                respond(
                    text=text,
                    blocks=blocks.message(text),
                    response_type="ephemeral",
                    replace_original=False,
                )
        return None


def next_input_block(body: dict[str, Any]) -> str | None:
    for block in (body.get("view") or {}).get("blocks", []):
        if block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return None
