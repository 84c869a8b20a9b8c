"""The Slack stand-in's replies to interactions: the response_url receiver and command acks.

A response_url takes up to five posts within 30 minutes
(https://api.slack.com/interactivity/handling, "Message responses");
`replace_original` / `delete_original` act on the message the interaction came from.
A slash command's immediate HTTP answer is shown as Slack shows it (`record_command_ack`).
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from bot.standins.server import Reply, Request
from bot.standins.slack_blocks import MESSAGE_BLOCK_LIMIT, validate_blocks
from bot.standins.slack_state import Message, SlackError, SlackWorkspace, truthy, with_block_ids

RESPONSE_URL_TTL = 30 * 60.0  # Slack: up to 5 uses within 30 minutes
RESPONSE_URL_MAX_USES = 5


@dataclass
class ResponseUrlPost:
    """One recorded post to a response_url."""

    token: str
    payload: Any
    time: float
    status: int
    response: dict[str, Any]


@dataclass
class _ResponseUrl:
    user_id: str
    channel_id: str
    expires_at: float
    origin_ts: str | None = None
    origin_ephemeral: bool = False
    uses: int = 0


class ResponseUrlMethods(SlackWorkspace):
    """response_url posts and slash command acks, shown where Slack shows them."""

    def _reset_state(self) -> None:
        super()._reset_state()
        self.response_url_ttl = RESPONSE_URL_TTL
        self._response_posts: list[ResponseUrlPost] = []
        self._response_urls: dict[str, _ResponseUrl] = {}

    # -- response URLs (issued by the driver) -----------------------------------

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

    def response_url_posts(self) -> list[ResponseUrlPost]:
        with self._lock:
            return copy.deepcopy(self._response_posts)

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

    # -- the response_url receiver ---------------------------------------------

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
        if truthy(payload.get("delete_original")):
            if origin is None:
                raise SlackError("message_not_found", 404)
            origin.deleted = True
        elif truthy(payload.get("replace_original")) and origin is not None:
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
