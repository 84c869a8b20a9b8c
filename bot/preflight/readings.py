"""How a Japanese name reads: in kana and in the romaji a writer could use.

A reader can be shown 山口 健太 as やまぐち けんた, ヤマグチ ケンタ, Yamaguchi Kenta,
Kenta Yamaguchi, YAMAGUCHI Kenta or Yamaguti Kenta: the same person. The
reading of the kanji comes from MeCab (through fugashi) with the UniDic
dictionary of unidic-lite: for each word its kana (サトウ) and its pronunciation
(サトー, which marks the long vowels). `readings()` spells that out:

- in hiragana, as written and as pronounced (さとうしょうた, さとーしょーた, which
  the spaced view reads alike, and alike with a mix of both: さとうしょーた), for
  names of two words or more and four kana or more (a single short word in kana
  is ordinary Japanese: たなか is inside したなかで);
- in romaji, in Hepburn with long vowels dropped ("sato shota"; six letters or
  more for a name of one word: 真奈 reads "mana"). The other spellings people
  write a name in read alike in `disguise`'s romaji view: Kunrei-shiki (si, ti,
  tu, hu, zi, sya …), Nihon-shiki (di, du), jy for j, long vowels as written in
  kana, with a macron, doubled or with an h (Satou, Satō, Satoo, Satoh), n or m
  before b, m and p (Honma, Homma), each part in its own, or letter by letter
  (S y o u t a); `spellings()` lists them (the tests use it);
- in every order of its parts (family and given name swapped);
- in each reading the dictionary gives a piece of the name, up to MAX_READINGS:
  its most likely one and the next of its n-best that reads the same words as a
  person's name (優 ユウ or マサル, 河野 コウノ or カワノ). A reading that differs
  only in voicing (山崎 ヤマザキ, ヤマサキ: rendaku) or in how it writes a long
  vowel needs none: `disguise` reads them alike, in kana and in romaji.

`romanised()` reads a name typed in Latin letters that is Japanese romaji
(Yamaguchi Kenta, Satou Yuuko): it is looked for in the romaji view, and in
kana (やまぐちけんた); a name that is not romaji (Brightwater) is neither.

The dictionary is a dependency: `tagger()` loads it once and fails loudly when
it cannot (`countersign check` reports it, and the bot does not start). A
reading the dictionary does not know at all (翔 as カケル: unidic-lite has only
ショウ) is found in kanji only.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from dataclasses import dataclass

from bot.preflight.disguise import kana_letters

MIN_KANA = 4  # hiragana of a reading, at least (and two words): shorter is ordinary text
# Romaji of a name of one word, at least: 真奈 reads "mana", 花 "hana", ordinary words
# (a name of two words or more needs only the index's minimum, "yumi sasaki").
MIN_ONE_WORD = 6

_lock = threading.Lock()
_tagger: object | None = None
_parsing = threading.Lock()  # one parse at a time: a MeCab tagger is not thread-safe


class DictionaryMissing(RuntimeError):
    """The Japanese dictionary (fugashi with unidic-lite) cannot be loaded."""


def tagger() -> object:
    """The one MeCab tagger with UniDic (unidic-lite), loaded on first use.
    Raises DictionaryMissing when fugashi or the dictionary is not installed."""
    global _tagger
    with _lock:
        if _tagger is None:
            try:
                import fugashi
                import unidic_lite  # noqa: F401

                loaded = fugashi.Tagger()
                words = [word.feature.kana for word in loaded("山口健太")]
            except Exception as exc:  # ImportError, RuntimeError of MeCab …
                raise DictionaryMissing(
                    f"the Japanese dictionary cannot be loaded ({type(exc).__name__}: {exc}); "
                    "install the locked requirements (fugashi, unidic-lite)"
                ) from exc
            if words != ["ヤマグチ", "ケンタ"]:
                raise DictionaryMissing(f"the Japanese dictionary reads 山口健太 as {words}")
            _tagger = loaded
        return _tagger


def word_edges(text: str) -> set[int]:
    """Where the words of `text` start and end, as the dictionary reads it."""
    parser = tagger()
    edges: set[int] = set()
    at = 0
    with _parsing:
        words = [(len(word.white_space), len(word.surface)) for word in parser(text)]  # type: ignore[operator]
    for space, surface in words:
        at += space
        edges.add(at)
        at += surface
        edges.add(at)
    return edges


# --- kana to romaji --------------------------------------------------------------------------

# Each mora in Hepburn and, where it differs, in Kunrei-shiki.
_MORAE: dict[str, tuple[str, str]] = {}


def _table() -> None:
    rows = {
        "": "アイウエオ",
        "k": "カキクケコ",
        "s": "サシスセソ",
        "t": "タチツテト",
        "n": "ナニヌネノ",
        "h": "ハヒフヘホ",
        "m": "マミムメモ",
        "y": "ヤ\0ユ\0ヨ",
        "r": "ラリルレロ",
        "w": "ワヰ\0ヱヲ",
        "g": "ガギグゲゴ",
        "z": "ザジズゼゾ",
        "d": "ダヂヅデド",
        "b": "バビブベボ",
        "p": "パピプペポ",
    }
    hepburn = {
        "シ": "shi",
        "チ": "chi",
        "ツ": "tsu",
        "フ": "fu",
        "ジ": "ji",
        "ヂ": "ji",
        "ヅ": "zu",
    }
    special = {"ヰ": "i", "ヱ": "e", "ヲ": "o"}
    for consonant, kana in rows.items():
        for vowel, char in zip("aiueo", kana, strict=True):
            if char != "\0":
                kunrei = special.get(char, consonant + vowel)
                _MORAE[char] = (hepburn.get(char, kunrei), kunrei)
    _MORAE["ヂ"] = ("ji", "zi")
    _MORAE["ヅ"] = ("zu", "zu")
    _MORAE["ヴ"] = ("vu", "vu")
    for char in "ァィゥェォ":  # a small vowel alone
        _MORAE[char] = _MORAE[chr(ord(char) + 1)]
    glides = {"ャ": "a", "ュ": "u", "ョ": "o"}
    for char, (_, kunrei) in list(_MORAE.items()):
        if kunrei.endswith("i") and len(kunrei) == 2 and char not in "ヰァィゥェォ":
            for small, vowel in glides.items():
                consonant = kunrei[0]
                hepburn_form = {"s": "sh", "t": "ch", "z": "j", "d": "j"}.get(consonant)
                kunrei_form = consonant + "y" + vowel
                _MORAE[char + small] = (
                    (hepburn_form + vowel) if hepburn_form else kunrei_form,
                    kunrei_form if consonant != "d" else "zy" + vowel,
                )
    # Sounds of loanwords (ファ, ティ, ジェ …): one spelling each.
    for pair, spelled in {
        "ファ": "fa", "フィ": "fi", "フェ": "fe", "フォ": "fo", "ティ": "ti", "ディ": "di",
        "トゥ": "tu", "ドゥ": "du", "ウィ": "wi", "ウェ": "we", "ウォ": "wo", "シェ": "she",
        "ジェ": "je", "チェ": "che", "ヴァ": "va", "ヴィ": "vi", "ヴェ": "ve", "ヴォ": "vo",
        "ツァ": "tsa", "イェ": "ye", "デュ": "dyu", "テュ": "tyu", "フュ": "fyu",
    }.items():  # fmt: skip
        _MORAE[pair] = (spelled, spelled)


_table()

# A long vowel in each habit, the most used first: dropped (ō folds to o), as kana
# wrote it (ou, oo, uu), with an h (passports: Satoh, Ohno), doubled. A long e is
# written as kana wrote it (Keisuke, not Kesuke) in every habit.
_STYLES = ("plain", "kana", "h", "double")


@dataclass(frozen=True)
class _Mora:
    hepburn: str
    kunrei: str
    long: str = ""  # the vowel this ー lengthens ("o"), and `written` how kana wrote it
    written: str = ""


def _morae(kana: str, pron: str) -> list[_Mora] | None:
    """The morae of a word's kana, with its long vowels taken from the pronunciation
    (None: a character with no romaji)."""
    aligned = len(kana) == len(pron)
    morae: list[_Mora] = []
    i = 0
    while i < len(kana):
        pair = kana[i : i + 2]
        if len(pair) == 2 and pair in _MORAE:
            morae.append(_Mora(*_MORAE[pair]))
            i += 2
            continue
        char = kana[i]
        long = aligned and pron[i] == "ー" and char != "ー"
        if char == "ー" or long:
            vowel = _vowel(morae)
            if vowel is None:
                return None
            written = _MORAE[char][0] if long and char in _MORAE else vowel
            morae.append(_Mora("", "", vowel, written))
        elif char == "ッ":
            morae.append(_Mora("ッ", "ッ"))
        elif char == "ン":
            morae.append(_Mora("ン", "ン"))
        elif char in _MORAE:
            morae.append(_Mora(*_MORAE[char]))
        else:
            return None
        i += 1
    return morae


def _vowel(morae: list[_Mora]) -> str | None:
    for mora in reversed(morae):
        if mora.long:
            return mora.long
        if mora.kunrei and mora.kunrei[-1] in "aiueo":
            return mora.kunrei[-1]
        return None
    return None


def _spell(morae: list[_Mora], kunrei: bool, style: str, labial_m: bool) -> str:
    out: list[str] = []
    for mora in morae:
        if mora.long:
            if style == "kana" or mora.long == "e":
                out.append(mora.written)
            elif style == "double":
                out.append(mora.long)
            elif style == "h" and mora.long == "o":
                out.append("h")
            elif style == "h":
                out.append(mora.written)
        else:
            out.append(mora.kunrei if kunrei else mora.hepburn)
    text = "".join(out)
    # ッ doubles the consonant after it (Hepburn's ch as tch); ン before b, m, p as m.
    if "ッ" in text:
        text = _SOKUON.sub(lambda m: "t" if m.group(1) == "c" else m.group(1) or "", text)
    if "ン" in text:
        if labial_m:
            text = _LABIAL.sub("m", text)
        text = text.replace("ン", "n")
    return text


_SOKUON = re.compile("ッ(?=([a-z])|$)")
_LABIAL = re.compile("ン(?=[bmp])")


@functools.lru_cache(maxsize=1 << 16)  # family and given names recur: spelled once each
def spellings(kana: str, pron: str) -> tuple[str, ...]:
    """The romaji of one part of a name (katakana as written and as pronounced), in
    each system and habit, distinct; [] if it has a character with no romaji."""
    morae = _morae(kana, pron)
    if morae is None:
        return ()
    found = dict.fromkeys(
        _spell(morae, kunrei, style, labial)
        for kunrei in (False, True)
        for labial in (True, False)
        for style in _STYLES
    )
    return tuple(found)


# --- names -------------------------------------------------------------------------------------

_LITERAL = re.compile("[a-z0-9]+")
_KANA_ONLY = re.compile("[\u3041-\u30fa\u30fc]+")
_READABLE = re.compile("[\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]")
_KANJI_OR_HIRAGANA = re.compile("[\u3041-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")


@dataclass(frozen=True)
class _Part:
    """One part of a name (a family or a given name) in katakana, as written and as
    pronounced; `literal` if it holds Latin letters or digits (kept as they are)."""

    kana: str
    pron: str
    words: int
    literal: bool


# The dictionary's readings of a name beyond its most likely one: the next paths of
# its n-best through the same words, where each word read otherwise is read as a
# person's name (中島 ナカジマ, ナカシマ; 優 ユウ, マサル; 河野 コウノ, カワノ), at most
# MAX_READINGS for a piece of a name; the other paths split the name into words
# that are no one's name (健太 as 健 ケン + 太 フトシ). (Readings that differ only in
# voicing, ヤマザキ and ヤマサキ, read alike in both views anyway: `disguise`.)
NBEST = 10
MAX_READINGS = 2


@functools.lru_cache(maxsize=1 << 16)  # family and given names recur: read once each
def _pieces(piece: str) -> tuple[tuple[_Part, ...], ...] | None:
    """The readings of a piece of a name typed without a space, the most likely
    first, each as its parts: one, or two where the dictionary says a given name
    starts (山口健太); None if a word has no reading."""
    parser = tagger()
    with _parsing:
        paths = parser.nbestToNodeList(piece, NBEST)  # type: ignore[attr-defined]
    best = paths[0]
    split = next(
        (
            i
            for i, word in enumerate(best)
            if i and word.feature.pos3 == "人名" and word.feature.pos4 == "名"
            and any(_reading(other) for other in best[:i])
        ),
        None,
    )  # fmt: skip
    first = _parts(best, split)
    if first is None:
        return None
    found = {first: None}
    heard = {_heard(first)}
    surfaces = [word.surface for word in best]
    kana = [word.feature.kana for word in best]
    for path in paths[1:]:
        if len(found) >= MAX_READINGS:
            break
        if [word.surface for word in path] != surfaces:
            continue
        features = [word.feature for word in path]
        if any(f.kana != k and f.pos3 != "人名" for f, k in zip(features, kana, strict=True)):
            continue
        parts = _parts(path, split)
        if parts is not None and _heard(parts) not in heard:
            found[parts] = None
            heard.add(_heard(parts))
    return tuple(found)


def _heard(parts: tuple[_Part, ...]) -> tuple[str, ...]:
    """How the spaced view hears a reading: one that differs only in voicing or in
    how it writes a long vowel (ナカジマ, ナカシマ) is the same one."""
    return tuple(kana_letters(part.kana) for part in parts)


def _reading(word: object) -> tuple[str, str, bool] | None:
    """(kana, pron, literal?) of a word of the dictionary's path; None for a mark,
    ("", "", False) for a word with no reading."""
    surface: str = word.surface  # type: ignore[attr-defined]
    feature = word.feature  # type: ignore[attr-defined]
    kana = None if word.is_unk else feature.kana  # type: ignore[attr-defined]
    pron = None if word.is_unk else feature.pron  # type: ignore[attr-defined]
    if kana:
        return kana, pron or kana, False
    if _LITERAL.fullmatch(surface):
        return surface, surface, True
    if _KANA_ONLY.fullmatch(surface):
        return _katakana(surface), _katakana(surface), False
    if not _READABLE.search(surface) and not surface.isalnum():
        return None  # a mark
    return "", "", False


def _parts(words: list[object], split: int | None) -> tuple[_Part, ...] | None:
    """The parts of a path's words, the second starting at word `split`; None if a
    word has no reading."""
    parts: list[list[str]] = [["", "", ""]]  # kana, pron, literal?
    counts = [0]
    for i, word in enumerate(words):
        if i == split:
            parts.append(["", "", ""])  # the given name starts here
            counts.append(0)
        read = _reading(word)
        if read is None:
            continue
        kana, pron, literal = read
        if not kana:
            return None
        parts[-1][0] += kana
        parts[-1][1] += pron
        parts[-1][2] = parts[-1][2] or ("y" if literal else "")
        counts[-1] += 1
    return tuple(
        _Part(kana, pron, count, bool(literal))
        for (kana, pron, literal), count in zip(parts, counts, strict=True)
        if count
    )


_TO_KATAKANA = {code: code + 0x60 for code in [*range(0x3041, 0x3097), 0x309D, 0x309E]}
_TO_HIRAGANA = {code: code - 0x60 for code in [*range(0x30A1, 0x30F7), 0x30FD, 0x30FE]}


def _katakana(text: str) -> str:
    return text.translate(_TO_KATAKANA)


def _hiragana(text: str) -> str:
    return text.translate(_TO_HIRAGANA)


@functools.lru_cache(maxsize=1 << 16)
def hepburn(kana: str, pron: str) -> str | None:
    """A part of a name in Hepburn romaji, long vowels dropped (Sato, Shota), ン as n:
    the spelling every other one reads like once `disguise.romaji` has made them
    comparable. Latin letters and digits among the kana are kept; None if a
    character has no romaji."""
    spelled: list[str] = []
    for chunk in _CHUNKS.split(kana):
        if not chunk:
            continue
        if _LITERAL.fullmatch(chunk):
            spelled.append(chunk)
            continue
        same = pron if chunk == kana else chunk
        morae = _morae(chunk, same)
        if morae is None:
            return None
        spelled.append(_spell(morae, kunrei=False, style="plain", labial_m=False))
    return "".join(spelled)


_CHUNKS = re.compile("([a-z0-9]+)")


@dataclass(frozen=True)
class Readings:
    """How a name reads: `kana` in hiragana (as written and as pronounced), `romaji`
    in Hepburn, each in every order of the name's parts."""

    kana: tuple[str, ...] = ()
    romaji: tuple[str, ...] = ()


def readings(folded: str, *, katakana: bool = True) -> Readings:
    """How a folded name or company reads (see the module's docstring); nothing for
    a text with no Japanese to read, or with a word the dictionary cannot read.
    With `katakana` False, a text of katakana and Latin letters only is not read
    (a company's loanword in katakana is written in Latin letters, not in romaji)."""
    if not _READABLE.search(folded):
        return Readings()
    if not katakana and not _KANJI_OR_HIRAGANA.search(folded):
        return Readings()
    choices: list[tuple[tuple[_Part, ...], ...]] = []
    for piece in folded.split():
        found = _pieces(piece)
        if found is None:
            return Readings()
        choices.append(found)
    # The most likely reading of every piece, then each other reading of one piece.
    best = [choice[0] for choice in choices]
    combos = [best] + [
        [*best[:i], other, *best[i + 1 :]]
        for i, choice in enumerate(choices)
        for other in choice[1:]
    ]
    kana: dict[str, None] = {}
    romaji: dict[str, None] = {}
    for combo in combos:
        _read([part for piece in combo for part in piece], kana, romaji)
    return Readings(tuple(kana), tuple(romaji))


def _read(parts: list[_Part], kana: dict[str, None], romaji: dict[str, None]) -> None:
    """Add the kana and romaji of a name read as `parts` (in every order)."""
    if not parts:
        return
    orders = [parts[i:] + parts[:i] for i in range(len(parts))] if len(parts) <= 4 else [parts]
    if sum(part.words for part in parts) >= 2 and not any(part.literal for part in parts):
        for order in orders:
            for written in ("".join(p.kana for p in order), "".join(p.pron for p in order)):
                if len(written) >= MIN_KANA:
                    kana[_hiragana(written)] = None
    spelled = [hepburn(part.kana, part.pron) for part in parts]
    one_word = len(parts) == 1 and parts[0].words == 1
    if all(spelled) and not (one_word and len(spelled[0] or "") < MIN_ONE_WORD):
        for i in range(len(orders)):
            romaji[" ".join(spelled[i:] + spelled[:i])] = None  # type: ignore[arg-type]


# --- a name typed in Latin letters -------------------------------------------------------------

# Romaji to katakana: each mora in Hepburn, Kunrei-shiki and Nihon-shiki, and the
# habits of word processors (jya, cya).
_FROM_ROMAJI: dict[str, str] = {}
for _kana, _spelled in _MORAE.items():
    if _kana not in "ァィゥェォヰヱヲ":
        for _each in _spelled:
            _FROM_ROMAJI.setdefault(_each, _kana)
_FROM_ROMAJI |= {
    "di": "ヂ", "du": "ヅ", "dzu": "ヅ", "dya": "ヂャ", "dyu": "ヂュ", "dyo": "ヂョ", "wo": "ヲ",
    "jya": "ジャ", "jyu": "ジュ", "jyo": "ジョ", "cya": "チャ", "cyu": "チュ", "cyo": "チョ",
}  # fmt: skip
_CONSONANTS = frozenset("bcdfghjkmprstvwz")
MAX_SPELLINGS = 4  # kana spellings of a romanised name at most (n before a vowel: ン or ナ行;
# the long vowels guessed)


@functools.lru_cache(maxsize=1 << 16)
def _word_in_kana(word: str, after_n: bool = False) -> tuple[str, ...]:
    """The katakana a word of romaji could be written in (n before a vowel is ン or
    the n of ナ, ニ …, but after an n, kinnosuke, only the latter), at most
    MAX_SPELLINGS; () if it is not Japanese romaji."""
    if not word:
        return ("",)
    found: list[str] = []
    first = word[0]
    rest: list[tuple[str, str]] = []  # (kana, the romaji left)
    if first == "m" and word[1:2] in ("b", "m", "p"):
        rest.append(("ン", word[1:]))  # (homma, shimpei)
    elif first in _CONSONANTS and (word[1:2] == first or (word[1:3] == "ch" and first == "t")):
        rest.append(("ッ", word[1:]))  # a doubled consonant: a small tsu
    elif first == "n" and (len(word) == 1 or word[1] not in "aiueoy"):
        rest.append(("ン", word[1:]))
    else:
        if first == "n" and word[1] in "aiueoy" and not after_n:
            rest.append(("ン", word[1:]))  # (shin'ya written shinya, jun'ichi junichi)
        for length in (3, 2, 1):
            kana = _FROM_ROMAJI.get(word[:length])
            if kana is not None:
                rest.insert(0, (kana, word[length:]))
                break
        if first == "h" and word[1:2] not in ("a", "i", "u", "e", "o", "y"):
            rest.append(("ー", word[1:]))  # an h after a vowel: a long one (satoh, ohno)
    for kana, left in rest:
        for spelled in _word_in_kana(left, kana == "ン" and first == "n"):
            found.append(kana + spelled)
            if len(found) == MAX_SPELLINGS:
                return tuple(found)
    return tuple(found)


_ROMAJI_PARTS = re.compile(r"[' .-]+")


def romanised(folded: str) -> Readings:
    """How a name typed in Latin letters (folded) reads if it is Japanese romaji:
    `romaji`, itself (six letters or more for a name of one word, as a reading's),
    and `kana`, how it is written in kana (for a name of two words or more and four
    kana or more, as a reading's: Yamaguchi Kenta as やまぐちけんた, ヤマグチ ケンタ);
    nothing if a word of it is not romaji (Brightwater, Gill)."""
    words = [word for word in _ROMAJI_PARTS.split(folded) if word]
    spelled = [_word_in_kana(word) for word in words]
    if not words or not all(spelled):
        return Readings()
    one_word = len(words) == 1
    romaji = () if one_word and len(words[0]) < MIN_ONE_WORD else (folded,)
    kana: dict[str, None] = {}
    if len(folded.split()) >= 2:
        combos = list(itertools.islice(itertools.product(*spelled), MAX_SPELLINGS))
        if len(words) == 2 and not _WRITES_LONG.search(folded):  # long vowels guessed
            first, second = _lengthened(words[0]), _lengthened(words[1])
            combos += [(first[a], second[b]) for a, b in _GUESSES if a in first and b in second]
        for combo in combos:
            written = "".join(combo)
            if len(written) >= MIN_KANA and len(kana) < MAX_SPELLINGS:
                kana[_hiragana(written)] = None
    return Readings(tuple(kana), romaji)


# A name in romaji often leaves its long vowels unwritten (Sato Yuko for さとう ゆうこ,
# Ito Shota for いとう しょうた, Kondo Ryohei for こんどう りょうへい): they are guessed
# where names have them most, an o or u lengthened after a family name's last mora and
# after a given name's first (in either order of the two: `other_orders`).
_GUESSES = [("last", "first"), ("first", "last"), ("last", "plain"), ("plain", "last")]
_WRITES_LONG = re.compile("ou|uu|oo|oh(?![aeiou])|aa|ii|ee")  # (Satou Yuuko, Satoh: none)
_GLIDES = "ャュョ"


def _lengthened(word: str) -> dict[str, str]:
    """The katakana of a word of romaji ("plain", its first spelling), and with a long
    "last" or "first" mora where that mora has a consonant and the vowel o or u."""
    plain = _word_in_kana(word)[0]
    found = {"plain": plain}
    last = plain[-2:] if plain[-1:] in _GLIDES else plain[-1:]
    if _long_o_or_u(last):
        found["last"] = plain + "ウ"
    first = plain[:2] if plain[1:2] in _GLIDES else plain[:1]
    if len(plain) > len(first) and _long_o_or_u(first) and plain[len(first)] not in "ウオー":
        found["first"] = first + "ウ" + plain[len(first) :]
    return found


def _long_o_or_u(mora: str) -> bool:
    spelled = _MORAE.get(mora)
    return spelled is not None and len(spelled[1]) > 1 and spelled[1][-1] in "ou"
