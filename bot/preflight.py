"""Preflight: the checks an issue must pass before anyone is asked to approve it.

`preflight()` is a pure function of the compiled version, the sender and a
`PersonalDataIndex`; it returns findings, each blocking or a warning. A finding's
`message` is safe to post in a channel (it never quotes personal data); its
`detail` may quote what was found and is shown only ephemerally to the caller.

The personal-data check is the incident's check: the names, companies and
addresses of subscribers and of anyone who asked to unsubscribe must not appear
in a broadcast. `PersonalDataIndex` is an Aho-Corasick automaton over all of
them, built once and rebuilt only when the data changed (a cheap fingerprint
query tells), so a check stays fast on a list of 100,000.
"""

from __future__ import annotations

import enum
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import ahocorasick
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.rendering import (
    UNSUBSCRIBE_PLACEHOLDER,
    CompiledIssue,
    RecipientContext,
    TemplateProblem,
    render_message,
)
from bot.typed import EMAIL, PHONE
from storage.db import Database
from storage.models import Subscriber, UnsubscribeRequest

GMAIL_CLIP_BYTES = 102_000


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

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.BLOCKING


# Placeholders of this and other mailing systems that must never reach a reader.
_UNRESOLVED = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\*\|[A-Z0-9_:]+\|\*|%%[A-Za-z0-9_]+%%|\[\[[^\]]+\]\]|\{\$[A-Za-z_]+\}"
)
# Addresses and phone numbers: the same patterns that redact typed text in the channel.
_EMAIL, _PHONE = EMAIL, PHONE
_HTTP_LINK = re.compile(r"""href=["']http://""", re.IGNORECASE)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def _fold(text: str) -> str:
    """Comparable form: NFKC (full-width digits and letters) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass
class PersonalDataIndex:
    """Every subscriber's and unsubscribe requester's name, company and address.

    An Aho-Corasick automaton over the bulk, plus `extra`: the few needles
    added since the automaton was built (see `PersonalDataCache`), scanned
    directly so that a change costs milliseconds, not a rebuild.
    """

    automaton: ahocorasick.Automaton | None = None
    size: int = 0
    fingerprint: tuple[object, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    MIN_CHARS_WIDE = 2  # a Japanese family name plus given name is 2+ characters
    MIN_CHARS_ASCII = 4

    @classmethod
    def from_values(cls, values: Iterable[tuple[str, str]]) -> PersonalDataIndex:
        """Build from (kind, text) pairs; kind is "name", "company" or "address"."""
        automaton = ahocorasick.Automaton()
        size = 0
        for kind, needle in _needles(values):
            if needle not in automaton:
                automaton.add_word(needle, (kind, needle))
                size += 1
        if size:
            automaton.make_automaton()
        return cls(automaton=automaton if size else None, size=size)

    def with_extra(
        self, values: Iterable[tuple[str, str]], fingerprint: tuple[object, ...]
    ) -> PersonalDataIndex:
        """The same automaton, plus `values` scanned directly."""
        extra = dict(self.extra)
        for kind, needle in _needles(values):
            if self.automaton is None or needle not in self.automaton:
                extra.setdefault(needle, kind)
        return PersonalDataIndex(self.automaton, self.size, fingerprint, extra)

    def find(self, text: str) -> list[tuple[str, str]]:
        """(kind, matched text) for each distinct personal datum in `text`."""
        hay = _fold(text)
        found: dict[str, str] = {}
        if self.automaton is not None:
            for end, (kind, needle) in self.automaton.iter(hay):
                start = end - len(needle) + 1
                if needle.isascii() and not _word_bounded(hay, start, end):
                    continue
                found.setdefault(needle, kind)
        for needle, kind in self.extra.items():
            start = hay.find(needle)
            while start >= 0:
                if not needle.isascii() or _word_bounded(hay, start, start + len(needle) - 1):
                    found.setdefault(needle, kind)
                    break
                start = hay.find(needle, start + 1)
        return [(kind, needle) for needle, kind in found.items()]


def _needles(values: Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    for kind, raw in values:
        if raw:
            needle = _fold(raw.strip())
            if _worth_matching(needle):
                yield kind, needle


def _worth_matching(needle: str) -> bool:
    if needle.isascii():
        return len(needle) >= PersonalDataIndex.MIN_CHARS_ASCII
    return len(needle) >= PersonalDataIndex.MIN_CHARS_WIDE


def _word_bounded(hay: str, start: int, end: int) -> bool:
    """An ASCII needle must not be part of a longer ASCII word. Japanese text has
    no spaces, so a kana or kanji next to it ("Smith様") is a boundary."""
    before = hay[start - 1] if start > 0 else " "
    after = hay[end + 1] if end + 1 < len(hay) else " "
    return not any(c.isascii() and c.isalnum() for c in (before, after))


class Fingerprint(NamedTuple):
    """Cheap facts that change whenever personal data changes."""

    subscribers: int
    newest_update: datetime | None
    max_id: int | None
    erased: int
    requests: int
    max_request: int | None
    erased_requests: int


class PersonalDataCache:
    """One index per database, kept fresh cheaply.

    A fingerprint query (counts, newest ids and update time, erased rows)
    tells whether anything changed. New or edited rows since the automaton
    was built are added as `extra` needles (a small query, no rebuild); the
    automaton is rebuilt only when many rows changed or when a person was
    forgotten (so that their erased data leaves memory too). An edited row's
    old values stay in the automaton until then, which can only add findings,
    never hide one.
    """

    MAX_EXTRA = 2_000

    def __init__(self) -> None:
        self._index = PersonalDataIndex()
        self._built: Fingerprint | None = None  # when the automaton was built
        self._lock = threading.Lock()

    @staticmethod
    def _fingerprint(session: Session) -> Fingerprint:
        # Inserts move the max id, edits the newest update time; forgetting a
        # person erases fields in place, which the counts of erased rows catch.
        subs = session.execute(
            select(
                func.count(Subscriber.id),
                func.max(Subscriber.updated_at),
                func.max(Subscriber.id),
                func.count(Subscriber.id).filter(Subscriber.email.is_(None)),
            )
        ).one()
        reqs = session.execute(
            select(
                func.count(UnsubscribeRequest.id),
                func.max(UnsubscribeRequest.id),
                func.count(UnsubscribeRequest.id).filter(UnsubscribeRequest.email.is_(None)),
            )
        ).one()
        return Fingerprint(*subs, *reqs)

    def get(self, db: Database) -> PersonalDataIndex:
        with db.sessions() as session:
            fingerprint = self._fingerprint(session)
            with self._lock:
                index, built = self._index, self._built
            if index.fingerprint and fingerprint == index.fingerprint:
                return index
            delta = self._delta(session, built, fingerprint) if built is not None else None
            if delta is not None:
                index = index.with_extra(delta, fingerprint)
            else:
                index = PersonalDataIndex.from_values(_personal_values(session))
                index.fingerprint = built = fingerprint
        with self._lock:
            self._index, self._built = index, built
        return index

    def _delta(
        self, session: Session, built: Fingerprint, now: Fingerprint
    ) -> list[tuple[str, str]] | None:
        """Values of rows added or edited since `built`, or None if a rebuild is due."""
        if (
            (now.erased, now.erased_requests) != (built.erased, built.erased_requests)
            or now.subscribers < built.subscribers
            or now.requests < built.requests
        ):
            return None  # someone was forgotten (or rows vanished): rebuild from scratch
        changed = Subscriber.id > (built.max_id or 0)
        if built.newest_update is not None:
            changed = changed | (Subscriber.updated_at > built.newest_update)
        subs = session.execute(
            select(Subscriber.email, Subscriber.name, Subscriber.company)
            .where(changed)
            .limit(self.MAX_EXTRA + 1)
        ).all()
        reqs = session.execute(
            select(
                UnsubscribeRequest.email,
                UnsubscribeRequest.given_name,
                UnsubscribeRequest.given_company,
            )
            .where(UnsubscribeRequest.id > (built.max_request or 0))
            .limit(self.MAX_EXTRA + 1)
        ).all()
        if len(subs) + len(reqs) > self.MAX_EXTRA:
            return None
        values: list[tuple[str, str]] = []
        for email, name, company in [*subs, *reqs]:
            values += [("address", email or ""), ("name", name), ("company", company)]
        return values


def _personal_values(session: Session) -> Iterable[tuple[str, str]]:
    rows = session.execute(
        select(Subscriber.email, Subscriber.name, Subscriber.company).execution_options(
            yield_per=10_000
        )
    )
    for email, name, company in rows:
        yield ("address", email or "")
        yield ("name", name)
        yield ("company", company)
    requests = session.execute(
        select(
            UnsubscribeRequest.email,
            UnsubscribeRequest.given_name,
            UnsubscribeRequest.given_company,
        )
    )
    for email, name, company in requests:
        yield ("address", email or "")
        yield ("name", name)
        yield ("company", company)


def preflight(
    compiled: CompiledIssue,
    *,
    body_source: str,
    sender_address: str,
    index: PersonalDataIndex,
    list_name: str,
) -> list[Finding]:
    """All findings for one version; blocking ones first."""
    findings: list[Finding] = []
    subject = compiled.subject.strip()
    if not subject:
        findings.append(Finding("subject_empty", Severity.BLOCKING))
    elif "\n" in compiled.subject or "\r" in compiled.subject:
        findings.append(Finding("subject_multiline", Severity.BLOCKING))

    sample = RecipientContext(name="", company="", list_name=list_name, issue_date="2026-01-01")
    try:
        rendered = render_message(compiled, sample)
    except TemplateProblem as problem:
        findings.append(Finding("template_error", Severity.BLOCKING, detail=str(problem)))
        return _ordered(findings)

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
        findings.append(
            Finding(
                "size_large",
                Severity.WARNING,
                {"kilobytes": size // 1000},
            )
        )
    if _HTTP_LINK.search(rendered.html):
        findings.append(Finding("insecure_link", Severity.WARNING))

    # Personal data: scan what the author wrote (subject and body), without the
    # template expressions, which are the recipient's own data at send time.
    text = _JINJA.sub(" ", f"{compiled.subject}\n{body_source}")
    folded_sender = sender_address.lower()
    addresses = sorted(
        {m.group(0) for m in _EMAIL.finditer(text) if m.group(0).lower() != folded_sender}
    )
    if addresses:
        findings.append(
            Finding(
                "personal_email",
                Severity.BLOCKING,
                {"count": len(addresses)},
                ", ".join(addresses[:5]),
            )
        )
    phones = sorted({m.group(0) for m in _PHONE.finditer(unicodedata.normalize("NFKC", text))})
    if phones:
        findings.append(
            Finding(
                "personal_phone",
                Severity.BLOCKING,
                {"count": len(phones)},
                ", ".join(phones[:5]),
            )
        )
    matches = [(k, t) for k, t in index.find(text) if t != folded_sender]
    if matches:
        kinds = sorted({k for k, _ in matches})
        findings.append(
            Finding(
                "subscriber_data",
                Severity.BLOCKING,
                {"count": len(matches), "kinds": ",".join(kinds)},
                ", ".join(t for _, t in matches[:5]),
            )
        )
    return _ordered(findings)


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: 0 if f.blocking else 1)
