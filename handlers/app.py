"""Building the running bot: the Bolt app with every listener registered,
the desk it serves, and how it is started (Socket Mode or HTTP).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot import delivery, scheduler
from bot.clock import Clock, SystemClock
from bot.desk import Desk, gateway_from
from bot.preflight import readings
from bot.settings import Settings
from handlers import (
    access,
    approval,
    audit_view,
    canary,
    directory,
    drafts,
    failures,
    home,
    imports,
    incident,
    newsletter,
    reports,
    schedule,
    sending,
    subscribers,
    texts,
    unsubscribe,
    webhooks,
)
from handlers.directory import SlackDirectory
from handlers.notifier import SlackNotifier
from handlers.web import WebApp
from storage.db import Database, connect

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Bot:
    desk: Desk
    bolt: App
    client: WebClient
    web: WebApp
    # Background duties (delivery engine, scheduler): (start, stop) pairs.
    background: list[tuple[Callable[[], None], Callable[[], None]]] = field(default_factory=list)

    def start_background(self) -> None:
        for start, _ in self.background:
            start()

    def stop_background(self) -> None:
        for _, stop in reversed(self.background):
            stop()


# Loggers of the Slack libraries write request and reply bodies (addresses,
# message text) at DEBUG. Invariant 9: logs never contain tokens or bodies, so
# they are held at INFO whatever level the operator chooses for the rest.
BODY_LOGGERS = ("slack_sdk", "slack_bolt", "urllib3")
SLACK_RATE_LIMIT_RETRIES = 3


def quiet_body_loggers() -> None:
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def build(settings: Settings, *, db: Database | None = None, clock: Clock | None = None) -> Bot:
    quiet_body_loggers()
    texts.use_language(settings.LANGUAGE)
    # The dictionary preflight reads Japanese names with: missing, the bot does not
    # start (DictionaryMissing), rather than let a name's reading through later.
    readings.tagger()
    client = WebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL)
    # Slack answers 429 with Retry-After when a method's rate limit is reached (a
    # busy channel, a burst of card updates): wait that long and try again, so an
    # approval card or a notice is not lost to a rate limit.
    client.retry_handlers.append(
        RateLimitErrorRetryHandler(max_retry_count=SLACK_RATE_LIMIT_RETRIES)
    )
    notifier = SlackNotifier(client=client, settings=settings)
    desk = Desk(
        settings=settings,
        db=db or connect(settings.DATABASE_URL),
        clock=clock or SystemClock(),
        postmark=gateway_from(settings),
        directory=SlackDirectory(client, settings),
        notifier=notifier,
    )
    notifier.desk = desk
    signing_secret = settings.SLACK_SIGNING_SECRET or "socket-mode-has-no-signing-secret"
    bolt = App(
        client=client,
        signing_secret=signing_secret,
        token_verification_enabled=False,
        process_before_response=False,
        listener_executor=ContextCopyingExecutor(max_workers=5),
        logger=logging.getLogger("slack_bolt"),
    )
    for module in (
        failures,
        access,
        directory,
        newsletter,
        audit_view,
        drafts,
        approval,
        canary,
        home,
        incident,
        reports,
        schedule,
        sending,
        subscribers,
        imports,
        unsubscribe,
        webhooks,
    ):
        module.register(bolt, desk)
    desk.approval_listeners.append(delivery.approval_listener(desk))
    return Bot(
        desk=desk,
        bolt=bolt,
        client=client,
        web=WebApp(desk, bolt, signing_secret),
        background=[
            _warm_personal_data(desk),
            scheduler.background(desk),
            webhooks.push_duty(desk),
            delivery.background(desk),
        ],
    )


class ContextCopyingExecutor(ThreadPoolExecutor):
    """Bolt runs each listener on a worker thread; this one runs it in a copy of
    the submitting thread's context, so the language the access middleware chose
    for the person (`texts.speaking`) is the one their listener answers in."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


def _warm_personal_data(desk: Desk) -> tuple[Callable[[], None], Callable[[], None]]:
    """Build the preflight's personal-data index at start-up, in the background,
    so that the first `/newsletter show` or `submit` does not pay for it; on stop,
    end any worker process still building it."""

    def start() -> None:
        threading.Thread(
            target=lambda: desk.personal_data.get(desk.db), name="warm-preflight", daemon=True
        ).start()

    return start, desk.personal_data.close
