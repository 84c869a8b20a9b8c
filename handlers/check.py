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

AUTH = "Slack bot token"
SCOPES = "Slack scopes"
CHANNEL = "Newsletter channel"
APPROVERS = "Approvers"
SLACK_TIMEOUT = 10


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "unknown_error"))


def slack_checks(settings: Settings, client: WebClient) -> list[CheckResult]:
    """auth.test and scopes, the newsletter channel, the approvers: one result each."""
    if not settings.SLACK_BOT_TOKEN:
        return [
            fail(
                AUTH,
                "SLACK_BOT_TOKEN is not set.",
                "install the app (app.yaml) in the workspace and copy its Bot User OAuth "
                "Token (xoxb-…) into SLACK_BOT_TOKEN.",
            ),
            skip(SCOPES, "not checked without a bot token."),
            skip(CHANNEL, "not checked without a bot token."),
            skip(APPROVERS, "not checked without a bot token."),
        ]
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = _error(exc)
        fix = (
            "the token was revoked or belongs to another app: reinstall the app and copy the "
            "new Bot User OAuth Token into SLACK_BOT_TOKEN."
            if error in ("invalid_auth", "token_revoked", "account_inactive", "not_authed")
            else "see https://api.slack.com/methods/auth.test for what this error means."
        )
        return [
            fail(AUTH, f"Slack refused the token ({error}).", fix),
            skip(SCOPES, "not checked: the token was refused."),
            skip(CHANNEL, "not checked: the token was refused."),
            skip(APPROVERS, "not checked: the token was refused."),
        ]
    except OSError as exc:  # urllib's URLError, timeouts, refused connections
        return [
            fail(
                AUTH,
                f"could not reach Slack at {settings.SLACK_API_URL} ({type(exc).__name__}).",
                "check SLACK_API_URL and the network, then run the check again.",
            ),
            skip(SCOPES, "not checked: Slack was not reachable."),
            skip(CHANNEL, "not checked: Slack was not reachable."),
            skip(APPROVERS, "not checked: Slack was not reachable."),
        ]
    results = [
        ok(
            AUTH,
            f"connected to workspace {auth.get('team')!s} ({auth.get('team_id')!s}) "
            f"as @{auth.get('user')!s}.",
        )
    ]
    results.append(_scopes(auth.headers))
    results.append(_channel(settings, client))
    results.append(_approvers(settings, client))
    return results


def _scopes(headers: dict[str, str]) -> CheckResult:
    raw = next((v for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
    if raw is None:
        return warn(
            SCOPES,
            "Slack did not say which scopes the token has.",
            "compare the app's OAuth & Permissions page with app.yaml by hand.",
        )
    granted = {s.strip() for s in raw.split(",") if s.strip()}
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        return fail(
            SCOPES,
            f"the token lacks {', '.join(missing)}.",
            "add them under OAuth & Permissions (or update the app from app.yaml) and "
            "reinstall the app, then copy the new token.",
        )
    return ok(SCOPES, f"all {len(REQUIRED_SCOPES)} scopes that app.yaml asks for are granted.")


def _channel(settings: Settings, client: WebClient) -> CheckResult:
    channel = settings.NEWSLETTER_CHANNEL
    if not channel:
        return fail(
            CHANNEL,
            "NEWSLETTER_CHANNEL is not set.",
            "set it to the id of the channel for approval cards (channel details → "
            "About → Channel ID, C…).",
        )
    try:
        info = client.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = _error(exc)
        if error == "channel_not_found":
            return fail(
                CHANNEL,
                f"{channel} was not found (or it is private and the bot is not in it).",
                "check the id in NEWSLETTER_CHANNEL and invite the bot: /invite @countersign.",
            )
        if error == "missing_scope":
            return fail(
                CHANNEL,
                "the token may not look channels up (missing_scope).",
                "grant channels:read and groups:read (app.yaml) and reinstall the app.",
            )
        return fail(CHANNEL, f"Slack answered {error} for {channel}.", "")
    found = info.get("channel") or {}
    name = found.get("name", channel)
    if found.get("is_archived"):
        return fail(
            CHANNEL, f"#{name} is archived.", "unarchive it or pick another NEWSLETTER_CHANNEL."
        )
    if not found.get("is_member"):
        return fail(
            CHANNEL,
            f"the bot is not a member of #{name}, so it cannot post approval cards there.",
            f"invite it: type /invite @countersign in #{name}.",
        )
    return ok(CHANNEL, f"#{name} ({channel}) is reachable and the bot is a member.")


def _approvers(settings: Settings, client: WebClient) -> CheckResult:
    if not settings.APPROVERS:
        return fail(
            APPROVERS,
            "APPROVERS is not set, so nobody could approve a send.",
            "set APPROVERS to a user group id (S…) or to comma-separated user ids (U…).",
        )
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
            return fail(
                APPROVERS,
                "user groups need a paid Slack plan.",
                "set APPROVERS to comma-separated user ids (U…) instead.",
            )
        if error == "no_such_subteam":
            return fail(
                APPROVERS,
                f"there is no user group {principals.group}.",
                "check the group id (Slack: People → User groups → the group's link).",
            )
        return fail(APPROVERS, f"Slack answered {error}.", "")
    if not people:
        return fail(
            APPROVERS,
            "APPROVERS resolves to nobody who could approve (no active person).",
            "add at least two people to the approvers group or list.",
        )
    if len(people) == 1:
        return warn(
            APPROVERS,
            "only one person can approve; that person's own issues could never be approved.",
            "add a second approver.",
        )
    return ok(APPROVERS, f"{len(people)} people can approve.")


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
