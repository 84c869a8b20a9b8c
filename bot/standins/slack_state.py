"""The Slack stand-in's workspace: its model and the state every API family shares.

`SlackWorkspace` holds the team, members, user groups, channels, the bot and its
tokens, the messages as the workspace shows them now, the recorded calls and the
injected faults, with the helpers the API families (`slack_chat`, `slack_views`,
`slack_users`, `slack_conversations`, `slack_files`, `slack_response_url`) share.
`bot.standins.slack.SlackStandIn` puts the families together and answers HTTP.
"""

from __future__ import annotations

import base64
import copy
import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.standins.server import StandIn

# How long a test waits for what the bot does after it has answered (a card redrawn,
# a reply posted): a condition that holds returns at once, so this only bounds how
# long a failing wait takes. Generous, since a suite shares two cores with a
# database server and other suites (5 s timed out once on PostgreSQL at load 6).
WAIT_SECONDS = 15.0

T = TypeVar("T")

DEFAULT_BOT_TOKEN = "xoxb-1000000001-2000000002-CountersignStandInBotTok"  # noqa: S105 - fake


DEFAULT_SCOPES: tuple[str, ...] = (
    "app_mentions:read",
    "channels:read",
    "chat:write",
    "chat:write.public",
    "commands",
    "files:read",
    "files:write",
    "groups:read",
    "im:read",
    "im:write",
    "usergroups:read",
    "users:read",
    "users:read.email",
)

MESSAGE_TEXT_LIMIT = 40_000


class SlackError(Exception):
    """An API answer with ok false: `error` plus any extra documented fields."""

    def __init__(self, error: str, status: int = 200, **fields: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.fields = fields


# --------------------------------------------------------------------------
# Workspace model


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    display_name: str = ""
    email: str | None = None
    tz: str = "Asia/Tokyo"
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    bot_id: str | None = None
    locale: str = "en-US"  # the Slack language the person chose, e.g. ja-JP


@dataclass
class UserGroup:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)
    description: str = ""
    disabled: bool = False


@dataclass
class Channel:
    id: str
    name: str
    members: list[str] = field(default_factory=list)
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None
    topic: str = ""
    purpose: str = ""
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Token:
    token: str
    scopes: tuple[str, ...]
    user_id: str
    bot_id: str | None


@dataclass
class Message:
    """A message as the workspace shows it now (after updates)."""

    channel: str
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    user: str | None = None
    bot_id: str | None = None
    thread_ts: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: bool = False
    recipient: str | None = None  # the user an ephemeral message is shown to
    source: str = "api"  # api | response_url | ack
    edited: bool = False
    deleted: bool = False
    metadata: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # shared files' objects

    def to_payload(self, team_id: str = "", app_id: str | None = None) -> dict[str, Any]:
        """The message object as Slack puts it in API answers and payloads."""
        out: dict[str, Any] = {"type": "message", "text": self.text, "ts": self.ts}
        if self.user:
            out["user"] = self.user
        if self.bot_id:
            out["bot_id"] = self.bot_id
            if app_id:
                out["app_id"] = app_id
        if team_id:
            out["team"] = team_id
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            out["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.edited:
            out["edited"] = {"user": self.user, "ts": self.ts}
        if self.metadata:
            out["metadata"] = copy.deepcopy(self.metadata)
        if self.files:
            out["files"] = copy.deepcopy(self.files)
            out["upload"] = True
        return out

    def elements(self) -> list[tuple[str | None, dict[str, Any]]]:
        """(block_id, element) for every interactive element in the blocks."""
        return interactive_elements(self.blocks)

    def action_ids(self) -> list[str]:
        return [str(e.get("action_id")) for _, e in self.elements() if e.get("action_id")]


def with_block_ids(blocks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of `blocks` where each block has a block_id, as Slack stores them."""
    out = copy.deepcopy(list(blocks))
    for block in out:
        if isinstance(block, dict) and not block.get("block_id"):
            block["block_id"] = secrets.token_urlsafe(3)
    return out


def interactive_elements(
    blocks: Iterable[dict[str, Any]],
) -> list[tuple[str | None, dict[str, Any]]]:
    """(block_id, element) for the interactive elements of Block Kit blocks."""
    found: list[tuple[str | None, dict[str, Any]]] = []
    for block in blocks:
        block_id = block.get("block_id")
        if block.get("type") == "actions":
            found += [(block_id, e) for e in block.get("elements", []) if isinstance(e, dict)]
        elif isinstance(block.get("accessory"), dict):
            found.append((block_id, block["accessory"]))
        elif block.get("type") == "input" and isinstance(block.get("element"), dict):
            found.append((block_id, block["element"]))
    return found


@dataclass
class Call:
    """One recorded Web API call (the token itself is not recorded)."""

    method: str
    args: dict[str, Any]
    time: float
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass
class _Fault:
    error: str
    status: int = 200
    retry_after: int | None = None
    delay: float = 0.0
    reset: bool = False
    fields: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------
# The workspace


class SlackWorkspace(StandIn):
    """The in-memory workspace behind the stand-in, and what every family shares."""

    def __init__(
        self,
        *,
        team_id: str = "T0REHEARS1",
        team_name: str = "Countersign Rehearsal",
        team_domain: str = "countersign-rehearsal",
        app_id: str = "A0COUNTER1",
        bot_user_id: str = "U0BOTUSER1",
        bot_id: str = "B0BOTUSER1",
        bot_name: str = "countersign",
        bot_token: str = DEFAULT_BOT_TOKEN,
        scopes: Iterable[str] = DEFAULT_SCOPES,
    ) -> None:
        super().__init__()
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.bot_token = bot_token
        self._default_scopes = tuple(scopes)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._reset_state()

    # -- configuration -------------------------------------------------------

    def _reset_state(self) -> None:
        """The state every family shares; each family's class adds its own."""
        self.plan_paid = True
        # Where Events API deliveries go (the app's Request URL, e.g. a SlackDriver's
        # `send_event`); None: events are only recorded in `events`.
        self.event_sink: Callable[[dict[str, Any]], Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, UserGroup] = {}
        self.channels: dict[str, Channel] = {}
        self.tokens: dict[str, Token] = {}
        self._messages: list[Message] = []
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._last_ts = 0
        self.users[self.bot_user_id] = User(
            id=self.bot_user_id,
            name=self.bot_name,
            real_name=self.bot_name.capitalize(),
            is_bot=True,
            bot_id=self.bot_id,
            tz="America/Los_Angeles",
        )
        self.tokens[self.bot_token] = Token(
            self.bot_token, self._default_scopes, self.bot_user_id, self.bot_id
        )

    def reset(self) -> None:
        """Forget everything: workspace, messages, views, calls, injected faults."""
        with self._lock:
            self._reset_state()

    def add_user(
        self,
        id: str,
        name: str,
        *,
        real_name: str = "",
        display_name: str = "",
        email: str | None = None,
        tz: str = "Asia/Tokyo",
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        locale: str = "en-US",
    ) -> User:
        user = User(
            id=id,
            name=name,
            real_name=real_name or name,
            display_name=display_name,
            email=email,
            tz=tz,
            is_admin=is_admin,
            is_owner=is_owner,
            is_bot=is_bot,
            deleted=deleted,
            locale=locale,
        )
        with self._lock:
            self.users[id] = user
        return user

    def add_usergroup(
        self,
        id: str,
        handle: str,
        users: Iterable[str] = (),
        *,
        name: str = "",
        description: str = "",
        disabled: bool = False,
    ) -> UserGroup:
        group = UserGroup(
            id=id,
            handle=handle,
            name=name or handle,
            users=list(users),
            description=description,
            disabled=disabled,
        )
        with self._lock:
            self.usergroups[id] = group
        return group

    def add_channel(
        self,
        id: str,
        name: str,
        members: Iterable[str] = (),
        *,
        is_private: bool = False,
        bot_member: bool = True,
        topic: str = "",
        purpose: str = "",
    ) -> Channel:
        member_list = list(dict.fromkeys(members))
        if bot_member and self.bot_user_id not in member_list:
            member_list.append(self.bot_user_id)
        channel = Channel(
            id=id,
            name=name.lstrip("#"),
            members=member_list,
            is_private=is_private,
            topic=topic,
            purpose=purpose,
        )
        with self._lock:
            self.channels[id] = channel
        return channel

    def issue_token(
        self, scopes: Iterable[str], token: str | None = None, *, user_id: str | None = None
    ) -> str:
        """A further bot token with the given scopes (e.g. to test missing_scope)."""
        value = token or f"xoxb-1000000001-{next(self._ids):010d}-{secrets.token_hex(12)}"
        with self._lock:
            self.tokens[value] = Token(
                value, tuple(scopes), user_id or self.bot_user_id, self.bot_id
            )
        return value

    def post_user_message(
        self, channel: str, user_id: str, text: str, *, thread_ts: str | None = None
    ) -> Message:
        """A message a person writes in a channel (not through the bot's token)."""
        with self._lock:
            found = self._resolve_channel(channel)
            if found is None:
                raise KeyError(f"no channel {channel!r}")
            message = Message(
                channel=found.id, ts=self._next_ts(), text=text, user=user_id, thread_ts=thread_ts
            )
            self._messages.append(message)
            return copy.deepcopy(message)

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self.tokens.pop(token, None)

    def fail_next(
        self,
        method: str,
        error: str = "internal_error",
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        reset: bool = False,
        **fields: Any,
    ) -> None:
        """Answer the next `times` calls of `method` with `error` instead.

        `error="ratelimited"` answers HTTP 429 with Retry-After (default 1).
        `reset=True` drops the connection; `delay` holds the answer back.
        """
        if error == "ratelimited":
            status = status or 429
            retry_after = 1 if retry_after is None else retry_after
        fault = _Fault(
            error=error,
            status=status or 200,
            retry_after=retry_after,
            delay=delay,
            reset=reset,
            fields=fields,
        )
        with self._lock:
            queue = self._faults.setdefault(method, deque())
            queue.extend(copy.deepcopy(fault) for _ in range(times))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 ratelimited."""
        self.fail_next(method, "ratelimited", retry_after=retry_after, times=times)

    # -- inspection helpers ----------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method in (None, c.method)]

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = WAIT_SECONDS,
        interval: float = 0.02,
    ) -> T:
        """Poll `predicate` until it returns something truthy; return that.

        Raises TimeoutError when `timeout` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(interval)

    # -- bookkeeping (call with the lock held) -------------------------------

    def _record(self, method: str, args: dict[str, Any], status: int, response: Any) -> None:
        self._calls.append(
            Call(
                method=method,
                args=copy.deepcopy(args),
                time=time.time(),
                status=status,
                response=copy.deepcopy(response),
            )
        )

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        return queue.popleft() if queue else None

    @staticmethod
    def _require_scope(grant: Token, needed: str) -> None:
        if needed not in grant.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(grant.scopes))

    # -- state helpers (call with the lock held) ------------------------------

    def _next_ts(self) -> str:
        now = int(time.time() * 1_000_000)
        self._last_ts = max(now, self._last_ts + 1)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def _resolve_channel(self, ref: str, *, create_im: bool = True) -> Channel | None:
        if not ref:
            return None
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        user_id = None
        if ref[0] in "UW" and ref in self.users:
            user_id = ref
        elif ref[0] == "D":
            user_id = next((u for u in self.users if im_channel_id(u) == ref), None)
        if user_id is None or self.users[user_id].deleted:
            return None
        if not create_im:
            return self.channels.get(im_channel_id(user_id))
        return self._im(user_id)

    def _im(self, user_id: str) -> Channel:
        channel_id = im_channel_id(user_id)
        if channel_id not in self.channels:
            self.channels[channel_id] = Channel(
                id=channel_id,
                name=channel_id,
                members=[user_id, self.bot_user_id],
                is_im=True,
                im_user=user_id,
            )
        return self.channels[channel_id]

    def _bot_can_see(self, grant: Token, channel: Channel) -> bool:
        return channel.is_im or not channel.is_private or grant.user_id in channel.members

    def _require_postable(self, grant: Token, channel_ref: str) -> Channel:
        channel = self._resolve_channel(channel_ref)
        if channel is None or not self._bot_can_see(grant, channel):
            raise SlackError("channel_not_found")
        if (
            not channel.is_im
            and grant.user_id not in channel.members
            and "chat:write.public" not in grant.scopes
        ):
            raise SlackError("not_in_channel")
        return channel

    def _find_message(self, channel_id: str, ts: str) -> Message | None:
        for message in self._messages:
            if (
                message.channel == channel_id
                and message.ts == ts
                and not message.ephemeral
                and not message.deleted
            ):
                return message
        return None

    def _find_ephemeral(self, user_id: str, ts: str) -> Message | None:
        for message in self._messages:
            if message.ephemeral and message.recipient == user_id and message.ts == ts:
                return message if not message.deleted else None
        return None

    def _post_reply(
        self, user_id: str, channel_id: str, payload: dict[str, Any], *, source: str
    ) -> Message:
        in_channel = payload.get("response_type") == "in_channel"
        blocks = payload.get("blocks")
        message = Message(
            channel=channel_id,
            ts=self._next_ts(),
            text=str(payload.get("text") or ""),
            blocks=with_block_ids(blocks) if isinstance(blocks, list) else [],
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=payload.get("thread_ts") if in_channel else None,
            attachments=list(payload.get("attachments") or []),
            ephemeral=not in_channel,
            recipient=None if in_channel else user_id,
            source=source,
        )
        self._messages.append(message)
        return message


# --------------------------------------------------------------------------
# Helpers


def im_channel_id(user_id: str) -> str:
    """The id of the bot's direct-message conversation with a user."""
    return "D" + user_id[1:]


def truthy(value: Any) -> bool:
    """A Web API flag as Slack reads it: true, 1, yes or on."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def paginate(items: list[T], args: dict[str, Any]) -> tuple[list[T], str]:
    """One page of `items` by `limit` and `cursor`, and the next cursor ("" at the end)."""
    try:
        limit = int(args.get("limit") or 0)
    except (TypeError, ValueError) as exc:
        raise SlackError("invalid_limit") from exc
    start = 0
    cursor = args.get("cursor")
    if cursor:
        try:
            start = int(base64.b64decode(str(cursor)).decode().removeprefix("offset:"))
        except ValueError as exc:
            raise SlackError("invalid_cursor") from exc
    if limit <= 0:
        return items[start:], ""
    end = start + limit
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor
