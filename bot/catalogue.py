"""The sentence catalogues: gettext files, read with Babel.

Each front end has its own domain: the Slack bot's sentences are `messages` in
`handlers/locale/` (`handlers.texts`), the `countersign` command's are `cli` in
`bot/locale/` (`bot.speech`). `<domain>.pot` is the English catalogue and the
template for every translation. Each sentence is one entry: `msgctxt` is the key
the code asks for (`t()`, `say()`), `msgid` the English sentence with its `{named}`
placeholders, and, for a sentence that counts something, `msgid_plural` its plural.
The parameter whose number chooses the form is `count`, or the one its
`#. plural: NAME` comment names.
`<language>/LC_MESSAGES/<domain>.po` holds one language: `msgstr`, or
`msgstr[0]`, `msgstr[1]`… in that language's plural forms. Translators edit these with
the usual tools (`pybabel update`, Poedit; see the README). An entry that is fuzzy or
not translated yet is left out, so the sentence falls back to English.

Which plural form a number takes is the language's CLDR rule from Babel's `Locale`
(English: one for 1, other for the rest; Japanese: one form for every number),
mapped to gettext's form index in CLDR's order (zero, one, two, few, many, other).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

SOURCE_LANGUAGE = "en"
PLURAL_COMMENT = re.compile(r"^plural:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
CLDR_ORDER = ("zero", "one", "two", "few", "many", "other")


@dataclass(frozen=True)
class Sentence:
    """One entry: its forms (one, or the language's plural forms in gettext's order)
    and, for a counted sentence, the parameter that chooses the form."""

    forms: tuple[str, ...]
    count: str | None = None


class Catalogue(Mapping[str, str]):
    """One language's sentences by key. As a mapping, a key gives the sentence's last
    form (the plural, "other"): what every form's placeholders are checked against."""

    def __init__(self, language: str, sentences: dict[str, Sentence]) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self.sentences = sentences

    def __getitem__(self, key: str) -> str:
        return self.sentences[key].forms[-1]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sentences)

    def __len__(self) -> int:
        return len(self.sentences)

    def template(self, key: str, params: Mapping[str, Any]) -> str | None:
        """The form of `key` that `params` call for (None when the key is not here)."""
        sentence = self.sentences.get(key)
        if sentence is None:
            return None
        if sentence.count is None or len(sentence.forms) == 1:
            return sentence.forms[0]
        return sentence.forms[self.form_index(params.get(sentence.count), len(sentence.forms))]

    def form_index(self, count: Any, forms: int) -> int:
        """Gettext's form index for `count` in this language (the last form when the
        count is not a whole number)."""
        try:
            number = int(count)
        except (TypeError, ValueError):
            return forms - 1
        rule = self.locale.plural_form
        tags = [tag for tag in CLDR_ORDER if tag in rule.tags or tag == "other"]
        return min(tags.index(rule(abs(number))), forms - 1)


def plural_parameter(auto_comments: list[str]) -> str:
    """The parameter a counted entry's `#. plural: NAME` comment names (else `count`)."""
    for comment in auto_comments:
        match = PLURAL_COMMENT.match(comment.strip())
        if match:
            return match.group(1)
    return "count"


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def sentences_of(catalog: Catalog, *, source: bool) -> dict[str, Sentence]:
    """The entries of a catalogue by key: the English ids of the template (`source`),
    or a translation's strings (fuzzy and untranslated entries left out)."""
    found: dict[str, Sentence] = {}
    for message in catalog:
        if not message.id or message.context is None:
            continue  # the header
        counted = isinstance(message.id, tuple | list)
        if source:
            forms = tuple(message.id) if counted else (str(message.id),)
        else:
            if message.fuzzy:
                continue
            strings = message.string
            forms = tuple(strings) if isinstance(strings, tuple | list) else (str(strings),)
            if not all(forms):
                continue
        count = plural_parameter(list(message.auto_comments)) if counted else None
        found[str(message.context)] = Sentence(forms=forms, count=count)
    return found


def load(directory: Path, domain: str = "messages") -> dict[str, Catalogue]:
    """Every catalogue of `domain` in `directory`: English from the template
    (`<domain>.pot`), and one per language folder with a `LC_MESSAGES/<domain>.po`."""
    catalogues = {
        SOURCE_LANGUAGE: Catalogue(
            SOURCE_LANGUAGE,
            sentences_of(read_catalog(directory / f"{domain}.pot"), source=True),
        )
    }
    for po in sorted(directory.glob(f"*/LC_MESSAGES/{domain}.po")):
        language = po.parent.parent.name
        catalog = read_catalog(po, language)
        catalogues[language] = Catalogue(language, sentences_of(catalog, source=False))
    return catalogues
