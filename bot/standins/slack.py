"""A local stand-in for the Slack Web API, plus a receiver for `response_url` posts.

`SlackStandIn` answers the Web API methods Countersign uses the way Slack
does -- HTTP 200 with `{"ok": false, "error": ...}` for API errors, 429 with
`Retry-After` when rate limited, the `x-oauth-scopes` header, the documented
fields of each answer -- so the unmodified `slack_sdk.WebClient(token=...,
base_url=standin.url)` talks to it over real HTTP. It holds a small workspace
(team, members, user groups, channels, the bot and its tokens), keeps the
state Slack would keep (channel messages after updates, ephemeral messages,
open modals, App Home views, files -- uploads per `slack_files`) and records
every call for tests.

Interactions come from the other side: `bot.standins.slack_driver.SlackDriver`
acts as a workspace member, issues trigger ids and response URLs registered
here, and posts signed requests into the bot's `/slack/events` endpoint.

Routes: `POST|GET /{method}` (also `/api/{method}`), `POST /response/{token}`
(response_url receiver), `POST /upload/v1/{token}` (an upload's bytes),
`GET /_standin/state` (a JSON snapshot). Anything else is passed to
`handle_other`, which subclasses (the rehearsal room page) may override.

`seed_rehearsal_workspace(standin)` fills in the workspace every end-to-end
test and the rehearsal room start from; `main()` runs a seeded stand-in.
"""

from __future__ import annotations

import argparse
import base64
import copy
import itertools
import json
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from bot.standins.server import Reply, Request, StandIn
from bot.standins.slack_blocks import MESSAGE_BLOCK_LIMIT, validate_blocks, validate_view
from bot.standins.slack_files import UPLOAD_PATH, FileStore, UploadError
from bot.stopping import stop_on_signals

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
RESPONSE_URL_TTL = 30 * 60.0  # Slack: up to 5 uses within 30 minutes
RESPONSE_URL_MAX_USES = 5
MODAL_STACK_LIMIT = 3
FILE_INPUT_LIMIT = 10 * 1024 * 1024
FILES_PREFIX = "/files-pri/"
SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head>"
    "<body><h1>Sign in to your workspace</h1></body></html>"
)

# Methods and the bot scope each needs (None: no scope; conversations.* check
# channels:read / groups:read / im:read themselves, by the kind of channel).
METHOD_SCOPES: dict[str, str | None] = {
    "api.test": None,
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.getPermalink": None,
    "views.open": None,
    "views.push": None,
    "views.update": None,
    "views.publish": None,
    "users.info": "users:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
    "conversations.info": None,
    "conversations.members": None,
    "conversations.open": "im:write",
    "files.info": "files:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
JSON_ARGS = ("blocks", "attachments", "view", "metadata")


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
class File:
    """A file a member uploaded (through a modal's `file_input`, say)."""

    id: str
    name: str
    content: bytes
    user: str
    filetype: str
    mimetype: str
    created: int = field(default_factory=lambda: int(time.time()))
    deleted: bool = False
    title: str = ""
    channels: list[str] = field(default_factory=list)  # where it was shared


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
class ResponseUrlPost:
    """One recorded post to a response_url."""

    token: str
    payload: Any
    time: float
    status: int
    response: dict[str, Any]


@dataclass
class _Trigger:
    user_id: str
    expires_at: float
    used: bool = False


@dataclass
class _ResponseUrl:
    user_id: str
    channel_id: str
    expires_at: float
    origin_ts: str | None = None
    origin_ephemeral: bool = False
    uses: int = 0


@dataclass
class _Fault:
    error: str
    status: int = 200
    retry_after: int | None = None
    delay: float = 0.0
    reset: bool = False
    fields: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------
# The stand-in


class SlackStandIn(StandIn):
    """Answers the Slack Web API like Slack, against an in-memory workspace."""

    # A Web API call carries at most a message (40,000 characters of text, 50 blocks
    # of 3,000) or a view (100 blocks): well under 2 MB. An upload POST may carry
    # what files.getUploadURLExternal announced for it (`body_limit`).
    max_body_bytes = 2_000_000

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
        self.plan_paid = True
        self.trigger_ttl = 30.0  # Slack: 3 s; lenient by default for tests
        self.response_url_ttl = RESPONSE_URL_TTL
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, UserGroup] = {}
        self.channels: dict[str, Channel] = {}
        self.tokens: dict[str, Token] = {}
        self._messages: list[Message] = []
        self._calls: list[Call] = []
        self._response_posts: list[ResponseUrlPost] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._view_owner: dict[str, str] = {}
        self._view_errors: dict[str, dict[str, str]] = {}
        self._modal_stacks: dict[str, list[str]] = {}
        self._home: dict[str, str] = {}
        self.files: dict[str, File] = {}
        self.file_store = FileStore()
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

    def add_file(
        self,
        user_id: str,
        name: str,
        content: bytes,
        *,
        filetype: str | None = None,
        mimetype: str = "text/csv",
    ) -> dict[str, Any]:
        """A file `user_id` uploads, e.g. into a modal's `file_input`; returns
        the file object as Slack puts it in a view submission's state.

        Slack's `file_input` takes files of at most 10 MB
        (https://docs.slack.dev/reference/block-kit/block-elements/file-input-element/).
        """
        if len(content) > FILE_INPUT_LIMIT:
            raise ValueError(f"Slack's file_input refuses files over {FILE_INPUT_LIMIT} bytes")
        if filetype is None:
            filetype = name.rsplit(".", 1)[-1].lower() if "." in name else "text"
        with self._lock:
            file = File(
                id=f"F{next(self._ids):09d}",
                name=name,
                content=bytes(content),
                user=user_id,
                filetype=filetype,
                mimetype=mimetype,
            )
            self.files[file.id] = file
            return self._file_object(file)

    def delete_file(self, file_id: str) -> None:
        """The uploader deleted the file: files.info answers file_deleted."""
        with self._lock:
            self.files[file_id].deleted = True

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

    # -- triggers and response URLs (issued by the driver) --------------------

    def register_trigger(self, trigger_id: str, user_id: str, ttl: float | None = None) -> str:
        with self._lock:
            expires = time.time() + (self.trigger_ttl if ttl is None else ttl)
            self._triggers[trigger_id] = _Trigger(user_id=user_id, expires_at=expires)
        return trigger_id

    def new_trigger_id(self, user_id: str, ttl: float | None = None) -> str:
        """A fresh trigger id in Slack's shape, registered for `user_id`."""
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12):012d}.{secrets.token_hex(16)}"
        return self.register_trigger(trigger_id, user_id, ttl)

    def new_response_url(
        self,
        user_id: str,
        channel_id: str,
        *,
        origin_ts: str | None = None,
        origin_ephemeral: bool = False,
    ) -> str:
        """A response_url pointing at this stand-in, bound to a user and channel.

        `origin_ts` names the message an interaction came from, for
        replace_original / delete_original.
        """
        token = f"{self.team_id}/{next(self._ids)}/{secrets.token_urlsafe(18)}"
        with self._lock:
            self._response_urls[token] = _ResponseUrl(
                user_id=user_id,
                channel_id=channel_id,
                expires_at=time.time() + self.response_url_ttl,
                origin_ts=origin_ts,
                origin_ephemeral=origin_ephemeral,
            )
        return f"{self.url}response/{token}"

    # -- inspection helpers ----------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method in (None, c.method)]

    def response_url_posts(self) -> list[ResponseUrlPost]:
        with self._lock:
            return copy.deepcopy(self._response_posts)

    def channel_messages(self, channel: str) -> list[Message]:
        """Messages in a channel (id, #name, or a user id for the bot's DM), oldest first."""
        with self._lock:
            found = self._resolve_channel(channel, create_im=False)
            if found is None:
                return []
            return [
                copy.deepcopy(m)
                for m in self._messages
                if m.channel == found.id and not m.ephemeral and not m.deleted
            ]

    def dm_messages(self, user_id: str) -> list[Message]:
        """Messages in the bot's direct-message conversation with `user_id`."""
        return self.channel_messages(im_channel_id(user_id))

    def ephemeral_messages(self, user_id: str, channel: str | None = None) -> list[Message]:
        """Ephemeral messages shown to `user_id` (postEphemeral, response_url, acks)."""
        with self._lock:
            channel_id = None
            if channel is not None:
                found = self._resolve_channel(channel, create_im=False)
                channel_id = found.id if found else channel
            return [
                copy.deepcopy(m)
                for m in self._messages
                if m.ephemeral
                and not m.deleted
                and m.recipient == user_id
                and channel_id in (None, m.channel)
            ]

    def all_messages(self) -> list[Message]:
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages if not m.deleted]

    def open_views(self, user_id: str) -> list[dict[str, Any]]:
        """The user's modal stack, root first (empty when no modal is open)."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._modal_stacks.get(user_id, [])]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def get_view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            view = self._views.get(view_id)
            return copy.deepcopy(view) if view else None

    def view_errors(self, view_id: str) -> dict[str, str]:
        """Field errors the app answered a view_submission with (response_action errors)."""
        with self._lock:
            return dict(self._view_errors.get(view_id, {}))

    def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.02
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

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able picture of the workspace state (for the rehearsal room)."""
        with self._lock:
            return {
                "team": {"id": self.team_id, "name": self.team_name, "domain": self.team_domain},
                "bot": {"user_id": self.bot_user_id, "bot_id": self.bot_id},
                "users": [self._user_object(u, with_email=True) for u in self.users.values()],
                "channels": [
                    {**self._channel_object(c), "members": list(c.members)}
                    for c in self.channels.values()
                ],
                "messages": [
                    {
                        **m.to_payload(self.team_id, self.app_id),
                        "channel": m.channel,
                        "ephemeral": m.ephemeral,
                        "recipient": m.recipient,
                    }
                    for m in self._messages
                    if not m.deleted
                ],
                "modals": {u: list(s) for u, s in self._modal_stacks.items() if s},
                "home": dict(self._home),
                "views": copy.deepcopy(self._views),
            }

    # -- interaction bookkeeping (called by the driver) -------------------------

    def record_command_ack(self, user_id: str, channel_id: str, body: bytes) -> Message | None:
        """Show a slash command's immediate HTTP answer as Slack does.

        Plain text or JSON `{text, blocks, response_type}`; ephemeral unless
        response_type is in_channel. An empty body shows nothing.
        """
        text = body.decode("utf-8", errors="replace").strip()
        if not text:
            return None
        try:
            payload = json.loads(text)
        except ValueError:
            payload = {"text": text}
        if not isinstance(payload, dict):
            payload = {"text": text}
        if not payload.get("text") and not payload.get("blocks"):
            return None
        with self._lock:
            return copy.deepcopy(self._post_reply(user_id, channel_id, payload, source="ack"))

    def apply_view_submission_ack(self, user_id: str, view_id: str, body: bytes) -> None:
        """Do what Slack does with the answer to a view_submission.

        Empty: close the view. `response_action` clear/update/push/errors as
        documented.
        """
        text = body.decode("utf-8", errors="replace").strip()
        payload: Any = {}
        if text:
            try:
                payload = json.loads(text)
            except ValueError:
                payload = {}
        action = payload.get("response_action") if isinstance(payload, dict) else None
        with self._lock:
            stack = self._modal_stacks.setdefault(user_id, [])
            if action == "errors":
                self._view_errors[view_id] = dict(payload.get("errors") or {})
            elif action == "clear":
                self._close_views(user_id, list(stack))
            elif action == "update" and isinstance(payload.get("view"), dict):
                current = self._views.get(view_id)
                if current is not None:
                    self._views[view_id] = self._make_view(
                        payload["view"], user_id, view_id=view_id, previous=current
                    )
                    self._view_errors.pop(view_id, None)
            elif action == "push" and isinstance(payload.get("view"), dict):
                self._push_view(user_id, payload["view"])
            else:
                self._close_views(user_id, [view_id])

    def close_view(self, user_id: str, view_id: str, *, all_views: bool = False) -> None:
        """The user closed a modal (Cancel / X); `all_views` closes the stack."""
        with self._lock:
            stack = self._modal_stacks.get(user_id, [])
            self._close_views(user_id, list(stack) if all_views else [view_id])

    def _close_views(self, user_id: str, view_ids: list[str]) -> None:
        stack = self._modal_stacks.get(user_id, [])
        for view_id in view_ids:
            if view_id in stack:
                # closing a view closes the ones pushed above it too
                del stack[stack.index(view_id) :]

    # -- HTTP ---------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = request.path
        if path.startswith("/response/"):
            return self._handle_response_url(request, path[len("/response/") :])
        if path == "/_standin/state":
            return Reply.json(self.snapshot())
        if path.startswith(FILES_PREFIX):
            return self._download(request, path[len(FILES_PREFIX) :])
        if path.startswith(UPLOAD_PATH) and request.method == "POST":
            return self._handle_upload(request, path[len(UPLOAD_PATH) :])
        method = path[len("/api/") :] if path.startswith("/api/") else path.lstrip("/")
        if method and "/" not in method and "." in method:
            return self._handle_api(request, method)
        return self.handle_other(request)

    def handle_other(self, request: Request) -> Reply:
        """Paths that are not API methods; the rehearsal room page extends this."""
        if request.path == "/" and request.method == "GET":
            return Reply.html("<!doctype html><title>Slack stand-in</title><p>Slack stand-in.")
        return Reply.json({"ok": False, "error": "not_found"}, status=404)

    def _parse_args(self, request: Request) -> tuple[dict[str, Any], str | None]:
        args: dict[str, Any] = {k: v[0] for k, v in request.query.items() if v}
        token: str | None = args.pop("token", None)
        content_type = request.headers.get("content-type", "")
        if request.body:
            if "application/json" in content_type:
                body = request.json()
                if not isinstance(body, dict):
                    raise SlackError("invalid_json")
                args.update(body)
            else:
                form = {
                    k: v[0]
                    for k, v in parse_qs(
                        request.body.decode("utf-8"), keep_blank_values=True
                    ).items()
                }
                token = form.pop("token", None) or token
                args.update(form)
        for name in JSON_ARGS:
            if isinstance(args.get(name), str):
                try:
                    args[name] = json.loads(args[name])
                except ValueError as exc:
                    if name == "blocks":
                        raise SlackError("invalid_blocks_format") from exc
                    raise SlackError("invalid_arguments") from exc
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip() or token
        return args, token

    def _handle_api(self, request: Request, method: str) -> Reply:
        headers: dict[str, str] = {}
        args: dict[str, Any] = {}
        status = 200
        try:
            try:
                args, token = self._parse_args(request)
            except (ValueError, UnicodeDecodeError) as exc:
                raise SlackError("invalid_form_data") from exc
            with self._lock:
                fault = self._take_fault(method)
                if fault is not None:
                    status = fault.status
                    if fault.retry_after is not None:
                        headers["Retry-After"] = str(fault.retry_after)
                    if fault.reset or fault.delay:
                        reply = Reply.json({"ok": False, "error": fault.error, **fault.fields})
                        reply.status, reply.reset, reply.delay = status, fault.reset, fault.delay
                        self._record(method, args, status, {"ok": False, "error": fault.error})
                        return reply
                    raise SlackError(fault.error, status, **fault.fields)
                if method not in METHOD_SCOPES:
                    raise SlackError("unknown_method", req_method=method)
                if method == "api.test":
                    response = {"ok": True, "args": {k: str(v) for k, v in args.items()}}
                else:
                    grant = self._authenticate(token)
                    headers["x-oauth-scopes"] = ",".join(grant.scopes)
                    needed = METHOD_SCOPES[method]
                    if needed is not None:
                        headers["x-accepted-oauth-scopes"] = needed
                        self._require_scope(grant, needed)
                    handler = getattr(self, "_api_" + method.replace(".", "_"))
                    response = {"ok": True, **handler(grant, args)}
        except SlackError as err:
            status = err.status
            response = {"ok": False, "error": err.error, **err.fields}
        with self._lock:
            self._record(method, args, status, response)
        reply = Reply.json(response, status=status)
        reply.headers.update(headers)
        return reply

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

    def _authenticate(self, token: str | None) -> Token:
        if not token:
            raise SlackError("not_authed")
        grant = self.tokens.get(token)
        if grant is None:
            raise SlackError("invalid_auth")
        return grant

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

    @staticmethod
    def _content(args: dict[str, Any], *, require: bool = True) -> tuple[str, Any, Any]:
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if require and not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if text and len(text) > MESSAGE_TEXT_LIMIT:
            raise SlackError("msg_too_long")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            errors = validate_blocks(blocks, limit=MESSAGE_BLOCK_LIMIT)
            if errors:
                raise SlackError(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if blocks is not None:
            blocks = with_block_ids(blocks)
        return text or "", blocks, attachments

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

    # -- users, groups, channels as Slack renders them ------------------------

    def _user_object(self, user: User, *, with_email: bool) -> dict[str, Any]:
        zone = ZoneInfo(user.tz)
        now = datetime.now(zone)
        offset = now.utcoffset()
        profile: dict[str, Any] = {
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": user.display_name,
            "display_name_normalized": user.display_name,
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": "g" + user.id[-11:].lower(),
            "image_48": f"https://secure.gravatar.com/avatar/{user.id.lower()}.jpg?s=48",
            "team": self.team_id,
        }
        if user.is_bot:
            profile["bot_id"] = user.bot_id
            profile["api_app_id"] = self.app_id
        if with_email and user.email:
            profile["email"] = user.email
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "color": "9f69e7",
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": now.tzname() or user.tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "profile": profile,
            "is_admin": user.is_admin,
            "is_owner": user.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
            "is_email_confirmed": bool(user.email),
        }

    def _usergroup_object(
        self, group: UserGroup, *, include_users: bool, include_count: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": group.id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": group.name,
            "description": group.description,
            "handle": group.handle,
            "is_external": False,
            "date_create": 1700000000,
            "date_update": 1700000000,
            "date_delete": 1700000100 if group.disabled else 0,
            "auto_type": None,
            "created_by": next(iter(group.users), "USLACKBOT"),
            "updated_by": next(iter(group.users), "USLACKBOT"),
            "deleted_by": None,
            "prefs": {"channels": [], "groups": []},
        }
        if include_users:
            out["users"] = list(group.users)
        if include_count:
            out["user_count"] = len(group.users)
        return out

    def _channel_object(self, channel: Channel) -> dict[str, Any]:
        if channel.is_im:
            return {
                "id": channel.id,
                "created": channel.created,
                "is_im": True,
                "is_org_shared": False,
                "user": channel.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "created": channel.created,
            "is_archived": False,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "creator": next(iter(channel.members), ""),
            "is_ext_shared": False,
            "shared_team_ids": [self.team_id],
            "is_member": self.bot_user_id in channel.members,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }

    # -- Web API methods ------------------------------------------------------

    def _api_auth_test(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(grant.user_id)
        out: dict[str, Any] = {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": user.name if user else grant.user_id,
            "team_id": self.team_id,
            "user_id": grant.user_id,
        }
        if grant.bot_id:
            out["bot_id"] = grant.bot_id
        out["is_enterprise_install"] = False
        return out

    def _api_chat_postMessage(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require_postable(grant, str(args.get("channel") or ""))
        text, blocks, attachments = self._content(args)
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks or [],
            user=grant.user_id,
            bot_id=grant.bot_id,
            thread_ts=str(thread_ts) if thread_ts else None,
            attachments=attachments or [],
            metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
        )
        self._messages.append(message)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "message": message.to_payload(self.team_id, self.app_id),
        }

    def _api_chat_postEphemeral(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require_postable(grant, str(args.get("channel") or ""))
        user_id = str(args.get("user") or "")
        if not user_id:
            raise SlackError("user_not_found")
        if user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._content(args)
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks or [],
            user=grant.user_id,
            bot_id=grant.bot_id,
            thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
            attachments=attachments or [],
            ephemeral=True,
            recipient=user_id,
        )
        self._messages.append(message)
        return {"message_ts": message.ts}

    def _api_chat_update(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(str(args.get("channel") or ""), create_im=False)
        if channel is None or not self._bot_can_see(grant, channel):
            raise SlackError("channel_not_found")
        message = self._find_message(channel.id, str(args.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != grant.user_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._content(args, require=False)
        if "text" in args:
            message.text = text
        if blocks is not None:
            message.blocks = blocks
        if attachments is not None:
            message.attachments = attachments
        message.edited = True
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_payload(self.team_id, self.app_id),
        }

    def _api_chat_delete(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(str(args.get("channel") or ""), create_im=False)
        if channel is None or not self._bot_can_see(grant, channel):
            raise SlackError("channel_not_found")
        message = self._find_message(channel.id, str(args.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != grant.user_id:
            raise SlackError("cant_delete_message")
        message.deleted = True
        return {"channel": channel.id, "ts": message.ts}

    def _api_chat_getPermalink(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(str(args.get("channel") or ""), create_im=False)
        if channel is None or not self._bot_can_see(grant, channel):
            raise SlackError("channel_not_found")
        message = self._find_message(channel.id, str(args.get("message_ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        link = (
            f"https://{self.team_domain}.slack.com/archives/{channel.id}/"
            f"p{message.ts.replace('.', '')}"
        )
        if message.thread_ts and message.thread_ts != message.ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    # views

    def _use_trigger(self, args: dict[str, Any]) -> _Trigger:
        trigger_id = args.get("trigger_id")
        if not trigger_id:
            raise SlackError("invalid_arguments", response_metadata={"messages": [
                "[ERROR] missing required field: trigger_id"
            ]})  # fmt: skip
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if time.time() > trigger.expires_at:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _check_view(self, view: Any, expected_type: str) -> dict[str, Any]:
        errors = validate_view(view, expected_type=expected_type)
        if errors:
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        assert isinstance(view, dict)
        external_id = view.get("external_id")
        if external_id:
            for other in self._views.values():
                if other.get("external_id") == external_id:
                    raise SlackError("duplicate_external_id")
        return view

    def _make_view(
        self,
        spec: dict[str, Any],
        user_id: str,
        *,
        view_id: str | None = None,
        previous: dict[str, Any] | None = None,
        previous_view_id: str | None = None,
        root_view_id: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._ids):010d}"
        self._view_owner[view_id] = user_id
        root = root_view_id or (previous or {}).get("root_view_id") or view_id
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "blocks": with_block_ids(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(spec.get("title")),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": (previous or {}).get("previous_view_id", previous_view_id),
            "root_view_id": root,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _push_view(self, user_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        stack = self._modal_stacks.setdefault(user_id, [])
        if len(stack) >= MODAL_STACK_LIMIT:
            raise SlackError("push_limit_reached")
        previous = stack[-1] if stack else None
        root = stack[0] if stack else None
        view = self._make_view(spec, user_id, previous_view_id=previous, root_view_id=root)
        self._views[view["id"]] = view
        stack.append(view["id"])
        return view

    def _api_views_open(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(args)
        spec = self._check_view(args.get("view"), "modal")
        self._modal_stacks[trigger.user_id] = []
        view = self._push_view(trigger.user_id, spec)
        return {"view": copy.deepcopy(view)}

    def _api_views_push(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(args)
        spec = self._check_view(args.get("view"), "modal")
        view = self._push_view(trigger.user_id, spec)
        return {"view": copy.deepcopy(view)}

    def _api_views_update(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", response_metadata={"messages": [
                "[ERROR] either view_id or external_id is required"
            ]})  # fmt: skip
        if not view_id:
            view_id = next(
                (v for v, view in self._views.items() if view.get("external_id") == external_id),
                None,
            )
        current = self._views.get(str(view_id)) if view_id else None
        if current is None:
            raise SlackError("not_found")
        view_hash = args.get("hash")
        if view_hash and view_hash != current["hash"]:
            raise SlackError("hash_conflict")
        spec = args.get("view")
        if isinstance(spec, dict) and spec.get("external_id") == current.get("external_id"):
            spec = {k: v for k, v in spec.items() if k != "external_id"}
        spec = self._check_view(spec, current["type"])
        if not spec.get("external_id") and current.get("external_id"):
            spec = {**spec, "external_id": current["external_id"]}
        owner = self._view_owner.get(current["id"], "")
        view = self._make_view(spec, owner, view_id=current["id"], previous=current)
        self._views[current["id"]] = view
        self._view_errors.pop(current["id"], None)
        return {"view": copy.deepcopy(view)}

    def _api_views_publish(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id") or "")
        user = self.users.get(user_id)
        if user is None or user.deleted:
            raise SlackError("not_found")
        view_hash = args.get("hash")
        current_id = self._home.get(user_id)
        current = self._views.get(current_id) if current_id else None
        if view_hash and current is not None and view_hash != current["hash"]:
            raise SlackError("hash_conflict")
        spec = self._check_view(args.get("view"), "home")
        view = self._make_view(spec, user_id, view_id=current_id, previous=current)
        self._views[view["id"]] = view
        self._home[user_id] = view["id"]
        return {"view": copy.deepcopy(view)}

    # users and groups

    def _api_users_info(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        with_email = "users:read.email" in grant.scopes
        shown = self._user_object(user, with_email=with_email)
        # https://docs.slack.dev/reference/methods/users.info: the user's `locale`
        # is included only when the call asks for it with include_locale=true.
        if _truthy(args.get("include_locale")):
            shown["locale"] = user.locale
        return {"user": shown}

    def _api_users_list(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        with_email = "users:read.email" in grant.scopes
        members = [self._user_object(u, with_email=with_email) for u in self.users.values()]
        page, cursor = _paginate(members, args)
        return {
            "members": page,
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": cursor},
        }

    def _api_users_lookupByEmail(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").strip().lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email and not user.deleted:
                return {"user": self._user_object(user, with_email=True)}
        raise SlackError("users_not_found")

    def _require_paid_plan(self) -> None:
        if not self.plan_paid:
            raise SlackError("plan_upgrade_required")

    def _api_usergroups_list(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        self._require_paid_plan()
        include_disabled = _truthy(args.get("include_disabled"))
        return {
            "usergroups": [
                self._usergroup_object(
                    g,
                    include_users=_truthy(args.get("include_users")),
                    include_count=_truthy(args.get("include_count")),
                )
                for g in self.usergroups.values()
                if include_disabled or not g.disabled
            ]
        }

    def _api_usergroups_users_list(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        self._require_paid_plan()
        group = self.usergroups.get(str(args.get("usergroup") or ""))
        if group is None or (group.disabled and not _truthy(args.get("include_disabled"))):
            raise SlackError("no_such_subteam")
        return {"users": list(group.users)}

    # conversations

    def _visible_channel(self, grant: Token, args: dict[str, Any]) -> Channel:
        channel = self._resolve_channel(str(args.get("channel") or ""), create_im=False)
        if channel is None or not self._bot_can_see(grant, channel):
            raise SlackError("channel_not_found")
        if channel.is_im:
            self._require_scope(grant, "im:read")
        else:
            self._require_scope(grant, "groups:read" if channel.is_private else "channels:read")
        return channel

    def _api_conversations_info(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(grant, args)
        out = self._channel_object(channel)
        if _truthy(args.get("include_num_members")) and not channel.is_im:
            out["num_members"] = len(channel.members)
        return {"channel": out}

    def _api_conversations_members(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(grant, args)
        page, cursor = _paginate(list(channel.members), args)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _api_conversations_open(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if args.get("channel"):
            channel = self._resolve_channel(str(args["channel"]), create_im=False)
            if channel is None:
                raise SlackError("channel_not_found")
            return {"channel": {"id": channel.id}}
        if len(users) != 1:
            raise SlackError("not_enough_users" if not users else "too_many_users")
        user = self.users.get(users[0])
        if user is None or user.deleted:
            raise SlackError("user_not_found")
        created = im_channel_id(user.id) not in self.channels
        channel = self._im(user.id)
        out: dict[str, Any] = {"channel": {"id": channel.id}}
        if not created:
            out["no_op"] = True
            out["already_open"] = True
        return out

    # -- files -----------------------------------------------------------------

    def _file_object(self, file: File) -> dict[str, Any]:
        """The documented fields of a file object
        (https://docs.slack.dev/reference/objects/file-object)."""
        base = f"{self.url}{FILES_PREFIX}{self.team_id}-{file.id}"
        return {
            "id": file.id,
            "created": file.created,
            "timestamp": file.created,
            "name": file.name,
            "title": file.title or file.name,
            "mimetype": file.mimetype,
            "filetype": file.filetype,
            "pretty_type": file.filetype.upper(),
            "user": file.user,
            "user_team": self.team_id,
            "editable": False,
            "size": len(file.content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "url_private": f"{base}/{file.name}",
            "url_private_download": f"{base}/download/{file.name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{file.user}/{file.id}",
            "channels": [c for c in file.channels if not c.startswith("D")],
            "ims": [c for c in file.channels if c.startswith("D")],
        }

    def _api_files_info(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(args.get("file") or ""))
        if file is None:
            raise SlackError("file_not_found")
        if file.deleted:
            raise SlackError("file_deleted")
        return {"file": self._file_object(file), "comments": [], "response_metadata": {}}

    def _download(self, request: Request, rest: str) -> Reply:
        """`url_private(_download)`: the bytes, for a token with files:read.

        These URLs need `Authorization: Bearer` with a files:read token
        (https://medium.com/slack-developer-blog/important-changes-to-files-in-the-web-api-eb38f2a9c1e7).
        Without one Slack does not answer 401: it answers 200 with its sign-in
        page in HTML, so a client that does not look at the content type
        imports a web page.
        """
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        file_ref = rest.split("/", 1)[0]
        file_id = file_ref.rsplit("-", 1)[-1]
        with self._lock:
            grant = self.tokens.get(token)
            file = self.files.get(file_id)
            self._record("files.download", {"file": file_id}, 200, {"ok": grant is not None})
            if grant is None or "files:read" not in grant.scopes:
                return Reply.html(SIGN_IN_PAGE)
            if file is None or file.deleted or file_ref != f"{self.team_id}-{file_id}":
                return Reply(status=404, body=b"Not Found", headers={"Content-Type": "text/plain"})
            content, mimetype = file.content, file.mimetype
        return Reply(status=200, body=content, headers={"Content-Type": mimetype})

    # files (the three steps of files_upload_v2; the rules live in slack_files)

    def _api_files_getUploadURLExternal(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        try:
            file_id = f"F{next(self._ids):09d}"
            return self.file_store.announce(args, grant.user_id, self.url, file_id)
        except UploadError as err:
            raise SlackError(err.error, **err.fields) from err

    def _api_files_completeUploadExternal(
        self, grant: Token, args: dict[str, Any]
    ) -> dict[str, Any]:
        refs = [str(args["channel_id"])] if args.get("channel_id") else []
        refs += [c for c in str(args.get("channels") or "").split(",") if c.strip()]
        thread_ts = args.get("thread_ts") or None
        if thread_ts and len(refs) != 1:
            raise SlackError("invalid_arguments")
        # Every destination is checked before anything is shared.
        channels = [self._require_postable(grant, ref.strip()) for ref in refs]
        comment = str(args.get("initial_comment") or "")
        if len(comment) > MESSAGE_TEXT_LIMIT:
            raise SlackError("msg_too_long")
        try:
            completed = self.file_store.complete(args.get("files"))
        except UploadError as err:
            raise SlackError(err.error, **err.fields) from err
        stored = []
        for done in completed:
            file = File(
                id=done.id,
                name=done.filename,
                content=done.content,
                user=done.user,
                filetype=done.filetype,
                mimetype=done.mimetype,
                title=done.title,
                channels=[c.id for c in channels],
            )
            self.files[file.id] = file
            stored.append(file)
        for channel in channels:
            self._messages.append(
                Message(
                    channel=channel.id,
                    ts=self._next_ts(),
                    text=comment,
                    user=grant.user_id,
                    bot_id=grant.bot_id,
                    thread_ts=str(thread_ts) if thread_ts else None,
                    files=[self._file_object(item) for item in stored],
                )
            )
        return {"files": [{"id": item.id, "title": item.title} for item in stored]}

    def body_limit(self, path: str) -> int:
        if path.startswith(UPLOAD_PATH):
            with self._lock:
                return self.file_store.upload_limit(path[len(UPLOAD_PATH) :])
        return self.max_body_bytes

    def _handle_upload(self, request: Request, token: str) -> Reply:
        with self._lock:
            status, text = self.file_store.receive(
                token, request.body, request.headers.get("content-type", "")
            )
        return Reply(status=status, body=text.encode(), headers={"Content-Type": "text/plain"})

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file, as a member who may see it would download them."""
        with self._lock:
            return self.files[file_id].content

    # -- response_url receiver -----------------------------------------------

    def _handle_response_url(self, request: Request, token: str) -> Reply:
        status, payload = 200, None
        response: dict[str, Any] = {"ok": True}
        try:
            try:
                payload = request.json() if request.body else None
            except (ValueError, UnicodeDecodeError) as exc:
                raise SlackError("invalid_payload", 400) from exc
            with self._lock:
                self._respond(token, payload)
        except SlackError as err:
            status, response = err.status, {"ok": False, "error": err.error, **err.fields}
        with self._lock:
            self._response_posts.append(
                ResponseUrlPost(
                    token=token,
                    payload=copy.deepcopy(payload),
                    time=time.time(),
                    status=status,
                    response=response,
                )
            )
        return Reply.json(response, status=status)

    def _respond(self, token: str, payload: Any) -> None:
        target = self._response_urls.get(token)
        if target is None or time.time() > target.expires_at:
            raise SlackError("expired_url", 404)
        if target.uses >= RESPONSE_URL_MAX_USES:
            raise SlackError("used_url", 404)
        if not isinstance(payload, dict):
            raise SlackError("invalid_payload", 400)
        blocks = payload.get("blocks")
        if blocks is not None:
            errors = validate_blocks(blocks, limit=MESSAGE_BLOCK_LIMIT)
            if errors:
                raise SlackError("invalid_blocks", 400, errors=errors)
        origin: Message | None = None
        if target.origin_ts:
            origin = (
                self._find_ephemeral(target.user_id, target.origin_ts)
                if target.origin_ephemeral
                else self._find_message(target.channel_id, target.origin_ts)
            )
        if _truthy(payload.get("delete_original")):
            if origin is None:
                raise SlackError("message_not_found", 404)
            origin.deleted = True
        elif _truthy(payload.get("replace_original")) and origin is not None:
            if not payload.get("text") and not blocks:
                raise SlackError("no_text", 400)
            origin.text = str(payload.get("text") or "")
            origin.blocks = with_block_ids(blocks or [])
            if "attachments" in payload:
                origin.attachments = list(payload.get("attachments") or [])
            origin.edited = not origin.ephemeral
        else:
            if not payload.get("text") and not blocks and not payload.get("attachments"):
                raise SlackError("no_text", 400)
            self._post_reply(target.user_id, target.channel_id, payload, source="response_url")
        target.uses += 1


# --------------------------------------------------------------------------
# Helpers


def im_channel_id(user_id: str) -> str:
    """The id of the bot's direct-message conversation with a user."""
    return "D" + user_id[1:]


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _paginate(items: list[T], args: dict[str, Any]) -> tuple[list[T], str]:
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


# --------------------------------------------------------------------------
# The rehearsal workspace

EDITOR = "U0EDITOR1"
APPROVER_1 = "U0APPROV1"
APPROVER_2 = "U0APPROV2"
OUTSIDER = "U0OUTSID1"
NEWSLETTER_CHANNEL = "C0NEWS0001"
APPROVERS_GROUP = "S0APPROVE1"


def seed_rehearsal_workspace(standin: SlackStandIn) -> SlackStandIn:
    """Fill in the workspace the tests and the rehearsal room start from.

    An editor (山田花子), two approvers (Alice Example, 佐藤太郎) in the
    approvers user group, an outsider who is in the workspace but not in
    #newsletter, the #newsletter channel with the team and the bot; paid plan.
    花子 and 太郎 use Slack in Japanese (locale ja-JP), Alice in English.
    """
    standin.add_user(
        EDITOR,
        "hanako",
        real_name="山田花子",
        display_name="花子",
        email="hanako@example.com",
        is_admin=True,
        locale="ja-JP",
    )
    standin.add_user(
        APPROVER_1,
        "alice",
        real_name="Alice Example",
        display_name="Alice",
        email="alice@example.com",
        tz="Europe/London",
    )
    standin.add_user(
        APPROVER_2,
        "taro",
        real_name="佐藤太郎",
        display_name="太郎",
        email="taro@example.com",
        locale="ja-JP",
    )
    standin.add_user(
        OUTSIDER,
        "outsider",
        real_name="Otto Outsider",
        display_name="otto",
        email="outsider@example.net",
        tz="America/New_York",
    )
    standin.add_channel(
        NEWSLETTER_CHANNEL,
        "newsletter",
        [EDITOR, APPROVER_1, APPROVER_2],
        purpose="Newsletter drafts, approvals and sends",
    )
    standin.add_usergroup(
        APPROVERS_GROUP,
        "newsletter-approvers",
        [APPROVER_1, APPROVER_2],
        name="Newsletter approvers",
        description="May approve list-wide sends",
    )
    standin.plan_paid = True
    return standin


def main(argv: list[str] | None = None) -> int:
    """Run a seeded Slack stand-in until Ctrl-C; print its URL."""
    parser = argparse.ArgumentParser(
        prog="countersign-slack-standin", description="Local stand-in for the Slack Web API."
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--empty", action="store_true", help="start without the sample workspace")
    options = parser.parse_args(argv)
    standin = SlackStandIn()
    if not options.empty:
        seed_rehearsal_workspace(standin)
    standin.start(port=options.port, host=options.host)
    print(standin.url, flush=True)
    print(f"bot token: {standin.bot_token}", file=sys.stderr, flush=True)
    try:
        stop_on_signals().wait()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
