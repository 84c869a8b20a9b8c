"""Who is who, answered by Slack: `SlackDirectory` implements `bot.desk.Directory`.

`TEAM` and `APPROVERS` name a user group (S…) or a list of user ids. Group
membership is cached briefly (a minute) so a busy approval card does not cost
a Slack call per click, yet a removed approver loses the right quickly.
`plan_upgrade_required` (user groups need a paid plan) and other Slack errors
become `DirectoryError`s with a code the front end explains.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.desk import DirectoryError
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
        self._emails: dict[str, tuple[float, str | None]] = {}
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

    def email_of(self, user_id: str) -> str | None:
        now = self._monotonic()
        with self._lock:
            cached = self._emails.get(user_id)
            if cached and now - cached[0] < self.ttl:
                return cached[1]
        try:
            reply = self.client.users_info(user=user_id)
        except SlackApiError as exc:
            raise DirectoryError("slack_error", error=str(exc.response.get("error", ""))) from None
        user = reply.get("user") or {}
        email = (user.get("profile") or {}).get("email") or None
        with self._lock:
            self._emails[user_id] = (now, email)
        return email
