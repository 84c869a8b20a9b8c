"""Who is who, answered by Slack: `SlackDirectory` implements `bot.desk.Directory`.

`TEAM` and `APPROVERS` name a user group (S…) or a list of user ids. Group
membership is cached briefly (a minute) so a busy approval card does not cost
a Slack call per click; when a Slack admin changes a group, Slack tells the app
(`subteam_members_changed`, `subteam_updated`; app.yaml subscribes to both) and
`register()`'s listener drops that group from the cache, so a removed approver
loses the right at once — within the minute if the event is lost.
`plan_upgrade_required` (user groups need a paid plan) and other Slack errors
become `DirectoryError`s with a code the front end explains.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk import Desk, DirectoryError
from bot.settings import Principals, Settings

CACHE_SECONDS = 60.0


class SlackDirectory:
    def __init__(
        self,
        client: WebClient,
        settings: Settings,
        *,
        ttl: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self.ttl = ttl
        self._monotonic = monotonic
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._users: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _group_members(self, group: str) -> frozenset[str]:
        now = self._monotonic()
        with self._lock:
            cached = self._groups.get(group)
            if cached and now - cached[0] < self.ttl:
                return cached[1]
        try:
            reply = self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error == "plan_upgrade_required":
                raise DirectoryError("plan_upgrade_required") from None
            raise DirectoryError("slack_error", error=error) from None
        users: list[str] = list(reply.get("users") or [])
        members = frozenset(users)
        with self._lock:
            self._groups[group] = (now, members)
        return members

    def group_changed(self, group: str) -> None:
        """Slack said `group`'s members changed: ask again at the next question."""
        with self._lock:
            self._groups.pop(group, None)

    def _members(self, principals: Principals) -> frozenset[str]:
        if principals.group:
            return self._group_members(principals.group)
        return principals.users

    def is_team_member(self, user_id: str) -> bool:
        team = self.settings.team
        if team.empty:
            return True
        # Approvers are always on the team: they must be able to approve.
        return user_id in self._members(team) or user_id in self.approvers()

    def is_approver(self, user_id: str) -> bool:
        return user_id in self.approvers()

    def approvers(self) -> frozenset[str]:
        approvers = self.settings.approvers
        if approvers.empty:
            return frozenset()
        return self._members(approvers)

    def _user(self, user_id: str) -> dict[str, Any]:
        """users.info with the locale (one cached call serves email, locale and name)."""
        now = self._monotonic()
        with self._lock:
            cached = self._users.get(user_id)
            if cached and now - cached[0] < self.ttl:
                return cached[1]
        try:
            # https://docs.slack.dev/reference/methods/users.info: `locale` is in the
            # user object only when include_locale is true.
            reply = self.client.users_info(user=user_id, include_locale=True)
        except SlackApiError as exc:
            raise DirectoryError("slack_error", error=str(exc.response.get("error", ""))) from None
        user: dict[str, Any] = dict(reply.get("user") or {})
        with self._lock:
            self._users[user_id] = (now, user)
        return user

    def email_of(self, user_id: str) -> str | None:
        return (self._user(user_id).get("profile") or {}).get("email") or None

    def name_of(self, user_id: str) -> str:
        """The person's full name in Slack (else their display name), for a test copy
        personalised as the clicker would receive it."""
        user = self._user(user_id)
        profile = user.get("profile") or {}
        return str(
            profile.get("real_name") or user.get("real_name") or profile.get("display_name") or ""
        )

    def locale_of(self, user_id: str) -> str | None:
        """The person's Slack locale (`ja-JP`), or None when Slack cannot tell."""
        try:
            return self._user(user_id).get("locale") or None
        except DirectoryError:
            return None  # the team's language, rather than no answer at all


def register(app: App, desk: Desk) -> None:
    """Slack's user group events drop the group from the directory's cache.

    `subteam_members_changed` names the group (`subteam_id`) and the delta
    (https://docs.slack.dev/reference/events/subteam_members_changed/);
    `subteam_updated` carries the group (`subteam.id`), also when it was disabled
    (https://docs.slack.dev/reference/events/subteam_updated/). Neither is trusted
    for the members themselves (the delta may arrive out of order, the snapshot is
    truncated at 500): the next question asks Slack."""
    directory = desk.directory

    def forget(group: object) -> None:
        if isinstance(directory, SlackDirectory) and isinstance(group, str) and group:
            directory.group_changed(group)

    @app.event("subteam_members_changed")
    def members_changed(event: dict[str, Any]) -> None:
        forget(event.get("subteam_id"))

    @app.event("subteam_updated")
    def updated(event: dict[str, Any]) -> None:
        forget((event.get("subteam") or {}).get("id"))
