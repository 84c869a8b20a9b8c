"""Postmark's webhooks and the suppression push duty, wired into the bot.

`register()` puts `bot.webhooks.handle` behind `POST /postmark/webhook`
(basic auth is checked in `handlers.web` first). `push_duty(desk)` is the
background duty (a `Bot.background` entry) that keeps retrying suppressions
Postmark has not taken yet (`bot.suppressions.PushDuty`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App

from bot import suppressions, webhooks
from bot.desk import Desk
from handlers import web

log = logging.getLogger(__name__)


def handle(desk: Desk, payload: Any) -> tuple[int, dict[str, Any]]:
    try:
        return webhooks.handle(desk, payload)
    except Exception as exc:
        # Postmark retries a webhook that was not answered with 2xx.
        log.exception("Postmark webhook processing failed")
        return 500, {"error": type(exc).__name__}


def register(app: App, desk: Desk) -> None:
    if handle not in web.webhook_handlers:
        web.webhook_handlers.insert(0, handle)


def push_duty(desk: Desk) -> tuple[Callable[[], None], Callable[[], None]]:
    """(start, stop) of the duty that pushes pending suppressions to Postmark."""
    duty = suppressions.PushDuty(desk)
    return duty.start, duty.stop
