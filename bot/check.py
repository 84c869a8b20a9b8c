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
        text = f"[{self.status.value:>4}] {self.name}: {self.detail}"
        if self.fix and self.status in (Status.FAIL, Status.WARN):
            text += f" Fix: {self.fix}"
        return text


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.OK, detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)


def skip(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail)


def report(results: Iterable[CheckResult], out: TextIO) -> int:
    """Print one line per check and a summary; EXIT_FAILED when any check failed."""
    results = list(results)
    for result in results:
        print(result.line(), file=out)
    failed = sum(1 for r in results if r.status is Status.FAIL)
    warned = sum(1 for r in results if r.status is Status.WARN)
    if failed:
        print(
            f"{failed} of {len(results)} checks failed; fix them before the first send.", file=out
        )
        return EXIT_FAILED
    if warned:
        print(f"All checks passed, with {warned} warning(s).", file=out)
    else:
        print("All checks passed.", file=out)
    return EXIT_OK


# --- Postmark --------------------------------------------------------------------------

TOKEN = "Postmark server token"  # noqa: S105 - a label, not a secret
BROADCAST = "Postmark broadcast stream"
TRANSACTIONAL = "Postmark transactional stream"
BULK = "Postmark Bulk API"


def postmark_checks(settings: Settings, gateway: PostmarkGateway) -> list[CheckResult]:
    """The server token, then the type of each of the two streams (invariant 1)."""
    if not settings.POSTMARK_SERVER_TOKEN:
        return [
            fail(
                TOKEN,
                "POSTMARK_SERVER_TOKEN is not set.",
                "copy the Server API token from the Postmark server's API Tokens tab "
                "into POSTMARK_SERVER_TOKEN.",
            ),
            skip(BROADCAST, "not checked without a server token."),
            skip(TRANSACTIONAL, "not checked without a server token."),
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
                    TOKEN,
                    "Postmark did not accept the server token (ErrorCode 10).",
                    "use the Server API token of the server that holds the two streams "
                    "(an Account token will not do).",
                )
                break
            token_result = token_result or ok(TOKEN, "accepted by Postmark.")
            results.append(fail(name, f"Postmark refused the look-up: {exc}.", ""))
            continue
        except (NotSent, FateUnknown) as exc:
            return [
                fail(
                    TOKEN,
                    f"could not reach Postmark at {gateway.api_url} ({exc}).",
                    "check POSTMARK_API_URL and the network, then run the check again.",
                ),
                skip(BROADCAST, "not checked: Postmark was not reachable."),
                skip(TRANSACTIONAL, "not checked: Postmark was not reachable."),
            ]
        except PostmarkError as exc:  # pragma: no cover - every subclass is handled above
            results.append(fail(name, str(exc), ""))
            continue
        token_result = token_result or ok(TOKEN, "accepted by Postmark.")
        # The same judgement as at start-up and at every send's start.
        problem = pipe_problem(expected, variable, stream, info)
        if problem is None:
            detail = f"{stream!r} exists and is of type {expected}"
            if expected == BROADCASTS:
                detail += ", with Postmark's unsubscribe handling"
            results.append(ok(name, detail + "."))
        elif problem.code == "missing":
            results.append(
                fail(
                    name,
                    f"there is no message stream {stream!r} on this server.",
                    f"create a {expected} stream in Postmark, or set {variable} to the "
                    "id of the one you have.",
                )
            )
        elif problem.code == "wrong_type":
            results.append(
                fail(
                    name,
                    f"{stream!r} is of type {problem.found}, not {expected}.",
                    f"point {variable} at a stream of type {expected}; broadcasts and "
                    "one-to-one mail must never share a stream.",
                )
            )
        else:
            results.append(
                fail(
                    name,
                    f"{stream!r} has unsubscribe handling {problem.found!r}: Postmark would "
                    "add neither the unsubscribe link nor the List-Unsubscribe headers.",
                    "in Postmark, set the stream's unsubscribe handling to Postmark "
                    f"(or point {variable} at a Broadcasts stream that has it).",
                )
            )
    if token_result is not None and token_result.status is Status.FAIL:
        return [
            token_result,
            skip(BROADCAST, "not checked: the server token was refused."),
            skip(TRANSACTIONAL, "not checked: the server token was refused."),
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
        if transport == "bulk":
            return fail(BULK, f"could not ask Postmark ({exc}).", "run the check again.")
        return warn(BULK, f"could not ask Postmark ({exc}).", "run the check again.")
    if enabled:
        return ok(BULK, f"enabled on this account (POSTMARK_TRANSPORT={transport}).")
    if transport == "bulk":
        return fail(
            BULK,
            "not enabled on this account, but POSTMARK_TRANSPORT=bulk.",
            "ask Postmark's support to enable the Bulk API, or set POSTMARK_TRANSPORT=templates.",
        )
    return ok(
        BULK,
        f"not enabled on this account; POSTMARK_TRANSPORT={transport} does not need it.",
    )


# --- the legal footer ----------------------------------------------------------------------

FOOTER = "Newsletter footer"


def footer_checks(settings: Settings) -> list[CheckResult]:
    """What the law requires in every broadcast besides the opt-out: the sender's
    postal address (without it preflight blocks every submit) and a contact."""
    if not settings.NEWSLETTER_POSTAL_ADDRESS:
        return [
            fail(
                FOOTER,
                "NEWSLETTER_POSTAL_ADDRESS is not set; no issue can be submitted without it.",
                "set NEWSLETTER_POSTAL_ADDRESS to the sender's postal address: Japan's Act on "
                "Specified Electronic Mail and the US CAN-SPAM Act require it in every newsletter.",
            )
        ]
    contact = "NEWSLETTER_CONTACT" if settings.NEWSLETTER_CONTACT else "the From address"
    return [
        ok(
            FOOTER,
            f"every broadcast names the sender's postal address and, for inquiries, {contact} "
            f"({settings.contact}).",
        )
    ]


# --- the Japanese dictionary --------------------------------------------------------------------

DICTIONARY = "Japanese dictionary"


def dictionary_check() -> CheckResult:
    """Whether preflight can read Japanese names in kana and romaji (fugashi with
    unidic-lite, `bot.preflight.readings`); the bot does not start without it."""
    try:
        readings.tagger()
    except readings.DictionaryMissing as exc:
        return fail(
            DICTIONARY,
            f"{exc}; the bot does not start without it.",
            "install the locked requirements (`make`, or `pip install -r requirements.lock`).",
        )
    return ok(DICTIONARY, "preflight reads Japanese names in kana and in romaji.")
