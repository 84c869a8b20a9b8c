"""Settings: one line naming the variable, what it expects and an example."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import settings as settings_module
from bot.settings import HELP, Principals, Settings, SettingsError, load


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither the developer's environment nor a `.env` in the repository may leak in."""
    for name in [*Settings.model_fields, *HELP]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def error_for(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load()
    assert caught.value.name == name
    return str(caught.value)


def test_defaults_need_nothing():
    settings = load()
    assert settings.DATABASE_URL == "sqlite:///countersign.db"
    assert settings.TIMEZONE == "Asia/Tokyo"
    assert settings.remind_days_before == (7, 3, 1)
    assert settings.AUDIENCE_DRIFT == 2.0
    assert settings.approvers.empty
    assert not settings.slack_configured


@pytest.mark.parametrize(
    ("name", "value", "expects"),
    [
        ("TIMEZONE", "Asia/Nowhere", "an IANA time zone name"),
        ("ISSUE_SCHEDULE", "0 10 1 *", "a cron expression of five fields"),
        ("ISSUE_SCHEDULE", "0 25 1 * *", "a cron expression of five fields"),
        ("AUDIENCE_DRIFT", "two", "a percentage from 0 to 100"),
        ("AUDIENCE_DRIFT", "150", "a percentage from 0 to 100"),
        ("APPROVERS", "U0123ABCD,hanako", "a user group id (S…) or comma-separated user ids"),
        ("APPROVERS", "S0123ABCD,S0456EFGH", "a user group id (S…) or comma-separated user ids"),
        ("TEAM", "#general", "a user group id (S…) or comma-separated user ids"),
        ("NEWSLETTER_FROM", "Navigate <news at example.com>", "a sender address"),
        ("REMIND_DAYS_BEFORE", "7,three,1", "comma-separated whole numbers of days"),
        ("REMIND_DAYS_BEFORE", "7,-1", "comma-separated whole numbers of days"),
        ("APPROVAL_TTL_HOURS", "0", "a whole number of hours from 1 to 720"),
        ("NEWSLETTER_CHANNEL", "general", "a Slack channel id"),
        ("TEST_RECIPIENT_DOMAINS", "example.com,not a domain", "comma-separated domains"),
        ("SLACK_API_URL", "slack.com/api", "an http(s) URL"),
        ("PORT", "70000", "a TCP port number"),
    ],
)
def test_malformed_setting_gives_one_line_naming_variable_expectation_and_example(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expects: str
):
    message = error_for(monkeypatch, name, value)
    assert "\n" not in message
    assert message.startswith(f"Setting {name} is malformed")
    assert f"expected {expects}" in message
    assert f"e.g. {name}={HELP[name][1]}" in message
    assert repr(value) in message  # the value, so the person sees what is wrong


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("SLACK_BOT_TOKEN", "xapp-1-A0123-secret-value-4567"),
        ("SLACK_BOT_TOKEN", "xoxp-1234-secret-user-token"),
        ("SLACK_APP_TOKEN", "xoxb-1234-5678-secret-bot-token"),
    ],
)
def test_a_token_of_the_wrong_kind_is_named_but_never_echoed(
    monkeypatch: pytest.MonkeyPatch, name: str, token: str
):
    message = error_for(monkeypatch, name, token)
    assert "\n" not in message
    assert message.startswith(f"Setting {name} is malformed")
    assert "starting with x" in message
    assert token not in message
    assert "secret" not in message


def test_a_malformed_database_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch):
    message = error_for(monkeypatch, "DATABASE_URL", "postgres ql://hanako:hunter2@db/news")
    assert "hunter2" not in message
    assert message.startswith("Setting DATABASE_URL is malformed")
    assert "e.g. DATABASE_URL=sqlite:///countersign.db" in message


def test_well_formed_values_parse(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("ISSUE_SCHEDULE", "30 9 1-7 * mon")
    monkeypatch.setenv("AUDIENCE_DRIFT", "0.5")
    monkeypatch.setenv("APPROVERS", "U0123ABCD, U0456EFGH")
    monkeypatch.setenv("NEWSLETTER_FROM", "株式会社サンプル <News@Example.com>")
    monkeypatch.setenv("REMIND_DAYS_BEFORE", "1, 7,3")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234-5678-abcdef")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9000/api")
    settings = load()
    assert settings.tz.key == "Europe/Berlin"
    assert settings.AUDIENCE_DRIFT == 0.5
    assert settings.approvers == Principals(group=None, users=frozenset({"U0123ABCD", "U0456EFGH"}))
    assert settings.sender.name == "株式会社サンプル"
    assert settings.sender.address.lower() == "news@example.com"
    assert settings.test_recipient_domains == frozenset({"example.com"})
    assert settings.remind_days_before == (7, 3, 1)
    assert settings.slack_configured
    assert settings.SLACK_API_URL == "http://127.0.0.1:9000/api/"


def test_dotenv_file_in_the_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
):
    (clean_environment / ".env").write_text(
        "APPROVERS=S0123ABCD\nNEWSLETTER_NAME=サンプル通信\nTIMEZONE=UTC\n", encoding="utf-8"
    )
    settings = load()
    assert settings.approvers.group == "S0123ABCD"
    assert settings.NEWSLETTER_NAME == "サンプル通信"
    assert settings.TIMEZONE == "UTC"
    monkeypatch.setenv("TIMEZONE", "Asia/Tokyo")  # the environment wins over the file
    assert load().TIMEZONE == "Asia/Tokyo"


def test_a_malformed_value_in_dotenv_is_reported_the_same_way(clean_environment: Path):
    (clean_environment / ".env").write_text("AUDIENCE_DRIFT=lots\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^Setting AUDIENCE_DRIFT is malformed \(got 'lots'\)"):
        load()


def test_require_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch):
    settings = load()
    with pytest.raises(SettingsError) as caught:
        settings.require("APPROVERS")
    assert caught.value.name == "APPROVERS"
    assert str(caught.value) == (
        "Setting APPROVERS is missing: expected a user group id (S…) or comma-separated "
        "user ids (U…), e.g. APPROVERS=S0123ABCD"
    )
    monkeypatch.setenv("APPROVERS", "S0123ABCD")
    settings = load()
    settings.require("APPROVERS")  # present: no error
    with pytest.raises(SettingsError, match=r"^Setting SLACK_BOT_TOKEN is missing"):
        settings.require("APPROVERS", "SLACK_BOT_TOKEN", "NEWSLETTER_FROM")


def test_principals_parse_group_or_users():
    assert Principals.parse("S0123ABCD") == Principals(group="S0123ABCD", users=frozenset())
    assert Principals.parse(" U0123ABCD , W0456EFGH,") == Principals(
        group=None, users=frozenset({"U0123ABCD", "W0456EFGH"})
    )
    assert Principals.parse("").empty
    assert not Principals.parse("U0123ABCD").empty
    with pytest.raises(ValueError, match="S0123ABCD"):
        Principals.parse("U0123ABCD,S0123ABCD")  # a group only on its own
    with pytest.raises(ValueError, match="hanako"):
        Principals.parse("hanako")


def test_settings_module_has_help_for_every_setting():
    assert set(Settings.model_fields) <= set(settings_module.HELP)
