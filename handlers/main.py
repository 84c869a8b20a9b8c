"""`countersign run`: start the bot for real.

Socket Mode when SLACK_APP_TOKEN is set (no public URL needed); otherwise HTTP
on PORT, served by waitress: Slack at /slack/events, Postmark's webhook at
/postmark/webhook, health at /healthz. Background duties (the delivery engine,
the scheduler) are started by `Bot.start_background()` hooks.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from bot.postmark import PostmarkError, PostmarkGateway
from bot.preflight.readings import DictionaryMissing
from bot.settings import Settings
from bot.stopping import stop_on_signals
from handlers.app import Bot, build
from storage import migrate

log = logging.getLogger(__name__)


def run(settings: Settings) -> int:
    settings.require(
        "SLACK_BOT_TOKEN",
        "APPROVERS",
        "NEWSLETTER_CHANNEL",
        "NEWSLETTER_FROM",
        "POSTMARK_SERVER_TOKEN",
    )
    if not settings.SLACK_APP_TOKEN:
        settings.require("SLACK_SIGNING_SECRET")
    try:
        bot = build(settings)
    except DictionaryMissing as exc:
        print(f"countersign run: {exc}", file=sys.stderr, flush=True)
        return 1
    migrate.upgrade(bot.desk.db.engine)
    say_pipe_problems(bot.desk.postmark)
    bot.start_background()
    try:
        if settings.SLACK_APP_TOKEN:
            return _socket_mode(bot, settings)
        return _http(bot, settings)
    finally:
        bot.stop_background()


def say_pipe_problems(gateway: PostmarkGateway, out: TextIO | None = None) -> bool:
    """At start-up: whether the two Postmark streams are what they must be; what
    to fix if not (the bot runs on: every send's start checks again and is
    refused until it is fixed). True when all is well."""
    out = out or sys.stderr
    try:
        problems = gateway.pipe_problems()
    except PostmarkError as exc:
        print(
            f"Could not check the Postmark message streams ({type(exc).__name__}); each send "
            "checks them again before it starts. `countersign check` tells more.",
            file=out,
            flush=True,
        )
        return False
    for problem in problems:
        print(f"Postmark is not set up for sending: {problem.sentence()}", file=out, flush=True)
        log.warning("Postmark stream problem: %s", problem.sentence())
    if problems:
        print("No send will start until this is fixed.", file=out, flush=True)
    return not problems


def _socket_mode(bot: Bot, settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(bot.bolt, settings.SLACK_APP_TOKEN)
    stop = stop_on_signals()
    handler.connect()  # its own threads; the main thread waits for a stop signal
    print("Countersign is connected to Slack in Socket Mode. Stop with Ctrl-C.", flush=True)
    stop.wait()
    handler.close()
    return 0


def _http(bot: Bot, settings: Settings) -> int:
    from handlers.web import Server

    server = Server(bot.web, host="0.0.0.0", port=settings.PORT)  # noqa: S104 - a server listens
    stop = stop_on_signals()
    # waitress loops in its own thread; a signal only sets the event, and the main
    # thread closes the sockets afterwards (closing them from a handler that had
    # interrupted the loop was the `OSError: [Errno 9]` on SIGTERM).
    server.start()
    print(
        f"Countersign is listening on port {server.port}: Slack at /slack/events, "
        "Postmark at /postmark/webhook, health at /healthz. Stop with Ctrl-C.",
        flush=True,
    )
    stop.wait()
    server.stop()
    return 0


def main(settings: Settings) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not settings.slack_configured:
        # No Slack tokens (in the environment or .env): a newcomer's first `make run`.
        # Show them the whole workflow on local stand-ins instead of failing.
        from handlers import rehearsal

        print(
            "SLACK_BOT_TOKEN is not set, so this is the rehearsal room: the real bot with "
            "local stand-ins for Slack and Postmark. Set the tokens (see app.yaml) to run "
            "it for real.",
            flush=True,
        )
        return rehearsal.main(settings)
    return run(settings)
