"""A workspace member, played by code: signed Slack requests into the bot.

`SlackDriver` sends what Slack's servers send to an app's Request URL --
slash commands (form-encoded), interactions (form-encoded `payload=<json>`:
block_actions, view_submission, view_closed) and Events API callbacks (JSON)
-- each signed with the v0 scheme (`X-Slack-Signature`,
`X-Slack-Request-Timestamp`). Trigger ids and response URLs it puts in the
payloads are registered with the `SlackStandIn`, so the bot's `views.open`
and `respond()` calls land there. It also does what Slack does with the
bot's immediate HTTP answers: a slash command's body is shown to the user, a
view_submission's `response_action` updates the modal stack.

For security tests it can sign badly (`signature="bad"`), send stale
requests (`stale=True`) and replay a request byte for byte
(`driver.replay(driver.last_request)`).

    driver = SlackDriver("http://127.0.0.1:3000/slack/events", secret, standin)
    editor = driver.as_user("U0EDITOR1")
    editor.command("/newsletter", "new")
    editor.submit_view(standin.open_views("U0EDITOR1")[-1], {"subject": {"value": "件名"}})
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier

from bot.standins.slack import Message, SlackStandIn, im_channel_id, interactive_elements

STALE_AGE = 10 * 60  # seconds; Slack's SDKs refuse requests older than 5 minutes


@dataclass(frozen=True)
class SignedRequest:
    """One request as sent: replaying it sends the same bytes and headers."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = ""  # command | block_actions | view_submission | view_closed | event

    @property
    def timestamp(self) -> str:
        return self.headers.get("X-Slack-Request-Timestamp", "")

    @property
    def signature(self) -> str:
        return self.headers.get("X-Slack-Signature", "")


class SlackDriver:
    """Sends signed Slack requests to one app endpoint, on behalf of workspace members."""

    def __init__(
        self,
        events_url: str,
        signing_secret: str,
        standin: SlackStandIn,
        *,
        timeout: float = 10.0,
        verification_token: str = "StandInVerificationToken",  # noqa: S107 - legacy field
    ) -> None:
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.standin = standin
        self.timeout = timeout
        self.verification_token = verification_token
        self.verifier = SignatureVerifier(signing_secret)
        self.sent: list[SignedRequest] = []
        self.session = requests.Session()

    @property
    def last_request(self) -> SignedRequest | None:
        return self.sent[-1] if self.sent else None

    def as_user(self, user_id: str, channel: str | None = None) -> SlackActor:
        """An actor for `user_id`; `channel` is where their commands are typed.

        By default: the first channel they are a member of, else their DM
        with the app.
        """
        return SlackActor(self, user_id, channel)

    # -- signing and sending --------------------------------------------------

    def sign(self, body: bytes, timestamp: int | str) -> str:
        signature = self.verifier.generate_signature(
            timestamp=str(timestamp), body=body.decode("utf-8")
        )
        assert signature is not None
        return signature

    def build(
        self,
        body: bytes,
        content_type: str,
        *,
        kind: str = "",
        signature: str | None = None,
        stale: bool = False,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> SignedRequest:
        """A signed request, ready to send.

        `signature`: None signs correctly; "bad" signs with a wrong secret;
        "" leaves the signature header out; anything else is sent verbatim.
        `stale` dates the request 10 minutes back (signed correctly).
        """
        ts = timestamp if timestamp is not None else int(time.time())
        if stale:
            ts -= STALE_AGE
        all_headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts)}
        if signature is None:
            all_headers["X-Slack-Signature"] = self.sign(body, ts)
        elif signature == "bad":
            digest = hmac.new(
                b"not-the-signing-secret", f"v0:{ts}:".encode() + body, hashlib.sha256
            ).hexdigest()
            all_headers["X-Slack-Signature"] = f"v0={digest}"
        elif signature:
            all_headers["X-Slack-Signature"] = signature
        all_headers.update(headers or {})
        return SignedRequest(url=self.events_url, body=body, headers=all_headers, kind=kind)

    def send(self, request: SignedRequest) -> requests.Response:
        self.sent.append(request)
        return self.session.post(
            request.url, data=request.body, headers=request.headers, timeout=self.timeout
        )

    def replay(self, request: SignedRequest | None = None) -> requests.Response:
        """Send a request again, byte for byte (the last one by default)."""
        target = request or self.last_request
        if target is None:
            raise ValueError("nothing to replay")
        return self.send(target)

    # -- payload pieces -----------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.standin.users.get(user_id)
        name = user.name if user else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.standin.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.standin.team_id, "domain": self.standin.team_domain}

    def _channel_name(self, channel_id: str) -> str:
        channel = self.standin.channels.get(channel_id)
        if channel is None or channel.is_im or channel_id.startswith("D"):
            return "directmessage"
        return channel.name

    def default_channel(self, user_id: str) -> str:
        for channel in list(self.standin.channels.values()):
            if not channel.is_im and user_id in channel.members:
                return channel.id
        return im_channel_id(user_id)

    def post_form(self, fields: dict[str, str], kind: str, **options: Any) -> requests.Response:
        body = urlencode(fields).encode("utf-8")
        request = self.build(body, "application/x-www-form-urlencoded", kind=kind, **options)
        return self.send(request)

    def post_payload(self, payload: dict[str, Any], **options: Any) -> requests.Response:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return self.post_form({"payload": text}, str(payload.get("type", "")), **options)

    def send_event(self, event: dict[str, Any], **options: Any) -> requests.Response:
        """An Events API `event_callback` envelope around `event`."""
        envelope = {
            "token": self.verification_token,
            "team_id": self.standin.team_id,
            "context_team_id": self.standin.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.standin.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.standin.team_id,
                    "user_id": self.standin.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(24),
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.send(self.build(body, "application/json", kind="event", **options))


class SlackActor:
    """One workspace member acting in Slack: typing commands, clicking, submitting."""

    def __init__(self, driver: SlackDriver, user_id: str, channel: str | None = None) -> None:
        self.driver = driver
        self.user_id = user_id
        self.channel = channel

    @property
    def standin(self) -> SlackStandIn:
        return self.driver.standin

    def _channel(self, channel: str | None) -> str:
        return channel or self.channel or self.driver.default_channel(self.user_id)

    def command(
        self,
        command: str,
        text: str = "",
        *,
        channel: str | None = None,
        signature: str | None = None,
        stale: bool = False,
        apply_ack: bool = True,
    ) -> requests.Response:
        """Type `/command text` in a channel; the answer body is shown like Slack does."""
        channel_id = self._channel(channel)
        user = self.driver._user(self.user_id)
        fields = {
            "token": self.driver.verification_token,
            "team_id": self.standin.team_id,
            "team_domain": self.standin.team_domain,
            "channel_id": channel_id,
            "channel_name": self.driver._channel_name(channel_id),
            "user_id": self.user_id,
            "user_name": user["name"],
            "command": command,
            "text": text,
            "api_app_id": self.standin.app_id,
            "is_enterprise_install": "false",
            "response_url": self.standin.new_response_url(self.user_id, channel_id),
            "trigger_id": self.standin.new_trigger_id(self.user_id),
        }
        response = self.driver.post_form(fields, "command", signature=signature, stale=stale)
        if apply_ack and response.status_code == 200:
            self.standin.record_command_ack(self.user_id, channel_id, response.content)
        return response

    def click(
        self,
        action_id: str,
        value: Any = None,
        *,
        message: Message | None = None,
        view: dict[str, Any] | None = None,
        block_id: str | None = None,
        channel: str | None = None,
        signature: str | None = None,
        stale: bool = False,
        typed: dict[str, dict[str, Any]] | None = None,
        shown: dict[str, Any] | None = None,
    ) -> requests.Response:
        """Press a button (or pick from a menu) in a message or a view.

        With `message` or `view`, the element is looked up in its blocks
        (LookupError when it is not there) and supplies block_id, text and
        value unless given. In a view, `typed` is what the member has typed
        into its inputs so far ({block_id: {action_id: value}}, as for
        `submit_view`): Slack sends it in the payload's `view.state`. `shown` is
        the element as the person's screen showed it: when the message or view has
        changed since and no longer has it, the click is still sent with `shown`,
        as Slack sends what its client showed (https://api.slack.com/interactivity/handling:
        every interaction goes to the app, which answers it), and the app judges the
        stale button.
        """
        blocks: list[dict[str, Any]] = []
        if message is not None:
            blocks = message.blocks
        elif view is not None:
            blocks = view.get("blocks", [])
        element: dict[str, Any] = {"type": "button", "action_id": action_id}
        found_block_id = block_id
        if message is not None or view is not None:
            match = [
                (b, e)
                for b, e in interactive_elements(blocks)
                if e.get("action_id") == action_id and block_id in (None, b)
            ]
            if match:
                found_block_id, element = match[0]
            elif shown is not None:
                element = {**shown, "action_id": action_id}
            else:
                raise LookupError(f"no element with action_id {action_id!r} in those blocks")
        action = _action(element, action_id, found_block_id or _random_block_id(), value)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self.driver._user(self.user_id),
            "api_app_id": self.standin.app_id,
            "token": self.driver.verification_token,
            "trigger_id": self.standin.new_trigger_id(self.user_id),
            "team": self.driver._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [action],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id")}
            payload["view"] = _view_with_state(view, typed or {})
        else:
            channel_id = message.channel if message is not None else self._channel(channel)
            ephemeral = bool(message and message.ephemeral)
            payload["container"] = {
                "type": "message",
                "message_ts": message.ts if message else None,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            }
            payload["channel"] = {"id": channel_id, "name": self.driver._channel_name(channel_id)}
            if message is not None and not ephemeral:
                payload["message"] = message.to_payload(self.standin.team_id, self.standin.app_id)
            payload["state"] = {"values": {}}
            payload["response_url"] = self.standin.new_response_url(
                self.user_id,
                channel_id,
                origin_ts=message.ts if message else None,
                origin_ephemeral=ephemeral,
            )
        return self.driver.post_payload(payload, signature=signature, stale=stale)

    def submit_view(
        self,
        view: dict[str, Any] | str,
        values: dict[str, dict[str, Any]] | None = None,
        *,
        signature: str | None = None,
        stale: bool = False,
        apply_ack: bool = True,
    ) -> requests.Response:
        """Press Submit on a modal, having typed `values` ({block_id: {action_id: value}}).

        Inputs not given keep their initial values. Values are plain Python
        (str, list of option values, "YYYY-MM-DD" ...) and are shaped by
        element type the way Slack sends them.
        """
        current = self._view(view)
        payload = {
            "type": "view_submission",
            "team": self.driver._team(),
            "user": self.driver._user(self.user_id),
            "api_app_id": self.standin.app_id,
            "token": self.driver.verification_token,
            "trigger_id": self.standin.new_trigger_id(self.user_id),
            "view": _view_with_state(current, values or {}),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        response = self.driver.post_payload(payload, signature=signature, stale=stale)
        if apply_ack and response.status_code == 200:
            self.standin.apply_view_submission_ack(
                self.user_id, current["id"], response.content, submitted_hash=current.get("hash")
            )
        return response

    def close_view(
        self, view: dict[str, Any] | str, *, signature: str | None = None, stale: bool = False
    ) -> requests.Response | None:
        """Close a modal; Slack sends view_closed only when notify_on_close is set."""
        current = self._view(view)
        self.standin.close_view(self.user_id, current["id"])
        if not current.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": self.driver._team(),
            "user": self.driver._user(self.user_id),
            "api_app_id": self.standin.app_id,
            "token": self.driver.verification_token,
            "view": _view_with_state(current, {}),
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.driver.post_payload(payload, signature=signature, stale=stale)

    def open_app_home(
        self, *, tab: str = "home", signature: str | None = None, stale: bool = False
    ) -> requests.Response:
        """The user opens the app's Home tab: an `app_home_opened` event."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": self.user_id,
            "channel": im_channel_id(self.user_id),
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
        home = self.standin.home_view(self.user_id)
        if home is not None and tab == "home":
            event["view"] = home
        return self.driver.send_event(event, signature=signature, stale=stale)

    def _view(self, view: dict[str, Any] | str) -> dict[str, Any]:
        if isinstance(view, str):
            found = self.standin.get_view(view)
            if found is None:
                raise LookupError(f"no view {view!r} in the stand-in")
            return found
        return view


# --------------------------------------------------------------------------
# Payload shaping


def _random_block_id() -> str:
    return secrets.token_urlsafe(4)


def _find_option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    for option in options:
        if option.get("value") == value:
            return dict(option)
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": value}


def element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """One element's entry in `state.values`, shaped as Slack sends it."""
    kind = str(element.get("type", "plain_text_input"))
    if isinstance(value, dict) and "type" in value:
        return value  # already shaped by the caller
    state: dict[str, Any] = {"type": kind}
    if kind in ("static_select", "external_select", "radio_buttons", "overflow"):
        state["selected_option"] = None if value is None else _find_option(element, value)
    elif kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        state["selected_options"] = [_find_option(element, v) for v in value or []]
    elif kind == "datepicker":
        state["selected_date"] = value
    elif kind == "timepicker":
        state["selected_time"] = value
    elif kind == "datetimepicker":
        state["selected_date_time"] = value
    elif kind == "users_select":
        state["selected_user"] = value
    elif kind == "multi_users_select":
        state["selected_users"] = list(value or [])
    elif kind == "conversations_select":
        state["selected_conversation"] = value
    elif kind == "multi_conversations_select":
        state["selected_conversations"] = list(value or [])
    elif kind == "channels_select":
        state["selected_channel"] = value
    elif kind == "multi_channels_select":
        state["selected_channels"] = list(value or [])
    elif kind == "rich_text_input":
        state["rich_text_value"] = value
    elif kind == "file_input":
        # The file objects of what was uploaded (bolt-js #1995, `files`).
        state["files"] = list(value or [])
    else:  # plain_text_input, email/url/number inputs
        state["value"] = None if value is None else str(value)
    return state


class NotTypable(ValueError):
    """What a member could not have typed or picked: Slack's client stops them
    (a plain_text_input's max_length, a file_input's max_files), so no such
    submission ever reaches an app."""


def _check_typable(element: dict[str, Any], value: Any, where: str) -> None:
    kind = element.get("type")
    if kind == "plain_text_input" and isinstance(value, str):
        high = element.get("max_length")
        low = element.get("min_length")
        if isinstance(high, int) and len(value) > high:
            raise NotTypable(f"{where}: {len(value)} characters, max_length is {high}")
        if isinstance(low, int) and value and len(value) < low:
            raise NotTypable(f"{where}: {len(value)} characters, min_length is {low}")
    if kind == "file_input" and isinstance(value, list):
        most = element.get("max_files", 10)
        if len(value) > most:
            raise NotTypable(f"{where}: {len(value)} files, max_files is {most}")


def _initial_value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        option = element.get("initial_option")
        return option.get("value") if isinstance(option, dict) else None
    if kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        return [o.get("value") for o in element.get("initial_options") or []]
    for key in (
        "initial_value",
        "initial_date",
        "initial_time",
        "initial_date_time",
        "initial_user",
        "initial_conversation",
        "initial_channel",
    ):
        if key in element:
            return element[key]
    for key in ("initial_users", "initial_conversations", "initial_channels"):
        if key in element:
            return list(element[key])
    return None


def _view_with_state(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The view as it appears in an interaction payload, with `state.values` filled in."""
    inputs: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view.get("blocks", []):
        element = block.get("element") if block.get("type") == "input" else None
        if isinstance(element, dict) and block.get("block_id") and element.get("action_id"):
            inputs.setdefault(block["block_id"], {})[element["action_id"]] = element
    state: dict[str, dict[str, Any]] = {}
    for block_id, elements in inputs.items():
        for action_id, element in elements.items():
            state.setdefault(block_id, {})[action_id] = element_state(
                element, _initial_value(element)
            )
    for block_id, given in values.items():
        for action_id, value in given.items():
            element = inputs.get(block_id, {}).get(action_id)
            if element is None:
                raise LookupError(f"no input {block_id}/{action_id} in view {view.get('id')}")
            _check_typable(element, value, f"{block_id}/{action_id}")
            state[block_id][action_id] = element_state(element, value)
    out = json.loads(json.dumps(view))
    out["state"] = {"values": state}
    return out


def _action(element: dict[str, Any], action_id: str, block_id: str, value: Any) -> dict[str, Any]:
    kind = str(element.get("type", "button"))
    action: dict[str, Any] = {"action_id": action_id, "block_id": block_id}
    if kind == "button":
        action["text"] = element.get("text") or {"type": "plain_text", "text": action_id}
        action["value"] = element.get("value") if value is None else value
        action["type"] = "button"
        if element.get("style"):
            action["style"] = element["style"]
    else:
        action.update(element_state(element, value))
        if kind in ("static_select", "overflow", "radio_buttons") and value is None:
            action["selected_option"] = None
    if action.get("value") is None and kind == "button":
        action.pop("value")
    action["action_ts"] = f"{time.time():.6f}"
    return action
