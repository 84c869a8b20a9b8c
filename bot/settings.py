"""The one settings object: CONTRACT.md's environment table, read from the
environment and from a `.env` file in the working directory.

A malformed value stops start-up with one line that names the variable, what
it expects and an example (`SettingsError`). Values that only some commands
need (Slack tokens, `APPROVERS`, …) are checked by `require()` where they are
needed, so `countersign db upgrade` works before Slack is set up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.addresses import InvalidAddress, normalise

# variable -> (what it expects, an example value)
HELP: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("an SQLAlchemy database URL", "sqlite:///countersign.db"),
    "SLACK_BOT_TOKEN": ("a Slack bot token starting with xoxb-", "xoxb-1234-5678-abcdef"),
    "SLACK_SIGNING_SECRET": (
        "the signing secret from the Slack app's Basic Information",
        "8f14e45fceea167a5a36dedd4bea2543",
    ),
    "SLACK_APP_TOKEN": ("a Slack app-level token starting with xapp-", "xapp-1-A0123-4567-abcdef"),
    "SLACK_API_URL": ("an http(s) URL ending in /", "https://slack.com/api/"),
    "POSTMARK_SERVER_TOKEN": (
        "the Postmark server API token",
        "00000000-0000-0000-0000-000000000000",
    ),
    "POSTMARK_API_URL": ("an http(s) URL ending in /", "https://api.postmarkapp.com/"),
    "POSTMARK_BROADCAST_STREAM": ("the id of a Postmark Broadcasts message stream", "broadcast"),
    "POSTMARK_TRANSACTIONAL_STREAM": (
        "the id of a Postmark Transactional message stream",
        "outbound",
    ),
    "POSTMARK_WEBHOOK_USER": ("the user name of the webhook's basic auth", "countersign"),
    "POSTMARK_WEBHOOK_PASSWORD": (
        "the password of the webhook's basic auth",
        "a-long-random-string",
    ),
    "NEWSLETTER_NAME": ("the default list's display name", "Newsletter"),
    "NEWSLETTER_FROM": ("a sender address, optionally with a name", "Navigate <news@example.com>"),
    "NEWSLETTER_CHANNEL": ("a Slack channel id (C… or G…)", "C0123ABCDEF"),
    "TEAM": (
        "a user group id (S…) or comma-separated user ids (U…), or empty",
        "U0123ABCD,U0456EFGH",
    ),
    "APPROVERS": ("a user group id (S…) or comma-separated user ids (U…)", "S0123ABCD"),
    "TEST_RECIPIENT_DOMAINS": ("comma-separated domains", "example.com,example.jp"),
    "TIMEZONE": ("an IANA time zone name", "Asia/Tokyo"),
    "ISSUE_SCHEDULE": (
        "a cron expression of five fields: minute hour day month weekday",
        "0 10 1 * *",
    ),
    "REMIND_DAYS_BEFORE": ("comma-separated whole numbers of days", "7,3,1"),
    "APPROVAL_TTL_HOURS": ("a whole number of hours from 1 to 720", "24"),
    "AUDIENCE_DRIFT": ("a percentage from 0 to 100", "2"),
    "PORT": ("a TCP port number", "3000"),
    "SEND_BATCHES_IN_FLIGHT": ("a whole number from 1 to 32", "4"),
    "SCHEDULED_SEND_GRACE_MINUTES": ("a whole number of minutes", "60"),
    "RECONCILE_WINDOW_MINUTES": ("a whole number of minutes from 1 to 1440", "5"),
    "LANGUAGE": ("a language code: en or ja", "ja"),
    "POSTMARK_TRANSPORT": ("one of batch, templates, bulk", "templates"),
    "CANARY_PERCENT": ("a percentage from 0 (off) to below 100", "10"),
    "CANARY_HOLD_MINUTES": ("a whole number of minutes from 1 to 1440", "30"),
    "CANARY_MAX_BOUNCE_PERCENT": ("a percentage above 0 and at most 100", "5"),
    "CANARY_MAX_COMPLAINT_PERCENT": ("a percentage above 0 and at most 100", "0.3"),
    "SEED_ADDRESSES": ("comma-separated addresses of the team, at most 10", "team@example.com"),
    "NEWSLETTER_POSTAL_ADDRESS": (
        "the sender's postal address on one line, without { or }",
        '"〒100-0001 東京都千代田区千代田1-1 Navigate株式会社"',
    ),
    "NEWSLETTER_CONTACT": (
        "an address, telephone number or web page for inquiries, without { or }",
        "info@example.com",
    ),
}

# The languages the Slack front end has a catalogue for (handlers.texts).
LANGUAGES = ("en", "ja")

# Never echoed back in an error message: logs never contain secrets.
SECRETS = frozenset(
    {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "POSTMARK_SERVER_TOKEN",
        "POSTMARK_WEBHOOK_PASSWORD",
        "DATABASE_URL",
    }
)

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class SettingsError(Exception):
    """A setting is missing or malformed. `str()` is the one line to show."""

    def __init__(self, name: str, problem: str, got: str | None = None) -> None:
        expects, example = HELP.get(name, ("a valid value", "…"))
        got_text = f" (got {got!r})" if got is not None and name not in SECRETS else ""
        super().__init__(
            f"Setting {name} is {problem}{got_text}: expected {expects}, e.g. {name}={example}"
        )
        self.name = name


@dataclass(frozen=True)
class Principals:
    """Who a setting names: one user group, or a fixed set of users, or nobody."""

    group: str | None
    users: frozenset[str]

    @property
    def empty(self) -> bool:
        return self.group is None and not self.users

    @classmethod
    def parse(cls, raw: str) -> Principals:
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if len(parts) == 1 and _GROUP_ID.match(parts[0]):
            return cls(group=parts[0], users=frozenset())
        bad = [p for p in parts if not _USER_ID.match(p)]
        if bad:
            raise ValueError(bad[0])
        return cls(group=None, users=frozenset(parts))


@dataclass(frozen=True)
class Sender:
    name: str
    address: str

    def header(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    DATABASE_URL: str = "sqlite:///countersign.db"
    SLACK_BOT_TOKEN: str = ""
    SLACK_SIGNING_SECRET: str = ""
    SLACK_APP_TOKEN: str = ""
    SLACK_API_URL: str = "https://slack.com/api/"
    POSTMARK_SERVER_TOKEN: str = ""
    POSTMARK_API_URL: str = "https://api.postmarkapp.com/"
    POSTMARK_BROADCAST_STREAM: str = "broadcast"
    POSTMARK_TRANSACTIONAL_STREAM: str = "outbound"
    POSTMARK_WEBHOOK_USER: str = ""
    POSTMARK_WEBHOOK_PASSWORD: str = ""
    NEWSLETTER_NAME: str = "Newsletter"
    NEWSLETTER_FROM: str = ""
    NEWSLETTER_CHANNEL: str = ""
    TEAM: str = ""
    APPROVERS: str = ""
    TEST_RECIPIENT_DOMAINS: str = ""
    TIMEZONE: str = "Asia/Tokyo"
    ISSUE_SCHEDULE: str = "0 10 1 * *"
    REMIND_DAYS_BEFORE: str = "7,3,1"
    APPROVAL_TTL_HOURS: int = 24
    AUDIENCE_DRIFT: float = 2.0
    PORT: int = 3000
    SEND_BATCHES_IN_FLIGHT: int = 4
    SCHEDULED_SEND_GRACE_MINUTES: int = 60
    # How long Postmark may still process and index a batch whose reply was lost,
    # before what its search does not show may be sent again.
    RECONCILE_WINDOW_MINUTES: int = 5
    LANGUAGE: str = "en"
    POSTMARK_TRANSPORT: str = "templates"
    CANARY_PERCENT: float = 0.0
    CANARY_HOLD_MINUTES: int = 30
    CANARY_MAX_BOUNCE_PERCENT: float = 5.0
    CANARY_MAX_COMPLAINT_PERCENT: float = 0.3
    SEED_ADDRESSES: str = ""
    NEWSLETTER_POSTAL_ADDRESS: str = ""
    NEWSLETTER_CONTACT: str = ""

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(value) from exc
        return value

    @field_validator("SLACK_BOT_TOKEN")
    @classmethod
    def _bot_token(cls, value: str) -> str:
        if value and not value.startswith("xoxb-"):
            raise ValueError("a token of another kind")
        return value

    @field_validator("SLACK_APP_TOKEN")
    @classmethod
    def _app_token(cls, value: str) -> str:
        if value and not value.startswith("xapp-"):
            raise ValueError("a token of another kind")
        return value

    @field_validator("SLACK_API_URL", "POSTMARK_API_URL")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(value)
        return value if value.endswith("/") else value + "/"

    @field_validator("NEWSLETTER_FROM")
    @classmethod
    def _sender(cls, value: str) -> str:
        if value:
            _parse_sender(value)
        return value

    @field_validator("NEWSLETTER_POSTAL_ADDRESS", "NEWSLETTER_CONTACT")
    @classmethod
    def _footer_line(cls, value: str) -> str:
        # Printed as-is in every broadcast's footer: one line, and nothing the
        # template language would read as its own syntax.
        value = " ".join(value.split())
        if "{" in value or "}" in value:
            raise ValueError(value)
        return value

    @field_validator("NEWSLETTER_CHANNEL")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value and not _CHANNEL_ID.match(value):
            raise ValueError(value)
        return value

    @field_validator("TEAM", "APPROVERS")
    @classmethod
    def _principals(cls, value: str) -> str:
        Principals.parse(value)
        return value

    @field_validator("TEST_RECIPIENT_DOMAINS")
    @classmethod
    def _domains(cls, value: str) -> str:
        for domain in _split(value):
            if not re.match(r"^[a-z0-9.-]+\.[a-z]{2,}$", domain.lower()):
                raise ValueError(domain)
        return value

    @field_validator("TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(value) from exc
        return value

    @field_validator("ISSUE_SCHEDULE")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        if len(value.split()) != 5:
            raise ValueError(value)
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(value) from exc
        return value

    @field_validator("REMIND_DAYS_BEFORE")
    @classmethod
    def _remind(cls, value: str) -> str:
        for part in _split(value):
            if not part.isdigit() or not 0 <= int(part) <= 60:
                raise ValueError(part)
        return value

    @field_validator("APPROVAL_TTL_HOURS")
    @classmethod
    def _ttl(cls, value: int) -> int:
        if not 1 <= value <= 720:
            raise ValueError(str(value))
        return value

    @field_validator("AUDIENCE_DRIFT")
    @classmethod
    def _drift(cls, value: float) -> float:
        if not 0 <= value <= 100:
            raise ValueError(str(value))
        return value

    @field_validator("PORT")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(str(value))
        return value

    @field_validator("RECONCILE_WINDOW_MINUTES")
    @classmethod
    def _reconcile_window(cls, value: int) -> int:
        if not 1 <= value <= 1440:
            raise ValueError(str(value))
        return value

    @field_validator("SEND_BATCHES_IN_FLIGHT")
    @classmethod
    def _in_flight(cls, value: int) -> int:
        if not 1 <= value <= 32:
            raise ValueError(str(value))
        return value

    @field_validator("POSTMARK_TRANSPORT")
    @classmethod
    def _transport(cls, value: str) -> str:
        if value.strip().lower() not in ("batch", "templates", "bulk"):
            raise ValueError(value)
        return value.strip().lower()

    @field_validator("CANARY_PERCENT")
    @classmethod
    def _canary(cls, value: float) -> float:
        if not 0 <= value < 100:
            raise ValueError(str(value))
        return value

    @field_validator("CANARY_HOLD_MINUTES")
    @classmethod
    def _hold(cls, value: int) -> int:
        if not 1 <= value <= 1440:
            raise ValueError(str(value))
        return value

    @field_validator("CANARY_MAX_BOUNCE_PERCENT", "CANARY_MAX_COMPLAINT_PERCENT")
    @classmethod
    def _limit(cls, value: float) -> float:
        if not 0 < value <= 100:
            raise ValueError(str(value))
        return value

    @field_validator("SEED_ADDRESSES")
    @classmethod
    def _seeds(cls, value: str) -> str:
        _parse_seeds(value)
        return value

    @field_validator("LANGUAGE")
    @classmethod
    def _language(cls, value: str) -> str:
        return language_code(value)

    # Parsed views of the raw strings ------------------------------------------------

    @cached_property
    def team(self) -> Principals:
        return Principals.parse(self.TEAM)

    @cached_property
    def approvers(self) -> Principals:
        return Principals.parse(self.APPROVERS)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.TIMEZONE)

    @cached_property
    def sender(self) -> Sender:
        return _parse_sender(self.NEWSLETTER_FROM or "Newsletter <news@example.com>")

    @property
    def contact(self) -> str:
        """For inquiries, in every broadcast's footer: NEWSLETTER_CONTACT or the From address."""
        return self.NEWSLETTER_CONTACT or self.sender.address

    @cached_property
    def test_recipient_domains(self) -> frozenset[str]:
        domains = _split(self.TEST_RECIPIENT_DOMAINS)
        return frozenset(d.lower() for d in domains) or frozenset({self.sender.domain})

    @cached_property
    def remind_days_before(self) -> tuple[int, ...]:
        return tuple(sorted({int(p) for p in _split(self.REMIND_DAYS_BEFORE)}, reverse=True))

    @cached_property
    def seed_addresses(self) -> tuple[str, ...]:
        """SEED_ADDRESSES, normalised, each once, in the order given."""
        return _parse_seeds(self.SEED_ADDRESSES)

    @property
    def slack_configured(self) -> bool:
        return bool(self.SLACK_BOT_TOKEN)

    def require(self, *names: str) -> None:
        """Raise SettingsError for the first of `names` that is empty."""
        for name in names:
            if not getattr(self, name):
                raise SettingsError(name, "missing")


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


MAX_SEEDS = 10


def _parse_seeds(value: str) -> tuple[str, ...]:
    seeds: list[str] = []
    for part in _split(value):
        try:
            # The normal form subscribers and suppressions are stored in, so that
            # a seed that is also a reader, or suppressed, is recognised (bot.seeds).
            address = normalise(part)
        except InvalidAddress as exc:
            raise ValueError(part) from exc
        if address not in seeds:
            seeds.append(address)
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"{len(seeds)} addresses")
    return tuple(seeds)


def _parse_sender(value: str) -> Sender:
    name, address = parseaddr(value)
    if "{" in name or "}" in name:  # the name is printed in every broadcast's footer
        raise ValueError(value)
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(value) from exc
    return Sender(name=name, address=checked.normalized)


def language_code(value: str) -> str:
    """The language `LANGUAGE` names. It is also gettext's variable, which many
    desktops set to a locale list such as "ja_JP:ja" or "en_US:en": the first
    entry's language decides, and an empty value means the default."""
    code = re.split(r"[:_.@-]", value.strip().lower(), maxsplit=1)[0] or "en"
    if code not in LANGUAGES:
        raise ValueError(value)
    return code


class _LanguageOnly(BaseSettings):
    model_config = Settings.model_config
    LANGUAGE: str = "en"


def spoken_language() -> str:
    """The team's language, read as `load` reads it (the environment, then .env),
    before the rest of the settings are known or checked: the command line's help
    is in it. English when it is not one of LANGUAGES (`load` then says why)."""
    try:
        return language_code(_LanguageOnly().LANGUAGE)
    except (ValueError, ValidationError, OSError):  # an unreadable .env: `load` says so
        return "en"


def load(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one actionable line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "?"
        got = error.get("input")
        raise SettingsError(name, "malformed", None if got is None else str(got)) from None
