"""`SlackNotifier` implements `bot.desk.Notifier`: it turns the desk's
`Notice`s into channel messages and card updates.

Each notice kind has one renderer, registered with `@on_notice(kind)` in the
module that owns that part of the front end (approvals here and in
`handlers.approval`, sends in `handlers.sending`, …). `deliver` raises
`NotDelivered` when Slack did not take a notice (bot.outbox keeps it and
tries again); `notify` logs that instead. Neither breaks the service that
raised the notice.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.desk import Desk, Notice
from bot.outbox import NotDelivered
from bot.settings import Settings
from handlers import texts
from handlers.blocks import channel_typed, for_the_channel
from handlers.mrkdwn import Mrkdwn

log = logging.getLogger(__name__)

# Parameters that are machine values (hashes, times, Postmark tags and batch ids):
# kept as they are while they look like one; a phone pattern could hit a hash.
MACHINE_VALUE = re.compile(r"^[\w:+.\-]{0,64}$")
MACHINE_PARAMS = frozenset({"now", "approved", "due", "since", "scheduled_at", "tag", "batch"})

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
        try:
            self.deliver(notice)
        except NotDelivered as exc:
            log.warning("could not tell Slack about %s: %s", notice.kind, exc)
        except Exception:
            log.exception("notice %s failed", notice.kind)

    def deliver(self, notice: Notice) -> None:
        """Render and post the notice; NotDelivered when Slack did not take it
        (the outbox tries again later)."""
        renderer = RENDERERS.get(notice.kind)
        if renderer is None:
            log.warning("no renderer for notice %s", notice.kind)
            return
        try:
            with texts.speaking(None):  # the channel reads the team's language
                renderer(self, channel_safe(notice))
        except SlackApiError as exc:
            raise NotDelivered(str(exc.response.get("error"))) from None
        except (OSError, SlackClientError) as exc:  # Slack unreachable, a timeout
            raise NotDelivered(type(exc).__name__) from None

    def post(
        self,
        text: Mrkdwn,
        blocks: list[dict[str, Any]],
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> str | None:
        """Post in the newsletter channel (or `channel`, in the thread `thread_ts`
        if given); return the message ts."""
        channel = channel or self.settings.NEWSLETTER_CHANNEL
        if not channel:
            log.warning("NEWSLETTER_CHANNEL is not set; a notice was not posted")
            return None
        text, blocks = for_the_channel(text, blocks)
        message: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks}
        if thread_ts:
            message["thread_ts"] = thread_ts
        reply = self.client.chat_postMessage(**message)
        return str(reply["ts"])

    def update(self, channel: str, ts: str, text: Mrkdwn, blocks: list[dict[str, Any]]) -> None:
        text, blocks = for_the_channel(text, blocks)
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)


def channel_safe(notice: Notice) -> Notice:
    """The notice with its text parameters fit for the channel: a notice's params
    should hold no personal data (bot.desk.Notice), but some quote other systems
    (Postmark's error messages) or what people typed (subjects), so every text
    parameter loses addresses and phone numbers here, whichever renderer runs."""

    def safe(name: str, value: object) -> object:
        if not isinstance(value, str):
            return value
        if name in MACHINE_PARAMS and MACHINE_VALUE.match(value):
            return value
        return channel_typed(value)

    params = {name: safe(name, value) for name, value in notice.params.items()}
    return dataclasses.replace(notice, params=params)
