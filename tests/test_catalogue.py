"""The gettext catalogues (the Slack bot's, handlers/locale/, and the command's,
bot/locale/): every sentence translated, with the same
placeholders in every form; counted sentences take the form their number calls for
(ngettext with Babel's plural rules); Babel reads and writes the files unchanged, so a
translator's tools do not churn them; and the tool that made them from the old dicts
(tools/catalogue_to_po.py) writes what it read."""

from __future__ import annotations

import importlib.util
import io
import re
import string
import sys
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.pofile import read_po, write_po

from bot import speech
from handlers import catalogue, texts

ROOT = Path(__file__).resolve().parents[1]
# Each domain: where its files are, and its catalogues as loaded.
DOMAINS = {
    "messages": (catalogue.LOCALE_DIR, texts.CATALOGUES),
    "cli": (speech.LOCALE_DIR, speech.CATALOGUES),
}
FILES = [
    path
    for domain, (directory, _) in DOMAINS.items()
    for path in [directory / f"{domain}.pot", *directory.glob(f"*/LC_MESSAGES/{domain}.po")]
]


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "catalogue_to_po", ROOT / "tools/catalogue_to_po.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    texts.use_language("en")


@pytest.mark.parametrize(("domain", "at_least"), [("messages", 300), ("cli", 40)])
def test_there_are_english_and_japanese_and_every_sentence_is_translated(
    domain: str, at_least: int
):
    _, catalogues = DOMAINS[domain]
    assert set(catalogues) >= {"en", "ja"}
    english = catalogues["en"].sentences
    assert len(english) > at_least
    for language, found in catalogues.items():
        assert sorted(set(english) - set(found.sentences)) == [], language
        assert sorted(set(found.sentences) - set(english)) == [], language


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_translation_is_fuzzy_or_empty(domain: str):
    directory, _ = DOMAINS[domain]
    for po in directory.glob(f"*/LC_MESSAGES/{domain}.po"):
        for message in catalogue.read_catalog(po, po.parent.parent.name):
            if message.context is None:
                continue
            assert not message.fuzzy, (po, message.context)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), (po, message.context)


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_form_in_every_language_has_the_same_placeholders(domain: str):
    _, catalogues = DOMAINS[domain]
    english = catalogues["en"].sentences
    for key, sentence in english.items():
        expected = fields(sentence.forms[-1])
        for found in catalogues.values():
            for form in found.sentences[key].forms:
                assert fields(form) == expected, (found.language, key, form)
        if sentence.count is not None:
            assert sentence.count in expected, key  # the number that chooses is shown


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_english_sentence_writes_its_plural_as_s_in_brackets(domain: str):
    _, catalogues = DOMAINS[domain]
    for key, sentence in catalogues["en"].sentences.items():
        for form in sentence.forms:
            assert not re.search(r"\w\((s|es|ies)\)", form), (key, form)


def test_a_count_chooses_the_english_form_and_japanese_has_one():
    one = texts.t("halt.done.sending", count=1, issues="#3")
    assert one == "Halted 1 send in progress: #3. Batches already in flight finish."
    for n in (0, 2, 2500):
        assert texts.t("halt.done.sending", count=n, issues="#3").startswith(f"Halted {n} sends")
    # The count may be named otherwise: the entry says which parameter it is.
    assert texts.t("subscribers.find_title", total=1, shown=1) == (
        "1 subscriber row matches; showing 1."
    )
    assert "2 subscriber rows match" in texts.t("subscribers.find_title", total=2, shown=2)
    assert "1 recipient is not sent" in texts.t(
        "send.halted", issue=1, reason_text="x", sent=0, in_flight=0, pending=1
    )
    texts.use_language("ja")
    assert texts.t("halt.done.sending", count=1, issues="#3") == texts.t(
        "halt.done.sending", count=2, issues="#3"
    ).replace("2", "1")


def test_a_count_that_is_not_a_number_takes_the_plural_and_typed_text_is_escaped():
    shown = texts.t("halt.done.sending", count="<many>", issues="<#1> & co")
    assert shown == (
        "Halted &lt;many&gt; sends in progress: &lt;#1&gt; &amp; co. "
        "Batches already in flight finish."
    )


@pytest.mark.parametrize(
    ("language", "counts", "forms", "expected"),
    [
        ("en", (0, 1, 2, 21), 2, (1, 0, 1, 1)),
        ("ja", (0, 1, 2, 21), 1, (0, 0, 0, 0)),
        ("ru", (1, 2, 5, 21), 3, (0, 1, 2, 0)),  # one, few, many: a language with three forms
    ],
)
def test_plural_forms_follow_babels_rules(language, counts, forms, expected):
    rules = catalogue.Catalogue(language, {})
    assert tuple(rules.form_index(n, forms) for n in counts) == expected


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_babel_writes_the_files_back_byte_for_byte(path: Path):
    language = None if path.suffix == ".pot" else path.parent.parent.name
    with path.open("rb") as handle:
        read = read_po(handle, locale=language)
    out = io.BytesIO()
    write_po(out, read, sort_output=False, include_lineno=False, width=76)
    assert out.getvalue().decode() == path.read_text()


def test_the_tool_makes_counted_sentences_and_refuses_two_counts():
    convert = tool()
    # The count is the placeholder just before the word.
    assert convert.counted("x", "After {minutes} min, {count} address(es) left.") == (
        (
            "After {minutes} min, {count} address left.",
            "After {minutes} min, {count} addresses left.",
        ),
        "count",
    )
    with pytest.raises(SystemExit, match="counts"):
        convert.counted("y", "{a} row(s) and {b} request(s)")
    assert convert.counted("z", "Nothing to count.") == (("Nothing to count.",), None)
    assert convert.counted("c", "{n} seed copy(ies) failed.") == (
        ("{n} seed copy failed.", "{n} seed copies failed."),
        "n",
    )


def test_the_tool_writes_what_it_read(tmp_path: Path):
    convert = tool()
    items = convert.entries(
        {"a.one": "Saved {n} issue(s).", "a.two": "Hello {name} & <you>."},
        {"a.one": "{n} 件を保存しました。", "a.two": "{name} さん、こんにちは。"},
        {"a.one": "handlers/x.py", "a.two": "handlers/y.py"},
    )
    convert.write(tmp_path / "messages.pot", convert.catalog(items, None))
    convert.write(tmp_path / "ja" / "LC_MESSAGES" / "messages.po", convert.catalog(items, "ja"))
    loaded = catalogue.load(tmp_path)
    assert loaded["en"].sentences["a.one"] == catalogue.Sentence(
        ("Saved {n} issue.", "Saved {n} issues."), "n"
    )
    assert loaded["en"].template("a.one", {"n": 1}) == "Saved {n} issue."
    assert loaded["ja"].template("a.one", {"n": 5}) == "{n} 件を保存しました。"
    assert loaded["ja"]["a.two"] == "{name} さん、こんにちは。"
    assert "#. plural: n" in (tmp_path / "messages.pot").read_text()


@pytest.mark.parametrize("domain", DOMAINS)
def test_pybabel_update_leaves_the_files_as_they_are(tmp_path: Path, domain: str):
    """What a translator runs after English sentences change: on files that are up to
    date it changes nothing (so the files are written the way Babel writes them)."""
    from babel.messages.frontend import CommandLineInterface

    directory, _ = DOMAINS[domain]
    files = [directory / f"{domain}.pot", *directory.glob(f"*/LC_MESSAGES/{domain}.po")]
    copy = tmp_path / "locale"
    for path in files:
        target = copy / path.relative_to(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    template = str(copy / f"{domain}.pot")
    CommandLineInterface().run(
        ["pybabel", "-q", "update", "-D", domain, "-i", template, "-d", str(copy)]
    )
    for path in files:
        assert (copy / path.relative_to(directory)).read_bytes() == path.read_bytes()
