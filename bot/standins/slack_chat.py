"""The Slack stand-in's chat.* methods and the messages they leave in the workspace.

`chat.postMessage`, `chat.postEphemeral`, `chat.update`, `chat.delete` and
`chat.getPermalink` (https://docs.slack.dev/reference/methods/chat.postMessage and
its neighbours), with the limits Slack checks (`MESSAGE_TEXT_LIMIT`,
`slack_blocks.MESSAGE_BLOCK_LIMIT`); and the inspection helpers tests read messages with.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.standins.slack_blocks import MESSAGE_BLOCK_LIMIT, validate_blocks
from bot.standins.slack_state import (
    MESSAGE_TEXT_LIMIT,
    Channel,
    Message,
    SlackError,
    SlackWorkspace,
    Token,
    im_channel_id,
    with_block_ids,
)


class ChatMethods(SlackWorkspace):
    """chat.*, and the messages of channels, DMs and ephemerals."""

    # -- inspection helpers ----------------------------------------------------

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

    # -- chat.* ----------------------------------------------------------------

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

    def _channel_message(
        self, grant: Token, args: dict[str, Any], ts_key: str
    ) -> tuple[Channel, Message]:
        """The channel and message `args` name (by `channel` and `ts_key`), as Slack
        looks them up for chat.update, chat.delete and chat.getPermalink: a channel
        the bot cannot see is `channel_not_found`, a message not there
        `message_not_found`."""
        channel = self._resolve_channel(str(args.get("channel") or ""), create_im=False)
        if channel is None or not self._bot_can_see(grant, channel):
            raise SlackError("channel_not_found")
        message = self._find_message(channel.id, str(args.get(ts_key) or ""))
        if message is None:
            raise SlackError("message_not_found")
        return channel, message

    def _api_chat_update(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._channel_message(grant, args, "ts")
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
        channel, message = self._channel_message(grant, args, "ts")
        if message.user != grant.user_id:
            raise SlackError("cant_delete_message")
        message.deleted = True
        return {"channel": channel.id, "ts": message.ts}

    def _api_chat_getPermalink(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._channel_message(grant, args, "message_ts")
        link = (
            f"https://{self.team_domain}.slack.com/archives/{channel.id}/"
            f"p{message.ts.replace('.', '')}"
        )
        if message.thread_ts and message.thread_ts != message.ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}
