"""`SlackNotifier` implements `bot.desk.Notifier`: it turns the desk's
`Notice`s into channel messages and card updates.

Each notice kind has one renderer, registered with `@on_notice(kind)` in the
module that owns that part of the front end (approvals here and in
`handlers.approval`, sends in `handlers.sending`, …). A failure to reach
Slack is logged and never breaks the service that raised the notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk import Desk, Notice
from bot.settings import Settings
from handlers import texts

log = logging.getLogger(__name__)

Renderer = Callable[["SlackNotifier", Notice], None]
RENDERERS: dict[str, Renderer] = {}


def on_notice(kind: str) -> Callable[[Renderer], Renderer]:
    def register(func: Renderer) -> Renderer:
        RENDERERS[kind] = func
        return func

    return register


@dataclass
class SlackNotifier:
    client: WebClient
    settings: Settings
    desk: Desk | None = None  # set once the desk exists (they refer to each other)

    def notify(self, notice: Notice) -> None:
        renderer = RENDERERS.get(notice.kind)
        if renderer is None:
            log.warning("no renderer for notice %s", notice.kind)
            return
        try:
            with texts.speaking(None):  # the channel reads the team's language
                renderer(self, notice)
        except SlackApiError as exc:
            log.warning("could not tell Slack about %s: %s", notice.kind, exc.response.get("error"))
        except Exception:
            log.exception("notice %s failed", notice.kind)

    def post(self, text: str, blocks: list[dict[str, Any]]) -> str | None:
        """Post in the newsletter channel; return the message ts."""
        if not self.settings.NEWSLETTER_CHANNEL:
            log.warning("NEWSLETTER_CHANNEL is not set; a notice was not posted")
            return None
        reply = self.client.chat_postMessage(
            channel=self.settings.NEWSLETTER_CHANNEL, text=text, blocks=blocks
        )
        return str(reply["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
