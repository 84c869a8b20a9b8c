"""`countersign rehearse` (and `make run` with no Slack tokens): the rehearsal room.

Owns `start_rehearsal()`, which wires the real bot (`handlers.app.build`) in
HTTP mode to local stand-ins and returns a running `Rehearsal`, and `main()`,
which prints the page's address and waits for Ctrl-C.

What it starts:
- a Postmark stand-in whose webhooks go to the bot's /postmark/webhook, with
  HTTP basic auth (a fresh random password each time);
- the bot behind waitress on 127.0.0.1, on the embedded SQLite database
  `rehearsal.db` in the working directory. The file is created fresh on every
  start: the stand-ins keep their state in memory, so an old database would
  point at approval cards and messages that no longer exist;
- the Slack stand-in with the rehearsal page (`bot.standins.room`) on
  http://127.0.0.1:8025/, seeded with an editor and two approvers
  (`seed_rehearsal_workspace`), its driver pointed at the bot;
- the sample list (`bot.sample_data`, 3,000 made-up readers at example.com and
  example.jp), imported with the ordinary importer;
- the drills (`bot.drills`) on the page's Drills tab; `Rehearsal.restart()` restarts
  the bot with rotated tokens for the token drill.

Sends in the room go in stages as a careful production set-up would: a 10 %
canary (CANARY_PERCENT, unless the team's settings name one), the hold
(CANARY_HOLD_MINUTES, default 30; an approver may press "Send the rest now"),
and seed copies first to the three team members' addresses (SEED_ADDRESSES).

The page's port is 8025 (`countersign rehearse --port N`, or REHEARSAL_PORT for
`make run`). It lives in `handlers` because it builds the Slack front end; nothing leaves
the machine (every URL points at 127.0.0.1).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.clock import Clock, SystemClock
from bot.desk import Desk
from bot.drills import Drills
from bot.sample_data import SAMPLE_SIZE, import_sample
from bot.settings import Settings
from bot.standins.postmark import PostmarkStandIn
from bot.standins.room import ROOM_PORT, RehearsalRoom
from bot.standins.slack import (
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    EDITOR,
    NEWSLETTER_CHANNEL,
    seed_rehearsal_workspace,
)
from bot.stopping import stop_on_signals
from handlers.app import Bot, build
from handlers.web import Server
from storage import migrate

DATABASE_FILE = "rehearsal.db"
WAL_FILES = ("-wal", "-shm")
SAMPLE_FILE = "rehearsal-sample.csv"
WEBHOOK_USER = "postmark"
REHEARSAL_POSTAL_ADDRESS = "〒100-0000 東京都千代田区見本町0-0-0 リハーサル株式会社（架空の住所）"
# Settings a team may tune for the rehearsal too (from the environment or .env);
# everything that connects somewhere is replaced by a local stand-in.
KEPT_SETTINGS = (
    "NEWSLETTER_NAME",
    "TIMEZONE",
    "ISSUE_SCHEDULE",
    "REMIND_DAYS_BEFORE",
    "APPROVAL_TTL_HOURS",
    "AUDIENCE_DRIFT",
    "SEND_BATCHES_IN_FLIGHT",
    "SCHEDULED_SEND_GRACE_MINUTES",
    "RECONCILE_WINDOW_MINUTES",
    "CANARY_HOLD_MINUTES",
    "CANARY_MAX_BOUNCE_PERCENT",
    "CANARY_MAX_COMPLAINT_PERCENT",
)
# The room sends in stages, as a careful team would (10 % first, then the hold:
# an approver's "Send the rest now" or the hold's end), unless the team's own
# settings name a share; and the team's three addresses get seed copies first.
REHEARSAL_CANARY_PERCENT = 10.0
REHEARSAL_SEEDS = "hanako@example.com, alice@example.com, taro@example.com"


@dataclass
class Rehearsal:
    room: RehearsalRoom
    postmark: PostmarkStandIn
    bot: Bot
    server: Server
    settings: Settings
    database: Path
    subscribers: int

    @property
    def url(self) -> str:
        """The rehearsal page's address."""
        return self.room.url

    def restart(self, updates: dict[str, str]) -> Desk:
        """Restart the bot as an operator restarts the server's process, with `updates`
        (the token drill's rotated values) over the room's settings; everything that
        connects somewhere stays the room's. Same database; a new web server, whose
        address the room's Slack and Postmark's webhook are pointed at (a real server
        keeps its URL); Postmark's webhook credentials stay what Postmark has."""
        old = self.bot
        old.stop_background()
        self.server.stop()
        settings = self.settings.model_copy(update=updates)
        bot = build(settings, clock=old.desk.clock)
        server = Server(bot.web, host="127.0.0.1", port=0).start()
        _, user, password = self.postmark.webhook_config()
        self.postmark.configure_webhook(f"{server.url}/postmark/webhook", user, password)
        if self.room.driver is not None:
            self.room.driver.session.close()
            # The room signs with what Slack has now, not with what the bot was given.
            self.room.connect(
                f"{server.url}/slack/events", self.room.driver.signing_secret, self.postmark
            )
        bot.start_background()
        old.desk.db.dispose()
        self.bot, self.server, self.settings = bot, server, settings
        return bot.desk

    def stop(self) -> None:
        self.bot.stop_background()
        if self.room.driver is not None:
            # Its keep-alive connection would hold waitress's shutdown up for seconds.
            self.room.driver.session.close()
        self.server.stop()
        self.room.stop()
        self.postmark.stop()
        self.bot.desk.db.dispose()


class _ApproversGroup:
    """The practice workspace's approvers group, as a Slack admin changes it (the
    team-change drill): Slack tells the bot (`subteam_members_changed`)."""

    def __init__(self, room: RehearsalRoom) -> None:
        self.room = room

    def members(self) -> list[str]:
        return list(self.room.usergroups[APPROVERS_GROUP].users)

    def set_members(self, users: list[str]) -> None:
        self.room.set_usergroup_users(APPROVERS_GROUP, list(users))


def rehearsal_settings(
    base: Settings | None, *, database: Path, room: RehearsalRoom, postmark: PostmarkStandIn
) -> Settings:
    kept: dict[str, Any] = {
        "CANARY_PERCENT": REHEARSAL_CANARY_PERCENT,
        "SEED_ADDRESSES": REHEARSAL_SEEDS,
    }
    if base is not None:
        kept.update({name: getattr(base, name) for name in KEPT_SETTINGS})
        # Only what the team set itself replaces the room's stages and seeds.
        for name in ("CANARY_PERCENT", "SEED_ADDRESSES"):
            if name in base.model_fields_set:
                kept[name] = getattr(base, name)
    values: dict[str, Any] = {
        **kept,
        "DATABASE_URL": f"sqlite:///{database}",
        "SLACK_BOT_TOKEN": room.bot_token,
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": room.url,
        "POSTMARK_SERVER_TOKEN": postmark.server_token or "rehearsal",
        "POSTMARK_API_URL": postmark.url,
        "POSTMARK_BROADCAST_STREAM": "broadcast",
        "POSTMARK_TRANSACTIONAL_STREAM": "outbound",
        "POSTMARK_WEBHOOK_USER": WEBHOOK_USER,
        "POSTMARK_WEBHOOK_PASSWORD": secrets.token_urlsafe(18),
        "NEWSLETTER_FROM": "Countersign Rehearsal <news@example.com>",
        # Made up, like everything here: the footer every broadcast must carry.
        "NEWSLETTER_POSTAL_ADDRESS": REHEARSAL_POSTAL_ADDRESS,
        "NEWSLETTER_CHANNEL": NEWSLETTER_CHANNEL,
        "TEAM": f"{EDITOR},{APPROVER_1},{APPROVER_2}",
        "APPROVERS": APPROVERS_GROUP,
        "TEST_RECIPIENT_DOMAINS": "example.com",
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def start_rehearsal(
    base: Settings | None = None,
    *,
    directory: Path | None = None,
    room_port: int = ROOM_PORT,
    sample_size: int = SAMPLE_SIZE,
    clock: Clock | None = None,
    keep: bool = False,
) -> Rehearsal:
    """Start everything and return it running; `stop()` ends it.

    `directory` holds rehearsal.db and the sample CSV (default: the working
    directory); `room_port` 0 picks a free port (tests). `keep` keeps the database
    of the last start (re-importing the sample changes nothing in it); the
    stand-ins always start empty, so old approval cards are not on the page.
    """
    folder = directory or Path.cwd()
    database = folder / DATABASE_FILE
    if not keep:
        for stale in (database, *(database.with_name(database.name + s) for s in WAL_FILES)):
            stale.unlink(missing_ok=True)

    postmark = PostmarkStandIn().start()
    room = RehearsalRoom(postmark=postmark)
    seed_rehearsal_workspace(room)
    try:
        room.start(port=room_port)
    except OSError:
        postmark.stop()
        raise
    settings = rehearsal_settings(base, database=database, room=room, postmark=postmark)
    clock = clock or SystemClock()
    bot = build(settings, clock=clock)
    migrate.upgrade(bot.desk.db.engine)
    report = import_sample(
        bot.desk.db,
        folder / SAMPLE_FILE,
        list_name=settings.NEWSLETTER_NAME,
        clock=clock,
        count=sample_size,
    )
    server = Server(bot.web, host="127.0.0.1", port=0).start()
    postmark.configure_webhook(
        f"{server.url}/postmark/webhook", WEBHOOK_USER, settings.POSTMARK_WEBHOOK_PASSWORD
    )
    room.connect(f"{server.url}/slack/events", settings.SLACK_SIGNING_SECRET, postmark)
    drills = Drills(bot.desk, postmark, folder, approvers=_ApproversGroup(room), workspace=room)
    room.drills = drills
    bot.start_background()
    rehearsal = Rehearsal(
        room=room,
        postmark=postmark,
        bot=bot,
        server=server,
        settings=settings,
        database=database,
        subscribers=report.added + report.updated + report.unchanged,
    )
    drills.restart = rehearsal.restart
    return rehearsal


def main(
    settings: Settings | None = None,
    *,
    port: int | None = None,
    out: TextIO | None = None,
    keep: bool = False,
) -> int:
    """Run the rehearsal room until Ctrl-C (or SIGTERM)."""
    out = out or sys.stdout
    if port is None:
        port = int(os.environ.get("REHEARSAL_PORT") or ROOM_PORT)
    started = time.monotonic()
    try:
        rehearsal = start_rehearsal(settings, room_port=port, keep=keep)
    except OSError as exc:
        print(
            f"countersign rehearse: cannot listen on 127.0.0.1:{port} ({exc.strerror}). "
            "Is another rehearsal running? Stop it, or pass --port.",
            file=sys.stderr,
        )
        return 1
    stop = stop_on_signals()
    database = "kept from the last start" if keep else "fresh; --keep keeps it next time"
    print(
        f"The Countersign rehearsal room is open: {rehearsal.url}\n"
        "  You can act as the editor (山田花子, who uses Slack in Japanese) or either\n"
        "  approver (Alice Example in English, 佐藤太郎 in Japanese).\n"
        f"  The list holds {rehearsal.subscribers} made-up subscribers; "
        f"nothing leaves this machine.\n"
        f"  Database: {rehearsal.database} ({database}).\n"
        f"  Ready in {time.monotonic() - started:.1f} s. Stop with Ctrl-C.",
        file=out,
        flush=True,
    )
    try:
        stop.wait()
    finally:
        rehearsal.stop()
        print("The rehearsal room is closed.", file=out, flush=True)
    return 0
