"""The sentence catalogues: the Japanese one covers every English key with the
same placeholders, every sentence of both can be filled, `t()` answers in the
language of the LANGUAGE setting (falling back to English for a key not yet
translated), and a language without a catalogue stops start-up."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import handlers
from bot.settings import HELP, Settings, SettingsError, load
from bot.standins.slack import APPROVER_1, APPROVER_2, EDITOR, OUTSIDER
from handlers import catalogue, texts
from handlers.ids import Action, Block
from handlers.mrkdwn import Mrkdwn, plain
from handlers.texts import JA
from tests.e2e.helpers import create_issue, request_id_of, submit

# Every front-end module, imported: none may need a sentence the catalogue lacks
# when it is loaded (the sentences themselves are read from handlers/locale/).
for _module in pkgutil.iter_modules(handlers.__path__):
    importlib.import_module(f"handlers.{_module.name}")

EN_KEYS = sorted(texts.EN)

# Sentences that are nothing but placeholders, Slack markup and emoji, so they
# have no words to translate and are the same in both languages:
# - preview.blocking / preview.warning: an emoji before a finding sentence
#   that is itself translated (finding.*);
# - send.progress.bar: the progress bar and its percent.
WORDLESS = frozenset({"preview.blocking", "preview.warning", "send.progress.bar"})

# Hiragana, katakana, CJK ideographs, full-width forms and CJK punctuation.
JAPANESE = re.compile(r"[\u3000-\u303f\u3040-\u30ff\u4e00-\u9fff\uff00-\uffef]")
UNFILLED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def dummy_params(template: str) -> dict[str, str]:
    return {name: f"<{name}>" for name in fields(template)}


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """The language is process-wide: leave it as other tests expect it."""
    yield
    texts.use_language("en")


# --- the catalogues -------------------------------------------------------------------


def test_every_english_key_has_a_japanese_sentence():
    missing = sorted(set(texts.EN) - set(JA))
    assert missing == []


def test_no_japanese_sentence_lacks_an_english_one():
    # A key renamed in English must not leave a stale translation behind.
    assert sorted(set(JA) - set(texts.EN)) == []


@pytest.mark.parametrize("key", EN_KEYS)
def test_japanese_uses_exactly_the_english_placeholders(key: str):
    assert fields(JA[key]) == fields(texts.EN[key])


@pytest.mark.parametrize("catalogue", [texts.EN, JA], ids=["en", "ja"])
def test_every_sentence_fills_completely(catalogue: dict[str, str]):
    for key, template in catalogue.items():
        filled = template.format(**dummy_params(template))
        assert not UNFILLED.search(filled), key
        for value in dummy_params(template).values():
            assert value in filled, key


@pytest.mark.parametrize("key", EN_KEYS)
def test_japanese_sentences_are_in_japanese(key: str):
    if key in WORDLESS:
        # Allowed only while it really has no words: placeholders and emoji codes removed,
        # not a letter is left.
        assert JA[key] == texts.EN[key]
        assert not re.search(r"[A-Za-z]", re.sub(r":[a-z_]+:", "", UNFILLED.sub("", JA[key])))
    else:
        assert JAPANESE.search(JA[key]), f"{key} looks untranslated: {JA[key]!r}"


def test_command_names_stay_untranslated():
    for key, english in texts.EN.items():
        commands = set(re.findall(r"`(/(?:newsletter|unsubscribe)[^`]*)`", english))
        for command in commands:
            assert f"`{command}`" in JA[key], (key, command)


@given(
    key=st.sampled_from(EN_KEYS),
    value=st.text(min_size=1, max_size=20),
    language=st.sampled_from(["en", "ja"]),
)
def test_t_shows_any_value_as_typed_and_escaped(key: str, value: str, language: str):
    texts.use_language(language)
    template = texts.CATALOGUES[language][key]
    params = {name: value for name in fields(template)}
    filled = texts.t(key, **params)
    assert isinstance(filled, Mrkdwn)
    # Slack decodes &amp; &lt; &gt; for display: what it shows is the value as typed ...
    expected = template.format(**{name: escape_for_slack(value) for name in params})
    assert filled == expected
    if params:
        assert escape_for_slack(value) in filled
        # ... and none of the value's own & < > reach Slack as control characters.
        assert plain(filled) == template.format(**params) or "&" in template


def escape_for_slack(value: str) -> str:
    """Slack's three escapes, written out independently of handlers.mrkdwn."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- choosing the language ------------------------------------------------------------


def test_t_answers_in_the_chosen_language():
    texts.use_language("ja")
    assert texts.t("draft.no_such_issue", issue=7) == "第7号は存在しません。"
    texts.use_language("en")
    assert texts.t("draft.no_such_issue", issue=7) == "There is no issue #7."


def test_an_untranslated_key_falls_back_to_english(monkeypatch: pytest.MonkeyPatch):
    texts.use_language("ja")
    # As a new sentence in messages.pot before ja.po has it (or has it fuzzy).
    only = catalogue.Sentence(("Only {what} in English.",))
    monkeypatch.setitem(texts.EN.sentences, "test.only_in_english", only)
    assert texts.t("test.only_in_english", what="this") == "Only this in English."
    assert texts.t("no.such.key") == "no.such.key"


def test_an_unknown_language_is_refused_by_use_language():
    with pytest.raises(ValueError, match="fr"):
        texts.use_language("fr")
    assert texts.language() == "en"


# --- the setting ------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_environment")
def test_language_defaults_to_english():
    assert load().LANGUAGE == "en"


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(
    ("raw", "code"), [("ja", "ja"), ("JA", "ja"), ("en", "en"), ("ja_JP:ja", "ja"), ("", "en")]
)
def test_language_accepts_en_and_ja(monkeypatch: pytest.MonkeyPatch, raw: str, code: str):
    # gettext's LANGUAGE (e.g. "ja_JP:ja") may already be set on a desktop.
    monkeypatch.setenv("LANGUAGE", raw)
    assert code == load().LANGUAGE


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("raw", ["fr", "japanese", "fr_FR:fr"])
def test_another_language_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch, raw: str):
    monkeypatch.setenv("LANGUAGE", raw)
    with pytest.raises(SettingsError) as caught:
        load()
    assert caught.value.name == "LANGUAGE"
    assert str(caught.value) == (
        f"Setting LANGUAGE is malformed (got {raw!r}): "
        "expected a language code: en or ja, e.g. LANGUAGE=ja"
    )


def test_language_fr_stops_start_up(tmp_path: Path):
    cli = shutil.which("countersign", path=str(Path(sys.executable).parent))
    assert cli, "the countersign console script is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields and k not in HELP}
    env.update(LANGUAGE="fr", DATABASE_URL=f"sqlite:///{tmp_path / 'start.db'}")
    result = subprocess.run(
        [cli, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "countersign: Setting LANGUAGE is malformed (got 'fr'): "
        "expected a language code: en or ja, e.g. LANGUAGE=ja"
    ]
    assert not (tmp_path / "start.db").exists()


# --- end to end -----------------------------------------------------------------------


def japanese_slack(harness: Any) -> None:
    """A Japanese team: everyone uses Slack in Japanese."""
    for user in harness.slack.users.values():
        user.locale = "ja-JP"


def test_help_and_an_outsiders_refusal_answer_in_japanese(harness_factory: Any):
    harness = harness_factory(LANGUAGE="ja")
    japanese_slack(harness)
    harness.editor.command("/newsletter", "help")
    help_text = "\n".join(harness.wait_for_ephemeral(EDITOR))
    assert "Countersign：ニュースレター配信デスク" in help_text
    assert "`/newsletter new` で下書きフォームを開きます。" in help_text
    assert "opens the draft form" not in help_text

    harness.outsider.command("/newsletter", "help")
    refusal = harness.wait_for_ephemeral(OUTSIDER)[-1]
    assert refusal == JA["access.not_team"]


def test_a_non_approvers_click_is_refused_in_japanese(harness_factory: Any):
    harness = harness_factory(LANGUAGE="ja")
    japanese_slack(harness)
    issue_id = create_issue(harness, harness.editor)
    card = submit(harness, harness.editor, issue_id, extra="at 2030-01-01 10:00")
    assert f"承認のお願い：第{issue_id}号" in "\n".join(harness.channel_texts())

    harness.editor.click(
        Action.APPROVE,
        value=str(request_id_of(harness, card)),
        block_id=Block.APPROVAL_ACTIONS,
        channel=card.channel,
    )
    # The editor is not in APPROVERS. (The submit's own ephemeral reply may arrive
    # after the card, so wait for the refusal among all of them.)
    expected = JA["refusal.not_an_approver"]

    def refused() -> list[str] | None:
        replies = harness.ephemeral_texts(EDITOR)
        wanted = (expected, f"第{issue_id}号の承認を依頼しました")
        return replies if all(any(w in text for text in replies) for w in wanted) else None

    replies = harness.slack.wait_for(refused)
    assert not any("Only approvers" in text for text in replies)


def test_stored_states_are_shown_by_name_in_each_language():
    from handlers.texts import state_name, use_language

    assert state_name("awaiting_approval") == "awaiting approval"
    assert state_name("no_such_state") == "no_such_state"  # unknown values pass through
    use_language("ja")
    try:
        assert state_name("awaiting_approval") == "承認待ち"
    finally:
        use_language("en")


def test_usage_errors_and_finding_kinds_speak_the_chosen_language():
    from zoneinfo import ZoneInfo

    from bot.preflight import Finding, Severity
    from handlers.blocks import finding_text
    from handlers.parsing import UsageError, parse
    from handlers.texts import t, use_language

    finding = Finding("subscriber_data", Severity.BLOCKING, {"count": 2, "kinds": "company,name"})
    assert "(companies, names)" in finding_text(finding)
    use_language("ja")
    try:
        assert "会社名, 氏名" in finding_text(finding)
        try:
            parse("show", ZoneInfo("Asia/Tokyo"))
        except UsageError as error:
            sentence = t(error.key, **error.params)
        assert "号の番号" in sentence and "/newsletter show 3" in sentence
    finally:
        use_language("en")


def test_each_person_reads_their_own_slack_language_and_the_channel_the_teams(
    harness_factory: Any,
):
    harness = harness_factory(LANGUAGE="en")
    harness.slack.users[EDITOR].locale = "ja-JP"
    harness.slack.users[APPROVER_1].locale = "en-GB"
    harness.slack.users[APPROVER_2].locale = "fr-FR"  # no catalogue: the team's language

    harness.editor.command("/newsletter", "help")
    assert "Countersign：ニュースレター配信デスク" in "\n".join(harness.wait_for_ephemeral(EDITOR))
    harness.approver.command("/newsletter", "help")
    assert "Countersign: the newsletter desk" in "\n".join(harness.wait_for_ephemeral(APPROVER_1))
    harness.approver2.command("/newsletter", "help")
    assert "Countersign: the newsletter desk" in "\n".join(harness.wait_for_ephemeral(APPROVER_2))

    # The Japanese editor asks for approval: the card in the channel is in English
    # (LANGUAGE), the editor's own confirmation in Japanese.
    issue_id = create_issue(harness, harness.editor)
    submit(harness, harness.editor, issue_id, extra="at 2030-01-01 10:00")
    channel = "\n".join(harness.channel_texts())
    assert f"issue #{issue_id}" in channel and f"第{issue_id}号" not in channel
    replies = harness.slack.wait_for(
        lambda: [r for r in harness.ephemeral_texts(EDITOR) if f"第{issue_id}号" in r] or None
    )
    assert replies


def test_a_locale_names_a_catalogue_or_none():
    assert texts.language_of_locale("ja-JP") == "ja"
    assert texts.language_of_locale("en-US") == "en"
    assert texts.language_of_locale("EN_gb") == "en"
    assert texts.language_of_locale("fr-FR") is None
    assert texts.language_of_locale("") is None
    assert texts.language_of_locale(None) is None
    with texts.speaking("ja"):
        assert texts.language() == "ja"
        with texts.speaking(None):
            assert texts.language() == texts.default_language()
    assert texts.language() == texts.default_language()


@pytest.mark.parametrize("catalogue", [texts.EN, JA], ids=["en", "ja"])
def test_no_label_says_optional_itself(catalogue: dict[str, str]):
    # Slack adds "(optional)" to the label of an optional input on its own
    # (https://docs.slack.dev/reference/block-kit/blocks/input-block: `optional`);
    # a label that says it too reads "(optional) (optional)".
    labels = {k: v for k, v in catalogue.items() if k.endswith("_label")}
    assert labels, "no labels found: the naming convention changed"
    assert [k for k, v in labels.items() if "optional" in v.lower() or "任意" in v] == []


@given(total=st.integers(min_value=0, max_value=10**7), share=st.floats(0, 1.5))
def test_the_progress_bar_is_full_only_when_everyone_is_handled(total: int, share: float):
    from handlers.blocks import BAR_WIDTH, progress_bar

    done = int(total * share)
    bar, percent = progress_bar(done, total)
    assert len(bar) == BAR_WIDTH and set(bar) <= {"▓", "░"}
    assert 0 <= percent <= 100
    complete = total > 0 and done >= total
    assert (percent == 100) == complete and (bar == "▓" * BAR_WIDTH) == complete
    if total and done < total:
        assert percent == done * 100 // total


def test_every_template_problem_is_a_whole_sentence_in_both_languages():
    """A template problem reaches a person as the catalogue's sentence, in their
    language, with what was found and what is allowed filled in (issue 12)."""
    from bot.rendering import TemplateProblem
    from handlers.blocks import template_problem_text

    for code in sorted(TemplateProblem.CODES):
        assert f"template.{code}" in texts.EN and f"template.{code}" in JA, code
    problem = TemplateProblem("body", "not_printable", 3, {"found": "{{ 9 ** 9 }}", "allowed": "X"})
    with texts.speaking("ja"):
        shown = template_problem_text(problem)
    assert shown.startswith("3行目") and "{{ 9 ** 9 }}" in shown and "not allowed" not in shown
    with texts.speaking("en"):
        assert template_problem_text(problem).startswith("Line 3: `{{ 9 ** 9 }}` is not allowed.")
