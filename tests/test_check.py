"""`countersign check` against the Slack and Postmark stand-ins: every check
passing, and each failure (with the fix it names) one by one."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.check import Status
from bot.preflight import readings
from bot.standins.postmark import PostmarkStandIn
from bot.standins.slack import APPROVER_1, NEWSLETTER_CHANNEL, SlackStandIn
from handlers import check, main
from handlers.app import build
from tests.fixtures.bot import make_settings

CLOSED_PORT_URL = "http://127.0.0.1:9/"  # discard port: nothing listens there


def run(slack: SlackStandIn, postmark: PostmarkStandIn, database_url: str, **overrides: Any):
    settings = make_settings(slack, postmark, database_url, **overrides)
    out = io.StringIO()
    code = check.main(settings, out)
    return code, out.getvalue(), {r.name: r for r in check.run_checks(settings)}


def test_a_correct_setup_passes_every_check(slack, postmark, database_url):
    code, text, results = run(slack, postmark, database_url)
    assert code == 0, text
    assert [r.status for r in results.values()] == [Status.OK] * 10
    lines = text.splitlines()
    assert len(lines) == 11  # one per check, then the summary
    assert results["Postmark Bulk API"].detail.startswith("enabled on this account")
    assert "Countersign Rehearsal" in results["Slack bot token"].detail
    assert "#newsletter" in results["Newsletter channel"].detail
    assert results["Approvers"].detail == "2 people can approve."
    assert lines[-1] == "All checks passed."
    # Never a secret on screen.
    assert slack.bot_token not in text and "standin-server-token" not in text


def test_no_slack_token(slack, postmark, database_url):
    code, text, results = run(slack, postmark, database_url, SLACK_BOT_TOKEN="")
    assert code == 1
    assert results["Slack bot token"].status is Status.FAIL
    assert "SLACK_BOT_TOKEN is not set" in text and "Fix: install the app" in text
    assert results["Slack scopes"].status is Status.SKIP


def test_a_refused_slack_token(slack, postmark, database_url):
    code, text, results = run(slack, postmark, database_url, SLACK_BOT_TOKEN="xoxb-not-a-real-one")
    assert code == 1
    assert "invalid_auth" in results["Slack bot token"].detail
    assert "reinstall the app" in results["Slack bot token"].fix
    assert "xoxb-not-a-real-one" not in text
    assert all(
        results[n].status is Status.SKIP
        for n in ("Slack scopes", "Newsletter channel", "Approvers")
    )


def test_slack_unreachable(slack, postmark, database_url):
    code, _text, results = run(slack, postmark, database_url, SLACK_API_URL=CLOSED_PORT_URL)
    assert code == 1
    assert "could not reach Slack" in results["Slack bot token"].detail
    assert "SLACK_API_URL" in results["Slack bot token"].fix


def test_a_token_missing_scopes(slack, postmark, database_url):
    token = slack.issue_token(sorted(check.REQUIRED_SCOPES - {"usergroups:read", "groups:read"}))
    code, _text, results = run(slack, postmark, database_url, SLACK_BOT_TOKEN=token)
    assert code == 1
    scopes = results["Slack scopes"]
    assert scopes.status is Status.FAIL
    assert scopes.detail == "the token lacks groups:read, usergroups:read."
    assert "reinstall" in scopes.fix


def test_extra_scopes_are_not_a_failure(slack, postmark, database_url):
    # The stand-in's default token has more scopes than the manifest asks for.
    assert set(check.REQUIRED_SCOPES) < set(slack.tokens[slack.bot_token].scopes)
    _, _, results = run(slack, postmark, database_url)
    assert results["Slack scopes"].status is Status.OK


def test_channel_not_found(slack, postmark, database_url):
    code, _text, results = run(slack, postmark, database_url, NEWSLETTER_CHANNEL="C0NOTHERE1")
    assert code == 1
    channel = results["Newsletter channel"]
    assert channel.status is Status.FAIL and "C0NOTHERE1 was not found" in channel.detail
    assert "/invite @countersign" in channel.fix


def test_bot_not_in_channel(slack, postmark, database_url):
    slack.add_channel("C0OTHER001", "elsewhere", ["U0EDITOR1"], bot_member=False)
    code, _, results = run(slack, postmark, database_url, NEWSLETTER_CHANNEL="C0OTHER001")
    assert code == 1
    channel = results["Newsletter channel"]
    assert "not a member of #elsewhere" in channel.detail
    assert "/invite @countersign in #elsewhere" in channel.fix


def test_one_approver_is_a_warning_not_a_failure(slack, postmark, database_url):
    code, text, results = run(slack, postmark, database_url, APPROVERS=APPROVER_1)
    assert code == 0
    approvers = results["Approvers"]
    assert approvers.status is Status.WARN
    assert "own issues could never be approved" in approvers.detail
    assert "[warn] Approvers" in text and "Fix: add a second approver." in text
    assert "1 warning" in text.splitlines()[-1]


def test_approvers_that_resolve_to_nobody(slack, postmark, database_url):
    slack.add_user("U0GONE0001", "gone", deleted=True)
    slack.add_usergroup("S0EMPTY001", "nobody", [])
    for value in ("U0GONE0001,U0NOBODY01", "S0EMPTY001"):
        code, _, results = run(slack, postmark, database_url, APPROVERS=value, TEAM="")
        assert code == 1
        assert results["Approvers"].status is Status.FAIL
        assert "nobody" in results["Approvers"].detail


def test_approvers_group_on_a_free_plan(slack, postmark, database_url):
    slack.plan_paid = False
    code, _, results = run(slack, postmark, database_url)
    assert code == 1
    assert results["Approvers"].detail == "user groups need a paid Slack plan."
    assert "user ids" in results["Approvers"].fix


def test_approvers_group_that_does_not_exist(slack, postmark, database_url):
    _, _, results = run(slack, postmark, database_url, APPROVERS="S0NOSUCH01")
    assert results["Approvers"].status is Status.FAIL
    assert "no user group S0NOSUCH01" in results["Approvers"].detail


def test_no_postal_address(slack, postmark, database_url):
    code, text, results = run(slack, postmark, database_url, NEWSLETTER_POSTAL_ADDRESS="")
    assert code == 1
    footer = results["Newsletter footer"]
    assert footer.status is Status.FAIL and "NEWSLETTER_POSTAL_ADDRESS is not set" in footer.detail
    assert "Fix: set NEWSLETTER_POSTAL_ADDRESS" in text


def test_the_footer_names_the_contact_it_will_print(slack, postmark, database_url):
    _code, _text, results = run(slack, postmark, database_url)
    assert "the From address (news@example.com)" in results["Newsletter footer"].detail
    _code, _text, results = run(
        slack, postmark, database_url, NEWSLETTER_CONTACT="03-1234-5678（平日10時〜17時）"
    )
    assert (
        "NEWSLETTER_CONTACT (03-1234-5678（平日10時〜17時）)" in results["Newsletter footer"].detail
    )


def test_without_the_japanese_dictionary_the_check_fails_and_the_bot_does_not_start(
    slack, postmark, database_url, monkeypatch
):
    monkeypatch.setattr(readings, "_tagger", None)  # not loaded yet, and fugashi not installed
    monkeypatch.setitem(sys.modules, "fugashi", None)
    code, text, results = run(slack, postmark, database_url)
    assert code == 1
    dictionary = results["Japanese dictionary"]
    assert dictionary.status is Status.FAIL and "fugashi" in dictionary.detail
    assert "Fix: install the locked requirements" in text
    with pytest.raises(readings.DictionaryMissing):
        build(make_settings(slack, postmark, database_url))
    assert main.run(make_settings(slack, postmark, database_url)) == 1


def test_no_postmark_token(slack, postmark, database_url):
    code, _text, results = run(slack, postmark, database_url, POSTMARK_SERVER_TOKEN="")
    assert code == 1
    assert "POSTMARK_SERVER_TOKEN is not set" in results["Postmark server token"].detail
    assert results["Postmark broadcast stream"].status is Status.SKIP


def test_a_refused_postmark_token(slack, postmark, database_url):
    code, text, results = run(slack, postmark, database_url, POSTMARK_SERVER_TOKEN="wrong-token")
    assert code == 1
    token = results["Postmark server token"]
    assert token.status is Status.FAIL and "ErrorCode 10" in token.detail
    assert "wrong-token" not in text
    assert results["Postmark transactional stream"].status is Status.SKIP


def test_postmark_unreachable(slack, postmark, database_url):
    code, _, results = run(slack, postmark, database_url, POSTMARK_API_URL=CLOSED_PORT_URL)
    assert code == 1
    assert "could not reach Postmark" in results["Postmark server token"].detail


def test_broadcast_stream_missing(slack, postmark, database_url):
    code, _text, results = run(slack, postmark, database_url, POSTMARK_BROADCAST_STREAM="news")
    assert code == 1
    assert results["Postmark server token"].status is Status.OK
    broadcast = results["Postmark broadcast stream"]
    assert broadcast.detail == "there is no message stream 'news' on this server."
    assert "create a Broadcasts stream" in broadcast.fix
    assert results["Postmark transactional stream"].status is Status.OK


@pytest.mark.parametrize(
    ("variable", "stream", "check_name", "found", "expected"),
    [
        (
            "POSTMARK_BROADCAST_STREAM",
            "outbound",
            "Postmark broadcast stream",
            "Transactional",
            "Broadcasts",
        ),
        (
            "POSTMARK_TRANSACTIONAL_STREAM",
            "broadcast",
            "Postmark transactional stream",
            "Broadcasts",
            "Transactional",
        ),
    ],
)
def test_a_stream_of_the_wrong_type(
    slack, postmark, database_url, variable, stream, check_name, found, expected
):
    code, _, results = run(slack, postmark, database_url, **{variable: stream})
    assert code == 1
    result = results[check_name]
    assert result.detail == f"{stream!r} is of type {found}, not {expected}."
    assert f"point {variable} at a stream of type {expected}" in result.fix


@pytest.mark.parametrize("handling", ["None", "Custom"])
def test_a_broadcast_stream_without_postmarks_unsubscribe_handling_fails(
    slack, postmark, database_url, handling
):
    postmark.configure_stream("broadcast", "Broadcasts", handling)
    code, _, results = run(slack, postmark, database_url)
    assert code == 1
    broadcast = results["Postmark broadcast stream"]
    assert broadcast.status is Status.FAIL
    assert f"unsubscribe handling '{handling}'" in broadcast.detail
    assert "List-Unsubscribe" in broadcast.detail
    assert "set the stream's unsubscribe handling to Postmark" in broadcast.fix
    assert results["Postmark transactional stream"].status is Status.OK


def test_a_well_set_up_broadcast_stream_says_so(slack, postmark, database_url):
    _, _, results = run(slack, postmark, database_url)
    assert results["Postmark broadcast stream"].detail == (
        "'broadcast' exists and is of type Broadcasts, with Postmark's unsubscribe handling."
    )


def test_the_cli_runs_the_check(slack, postmark, database_url, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    settings = make_settings(slack, postmark, database_url)
    for name in ("SLACK_BOT_TOKEN", "SLACK_API_URL", "POSTMARK_SERVER_TOKEN", "POSTMARK_API_URL"):
        monkeypatch.setenv(name, str(getattr(settings, name)))
    monkeypatch.setenv("NEWSLETTER_CHANNEL", NEWSLETTER_CHANNEL)
    monkeypatch.setenv("APPROVERS", "S0APPROVE1")
    monkeypatch.setenv("NEWSLETTER_POSTAL_ADDRESS", settings.NEWSLETTER_POSTAL_ADDRESS)
    assert cli.main(["check"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "All checks passed."
    monkeypatch.setenv("POSTMARK_BROADCAST_STREAM", "outbound")
    assert cli.main(["check"]) == 1
    assert "[FAIL] Postmark broadcast stream" in capsys.readouterr().out


# --- the manifest ------------------------------------------------------------------------

MANIFEST = Path(__file__).resolve().parents[1] / "app.yaml"


def _bot_scopes(text: str) -> set[str]:
    # A tiny reader for the one list we need (PyYAML is not a dependency).
    block = re.search(r"^\s*bot:\s*\n((?:\s+- .+\n)+)", text, re.M)
    assert block, "app.yaml has no oauth_config.scopes.bot list"
    return {line.strip()[2:].strip() for line in block.group(1).splitlines()}


def test_the_manifest_asks_for_exactly_the_scopes_the_check_requires():
    assert _bot_scopes(MANIFEST.read_text(encoding="utf-8")) == set(check.REQUIRED_SCOPES)


def test_the_manifest_declares_commands_home_tab_events_and_socket_mode():
    text = MANIFEST.read_text(encoding="utf-8")
    assert re.search(r"- command: /newsletter\n\s+description: .+\n\s+usage_hint: .+", text)
    assert re.search(r"- command: /unsubscribe\n\s+description: .+\n\s+usage_hint: .+", text)
    assert "home_tab_enabled: true" in text
    assert re.search(r"bot_events:\n\s+- app_home_opened\n", text)
    assert "socket_mode_enabled: true" in text
    assert re.search(r"interactivity:\n\s+is_enabled: true", text)


def test_the_check_speaks_the_teams_language(slack, postmark, database_url, capsys):
    """`LANGUAGE=ja countersign check`: every line and the summary are Japanese, the
    names of what was checked too; a failing line says what to do in Japanese."""
    from bot import speech

    try:
        speech.use_language("ja")
        code, text, results = run(slack, postmark, database_url, NEWSLETTER_POSTAL_ADDRESS="")
    finally:
        speech.use_language("en")
    assert code == 1
    footer = results["ニュースレターのフッター"]
    assert footer.status is Status.FAIL
    assert (
        footer.detail
        == "NEWSLETTER_POSTAL_ADDRESS が設定されていません。これがないと、どの号も承認に出せません。"
    )
    assert "対処：NEWSLETTER_POSTAL_ADDRESS に送信者の住所を設定してください。" in text
    assert results["承認者"].detail == "2 人が承認できます。"
    assert (
        text.splitlines()[-1]
        == "10 項目のうち 1 項目が不合格です。最初の送信の前に直してください。"
    )
    assert not re.search(r"\b(not set|passed|Fix:|can approve)\b", text), text
