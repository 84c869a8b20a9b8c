"""What Slack gets when a listener or middleware fails: never an HTTP 500.

Bolt answers 500 when a listener raises before it acknowledged; Slack then
shows the person a vague failure ("dispatch_failed", a red modal banner). A
failure is logged here with its traceback and answered in the person's
words instead: under the modal's first field for a submission, as the
command's reply for a slash command, and as an ephemeral message for a click.
Nothing is changed by the answer itself; the services that raised keep their
own transactions.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from slack_bolt import App, BoltResponse, Respond

from bot.desk import Desk
from handlers.access import next_input_block
from handlers.mrkdwn import plain
from handlers.texts import t

log = logging.getLogger(__name__)


def answer(
    error: Exception, body: dict[str, Any], response: BoltResponse | None, respond: Respond
) -> BoltResponse | None:
    """Bolt's error handler: the reply that replaces a 500 (None once acknowledged)."""
    kind = body.get("type") if isinstance(body, dict) else None
    log.error("a Slack request failed (%s)", kind or "unknown", exc_info=error)
    text = t("generic.error", error=type(error).__name__)
    if isinstance(body, dict) and body.get("response_url") and not body.get("command"):
        with contextlib.suppress(Exception):  # a click: tell the clicker, never fail again
            respond(text=text, response_type="ephemeral", replace_original=False)
    if response is None:  # acknowledged already: Slack has its answer
        return None
    if kind == "view_submission":
        first = next_input_block(body)
        if first:
            errors = {"response_action": "errors", "errors": {first: plain(text)}}
            return BoltResponse(
                status=200, body=json.dumps(errors), headers={"content-type": "application/json"}
            )
    if isinstance(body, dict) and body.get("command"):
        return BoltResponse(status=200, body=str(text))  # shown only to the person who typed it
    return BoltResponse(status=200, body="")


def register(app: App, desk: Desk) -> None:
    app.error(answer)
