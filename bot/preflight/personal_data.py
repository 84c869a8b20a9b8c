"""The personal data preflight looks for: every subscriber's and unsubscribe
requester's name, company and address, and what was typed into each request's
note.

`PersonalDataIndex` holds one Aho-Corasick automaton per view of `disguise`
(names and companies in scripts with spaces, in the loose view; Japanese,
Chinese and Korean ones in the spaced view; addresses in the address view),
built once and refreshed cheaply by `PersonalDataCache`, so a check stays fast
on a list of 100,000.

A note is free text, so it is indexed by what in it can identify someone
(`note_phrases`): names next to an honorific or a title, companies next to a
legal-form word, runs of capitalised words, runs of kanji or katakana (minus
the words every request says), addresses, and any longer phrase of it.
Telephone numbers need no index: preflight refuses every number it finds.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import ahocorasick
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.preflight import disguise
from bot.preflight.disguise import ADDRESS, EMAIL, Haystack, company_core, fold
from storage.db import Database
from storage.models import Subscriber, UnsubscribeRequest


class Needle(NamedTuple):
    view: str
    key: str
    kind: str  # "name", "company", "address" or "note"
    shown: str  # as it may be quoted to the person who asked (ephemerally)


def needles(values: Iterable[tuple[str, str]]) -> Iterator[Needle]:
    """The needles of (kind, text) pairs; kind is name, company, address or note."""
    for kind, raw in values:
        if not raw or not raw.strip():
            continue
        if kind == "note":
            for phrase_kind, phrase in note_phrases(raw):
                needle = _needle(phrase_kind, phrase)
                if needle is not None:
                    yield needle
        else:
            needle = _needle(kind, raw)
            if needle is not None:
                yield needle


def _needle(kind: str, raw: str) -> Needle | None:
    folded = fold(raw).strip()
    if kind == "address":
        return Needle(ADDRESS, folded, kind, folded) if "@" in folded else None
    looked_up = disguise.key(company_core(folded) if kind == "company" else folded)
    if looked_up is None and kind == "company":
        looked_up = disguise.key(folded)
    return None if looked_up is None else Needle(*looked_up, kind=kind, shown=folded)


# --- notes ---------------------------------------------------------------------------------

_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆"
_KANA = "\u30a0-\u30ff"
_HONORIFIC = re.compile(
    rf"([{_KANJI}{_KANA}]{{1,8}}(?: [{_KANJI}{_KANA}]{{1,8}})?) ?"
    r"(?:さん|様|さま|氏|殿|くん|君|ちゃん|先生|御中)"
)
_TITLED = re.compile(r"\b(?:mr|mrs|ms|miss|dr|prof)\.? ([a-z][\w'-]+(?: [a-z][\w'-]+)?)")
_CAPITAL_WORD = r"[A-Z][A-Za-z0-9'&.-]*"
_CAPITALISED = re.compile(rf"(?<![A-Za-z]){_CAPITAL_WORD}(?:[ \t]+(?:&[ \t]+)?{_CAPITAL_WORD})+")
_BY_FORM = re.compile(
    rf"(?:{disguise.JA_FORMS}) ?([{_KANJI}{_KANA}a-z0-9&' -]{{2,40}})"
    rf"|([{_KANJI}{_KANA}a-z0-9&' -]{{2,40}}?) ?(?:{disguise.JA_FORMS})"
)
_KANJI_RUN = re.compile(rf"[{_KANJI}]{{1,4}} [{_KANJI}]{{1,4}}|[{_KANJI}]{{3,}}")
_KATAKANA_RUN = re.compile(rf"[{_KANA}]{{5,}}")
_SENTENCES = re.compile(r"[。．.!?！？\n;；]+")
# Words and phrases of every unsubscribe request: never evidence of who asked.
_ORDINARY = frozenset(
    [
        "配信停止",
        "配信解除",
        "配信停止希望",
        "購読停止",
        "購読解除",
        "登録解除",
        "退会希望",
        "退会手続",
        "本人確認",
        "本人希望",
        "個人情報",
        "電話番号",
        "担当者",
        "代表者",
        "代理人",
        "事務局",
        "受信拒否",
        "受信停止",
        "送信停止",
        "情報提供",
        "迷惑メール",
        "年末年始",
        "今年度",
        "来年度",
        "新年度",
        "ニュースレター",
        "メールマガジン",
        "メールアドレス",
        "メッセージ",
        "キャンペーン",
        "プライバシー",
        "ホームページ",
        "ウェブサイト",
        "パスワード",
        "アカウント",
        "スケジュール",
    ]
)
_BOILERPLATE = re.compile(
    "いつもお世話になっております|お世話になっております|ありがとうございます|"
    "ありがとうございました|よろしくお願いいたします|よろしくお願いします|お願いいたします|"
    "お願いします|please unsubscribe me|please remove me from (?:the|your) list|thank you"
)
_LEGAL_FORM = re.compile(disguise.JA_FORMS)
PHRASE_SPACED, PHRASE_LOOSE = 16, 24  # a phrase this long is not said by chance


def note_phrases(note: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of what in a request's note could identify someone."""
    folded = fold(note)
    for match in _HONORIFIC.finditer(folded):
        if len(match.group(1).replace(" ", "")) >= 3:  # a family name alone is too common
            yield "note", match.group(1)
    for match in _TITLED.finditer(folded):
        yield "note", match.group(1)
    for match in _CAPITALISED.finditer(note):
        yield "note", company_core(fold(match.group(0)))
    for match in _BY_FORM.finditer(folded):
        yield "note", (match.group(1) or match.group(2)).strip()
    for run in (*_KANJI_RUN.findall(folded), *_KATAKANA_RUN.findall(folded)):
        run = run.replace(" ", "")  # a family and a given name, as typed with a space
        if len(run) >= 3 and run not in _ORDINARY and not _LEGAL_FORM.fullmatch(run):
            yield "note", run
    for address in EMAIL.findall(Haystack(folded).addresses):
        yield "address", address
    for sentence in _SENTENCES.split(_BOILERPLATE.sub(" ", folded)):
        looked_up = disguise.key(sentence.strip())
        if looked_up is not None:
            view, key = looked_up
            if len(key) >= (PHRASE_SPACED if view == disguise.SPACED else PHRASE_LOOSE):
                yield "note", sentence.strip()


# --- the index -----------------------------------------------------------------------------


@dataclass
class PersonalDataIndex:
    """Every needle, in one automaton per view, plus `extra`: the few needles
    added since the automata were built (see `PersonalDataCache`), looked up
    directly so that a change costs milliseconds, not a rebuild."""

    automata: dict[str, ahocorasick.Automaton] = field(default_factory=dict)
    size: int = 0
    fingerprint: tuple[object, ...] = ()
    extra: dict[tuple[str, str], Needle] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Iterable[tuple[str, str]]) -> PersonalDataIndex:
        """Build from (kind, text) pairs; kind is name, company, address or note."""
        automata: dict[str, ahocorasick.Automaton] = {}
        size = 0
        for needle in needles(values):
            automaton = automata.setdefault(needle.view, ahocorasick.Automaton())
            if needle.key not in automaton:
                automaton.add_word(needle.key, needle)
                size += 1
        for automaton in automata.values():
            automaton.make_automaton()
        return cls(automata=automata, size=size)

    def has(self, needle: Needle) -> bool:
        automaton = self.automata.get(needle.view)
        return (automaton is not None and needle.key in automaton) or (
            (needle.view, needle.key) in self.extra
        )

    def with_extra(
        self, values: Iterable[tuple[str, str]], fingerprint: tuple[object, ...]
    ) -> PersonalDataIndex:
        """The same automata, plus the needles of `values` looked up directly."""
        extra = dict(self.extra)
        for needle in needles(values):
            if not self.has(needle):
                extra.setdefault((needle.view, needle.key), needle)
        return PersonalDataIndex(self.automata, self.size, fingerprint, extra)

    def search(self, haystack: Haystack) -> dict[str, Needle]:
        """Each distinct needle found in `haystack`, by key."""
        found: dict[str, Needle] = {}
        for view, automaton in self.automata.items():
            text = haystack.text(view)
            for end, needle in automaton.iter(text):
                start = end - len(needle.key) + 1
                if needle.key not in found and haystack.whole_word(view, needle.key, start):
                    found[needle.key] = needle
        for (view, key), needle in self.extra.items():
            if key in found:
                continue
            text = haystack.text(view)
            start = text.find(key)
            while start >= 0:
                if haystack.whole_word(view, key, start):
                    found[key] = needle
                    break
                start = text.find(key, start + 1)
        return found

    def find(self, text: str) -> list[tuple[str, str]]:
        """(kind, needle as shown) for each distinct personal datum in `text`."""
        return [(n.kind, n.shown) for n in self.search(Haystack.of(text)).values()]


# --- keeping it fresh ------------------------------------------------------------------------


class Fingerprint(NamedTuple):
    """Cheap facts that change whenever personal data changes."""

    subscribers: int
    newest_update: object
    max_id: int | None
    erased: int
    requests: int
    max_request: int | None
    erased_requests: int


def _request_values(email: str | None, name: str, company: str, note: str) -> list[tuple[str, str]]:
    return [("address", email or ""), ("name", name), ("company", company), ("note", note)]


class PersonalDataCache:
    """One index per database, kept fresh cheaply.

    A fingerprint query (counts, newest ids and update time, erased rows)
    tells whether anything changed. New or edited rows since the automata
    were built are added as `extra` needles (a small query, no rebuild); the
    automata are rebuilt only when many rows changed or when a person was
    forgotten (so that their erased data leaves memory too). An edited row's
    old values stay in the automata until then, which can only add findings,
    never hide one.
    """

    MAX_EXTRA = 2_000

    def __init__(self) -> None:
        self._index = PersonalDataIndex()
        self._built: Fingerprint | None = None  # when the automata were built
        self._lock = threading.Lock()

    @staticmethod
    def _fingerprint(session: Session) -> Fingerprint:
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
                UnsubscribeRequest.note,
            )
            .where(UnsubscribeRequest.id > (built.max_request or 0))
            .limit(self.MAX_EXTRA + 1)
        ).all()
        if len(subs) + len(reqs) > self.MAX_EXTRA:
            return None
        values: list[tuple[str, str]] = []
        for email, name, company in subs:
            values += _request_values(email, name, company, "")
        for email, name, company, note in reqs:
            values += _request_values(email, name, company, note)
        return values


def _personal_values(session: Session) -> Iterator[tuple[str, str]]:
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
            UnsubscribeRequest.note,
        )
    )
    for email, name, company, note in requests:
        yield from _request_values(email, name, company, note)
