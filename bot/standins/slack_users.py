"""The Slack stand-in's users.* and usergroups.* methods, and the user and group objects.

`users.info` (`locale` only with include_locale), `users.list`, `users.lookupByEmail`,
`usergroups.list`, `usergroups.users.list` (paid plans only: plan_upgrade_required)
(https://docs.slack.dev/reference/methods/users.info and its neighbours); a Slack
admin's change of a group's members (`set_usergroup_users`), told to the app as Slack
tells it: `subteam_members_changed` (the delta) and `subteam_updated` (the group).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.standins.slack_state import (
    SlackError,
    SlackWorkspace,
    Token,
    User,
    UserGroup,
    paginate,
    truthy,
)


class UsersMethods(SlackWorkspace):
    """users.* and usergroups.*, as Slack renders members and groups."""

    # -- users and groups as Slack renders them --------------------------------

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

    # -- a Slack admin's changes ------------------------------------------------

    def set_usergroup_users(self, group_id: str, users: list[str]) -> list[dict[str, Any]]:
        """A Slack admin sets a user group's members. As Slack does, the app is told
        with two events: `subteam_members_changed`, "sent ... when users are added or
        removed from an existing User Group", with only the delta
        (https://docs.slack.dev/reference/events/subteam_members_changed/), and
        `subteam_updated`, with the group and its members (users truncated at 500,
        https://docs.slack.dev/reference/events/subteam_updated/); both need
        usergroups:read. The events go to `event_sink`; returned, and kept in `events`."""
        with self._lock:
            group = self.usergroups.get(group_id)
            if group is None:
                raise SlackError("no_such_subteam")
            before, after = list(group.users), list(dict.fromkeys(users))
            group.users = after
            added = [u for u in after if u not in before]
            removed = [u for u in before if u not in after]
            if not added and not removed:
                return []
            now = int(time.time())
            shown = self._usergroup_object(group, include_users=True, include_count=True)
        shown["users"] = shown["users"][:500]
        events: list[dict[str, Any]] = [
            {
                "type": "subteam_members_changed",
                "subteam_id": group_id,
                "team_id": self.team_id,
                "date_previous_update": now - 1,
                "date_update": now,
                "added_users": added,
                "added_users_count": str(len(added)),
                "removed_users": removed,
                "removed_users_count": str(len(removed)),
                "event_ts": f"{now}.000100",
            },
            {"type": "subteam_updated", "subteam": shown, "event_ts": f"{now}.000200"},
        ]
        for event in events:
            self.events.append(event)
            if self.event_sink is not None:
                self.event_sink(event)
        return events

    # -- users.* and usergroups.* -------------------------------------------------

    def _api_users_info(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        with_email = "users:read.email" in grant.scopes
        shown = self._user_object(user, with_email=with_email)
        # https://docs.slack.dev/reference/methods/users.info: the user's `locale`
        # is included only when the call asks for it with include_locale=true.
        if truthy(args.get("include_locale")):
            shown["locale"] = user.locale
        return {"user": shown}

    def _api_users_list(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        with_email = "users:read.email" in grant.scopes
        members = [self._user_object(u, with_email=with_email) for u in self.users.values()]
        page, cursor = paginate(members, args)
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
        include_disabled = truthy(args.get("include_disabled"))
        return {
            "usergroups": [
                self._usergroup_object(
                    g,
                    include_users=truthy(args.get("include_users")),
                    include_count=truthy(args.get("include_count")),
                )
                for g in self.usergroups.values()
                if include_disabled or not g.disabled
            ]
        }

    def _api_usergroups_users_list(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        self._require_paid_plan()
        group = self.usergroups.get(str(args.get("usergroup") or ""))
        if group is None or (group.disabled and not truthy(args.get("include_disabled"))):
            raise SlackError("no_such_subteam")
        return {"users": list(group.users)}
