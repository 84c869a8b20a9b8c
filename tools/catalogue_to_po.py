"""Move the sentence catalogues from Python dicts to gettext files (run once, from the
repository root: `.venv/bin/python tools/catalogue_to_po.py`).

Before: English sentences in `handlers.texts.EN` and in the `register()` calls of the
handler modules, Japanese ones in `handlers.texts_ja.JA`. After: the same sentences in
`handlers/locale/messages.pot` (msgctxt = the key, msgid = English, msgid_plural for a
counted sentence) and `handlers/locale/ja/LC_MESSAGES/messages.po` (msgstr = Japanese),
read at run time by `handlers.catalogue`; the dicts, the `register()` calls and
`handlers/texts_ja.py` removed.

Counted sentences: an English sentence that writes its plural as "send(s)",
"address(es)" or "copy(ies)" becomes a singular and a plural ("Halted {count} send" / "… sends"),
chosen by the number in the placeholder just before the word (ngettext). Where that
is not enough (the verb agrees too, or the sentence counts two things), `PLURALS`
below says the forms outright; a sentence that counts two things and is not there
stops the conversion. Japanese has one form for every number: its sentence is used
as it is.

The conversion is mechanical so that it can be re-run on the latest dicts: it reads
them by importing the handler modules, writes the files with Babel, and edits the
sources by their syntax tree and by exact text (stopping, and changing nothing, when
the code it expects to replace is not there). `--po-only` writes the files and leaves
the sources as they are.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.pofile import write_po  # noqa: E402

LOCALE = ROOT / "handlers" / "locale"
WHEN = datetime(2026, 12, 1, tzinfo=UTC)  # fixed, so that a re-run writes the same bytes
PLURAL_WORD = re.compile(r"(\w+)\((s|es|ies)\)")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:[:!][^}]*)?\}")

# Counted sentences whose English needs more than "word(s)" -> "word" / "words":
# key -> (singular, plural, the counting parameter); singular None: one sentence that
# does not need a plural (it counts two things, so it says the numbers another way).
PLURALS: dict[str, tuple[str | None, str, str]] = {
    "send.summary.unknown_hint": (
        "{unknown} recipient is in an unknown state and will not be sent again "
        "automatically; see the notice above for what to do.",
        "{unknown} recipients are in an unknown state and will not be sent again "
        "automatically; see the notice above for what to do.",
        "unknown",
    ),
    "send.halted": (
        "Issue #{issue} is halted ({reason_text}). {sent} sent so far; {in_flight} already "
        "on their way to Postmark finish and are counted when they land; {pending} "
        "recipient is not sent. To continue, `/newsletter resume {issue}` asks for a new "
        "approval.",
        "Issue #{issue} is halted ({reason_text}). {sent} sent so far; {in_flight} already "
        "on their way to Postmark finish and are counted when they land; {pending} "
        "recipients are not sent. To continue, `/newsletter resume {issue}` asks for a new "
        "approval.",
        "pending",
    ),
    "send.halt_settled": (
        "Issue #{issue}, halted: the batches that were on their way have landed. In all "
        "{sent} of {total} were sent, {failed} failed, {suppressed} suppressed or "
        "unsubscribed, {unknown} unknown; {pending} recipient is not sent. `/newsletter "
        "resume {issue}` asks for a new approval for them.",
        "Issue #{issue}, halted: the batches that were on their way have landed. In all "
        "{sent} of {total} were sent, {failed} failed, {suppressed} suppressed or "
        "unsubscribed, {unknown} unknown; {pending} recipients are not sent. `/newsletter "
        "resume {issue}` asks for a new approval for them.",
        "pending",
    ),
    "send.unknown": (
        ":warning: {count} recipient of issue #{issue} is in an unknown state: a batch "
        "reached Postmark or did not, and Postmark could not be asked. It will NOT be sent "
        "again automatically. In Postmark's Activity, filter by tag `{tag}` and metadata "
        "`batch_id` = {batch} to see whether it got there.",
        ":warning: {count} recipients of issue #{issue} are in an unknown state: a batch "
        "reached Postmark or did not, and Postmark could not be asked. They will NOT be "
        "sent again automatically. In Postmark's Activity, filter by tag `{tag}` and "
        "metadata `batch_id` = {batch} to see who got it.",
        "count",
    ),
    "subscribers.push_pending_line": (
        ":warning: {pending} suppression has not reached Postmark yet (the oldest since "
        "{since}, up to {attempts} attempts; last error: {error}). It already holds here; "
        "pushing is retried automatically.",
        ":warning: {pending} suppressions have not reached Postmark yet (the oldest since "
        "{since}, up to {attempts} attempts; last error: {error}). They already hold here; "
        "pushing is retried automatically.",
        "pending",
    ),
    "subscribers.find_title": (
        "{total} subscriber row matches; showing {shown}.",
        "{total} subscriber rows match; showing {shown}.",
        "total",
    ),
    "subscribers.forgotten": (
        None,
        "{address} is forgotten: the address, name and company are gone from every "
        "subscriber row ({subscribers} in all) and unsubscribe request ({requests} in all) "
        "that held them. Only a salted hash is kept, so the address stays suppressed and no "
        "import can add it again.",
        "",
    ),
    "subscribers.resubscribed": (
        None,
        "{address} is subscribed again (lists: {subscribers}; suppressions lifted here and "
        "at Postmark: {suppressions}). The reason is in the audit trail.",
        "",
    ),
}


@dataclass(frozen=True)
class Entry:
    key: str
    english: tuple[str, ...]  # (sentence,) or (singular, plural)
    japanese: str
    count: str | None
    origin: str  # the module that defined it, for translators


# --- reading the dicts -------------------------------------------------------------------


def collect() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(English, Japanese, the file that defined each key), from the handler modules."""
    texts = importlib.import_module("handlers.texts")
    origins = {key: "handlers/texts.py" for key in texts.EN}
    register: Callable[[dict[str, str]], None] = getattr(texts, "register")  # noqa: B009

    def recording(entries: dict[str, str]) -> None:
        caller = sys._getframe(1).f_globals.get("__file__", "")
        where = Path(caller).resolve().relative_to(ROOT).as_posix() if caller else "?"
        origins.update({key: where for key in entries})
        register(entries)

    setattr(texts, "register", recording)  # noqa: B010 - before any module registers
    handlers = importlib.import_module("handlers")
    for module in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{module.name}")
    japanese = importlib.import_module("handlers.texts_ja").JA
    return dict(texts.EN), dict(japanese), origins


def counted(key: str, english: str) -> tuple[tuple[str, ...], str | None]:
    """(the English forms, the counting parameter) of one sentence."""
    if key in PLURALS:
        one, other, count = PLURALS[key]
        return ((other,), None) if one is None else ((one, other), count)
    words = list(PLURAL_WORD.finditer(english))
    if not words:
        return (english,), None
    counts = set()
    for word in words:
        before = PLACEHOLDER.findall(english[: word.start()])
        if not before:
            raise SystemExit(f"{key}: {word.group(0)!r} follows no number; add it to PLURALS")
        counts.add(before[-1])
    if len(counts) > 1:
        raise SystemExit(f"{key} counts {sorted(counts)}: say its forms in PLURALS")
    singular = PLURAL_WORD.sub(lambda m: m.group(1), english)
    plural = PLURAL_WORD.sub(_plural_of, english)
    return (singular, plural), counts.pop()


def _plural_of(word: re.Match[str]) -> str:
    """ "send(s)" -> "sends", "address(es)" -> "addresses", "copy(ies)" -> "copies"."""
    stem, ending = word.group(1), word.group(2)
    return stem[:-1] + ending if ending == "ies" and stem.endswith("y") else stem + ending


def entries(
    english: dict[str, str], japanese: dict[str, str], origins: dict[str, str]
) -> list[Entry]:
    missing = sorted(set(english) - set(japanese))
    stale = sorted(set(japanese) - set(english))
    if missing or stale:
        raise SystemExit(f"not translated: {missing}; no English: {stale}")
    out = []
    for key, sentence in english.items():
        forms, count = counted(key, sentence)
        out.append(Entry(key, forms, japanese[key], count, origins.get(key, "?")))
    return out


# --- writing the files -------------------------------------------------------------------


def catalog(items: list[Entry], language: str | None) -> Catalog:
    """The template (`language` None: English ids, empty strings) or a translation."""
    made = Catalog(
        locale=language,
        domain="messages",
        project="Countersign",
        version="1",
        copyright_holder="Countersign",
        msgid_bugs_address="dev@countersign.example.com",
        last_translator="Countersign team <dev@countersign.example.com>",
        creation_date=WHEN,
        revision_date=WHEN,
        language_team=f"{language} <dev@countersign.example.com>" if language else None,
        fuzzy=False,
        header_comment=(
            "# The sentences of Countersign's Slack front end"
            + (f", in {language}" if language else " (English: the template)")
            + ".\n# msgctxt: the key the code asks for; {name}: a placeholder, kept as it is."
        ),
    )
    for item in items:
        comments = [f"plural: {item.count}"] if item.count and item.count != "count" else []
        if len(item.english) == 2:
            msgid: Any = item.english
            string: Any = ("",) * 2 if language is None else (item.japanese,) * made.num_plurals
        else:
            msgid = item.english[0]
            string = "" if language is None else item.japanese
        made.add(
            msgid,
            string,
            locations=[(item.origin, 0)],
            flags=["python-brace-format"],
            auto_comments=comments,
            context=item.key,
        )
    return made


def write(path: Path, made: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, made, sort_output=False, include_lineno=False, width=76)


# --- editing the sources -----------------------------------------------------------------

# handlers/texts.py after the move: exact text -> its replacement.
TEXTS_EDITS: list[tuple[str, str]] = [
    (
        "`Mrkdwn` itself is typed text or data, escaped (`handlers.mrkdwn`). The\n"
        "Japanese sentences live in `handlers.texts_ja`; a key it lacks falls back to\n"
        "English rather than showing the bare key.\n",
        "`Mrkdwn` itself is typed text or data, escaped (`handlers.mrkdwn`). The\n"
        "sentences live in gettext files, `handlers/locale/` (see `handlers.catalogue`\n"
        "and the README's part for translators); a key a language lacks falls back to\n"
        "English rather than showing the bare key. A sentence that counts something has\n"
        "a form per plural of its language, chosen by its count parameter.\n",
    ),
    ("from handlers.texts_ja import JA\n", "from handlers import catalogue\n"),
    (
        "# Catalogues by language code. Looked up on every `t()` call, never copied:\n"
        "# modules register English sentences at import time, possibly after\n"
        "# `use_language()` ran, and a copy would miss them.\n"
        'CATALOGUES: dict[str, dict[str, str]] = {"en": EN, "ja": JA}\n',
        "# Catalogues by language code, read once from handlers/locale/ (English is the\n"
        "# template, messages.pot). As mappings they give each sentence's last form.\n"
        "CATALOGUES: dict[str, catalogue.Catalogue] = catalogue.load()\n"
        'EN = CATALOGUES["en"]\n'
        'JA = CATALOGUES["ja"]\n',
    ),
    (
        "def register(entries: dict[str, str]) -> None:\n"
        '    """Add a module\'s sentences (kept beside its Block Kit builders) to the catalogue.\n'
        "\n"
        "    Keys must be new: two modules never define the same sentence.\n"
        '    """\n'
        "    clash = sorted(set(entries) & set(EN))\n"
        "    if clash:\n"
        "        raise ValueError(f\"sentences defined twice: {', '.join(clash)}\")\n"
        "    EN.update(entries)\n"
        "\n"
        "\n",
        "",
    ),
    (
        '    """The sentence `key`, filled with `params` (missing ones stay visible as {name}).\n'
        "\n"
        "    Text parameters that are not `Mrkdwn` are escaped; numbers keep their format specs.\n"
        '    """\n'
        "    template = CATALOGUES[language()].get(key) or EN.get(key)  # English beats a bare key\n",  # noqa: E501
        '    """The sentence `key`, filled with `params` (missing ones stay visible as {name}).\n'
        "\n"
        "    Text parameters that are not `Mrkdwn` are escaped; numbers keep their format specs.\n"
        "    A counted sentence takes the form its count parameter (`count`, or the one its\n"
        '    entry names) calls for in the language, e.g. `t("halt.done.sending", count=1, …)`.\n'
        '    """\n'
        "    template = CATALOGUES[language()].template(key, params) or EN.template(key, params)\n",
    ),
]


# tests/test_texts.py after the move (the catalogue is read from files, not added to).
TEST_EDITS: list[tuple[str, str]] = [
    (
        "def test_a_key_registered_later_falls_back_to_english(monkeypatch: pytest.MonkeyPatch):\n"
        '    texts.use_language("ja")\n'
        "    # As a module imported after start-up would: the lookup happens per call.\n"
        '    monkeypatch.setitem(texts.EN, "test.only_in_english", "Only {what} in English.")\n',
        "def test_an_untranslated_key_falls_back_to_english(monkeypatch: pytest.MonkeyPatch):\n"
        '    texts.use_language("ja")\n'
        "    # As a new sentence in messages.pot before ja.po has it (or has it fuzzy).\n"
        '    only = catalogue.Sentence(("Only {what} in English.",))\n'
        '    monkeypatch.setitem(texts.EN.sentences, "test.only_in_english", only)\n',
    ),
    ("from handlers import texts\n", "from handlers import catalogue, texts\n"),
    (
        "# Every front-end module registers its English sentences when imported: import\n"
        '# them all, so that "the complete English catalogue" really is complete.\n',
        "# Every front-end module, imported: none may need a sentence the catalogue lacks\n"
        "# when it is loaded (the sentences themselves are read from handlers/locale/).\n",
    ),
]


# What tests expect of the sentences that changed: old text -> new, wherever it is.
TEST_PHRASES: list[tuple[str, str]] = [
    ('"Halted 1 send(s) in progress"', '"Halted 1 send in progress"'),
    ('"270 recipient(s) are not sent"', '"270 recipients are not sent"'),
    ('"subscribed again on 1 list"', '"is subscribed again (lists: 1;"'),
    ('"have not reached Postmark yet"', '"not reached Postmark yet"'),  # 1: "has not"
]


def edit_exactly(path: Path, edits: list[tuple[str, str]]) -> None:
    source = path.read_text()
    for old, new in edits:
        if source.count(old) != 1:
            raise SystemExit(f"{path}: expected this once, found {source.count(old)}:\n{old}")
        source = source.replace(old, new)
    path.write_text(source)


def edit_texts(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    [en] = [
        node
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "EN"
    ]
    path.write_text("".join(lines[: en.lineno - 1] + lines[en.end_lineno :]))
    edit_exactly(path, TEXTS_EDITS)


def drop_register_calls(path: Path) -> bool:
    """Remove the module's top-level `register(...)` / `texts.register(...)` calls."""
    source = path.read_text()
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    spans = []
    for node in tree.body:
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        func = node.value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("register", "register_texts") and (
            isinstance(func, ast.Name) or ast.unparse(func) == "texts.register"
        ):
            start = node.lineno - 1
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1  # its comment goes with it
            spans.append((start, node.end_lineno or node.lineno))
    if not spans:
        return False
    for start, end in reversed(spans):
        del lines[start:end]
    path.write_text(re.sub(r"\n{4,}", "\n\n\n", "".join(lines)))
    return True


def edit_sources() -> list[Path]:
    changed = []
    texts = ROOT / "handlers" / "texts.py"
    edit_texts(texts)
    changed.append(texts)
    for module in sorted((ROOT / "handlers").glob("*.py")):
        if module.name != "texts.py" and drop_register_calls(module):
            changed.append(module)
    (ROOT / "handlers" / "texts_ja.py").unlink()
    edit_exactly(ROOT / "tests" / "test_texts.py", TEST_EDITS)
    changed.append(ROOT / "tests" / "test_texts.py")
    for test in sorted((ROOT / "tests").rglob("*.py")):
        text = edited = test.read_text()
        edited = edited.replace("from handlers.texts_ja import JA", "from handlers.texts import JA")
        for old, new in TEST_PHRASES:
            edited = edited.replace(old, new)
        if edited != text:
            test.write_text(edited)
            changed.append(test)
    ruff = Path(sys.executable).parent / "ruff"
    names = list(dict.fromkeys(str(p) for p in changed))
    # This environment's ruff, on the files just edited: drop the imports left unused.
    subprocess.run([str(ruff), "check", "--fix", "--select", "F401,I001", *names], check=False)  # noqa: S603
    subprocess.run([str(ruff), "format", *names], check=True)  # noqa: S603
    return list(dict.fromkeys(changed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--po-only", action="store_true", help="write the files only")
    options = parser.parse_args(argv)
    english, japanese, origins = collect()
    items = entries(english, japanese, origins)
    write(LOCALE / "messages.pot", catalog(items, None))
    write(LOCALE / "ja" / "LC_MESSAGES" / "messages.po", catalog(items, "ja"))
    for item in items:
        if item.count or item.key in PLURALS:
            print(f"{item.key} [{item.count or 'no plural'}]: " + " | ".join(item.english))
    print(f"{len(items)} sentences written to {LOCALE.relative_to(ROOT)}")
    if not options.po_only:
        for path in edit_sources():
            print(f"edited {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
