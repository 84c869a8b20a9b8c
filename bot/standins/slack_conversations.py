"""The Slack stand-in's conversations.* methods and the channel object.

`conversations.info`, `conversations.members`, `conversations.open`
(https://docs.slack.dev/reference/methods/conversations.info and its neighbours); each
checks channels:read, groups:read or im:read by the kind of channel.
"""

from __future__ import annotations

from typing import Any

from bot.standins.slack_state import (
    Channel,
    SlackError,
    SlackWorkspace,
    Token,
    im_channel_id,
    paginate,
    truthy,
)


class ConversationsMethods(SlackWorkspace):
    """conversations.*, as Slack renders channels and DMs."""

    # -- channels as Slack renders them ----------------------------------------

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

    # -- conversations.* ---------------------------------------------------------

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
        if truthy(args.get("include_num_members")) and not channel.is_im:
            out["num_members"] = len(channel.members)
        return {"channel": out}

    def _api_conversations_members(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(grant, args)
        page, cursor = paginate(list(channel.members), args)
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
