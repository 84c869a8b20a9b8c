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

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import ahocorasick
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.contacts import addresses, spelled_out
from bot.preflight import disguise
from bot.preflight.disguise import (
    ADDRESS,
    LOOSE,
    ROMAJI,
    SPACED,
    Haystack,
    company_core,
    company_cores,
    fold,
    fold_all,
    keys_all,
    other_orders,
)
from bot.preflight.readings import readings, romanised
from storage import changes
from storage.db import Database
from storage.models import Subscriber, UnsubscribeRequest

log = logging.getLogger(__name__)


class Needle(NamedTuple):
    view: str
    key: str
    kind: str  # "name", "company", "address" or "note"
    shown: str  # as it may be quoted to the person who asked (ephemerally)


def needles(values: Iterable[tuple[str, str]]) -> Iterator[Needle]:
    """The distinct needles of (kind, text) pairs; kind is name, company, address or note."""
    for by_key in _needles_by_view(_by_kind(values)).values():
        yield from by_key.values()


def _by_kind(values: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    by_kind: dict[str, list[str]] = {"address": [], "name": [], "company": [], "note": []}
    for kind, raw in values:
        by_kind[kind].append(raw)
    return by_kind


_new = tuple.__new__  # a Needle without the Python frame of NamedTuple's constructor


def _needles_by_view(by_kind: dict[str, list[str]]) -> dict[str, dict[str, Needle]]:
    """The distinct needles of lists of texts by kind, by view and key (one text of a
    key is kept, to be shown). Each list is folded and keyed in a few passes over
    chunks of it (`disguise.fold_all`, `keys_all`, `company_cores`), so that a rebuild
    at 100,000 subscribers spends its time in the automata, not in Python per text.
    Names are also looked up with family and given name swapped (`other_orders`), and
    Japanese names and companies as they read (`readings`)."""
    by_view: dict[str, dict[str, Needle]] = {LOOSE: {}, SPACED: {}, ADDRESS: {}, ROMAJI: {}}
    phrases: dict[str, list[str]] = {"address": [], "note": []}
    for note in by_kind.get("note", []):
        if note and not note.isspace():
            for kind, phrase in note_phrases(note):
                phrases[kind].append(phrase)
    texts = [(kind, raws) for kind, raws in by_kind.items() if kind != "note"]
    for kind, raws in (*texts, *phrases.items()):
        present = [raw for raw in raws if raw]
        # In chunks: each pass over a chunk is one call that holds the interpreter
        # lock, and a rebuild runs beside the checks (`PersonalDataCache`).
        for at in range(0, len(present), _CHUNK):
            _add_needles(by_view, kind, present[at : at + _CHUNK])
    return by_view


_CHUNK = 5_000
_LATIN = re.compile(r"[a-z][a-z' .-]*")  # a folded name in Latin letters only


def _add_needles(by_view: dict[str, dict[str, Needle]], kind: str, raws: list[str]) -> None:
    """Add the needles of texts of one kind to `by_view` (a key's first text stays)."""
    shown = typed = fold_all(raws, strip=True)
    if kind == "address":
        views: list[str | None] = [ADDRESS if "@" in text else None for text in shown]
        keys = shown
    else:
        cores = company_cores(shown) if kind == "company" else shown
        keyed = cores
        if kind == "name":  # also with family and given name swapped, shown as typed
            orders = [(order, text) for text in shown for order in other_orders(text)]
            keyed = [*keyed, *(order for order, _ in orders)]
        views, keys = keys_all(keyed)
        if kind == "name":
            shown = [*shown, *(text for _, text in orders)]
        if kind == "company":  # a name that is all legal form: the whole of it
            for i in [i for i, view in enumerate(views) if view is None]:
                views[i], keys[i] = disguise.key(shown[i]) or (None, "")
        # How each reads, in kana and romaji (`readings`), shown as typed; and a name
        # typed in Latin letters may be a Japanese one in romaji (`romanised`): it
        # goes into the romaji view too, where Syouta Kobayasi reads like Shota
        # Kobayashi, and is looked for in kana (Yamaguchi Kenta as やまぐちけんた).
        kana: list[tuple[str, str]] = []
        romaji: list[tuple[str, str]] = []
        for i, text in enumerate(keyed):
            if _LATIN.fullmatch(text):
                read = romanised(text)
                kana += [(reading, shown[i]) for reading in read.kana]
                romaji += [(reading, shown[i]) for reading in read.romaji]
        for core, text in zip(cores, typed, strict=True):
            read = readings(core, katakana=kind != "company")
            kana += [(reading, text) for reading in read.kana]
            romaji += [(reading, text) for reading in read.romaji]
        if kana or romaji:
            read_views, read_keys = keys_all([reading for reading, _ in (*kana, *romaji)])
            spellings = [reading for reading, _ in romaji]
            glued = [reading.replace(" ", "") for reading in spellings]
            romaji_keys = disguise.romaji_keys(spellings + glued)
            views = [*views, *read_views, *(ROMAJI if k else None for k in romaji_keys)]
            keys = [*keys, *read_keys, *romaji_keys]
            shown = [*shown, *(text for _, text in (*kana, *romaji, *romaji, *romaji))]
    for view, k, text in zip(views, keys, shown, strict=True):
        if view is not None:
            by_key = by_view[view]
            if k not in by_key:
                by_key[k] = _new(Needle, (view, k, kind, text))


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
    for address in addresses(spelled_out(folded)):
        yield "address", address.group(0).strip(".")
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
    directly so that a change costs milliseconds, not a rebuild, and `layers`:
    indexes of their own for many rows changed while a rebuild runs."""

    automata: dict[str, ahocorasick.Automaton] = field(default_factory=dict)
    size: int = 0
    extra: dict[tuple[str, str], Needle] = field(default_factory=dict)
    layers: tuple[PersonalDataIndex, ...] = ()  # indexes of many rows changed since

    @classmethod
    def from_values(cls, values: Iterable[tuple[str, str]]) -> PersonalDataIndex:
        """Build from (kind, text) pairs; kind is name, company, address or note."""
        return cls.from_texts(_by_kind(values))

    @classmethod
    def from_texts(cls, by_kind: dict[str, list[str]]) -> PersonalDataIndex:
        """Build from lists of texts by kind (name, company, address, note)."""
        automata: dict[str, ahocorasick.Automaton] = {}
        size = 0
        for view, by_key in _needles_by_view(by_kind).items():
            if by_key:
                automaton = automata[view] = ahocorasick.Automaton()
                for key, needle in by_key.items():
                    automaton.add_word(key, needle)
                automaton.make_automaton()
                size += len(by_key)
        return cls(automata=automata, size=size)

    def has(self, needle: Needle) -> bool:
        automaton = self.automata.get(needle.view)
        return (
            (automaton is not None and needle.key in automaton)
            or (needle.view, needle.key) in self.extra
            or any(layer.has(needle) for layer in self.layers)
        )

    def with_layer(self, values: Iterable[tuple[str, str]]) -> PersonalDataIndex:
        """The same index, plus an index of `values` of its own (many rows changed
        while a rebuild runs: too many to look up one by one)."""
        layer = PersonalDataIndex.from_values(values)
        return PersonalDataIndex(
            self.automata, self.size + layer.size, self.extra, (*self.layers, layer)
        )

    def with_extra(self, values: Iterable[tuple[str, str]]) -> PersonalDataIndex:
        """The same automata, plus the needles of `values` looked up directly; this
        very index when they hold nothing new (on PostgreSQL the change horizon is
        the oldest running transaction's, anywhere on the server, so rows already
        seen can be named again while another transaction stays open)."""
        extra = dict(self.extra)
        for needle in needles(values):
            if not self.has(needle):
                extra.setdefault((needle.view, needle.key), needle)
        if len(extra) == len(self.extra):
            return self
        return PersonalDataIndex(self.automata, self.size, extra, self.layers)

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
        for layer in self.layers:
            for key, needle in layer.search(haystack).items():
                found.setdefault(key, needle)
        return found

    def find(self, text: str) -> list[tuple[str, str]]:
        """(kind, needle as shown) for each distinct personal datum in `text` (one found
        by several keys, as written and as it reads, once)."""
        found = self.search(Haystack.of(text)).values()
        return list(dict.fromkeys((n.kind, n.shown) for n in found))


# --- keeping it fresh ------------------------------------------------------------------------


class PersonalDataCache:
    """One index per database, kept fresh cheaply, never missing a change, and
    never making a check wait for a rebuild (but the first).

    The database stamps every change to a personal field (`storage.changes`);
    each refresh reads only the rows stamped at or above the previous refresh's
    horizon (an indexed range query that finds nothing when nothing changed)
    and adds them to the index: up to `MAX_EXTRA` rows as `extra` needles looked
    up directly, up to `MAX_LAYER` as a small index of their own (a layer). The
    automata are rebuilt when many rows changed, when rows were deleted, or when
    a person was forgotten (so that their erased data leaves memory too): in the
    background, from a snapshot read with its own horizon. Meanwhile checks use
    the last complete index plus every row changed since its horizon; the fresh
    index replaces it with the snapshot's horizon, so the next refresh adds every
    row changed since the snapshot. So a check's index always holds every change
    committed before the check looked. An edited, deleted or forgotten row's old
    values stay in memory until the rebuild is done, which can only add findings,
    never hide one. Only when more than `MAX_LAYER` rows changed (a large import)
    does a check rebuild the index itself.
    """

    MAX_EXTRA = 2_000
    MAX_LAYER = 20_000

    def __init__(self, *, start: Callable[[Callable[[], None]], None] | None = None) -> None:
        """`start` runs a rebuild in the background (a daemon thread by default)."""
        self._index = PersonalDataIndex()
        self._horizon: int | None = None
        self._removals = 0
        self._lock = threading.Lock()  # the fields above; never held for a rebuild
        self._idle = threading.Event()  # no rebuild running
        self._idle.set()
        self._start = start or _in_a_thread

    def get(self, db: Database) -> PersonalDataIndex:
        with self._lock, db.sessions() as session:
            horizon, removals = changes.horizon(session.connection())
            changed = None
            if self._horizon is not None:
                changed = self._changed_since(session, self._horizon)
            if changed is None:  # the first index, or too many changes to add: built here
                self._index = PersonalDataIndex.from_texts(_personal_texts(session))
                self._horizon, self._removals = horizon, removals
                return self._index
            values, rows, forgotten = changed
            if forgotten or removals != self._removals or rows > self.MAX_EXTRA:
                self._rebuild_in_background(db)
            if rows > self.MAX_EXTRA:
                self._index = self._index.with_layer(values)
            elif values:
                self._index = self._index.with_extra(values)
            # (removals stay as the complete index counted them: a rebuild stays due
            # until one that saw them is in)
            self._horizon = horizon
            return self._index

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until no rebuild is running (for tests and benchmarks); whether none is."""
        return self._idle.wait(timeout)

    def _rebuild_in_background(self, db: Database) -> None:
        """Start a rebuild unless one is running (a later refresh starts another if one
        is still due when this one is in)."""
        if not self._idle.is_set():
            return
        self._idle.clear()

        def rebuild() -> None:
            try:
                with db.sessions() as session:
                    horizon, removals = changes.horizon(session.connection())
                    texts = _personal_texts(session)
                index = self._build(texts)
                with self._lock:  # the next refresh adds what changed since the snapshot
                    replaced = self._index
                    self._index, self._horizon, self._removals = index, horizon, removals
                # (freeing the old automata takes a second at 100,000 subscribers: here,
                # not in the next check)
                del replaced
            except Exception:  # the next refresh that finds it due tries again
                log.exception("rebuilding the personal-data index failed")
            finally:
                self._idle.set()

        try:
            self._start(rebuild)
        except BaseException:
            self._idle.set()
            raise

    def _build(self, texts: dict[str, list[str]]) -> PersonalDataIndex:
        return PersonalDataIndex.from_texts(texts)

    def _changed_since(
        self, session: Session, horizon: int
    ) -> tuple[list[tuple[str, str]], int, bool] | None:
        """(values, how many rows, whether someone was forgotten) of the rows stamped
        at or above `horizon`, or None if more than `MAX_LAYER` rows were."""
        subs = session.execute(
            select(Subscriber.email, Subscriber.name, Subscriber.company)
            .where(Subscriber.change_seq >= horizon)
            .limit(self.MAX_LAYER + 1)
        ).all()
        reqs = session.execute(
            select(
                UnsubscribeRequest.email,
                UnsubscribeRequest.given_name,
                UnsubscribeRequest.given_company,
                UnsubscribeRequest.note,
            )
            .where(UnsubscribeRequest.change_seq >= horizon)
            .limit(self.MAX_LAYER + 1)
        ).all()
        if len(subs) + len(reqs) > self.MAX_LAYER:
            return None
        forgotten = any(row[0] is None for row in (*subs, *reqs))
        values: list[tuple[str, str]] = []
        for email, name, company in subs:
            values += _request_values(email, name, company, "")
        for email, name, company, note in reqs:
            values += _request_values(email, name, company, note)
        return values, len(subs) + len(reqs), forgotten


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="preflight-index", daemon=True).start()


def _request_values(email: str | None, name: str, company: str, note: str) -> list[tuple[str, str]]:
    return [("address", email or ""), ("name", name), ("company", company), ("note", note)]


def _personal_texts(session: Session) -> dict[str, list[str]]:
    """Every subscriber's and requester's personal fields, by kind, read by columns."""
    connection = session.connection()
    subscribers = connection.execute(
        select(Subscriber.email, Subscriber.name, Subscriber.company)
    ).all()
    requests = connection.execute(
        select(
            UnsubscribeRequest.email,
            UnsubscribeRequest.given_name,
            UnsubscribeRequest.given_company,
            UnsubscribeRequest.note,
        )
    ).all()
    rows = [*subscribers, *((email, name, company) for email, name, company, _ in requests)]
    return {
        "address": [email or "" for email, _, _ in rows],
        "name": [name for _, name, _ in rows],
        "company": [company for _, _, company in rows],
        "note": [note for *_, note in requests],
    }
