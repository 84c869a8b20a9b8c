"""`countersign check`: the Slack checks, and the whole run (`main`).

Slack: the bot token (`auth.test`), the scopes it was granted (Slack's
`x-oauth-scopes` header) against `REQUIRED_SCOPES` — the bot scopes
`app.yaml` asks for, no more (a test keeps the two equal) — that
NEWSLETTER_CHANNEL exists and the bot is in it (`conversations.info`), and
that APPROVERS resolves to at least one active person, with a warning when
fewer than two (an approver's own issues could then never be approved).
The Postmark checks and the printing are in `bot.check`.

Each check is one line with what to fix when it fails; the exit code is 1
when any failed. Nothing here prints a token.
"""

from __future__ import annotations

import sys
from typing import TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.check import (
    CheckResult,
    dictionary_check,
    fail,
    footer_checks,
    ok,
    postmark_checks,
    report,
    skip,
    warn,
)
from bot.desk import gateway_from
from bot.settings import Settings
from bot.speech import say

# The bot scopes in app.yaml; tests/test_check.py holds the two together.
REQUIRED_SCOPES: frozenset[str] = frozenset(
    {
        "commands",  # /newsletter and /unsubscribe
        "chat:write",  # approval cards, progress, replies, DMs to authors
        "users:read",  # users.info: who clicked
        "users:read.email",  # a test copy goes to the caller's own Slack address
        "files:read",  # the file_inputs (draft body, subscribers import): files.info, download
        "usergroups:read",  # TEAM / APPROVERS given as a user group
        "channels:read",  # conversations.info on a public NEWSLETTER_CHANNEL
        "groups:read",  # ... or on a private one
        "files:write",  # /newsletter recipients: the CSV, uploaded to the asker's DM
    }
)

# What each check is called: a key of the command's catalogue (`bot.speech`).
AUTH = "check.name.auth"
SCOPES = "check.name.scopes"
CHANNEL = "check.name.channel"
APPROVERS = "check.name.approvers"
SLACK_TIMEOUT = 10
# The token errors that mean "this token is no longer (or never was) this app's".
REVOKED = ("invalid_auth", "token_revoked", "account_inactive", "not_authed")


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "unknown_error"))


def _skipped(key: str) -> list[CheckResult]:
    """The checks after the token, not made, each saying why (`key`)."""
    return [skip(name, say(key)) for name in (SCOPES, CHANNEL, APPROVERS)]


def slack_checks(settings: Settings, client: WebClient) -> list[CheckResult]:
    """auth.test and scopes, the newsletter channel, the approvers: one result each."""
    if not settings.SLACK_BOT_TOKEN:
        return [
            fail(AUTH, say("check.slack.unset"), say("check.slack.unset_fix")),
            *_skipped("check.skip.no_bot_token"),
        ]
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = _error(exc)
        fix = say("check.slack.revoked_fix" if error in REVOKED else "check.slack.error_fix")
        return [
            fail(AUTH, say("check.slack.refused", error=error), fix),
            *_skipped("check.skip.bot_token_refused"),
        ]
    except OSError as exc:  # urllib's URLError, timeouts, refused connections
        return [
            fail(
                AUTH,
                say(
                    "check.slack.unreachable", url=settings.SLACK_API_URL, error=type(exc).__name__
                ),
                say("check.slack.unreachable_fix"),
            ),
            *_skipped("check.skip.slack_unreachable"),
        ]
    connected = say(
        "check.slack.connected",
        team=str(auth.get("team")),
        team_id=str(auth.get("team_id")),
        user=str(auth.get("user")),
    )
    return [
        ok(AUTH, connected),
        _scopes(auth.headers),
        _channel(settings, client),
        _approvers(settings, client),
    ]


def _scopes(headers: dict[str, str]) -> CheckResult:
    raw = next((v for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
    if raw is None:
        return warn(SCOPES, say("check.scopes.unknown"), say("check.scopes.unknown_fix"))
    granted = {s.strip() for s in raw.split(",") if s.strip()}
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        return fail(
            SCOPES,
            say("check.scopes.missing", scopes=", ".join(missing)),
            say("check.scopes.missing_fix"),
        )
    return ok(SCOPES, say("check.scopes.ok", count=len(REQUIRED_SCOPES)))


def _channel(settings: Settings, client: WebClient) -> CheckResult:
    channel = settings.NEWSLETTER_CHANNEL
    if not channel:
        return fail(CHANNEL, say("check.channel.unset"), say("check.channel.unset_fix"))
    try:
        info = client.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = _error(exc)
        if error == "channel_not_found":
            return fail(
                CHANNEL,
                say("check.channel.not_found", channel=channel),
                say("check.channel.not_found_fix"),
            )
        if error == "missing_scope":
            return fail(
                CHANNEL, say("check.channel.missing_scope"), say("check.channel.missing_scope_fix")
            )
        return fail(CHANNEL, say("check.slack.answered_for", error=error, channel=channel), "")
    found = info.get("channel") or {}
    name = found.get("name", channel)
    if found.get("is_archived"):
        return fail(
            CHANNEL, say("check.channel.archived", name=name), say("check.channel.archived_fix")
        )
    if not found.get("is_member"):
        return fail(
            CHANNEL,
            say("check.channel.not_member", name=name),
            say("check.channel.not_member_fix", name=name),
        )
    return ok(CHANNEL, say("check.channel.ok", name=name, channel=channel))


def _approvers(settings: Settings, client: WebClient) -> CheckResult:
    if not settings.APPROVERS:
        return fail(APPROVERS, say("check.approvers.unset"), say("check.approvers.unset_fix"))
    principals = settings.approvers
    try:
        if principals.group:
            reply = client.usergroups_users_list(usergroup=principals.group)
            candidates = [str(u) for u in reply.get("users") or []]
        else:
            candidates = sorted(principals.users)
        people = [u for u in candidates if _active_person(client, u)]
    except SlackApiError as exc:
        error = _error(exc)
        if error == "plan_upgrade_required":
            return fail(APPROVERS, say("check.approvers.plan"), say("check.approvers.plan_fix"))
        if error == "no_such_subteam":
            return fail(
                APPROVERS,
                say("check.approvers.no_group", group=principals.group),
                say("check.approvers.no_group_fix"),
            )
        return fail(APPROVERS, say("check.slack.answered", error=error), "")
    if not people:
        return fail(APPROVERS, say("check.approvers.nobody"), say("check.approvers.nobody_fix"))
    if len(people) == 1:
        return warn(APPROVERS, say("check.approvers.one"), say("check.approvers.one_fix"))
    return ok(APPROVERS, say("check.approvers.ok", count=len(people)))


def _active_person(client: WebClient, user_id: str) -> bool:
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except SlackApiError as exc:
        if _error(exc) == "user_not_found":
            return False
        raise
    return not user.get("deleted") and not user.get("is_bot")


def run_checks(settings: Settings) -> list[CheckResult]:
    client = WebClient(
        token=settings.SLACK_BOT_TOKEN or None,
        base_url=settings.SLACK_API_URL,
        timeout=SLACK_TIMEOUT,
    )
    return (
        slack_checks(settings, client)
        + postmark_checks(settings, gateway_from(settings))
        + footer_checks(settings)
        + [dictionary_check()]
    )


def main(settings: Settings, out: TextIO | None = None) -> int:
    """Run every check, print one line each; 0 when none failed, else 1."""
    return report(run_checks(settings), out or sys.stdout)
