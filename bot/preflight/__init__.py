"""Preflight: the checks an issue must pass before anyone is asked to approve it.

`preflight()` is a pure function of the compiled version, the sender's facts and
a `PersonalDataIndex`; it returns findings, each blocking or a warning. A
finding's `params` are safe to post in a channel (they never quote personal
data); its `detail` may quote what was found and is shown only ephemerally to
the caller.

The personal-data check is the incident's check, and it reads what readers
receive, not the source: the version is rendered for made-up sample recipients
(a templated field can only ever print its own recipient's row, so samples are
enough), and every text of the rendered messages a reader can read
(`reading.texts`: subject, visible HTML text, link targets, alt and title
texts, the text part as written and as its Markdown reads) is scanned, seen
through disguise (`disguise`), for the names, companies, addresses and notes
of subscribers and of anyone who asked to unsubscribe (`personal_data`), for
any address but the sender's and for any telephone number. The sender's own
configured details (name, address, postal address, contact, list name) are
never findings.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.preflight.disguise import Haystack, emails, fold, phones
from bot.preflight.personal_data import Needle, PersonalDataCache, PersonalDataIndex
from bot.preflight.reading import read_html, says_something, texts
from bot.rendering import (
    UNSUBSCRIBE_PLACEHOLDER,
    CompiledIssue,
    Footer,
    RecipientContext,
    RenderedMessage,
    TemplateProblem,
    check_stored,
    render_message,
)

__all__ = [
    "Finding",
    "PersonalDataCache",
    "PersonalDataIndex",
    "Severity",
    "preflight",
]

GMAIL_CLIP_BYTES = 102_000
# Made-up recipients the version is rendered for: one who gave nothing (what the
# author wrote runs together where their fields would be) and one who gave both.
SAMPLE_NAME, SAMPLE_COMPANY = "見本 太郎", "見本商事株式会社"


class Severity(enum.StrEnum):
    BLOCKING = "blocking"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One preflight result. The sentence shown for `code` lives in the front
    end's message catalogue (`handlers/texts.py`), filled with `params`, which
    never hold personal data; `detail` may quote what was found and is shown
    only ephemerally to the caller."""

    code: str
    severity: Severity
    params: dict[str, object] = field(default_factory=dict)
    detail: str = ""
    problem: TemplateProblem | None = None  # a template_error's why (may quote the source)

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.BLOCKING


# Placeholders of this and other mailing systems that must never reach a reader.
# (Each alternative stops at the next opening mark: linear on any text.)
_UNRESOLVED = re.compile(
    r"\{\{[^{}]*\}\}|\{%[^{}]*%\}|\*\|[A-Z0-9_:]+\|\*|%%[A-Za-z0-9_]+%%|\[\[[^\[\]]+\]\]"
    r"|\{\$[A-Za-z_]+\}"
)
_HTTP_LINK = re.compile(r"""href=["']http://""", re.IGNORECASE)


def _samples(list_name: str) -> list[RecipientContext]:
    return [
        RecipientContext(name="", company="", list_name=list_name, issue_date="2026-01-01"),
        RecipientContext(
            name=SAMPLE_NAME, company=SAMPLE_COMPANY, list_name=list_name, issue_date="2026-01-01"
        ),
    ]


def preflight(
    compiled: CompiledIssue,
    *,
    body_source: str,
    sender_address: str,
    index: PersonalDataIndex,
    list_name: str,
    footer: Footer,
) -> list[Finding]:
    """All findings for one version; blocking ones first."""
    findings: list[Finding] = []
    subject = compiled.subject.strip()
    if not subject:
        findings.append(Finding("subject_empty", Severity.BLOCKING))
    elif "\n" in compiled.subject or "\r" in compiled.subject:
        findings.append(Finding("subject_multiline", Severity.BLOCKING))
    try:
        # Before anything else reads it: a version stored before the template
        # language was narrowed may hold what could stall a render.
        check_stored(compiled)
        renders = [render_message(compiled, sample) for sample in _samples(list_name)]
    except TemplateProblem as problem:
        findings.append(Finding("template_error", Severity.BLOCKING, problem=problem))
        return _ordered(findings)
    if not says_something(body_source):
        findings.append(Finding("body_empty", Severity.BLOCKING))
    findings += _form(renders[-1])
    findings += _footer(renders[-1], footer)
    own = [sender_address, footer.sender_name, footer.postal_address, footer.contact, list_name]
    findings += _personal_data(renders, index, [*own, SAMPLE_NAME, SAMPLE_COMPANY])
    return _ordered(findings)


def _form(rendered: RenderedMessage) -> list[Finding]:
    """The message's form: unsubscribe link, leftover placeholders, size, links."""
    findings: list[Finding] = []
    if UNSUBSCRIBE_PLACEHOLDER not in rendered.html or UNSUBSCRIBE_PLACEHOLDER not in rendered.text:
        findings.append(Finding("unsubscribe_missing", Severity.BLOCKING))
    leftovers = {
        m.group(0)
        for part in (rendered.subject, rendered.html, rendered.text)
        for m in _UNRESOLVED.finditer(part.replace(UNSUBSCRIBE_PLACEHOLDER, ""))
    }
    if leftovers:
        findings.append(
            Finding(
                "unresolved_variables",
                Severity.BLOCKING,
                {"count": len(leftovers)},
                ", ".join(sorted(leftovers)[:5]),
            )
        )
    size = len(rendered.html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        findings.append(Finding("size_large", Severity.WARNING, {"kilobytes": size // 1000}))
    if _HTTP_LINK.search(rendered.html):
        findings.append(Finding("insecure_link", Severity.WARNING))
    return findings


def _footer(rendered: RenderedMessage, footer: Footer) -> list[Finding]:
    """The sender's postal address and contact, in both parts (the law's footer).
    A version saved before they were set (or changed) lacks them: save it again."""
    visible, _ = read_html(rendered.html)
    parts = [fold(part).replace(" ", "") for part in (visible, rendered.text)]

    def shown(value: str) -> bool:
        wanted = fold(value).replace(" ", "")
        return bool(wanted) and all(wanted in part for part in parts)

    findings: list[Finding] = []
    if not shown(footer.postal_address):
        findings.append(Finding("postal_address_missing", Severity.BLOCKING))
    if not shown(footer.contact):
        findings.append(Finding("contact_missing", Severity.BLOCKING))
    return findings


def _personal_data(
    renders: list[RenderedMessage], index: PersonalDataIndex, own: Iterable[str]
) -> list[Finding]:
    """Anyone's personal data a reader could read, except the sender's own details."""
    readable = {text: Haystack.of(text) for rendered in renders for text in texts(rendered)}
    mine = [Haystack.of(text) for text in own if text]
    own_keys = {key for haystack in mine for key in index.search(haystack)}
    own_addresses = {address for haystack in mine for address in emails(haystack)}
    own_numbers = {number for haystack in mine for number in phones(haystack)}

    addresses: set[str] = set()
    numbers: set[str] = set()
    matches: dict[tuple[str, str], Needle] = {}  # one datum found by several keys is one
    for haystack in readable.values():
        addresses |= emails(haystack)
        numbers |= phones(haystack)
        for key, needle in index.search(haystack).items():
            if key not in own_keys:
                matches.setdefault((needle.kind, needle.shown), needle)
    addresses -= own_addresses
    numbers -= own_numbers
    findings = [
        Finding(code, Severity.BLOCKING, {"count": len(found)}, ", ".join(sorted(found)[:5]))
        for code, found in (("personal_email", addresses), ("personal_phone", numbers))
        if found
    ]
    if matches:
        kinds = sorted({n.kind for n in matches.values()})
        findings.append(
            Finding(
                "subscriber_data",
                Severity.BLOCKING,
                {"count": len(matches), "kinds": ",".join(kinds)},
                ", ".join(n.shown for n in list(matches.values())[:5]),
            )
        )
    return findings


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: 0 if f.blocking else 1)
