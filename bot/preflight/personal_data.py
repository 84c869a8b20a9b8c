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

import itertools
import logging
import pickle
import re
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import ahocorasick
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import preflight_builder as builder
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

_KINDS = ("name", "company", "address", "note")
_KIND_CODES = {kind: code for code, kind in enumerate(_KINDS)}


@dataclass(frozen=True, eq=False)
class NeedleTable:
    """The needles of one view, packed into a few large objects instead of a million
    small ones, so that it is pickled, loaded and freed in a few short calls (a
    rebuild in a worker process hands its index over, `bot.preflight_builder`):
    automata of at most `SHARD_CHARACTERS` characters of keys each, whose values
    are needle numbers, and per number the key's length, its kind and the text
    shown (UTF-8, one buffer)."""

    view: str
    automata: tuple[ahocorasick.Automaton, ...]
    lengths: array[int]  # of each key
    kinds: bytes  # index into _KINDS
    shown: bytes  # every shown text, one after the other, in UTF-8
    ends: array[int]  # where each shown text ends in `shown`

    # Loading a pickled automaton, freeing one or making one is one call that holds
    # the interpreter lock, for a time that grows with its trie (~15 bytes pickled
    # per character of its keys, ~2.5 ms of CPU per MB to load). But a scan steps
    # through every character of the text in every automaton, at a cost per
    # character that hardly depends on the automaton's size (~0.5 ms for the ~12,500
    # characters of a check's texts in one view): 57 automata of 250,000 characters
    # at 100,000 subscribers made the scan ~25 of a check's ~45 ms of CPU. At most
    # this many characters of keys (~15 MB pickled, ~16 automata at 100,000
    # subscribers) keeps each such call to ~30 ms and the scan's stepping to ~7 ms.
    SHARD_CHARACTERS = 1_000_000

    @classmethod
    def of(cls, view: str, found: list[Needle]) -> NeedleTable:
        automata = []
        automaton, characters = None, 0
        for number, needle in enumerate(found):
            if automaton is None or characters >= cls.SHARD_CHARACTERS:
                if automaton is not None:
                    automaton.make_automaton()
                automaton, characters = ahocorasick.Automaton(ahocorasick.STORE_INTS), 0
                automata.append(automaton)
            automaton.add_word(needle.key, number)
            characters += len(needle.key)
        if automaton is not None:
            automaton.make_automaton()
        shown = [needle.shown.encode("utf-8", "surrogatepass") for needle in found]
        return cls(
            view,
            tuple(automata),
            array("I", [len(needle.key) for needle in found]),
            bytes(_KIND_CODES[needle.kind] for needle in found),
            b"".join(shown),
            array("Q", itertools.accumulate(map(len, shown))),
        )

    def __len__(self) -> int:
        return len(self.kinds)

    def __contains__(self, key: str) -> bool:
        return any(key in automaton for automaton in self.automata)

    def matches(self, text: str) -> Iterator[tuple[int, str, int]]:
        """(start, key, needle number) of every key in `text`."""
        lengths = self.lengths
        for automaton in self.automata:
            for end, number in automaton.iter(text):
                start = end - lengths[number] + 1
                yield start, text[start : end + 1], number

    def needles(self) -> Iterator[Needle]:
        """Every needle of the table."""
        for automaton in self.automata:
            for key, number in automaton.items():
                yield self.needle(number, key)

    def needle(self, number: int, key: str) -> Needle:
        start = self.ends[number - 1] if number else 0
        shown = self.shown[start : self.ends[number]].decode("utf-8", "surrogatepass")
        return _new(Needle, (self.view, key, _KINDS[self.kinds[number]], shown))

    def blobs(self) -> Iterator[bytes]:
        """The table as pickled pieces: the arrays, then each automaton."""
        arrays = (self.view, len(self.automata), self.lengths, self.kinds, self.shown, self.ends)
        yield pickle.dumps(arrays, protocol=pickle.HIGHEST_PROTOCOL)
        for automaton in self.automata:
            yield pickle.dumps(automaton, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, read: Callable[[], bytes]) -> NeedleTable:
        """The table of pieces `read` one at a time (each loads in milliseconds).
        Pickles, so only ever pieces this process asked its own worker for."""
        view, count, lengths, kinds, shown, ends = pickle.loads(read())  # noqa: S301
        automata = tuple(pickle.loads(read()) for _ in range(count))  # noqa: S301
        return cls(view, automata, lengths, kinds, shown, ends)


@dataclass
class PersonalDataIndex:
    """Every needle, in one `NeedleTable` per view, plus `extra`: the few needles
    added since the tables were built (see `PersonalDataCache`), looked up
    directly so that a change costs milliseconds, not a rebuild, and `layers`:
    indexes of their own for many rows changed while a rebuild runs."""

    tables: dict[str, NeedleTable] = field(default_factory=dict)
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
        by_view = _needles_by_view(by_kind)
        tables: dict[str, NeedleTable] = {}
        for view in list(by_view):  # each view's needles freed once its table is made
            found = list(by_view.pop(view).values())
            if found:
                tables[view] = NeedleTable.of(view, found)
            del found
        return cls(tables=tables, size=sum(map(len, tables.values())))

    def blobs(self) -> Iterator[bytes]:
        """The tables (not `extra` nor `layers`) as pickled pieces (`load`)."""
        yield pickle.dumps(len(self.tables))
        for table in self.tables.values():
            yield from table.blobs()

    @classmethod
    def load(cls, read: Callable[[], bytes]) -> PersonalDataIndex:
        """The index of the pieces of `blobs`, `read` one at a time (`NeedleTable.load`)."""
        tables = [NeedleTable.load(read) for _ in range(pickle.loads(read()))]  # noqa: S301
        return cls({table.view: table for table in tables}, sum(map(len, tables)))

    def has(self, needle: Needle) -> bool:
        table = self.tables.get(needle.view)
        return (
            (table is not None and needle.key in table)
            or (needle.view, needle.key) in self.extra
            or any(layer.has(needle) for layer in self.layers)
        )

    def with_layer(self, values: Iterable[tuple[str, str]]) -> PersonalDataIndex:
        """The same index, plus an index of `values` of its own (many rows changed
        while a rebuild runs: too many to look up one by one)."""
        layer = PersonalDataIndex.from_values(values)
        return PersonalDataIndex(
            self.tables, self.size + layer.size, self.extra, (*self.layers, layer)
        )

    def with_extra(self, values: Iterable[tuple[str, str]]) -> PersonalDataIndex:
        """The same tables, plus the needles of `values` looked up directly; this
        very index when they hold nothing new (on PostgreSQL the change horizon is
        the oldest running transaction's, anywhere on the server, so rows already
        seen can be named again while another transaction stays open)."""
        extra = dict(self.extra)
        for needle in needles(values):
            if not self.has(needle):
                extra.setdefault((needle.view, needle.key), needle)
        if len(extra) == len(self.extra):
            return self
        return PersonalDataIndex(self.tables, self.size, extra, self.layers)

    def search(self, haystack: Haystack) -> dict[str, Needle]:
        """Each distinct needle found in `haystack`, by key."""
        found: dict[str, Needle] = {}
        for view, table in self.tables.items():
            for start, key, number in table.matches(haystack.text(view)):
                if key not in found and haystack.whole_word(view, key, start):
                    found[key] = table.needle(number, key)
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
    tables are rebuilt when many rows changed, when rows were deleted, or when
    a person was forgotten (so that their erased data leaves memory too): in the
    background, from a snapshot read with its own horizon. Meanwhile checks use
    the last complete index plus every row changed since its horizon; the fresh
    index replaces it with the snapshot's horizon, so the next refresh adds every
    row changed since the snapshot. So a check's index always holds every change
    committed before the check looked. An edited, deleted or forgotten row's old
    values stay in memory until the rebuild is done, which can only add findings,
    never hide one. Only when more than `MAX_LAYER` rows changed (a large import)
    does a check rebuild the index itself.

    A list of `WORKER_ROWS` rows or more is built in a worker process of its own
    (`bot.preflight_builder`), which reads its own snapshot and hands back the
    index in pieces that load in milliseconds: the bot's process then never waits
    for the build's long calls that hold the interpreter lock (every check, every
    `/healthz` and `/newsletter halt` would). A worker that fails, crashes or is
    killed is logged, and the index is built in the bot's process instead.
    """

    MAX_EXTRA = 2_000
    MAX_LAYER = 20_000
    WORKER_ROWS: int | None = 20_000  # None: always build in the bot's process

    def __init__(
        self,
        *,
        start: Callable[[Callable[[], None]], None] | None = None,
        work: builder.Work = builder.build,
    ) -> None:
        """`start` runs a rebuild in the background (a daemon thread by default);
        `work` is what a worker process runs (`builder.build`)."""
        self._index = PersonalDataIndex()
        self._horizon: int | None = None
        self._removals = 0
        self._lock = threading.Lock()  # the fields above; never held for a rebuild
        self._idle = threading.Event()  # no rebuild running
        self._idle.set()
        self._start = start or _in_a_thread
        self._work = work
        self._workers: set[builder.Worker] = set()  # building now
        self._closed = False

    def get(self, db: Database) -> PersonalDataIndex:
        with self._lock:
            with db.reading() as session:  # (a writer, however long, is not waited for)
                horizon, removals = changes.horizon(session.connection())
                changed = texts = None
                if self._horizon is not None:
                    changed = self._changed_since(session, self._horizon)
                if changed is None and not self._in_a_worker(db, session):
                    texts = _personal_texts(session)
            if changed is None:  # the first index, or too many changes to add: built now
                if texts is None:  # (the check waits for it; the bot's process does not)
                    horizon, removals, self._index = self._built(
                        db, PersonalDataIndex.from_texts, worker=True
                    )
                else:
                    self._index = PersonalDataIndex.from_texts(texts)
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

    def close(self) -> None:
        """Stop every worker process still building (the bot stops); builds from now
        on run in the bot's process."""
        self._closed = True
        for worker in list(self._workers):
            worker.stop()

    def _rebuild_in_background(self, db: Database) -> None:
        """Start a rebuild unless one is running (a later refresh starts another if one
        is still due when this one is in)."""
        if not self._idle.is_set():
            return
        self._idle.clear()

        def rebuild() -> None:
            try:
                worker = self._in_a_worker(db)
                horizon, removals, index = self._built(db, self._build, worker=worker)
                with self._lock:  # the next refresh adds what changed since the snapshot
                    replaced = self._index
                    self._index, self._horizon, self._removals = index, horizon, removals
                # Freeing the old tables: here, not in the next check, and one automaton
                # at a time (freeing all at once is one call of ~0.1 s at 100,000
                # subscribers that holds the interpreter lock; one is some 5 ms).
                automata = [a for table in replaced.tables.values() for a in table.automata]
                del replaced
                while automata:
                    automata.pop()
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

    def _built(
        self,
        db: Database,
        build: Callable[[dict[str, list[str]]], PersonalDataIndex],
        *,
        worker: bool,
    ) -> tuple[int, int, PersonalDataIndex]:
        """(horizon, removals, index) of a fresh snapshot: built by a worker process
        if `worker`, else (or when the worker fails) by `build` here."""
        if worker:
            try:
                process = builder.Worker(_url(db), self._work)
                self._workers.add(process)
                try:
                    built = process.result()
                finally:
                    self._workers.discard(process)
                return built.horizon, built.removals, built.index
            except builder.WorkerFailed as failure:
                log.log(
                    logging.INFO if self._closed else logging.WARNING,
                    "building the personal-data index in a worker process failed (%s); "
                    "building it in the bot's process",
                    failure,
                )
        horizon, removals, texts = snapshot(db)
        return horizon, removals, build(texts)

    def _in_a_worker(self, db: Database, session: Session | None = None) -> bool:
        """Whether to build in a worker process: a list of `WORKER_ROWS` rows or more,
        in a database a process of its own can open."""
        if self.WORKER_ROWS is None or self._closed or not _url(db):
            return False
        if session is None:
            with db.reading() as own:
                return _rows(own) >= self.WORKER_ROWS
        return _rows(session) >= self.WORKER_ROWS

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


def _url(db: Database) -> str:
    """The database's URL, for a worker process to connect with; "" for an SQLite
    database in memory (no other process can open it)."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    ):
        return ""
    return url.render_as_string(hide_password=False)


def _rows(session: Session) -> int:
    return sum(
        session.execute(select(func.count()).select_from(table)).scalar_one()
        for table in (Subscriber, UnsubscribeRequest)
    )


def snapshot(db: Database) -> tuple[int, int, dict[str, list[str]]]:
    """(horizon, removals, every personal text by kind), read in one transaction
    that holds up no writer."""
    with db.reading() as session:
        horizon, removals = changes.horizon(session.connection())
        return horizon, removals, _personal_texts(session)


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
