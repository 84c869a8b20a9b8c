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

Each API family lives in a module of its own, and `SlackStandIn` puts them together:

- `slack_state`: the workspace's model and the state and helpers every family shares;
- `slack_chat`: chat.* and the messages tests read;
- `slack_views`: views.*, modal stacks, App Home, trigger ids;
- `slack_users`: users.* and usergroups.*;
- `slack_conversations`: conversations.*;
- `slack_files`: files.*, uploads, private download URLs;
- `slack_response_url`: response_url posts and slash command acks.

This module routes HTTP requests, checks tokens and scopes, and dispatches
`/{method}` to the family's `_api_{family}_{method}`.

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
import copy
import json
import sys
from typing import Any
from urllib.parse import parse_qs

from bot.standins.server import Reply, Request
from bot.standins.slack_chat import ChatMethods
from bot.standins.slack_conversations import ConversationsMethods
from bot.standins.slack_files import (
    FILE_INPUT_LIMIT,
    FILES_PREFIX,
    SIGN_IN_PAGE,
    UPLOAD_PATH,
    File,
    FilesMethods,
)
from bot.standins.slack_response_url import (
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL,
    ResponseUrlMethods,
    ResponseUrlPost,
)
from bot.standins.slack_state import (
    DEFAULT_BOT_TOKEN,
    DEFAULT_SCOPES,
    MESSAGE_TEXT_LIMIT,
    Call,
    Channel,
    Message,
    SlackError,
    Token,
    User,
    UserGroup,
    im_channel_id,
    interactive_elements,
    with_block_ids,
)
from bot.standins.slack_users import UsersMethods
from bot.standins.slack_views import MODAL_STACK_LIMIT, ViewsMethods
from bot.stopping import stop_on_signals

# The names callers import from here, wherever they live now.
__all__ = [
    "APPROVERS_GROUP",
    "APPROVER_1",
    "APPROVER_2",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_SCOPES",
    "EDITOR",
    "FILES_PREFIX",
    "FILE_INPUT_LIMIT",
    "MESSAGE_TEXT_LIMIT",
    "MODAL_STACK_LIMIT",
    "NEWSLETTER_CHANNEL",
    "OUTSIDER",
    "RESPONSE_URL_MAX_USES",
    "RESPONSE_URL_TTL",
    "SIGN_IN_PAGE",
    "Call",
    "Channel",
    "File",
    "Message",
    "ResponseUrlPost",
    "SlackError",
    "SlackStandIn",
    "Token",
    "User",
    "UserGroup",
    "im_channel_id",
    "interactive_elements",
    "main",
    "seed_rehearsal_workspace",
    "with_block_ids",
]

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


# --------------------------------------------------------------------------
# The stand-in


class SlackStandIn(
    ChatMethods,
    ViewsMethods,
    UsersMethods,
    ConversationsMethods,
    FilesMethods,
    ResponseUrlMethods,
):
    """Answers the Slack Web API like Slack, against an in-memory workspace."""

    # A Web API call carries at most a message (40,000 characters of text, 50 blocks
    # of 3,000) or a view (100 blocks): well under 2 MB. An upload POST may carry
    # what files.getUploadURLExternal announced for it (`body_limit`).
    max_body_bytes = 2_000_000

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

    # -- HTTP ----------------------------------------------------------------

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

    def _authenticate(self, token: str | None) -> Token:
        if not token:
            raise SlackError("not_authed")
        grant = self.tokens.get(token)
        if grant is None:
            raise SlackError("invalid_auth")
        return grant

    # -- auth.test -----------------------------------------------------------

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
