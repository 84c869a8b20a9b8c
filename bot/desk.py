"""The newsletter desk: the services' shared parts, in one object.

Every front end (the Slack handlers, the CLI, the rehearsal room, tests)
builds one `Desk` and passes it to the service functions in `bot/`. `bot`
knows nothing of Slack: who is on the team comes through a `Directory`, and
what the team should be told goes out as `Notice`s through a `Notifier`; the
Slack front end implements both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.clock import Clock
from bot.postmark import READ_TIMEOUT, PostmarkGateway
from bot.preflight import PersonalDataCache
from bot.refusal import Refusal
from bot.settings import Settings
from storage.db import Database


class DirectoryError(Refusal):
    """Who-is-who could not be answered (e.g. Slack's `plan_upgrade_required`)."""


class Directory(Protocol):
    def is_team_member(self, user_id: str) -> bool: ...

    def is_approver(self, user_id: str) -> bool: ...

    def approvers(self) -> frozenset[str]: ...

    def email_of(self, user_id: str) -> str | None: ...

    def locale_of(self, user_id: str) -> str | None:
        """The person's locale as their chat tool tells it (`ja-JP`), or None."""
        ...

    def name_of(self, user_id: str) -> str:
        """The person's name as their chat tool shows it ("" when it cannot tell)."""
        ...


@dataclass(frozen=True)
class Notice:
    """Something the team should see in the newsletter channel.

    `kind` names the message (the front end's catalogue holds its sentence);
    `params` never hold addresses or other personal data (invariant 9).
    """

    kind: str
    issue_id: int | None = None
    request_id: int | None = None
    send_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    def notify(self, notice: Notice) -> None:
        """Tell the channel; a failure is logged, never raised."""
        ...

    def deliver(self, notice: Notice) -> None:
        """Tell the channel; raise when it was not told (the outbox retries)."""
        ...


class CollectingNotifier:
    """Keeps notices in memory: for the CLI and unit tests."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self._lock = threading.Lock()

    def notify(self, notice: Notice) -> None:
        with self._lock:
            self.notices.append(notice)

    def deliver(self, notice: Notice) -> None:
        self.notify(notice)

    def kinds(self) -> list[str]:
        with self._lock:
            return [n.kind for n in self.notices]


class NoDirectory:
    """The command line's directory: it knows nobody. What the CLI does (a
    restore's halt, an export) needs no one's Slack role."""

    def is_team_member(self, user_id: str) -> bool:
        return False

    def is_approver(self, user_id: str) -> bool:
        return False

    def approvers(self) -> frozenset[str]:
        return frozenset()

    def email_of(self, user_id: str) -> str | None:
        return None

    def locale_of(self, user_id: str) -> str | None:
        return None

    def name_of(self, user_id: str) -> str:
        return ""


@dataclass
class Desk:
    settings: Settings
    db: Database
    clock: Clock
    postmark: PostmarkGateway
    directory: Directory
    notifier: Notifier
    personal_data: PersonalDataCache = field(default_factory=PersonalDataCache)
    # Called with an approval request id once it is approved (the delivery
    # engine subscribes; the scheduler for requests with a time).
    approval_listeners: list[Callable[[int], None]] = field(default_factory=list)

    def notify(self, notice: Notice) -> None:
        """Tell the channel, through the outbox: kept in the database and
        delivered at once, or later by the outbox duty (bot.outbox)."""
        from bot import outbox

        outbox.post(self, notice)


def gateway_from(settings: Settings, *, read_timeout: float = READ_TIMEOUT) -> PostmarkGateway:
    return PostmarkGateway(
        server_token=settings.POSTMARK_SERVER_TOKEN,
        api_url=settings.POSTMARK_API_URL,
        broadcast_stream=settings.POSTMARK_BROADCAST_STREAM,
        transactional_stream=settings.POSTMARK_TRANSACTIONAL_STREAM,
        read_timeout=read_timeout,
    )
