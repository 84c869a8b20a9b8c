"""How a Japanese name reads: in kana and in the romaji a writer could use.

A reader can be shown 山口 健太 as やまぐち けんた, ヤマグチ ケンタ, Yamaguchi Kenta,
Kenta Yamaguchi, YAMAGUCHI Kenta or Yamaguti Kenta: the same person. The
reading of the kanji comes from MeCab (through fugashi) with the UniDic
dictionary of unidic-lite: for each word its kana (サトウ) and its pronunciation
(サトー, which marks the long vowels). `readings()` spells that out:

- in hiragana, as written and as pronounced (さとうしょうた, さとーしょーた), for
  names of two words or more and four kana or more (a single short word in kana
  is ordinary Japanese: たなか is inside したなかで);
- in romaji, in Hepburn with long vowels dropped ("sato shota"; six letters or
  more for a name of one word: 真奈 reads "mana"). The other spellings people
  write a name in read alike in `disguise`'s romaji view: Kunrei-shiki (si, ti,
  tu, hu, zi, sya …), long vowels as written in kana, with a macron, doubled or
  with an h (Satou, Satō, Satoo, Satoh), n or m before b, m and p (Honma,
  Homma), each part in its own; `spellings()` lists them (the tests use it);
- in every order of its parts (family and given name swapped).

The dictionary is a dependency: `tagger()` loads it once and fails loudly when
it cannot (`countersign check` reports it, and the bot does not start). The
dictionary gives one reading per word, its most likely one; a name with another
reading (山崎 as ヤマサキ) is found in kanji and in the reading the dictionary
gives, not in the other.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

MIN_KANA = 4  # hiragana of a reading, at least (and two words): shorter is ordinary text
# Romaji of a name of one word, at least: 真奈 reads "mana", 花 "hana", ordinary words
# (a name of two words or more needs only the index's minimum, "yumi sasaki").
MIN_ONE_WORD = 6

_lock = threading.Lock()
_tagger: object | None = None


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


@functools.lru_cache(maxsize=1 << 16)  # family and given names recur: read once each
def _pieces(piece: str) -> tuple[_Part, ...] | None:
    """The parts of a piece of a name typed without a space: one, or two where the
    dictionary says a given name starts (山口健太); None if a word has no reading."""
    parts: list[list[str]] = [["", "", ""]]  # kana, pron, literal?
    counts = [0]
    for word in tagger()(piece):  # type: ignore[operator]
        surface: str = word.surface
        feature = word.feature
        if counts[-1] and len(parts) == 1 and feature.pos3 == "人名" and feature.pos4 == "名":
            parts.append(["", "", ""])  # the given name starts here
            counts.append(0)
        kana = None if word.is_unk else feature.kana
        pron = None if word.is_unk else feature.pron
        if not kana:
            if _LITERAL.fullmatch(surface):
                kana = surface
                parts[-1][2] = "y"
            elif _KANA_ONLY.fullmatch(surface):
                kana = _katakana(surface)
            elif not _READABLE.search(surface) and not surface.isalnum():
                continue  # a mark
            else:
                return None
        parts[-1][0] += kana
        parts[-1][1] += pron or kana
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
    parts: list[_Part] = []
    for piece in folded.split():
        found = _pieces(piece)
        if found is None:
            return Readings()
        parts += found
    if not parts:
        return Readings()
    orders = [parts[i:] + parts[:i] for i in range(len(parts))] if len(parts) <= 4 else [parts]
    kana: dict[str, None] = {}
    if sum(part.words for part in parts) >= 2 and not any(part.literal for part in parts):
        for order in orders:
            for written in ("".join(p.kana for p in order), "".join(p.pron for p in order)):
                if len(written) >= MIN_KANA:
                    kana[_hiragana(written)] = None
    spelled = [hepburn(part.kana, part.pron) for part in parts]
    romaji: dict[str, None] = {}
    one_word = len(parts) == 1 and parts[0].words == 1
    if all(spelled) and not (one_word and len(spelled[0] or "") < MIN_ONE_WORD):
        for i in range(len(orders)):
            romaji[" ".join(spelled[i:] + spelled[:i])] = None  # type: ignore[arg-type]
    return Readings(tuple(kana), tuple(romaji))
