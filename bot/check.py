"""`countersign check`: the parts that know nothing of Slack.

Owns `CheckResult` (one line of the report: what was checked, how it went,
and what to do when it failed), the Postmark checks (server token, broadcast
stream of type Broadcasts with Postmark's unsubscribe handling, transactional stream
of type Transactional: `bot.postmark.pipe_problem`, the judgement sends use too;
whether the account has the Bulk API), the legal footer's check (the sender's
postal address and contact), the Japanese dictionary's check (preflight reads
names in kana and romaji with it) and
`report()`, which prints the lines and turns them into an exit code. The
Slack checks live in `handlers.check` (bot never imports Slack), which also
runs the whole list.

A check never prints a secret: the token checks say whether a token was
accepted, never what it was.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from bot.postmark import (
    BROADCASTS,
    FateUnknown,
    NotSent,
    PostmarkError,
    PostmarkGateway,
    Refused,
    pipe_problem,
)
from bot.postmark import TRANSACTIONAL as TRANSACTIONAL_TYPE
from bot.preflight import readings
from bot.settings import Settings
from bot.speech import say

POSTMARK_TOKEN_INVALID = 10
EXIT_OK, EXIT_FAILED = 0, 1


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One line: `name` what was checked, `detail` what was found, `fix` what to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        status = f"{self.status.value:>4}"
        if self.fix and self.status in (Status.FAIL, Status.WARN):
            return say(
                "check.line_fix", status=status, name=self.name, detail=self.detail, fix=self.fix
            )
        return say("check.line", status=status, name=self.name, detail=self.detail)


# Each makes one line: `name` is the check's key in the `cli` catalogue (TOKEN …),
# `detail` and `fix` sentences already said (`say()`), in the team's language.
def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(say(name), Status.OK, detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(say(name), Status.WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(say(name), Status.FAIL, detail, fix)


def skip(name: str, detail: str) -> CheckResult:
    return CheckResult(say(name), Status.SKIP, detail)


def report(results: Iterable[CheckResult], out: TextIO) -> int:
    """Print one line per check and a summary; EXIT_FAILED when any check failed."""
    results = list(results)
    for result in results:
        print(result.line(), file=out)
    failed = sum(1 for r in results if r.status is Status.FAIL)
    warned = sum(1 for r in results if r.status is Status.WARN)
    if failed:
        print(say("check.failed", failed=failed, total=len(results)), file=out)
        return EXIT_FAILED
    if warned:
        print(say("check.passed_warned", count=warned), file=out)
    else:
        print(say("check.passed"), file=out)
    return EXIT_OK


# --- Postmark --------------------------------------------------------------------------

# What each check is called: a key of the `cli` catalogue, said when the line is made.
TOKEN = "check.name.token"  # noqa: S105 - a label, not a secret
BROADCAST = "check.name.broadcast"
TRANSACTIONAL = "check.name.transactional"
BULK = "check.name.bulk"


def postmark_checks(settings: Settings, gateway: PostmarkGateway) -> list[CheckResult]:
    """The server token, then the type of each of the two streams (invariant 1)."""
    if not settings.POSTMARK_SERVER_TOKEN:
        return [
            fail(TOKEN, say("check.token.unset"), say("check.token.unset_fix")),
            skip(BROADCAST, say("check.skip.no_server_token")),
            skip(TRANSACTIONAL, say("check.skip.no_server_token")),
        ]
    wanted = (
        (BROADCAST, "POSTMARK_BROADCAST_STREAM", settings.POSTMARK_BROADCAST_STREAM, BROADCASTS),
        (
            TRANSACTIONAL,
            "POSTMARK_TRANSACTIONAL_STREAM",
            settings.POSTMARK_TRANSACTIONAL_STREAM,
            TRANSACTIONAL_TYPE,
        ),
    )
    # The first stream look-up doubles as the token check: Postmark answers
    # 401 / ErrorCode 10 to a bad token before it looks at the stream.
    results: list[CheckResult] = []
    token_result: CheckResult | None = None
    for name, variable, stream, expected in wanted:
        try:
            info = gateway.stream_info(stream)
        except Refused as exc:
            if exc.status == 401 or exc.code == POSTMARK_TOKEN_INVALID:
                token_result = fail(
                    TOKEN, say("check.token.refused"), say("check.token.refused_fix")
                )
                break
            token_result = token_result or ok(TOKEN, say("check.token.accepted"))
            results.append(fail(name, say("check.stream.lookup_refused", error=exc), ""))
            continue
        except (NotSent, FateUnknown) as exc:
            return [
                fail(
                    TOKEN,
                    say("check.postmark.unreachable", url=gateway.api_url, error=exc),
                    say("check.postmark.unreachable_fix"),
                ),
                skip(BROADCAST, say("check.skip.postmark_unreachable")),
                skip(TRANSACTIONAL, say("check.skip.postmark_unreachable")),
            ]
        except PostmarkError as exc:  # pragma: no cover - every subclass is handled above
            results.append(fail(name, str(exc), ""))
            continue
        token_result = token_result or ok(TOKEN, say("check.token.accepted"))
        # The same judgement as at start-up and at every send's start.
        problem = pipe_problem(expected, variable, stream, info)
        shown = repr(stream)
        if problem is None:
            key = "check.stream.ok_broadcast" if expected == BROADCASTS else "check.stream.ok"
            results.append(ok(name, say(key, stream=shown, type=expected)))
        elif problem.code == "missing":
            results.append(
                fail(
                    name,
                    say("check.stream.missing", stream=shown),
                    say("check.stream.missing_fix", type=expected, variable=variable),
                )
            )
        elif problem.code == "wrong_type":
            results.append(
                fail(
                    name,
                    say(
                        "check.stream.wrong_type", stream=shown, found=problem.found, type=expected
                    ),
                    say("check.stream.wrong_type_fix", variable=variable, type=expected),
                )
            )
        else:
            results.append(
                fail(
                    name,
                    say("check.stream.unsubscribe", stream=shown, found=repr(problem.found)),
                    say("check.stream.unsubscribe_fix", variable=variable),
                )
            )
    if token_result is not None and token_result.status is Status.FAIL:
        return [
            token_result,
            skip(BROADCAST, say("check.skip.server_token_refused")),
            skip(TRANSACTIONAL, say("check.skip.server_token_refused")),
        ]
    assert token_result is not None
    return [token_result, *results, bulk_check(settings, gateway)]


def bulk_check(settings: Settings, gateway: PostmarkGateway) -> CheckResult:
    """Whether the account has Postmark's Bulk API (enabled on request), and
    whether POSTMARK_TRANSPORT needs it."""
    transport = settings.POSTMARK_TRANSPORT
    try:
        enabled = gateway.bulk_enabled()
    except PostmarkError as exc:
        judged = fail if transport == "bulk" else warn
        return judged(BULK, say("check.bulk.unknown", error=exc), say("check.again"))
    if enabled:
        return ok(BULK, say("check.bulk.enabled", transport=transport))
    if transport == "bulk":
        return fail(BULK, say("check.bulk.needed"), say("check.bulk.needed_fix"))
    return ok(BULK, say("check.bulk.not_needed", transport=transport))


# --- the legal footer ----------------------------------------------------------------------

FOOTER = "check.name.footer"


def footer_checks(settings: Settings) -> list[CheckResult]:
    """What the law requires in every broadcast besides the opt-out: the sender's
    postal address (without it preflight blocks every submit) and a contact."""
    if not settings.NEWSLETTER_POSTAL_ADDRESS:
        return [fail(FOOTER, say("check.footer.unset"), say("check.footer.unset_fix"))]
    key = "check.footer.ok_contact" if settings.NEWSLETTER_CONTACT else "check.footer.ok_from"
    return [ok(FOOTER, say(key, contact=settings.contact))]


# --- the Japanese dictionary --------------------------------------------------------------------

DICTIONARY = "check.name.dictionary"


def dictionary_check() -> CheckResult:
    """Whether preflight can read Japanese names in kana and romaji (fugashi with
    unidic-lite, `bot.preflight.readings`); the bot does not start without it."""
    try:
        readings.tagger()
    except readings.DictionaryMissing as exc:
        return fail(
            DICTIONARY,
            say("check.dictionary.missing", error=exc),
            say("check.dictionary.missing_fix"),
        )
    return ok(DICTIONARY, say("check.dictionary.ok"))
