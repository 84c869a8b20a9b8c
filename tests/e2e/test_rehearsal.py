"""The rehearsal room end to end, over HTTP as a browser would use the page
(form posts, redirects, polls); and the sample list it starts with."""

from __future__ import annotations

import html
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bot import sample_data
from bot.standins.room import RehearsalRoom
from bot.standins.slack import APPROVER_1, EDITOR, NEWSLETTER_CHANNEL
from bot.subscribers import counts_by_status
from handlers.rehearsal import Rehearsal, start_rehearsal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    running = start_rehearsal(directory=tmp_path, room_port=0, sample_size=300)
    try:
        yield running
    finally:
        running.stop()


def post(rehearsal: Rehearsal, route: str, **form: str) -> requests.Response:
    data = {**form, "csrf": rehearsal.room.csrf_token}
    reply = requests.post(f"{rehearsal.url}room/{route}", data=data, timeout=10)
    assert reply.status_code == 200  # after the 303 back to the page
    return reply


def page(rehearsal: Rehearsal, **params: str) -> str:
    reply = requests.get(rehearsal.url, params=params, timeout=10)
    assert reply.status_code == 200
    return reply.text


def test_it_starts_with_the_team_the_list_and_a_fresh_database(rehearsal: Rehearsal, tmp_path):
    assert rehearsal.database == tmp_path / "rehearsal.db"
    with rehearsal.bot.desk.db.sessions() as session:
        assert counts_by_status(session, "Newsletter") == {"active": 300}
    text = page(rehearsal)
    for name in ("山田花子", "Alice Example", "佐藤太郎"):
        assert name in text
    # Every address the bot and stand-ins use is local.
    for url in (rehearsal.settings.SLACK_API_URL, rehearsal.settings.POSTMARK_API_URL):
        assert url.startswith("http://127.0.0.1:")
    assert requests.get(f"{rehearsal.server.url}/healthz", timeout=5).json() == {"ok": True}


def test_a_second_start_begins_afresh(tmp_path: Path):
    first = start_rehearsal(directory=tmp_path, room_port=0, sample_size=10)
    first.stop()
    second = start_rehearsal(directory=tmp_path, room_port=0, sample_size=20)
    try:
        with second.bot.desk.db.sessions() as session:
            assert counts_by_status(session, "Newsletter") == {"active": 20}
    finally:
        second.stop()


def test_keep_keeps_the_practice_database_between_starts(tmp_path: Path):
    from bot import issues

    first = start_rehearsal(directory=tmp_path, room_port=0, sample_size=10)
    try:
        issues.create(first.bot.desk, actor=EDITOR, subject="Kept", body="Hello")
    finally:
        first.stop()
    kept = start_rehearsal(directory=tmp_path, room_port=0, sample_size=10, keep=True)
    try:
        assert [line.subject for line in issues.list_issues(kept.bot.desk)] == ["Kept"]
        with kept.bot.desk.db.sessions() as session:
            # The sample is imported again and changes nothing.
            assert counts_by_status(session, "Newsletter") == {"active": 10}
    finally:
        kept.stop()
    fresh = start_rehearsal(directory=tmp_path, room_port=0, sample_size=10)
    try:
        assert list(issues.list_issues(fresh.bot.desk)) == []
    finally:
        fresh.stop()


def test_a_slash_command_typed_on_the_page_reaches_the_bot(rehearsal: Rehearsal):
    text = post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter help"}).text
    assert "Only visible to you" in text
    assert "/newsletter new" in html.unescape(text)
    # Another person does not see the editor's ephemeral reply.
    assert "Only visible to you" not in page(rehearsal, **{"as": APPROVER_1})


def test_an_unknown_command_is_explained_not_sent(rehearsal: Rehearsal):
    text = post(rehearsal, "command", **{"as": EDITOR, "text": "/giphy cats"}).text
    assert "is not a command of this app" in html.unescape(text)
    assert rehearsal.room.driver is not None and not rehearsal.room.driver.sent


def test_the_draft_modal_shows_validation_errors_then_saves(rehearsal: Rehearsal):
    text = post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter new"}).text
    view_id = re.search(r'name="view_id" value="(V\w+)"', text)
    assert view_id, "the draft modal is not on the page"
    bad = post(
        rehearsal,
        "submit",
        **{
            "as": EDITOR,
            "view_id": view_id.group(1),
            "v:subject:value": "November",
            "v:body:value": "Hello {{ subscriber.nmae }",
        },
    ).text
    assert 'class="error"' in bad  # the bot's error, under the field, modal still open
    assert 'id="modal"' in bad
    good = post(
        rehearsal,
        "submit",
        **{
            "as": EDITOR,
            "view_id": view_id.group(1),
            "v:subject:value": "November",
            "v:body:value": "Hello {{ subscriber.name }}",
        },
    ).text
    assert 'id="modal"' not in good
    # The answer is where she typed the command, to her alone, in her language (山田花子
    # uses Slack in Japanese), with the next step; it may come just after the form closes.
    channel = rehearsal.room.wait_for(
        lambda: (
            text
            if "第1号をバージョン 1" in (text := html.unescape(page(rehearsal, **{"as": EDITOR})))
            else None
        ),
        timeout=10,
    )
    assert "/newsletter submit 1" in channel
    assert "第1号をバージョン 1" not in html.unescape(page(rehearsal, **{"as": APPROVER_1}))
    assert "第1号" not in html.unescape(page(rehearsal, **{"as": EDITOR, "tab": "dm"}))


def test_buttons_click_through_to_the_bot_and_the_server_refuses_the_editor(
    rehearsal: Rehearsal,
):
    desk = rehearsal.bot.desk
    from bot import issues

    issues.create(desk, actor=EDITOR, subject="November", body="Hello {{ subscriber.name }}")
    text = post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter submit 1"}).text
    card = re.search(
        r'name="action_id" value="approve">\s*<input type="hidden" name="block_id" value="([^"]*)">'
        r'\s*<input type="hidden" name="channel" value="(\w+)"><input type="hidden" name="ts" '
        r'value="([\d.]+)">',
        text,
    )
    assert card, "no Approve button on the page"
    block_id, channel, ts = card.groups()
    form = {"action_id": "approve", "block_id": block_id, "channel": channel, "ts": ts}
    refused = post(rehearsal, "click", **{"as": EDITOR, **form}).text
    assert "承認・却下ができるのは承認者のみです。" in html.unescape(refused)  # her language
    post(rehearsal, "click", **{"as": APPROVER_1, **form})
    # The bot acks first and redraws the card after, as it would for Slack: the page
    # shows it once that is done (a browser's page polls for it).
    rehearsal.room.wait_for(
        lambda: "Approved by @Alice" in html.unescape(page(rehearsal, **{"as": APPROVER_1})),
        timeout=30,
    )


def test_the_home_tab_is_drawn_from_the_bot(rehearsal: Rehearsal):
    text = html.unescape(page(rehearsal, **{"as": APPROVER_1, "tab": "home"}))
    assert "The next issue is due" in text
    assert "Newsletter: 300 active" in text


def test_the_outbox_shows_a_message_as_its_recipient_sees_it(rehearsal: Rehearsal):
    from bot import issues

    issues.create(
        rehearsal.bot.desk, actor=EDITOR, subject="Test me", body="Hello {{ subscriber.name }}"
    )
    post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter test 1"})
    rehearsal.room.wait_for(lambda: rehearsal.postmark.messages())
    sent = rehearsal.postmark.messages()[0]
    text = html.unescape(page(rehearsal, **{"as": EDITOR, "tab": "outbox"}))
    assert "hanako@example.com" in text
    assert f'<td id="detail-stream">{sent.MessageStream}</td>' in text
    assert "Postmark outbox (1)" in text
    body = requests.get(f"{rehearsal.url}room/outbox/{sent.MessageID}/html", timeout=5)
    assert body.status_code == 200
    assert body.headers["Content-Security-Policy"].startswith("sandbox")
    assert body.text == sent.HtmlBody
    assert 'sandbox="allow-popups"' in text  # the iframe cannot run script either


def test_the_poll_changes_when_something_happens(rehearsal: Rehearsal):
    before = requests.get(f"{rehearsal.url}room/poll", timeout=5).json()["version"]
    assert requests.get(f"{rehearsal.url}room/poll", timeout=5).json()["version"] == before
    post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter help"})
    assert requests.get(f"{rehearsal.url}room/poll", timeout=5).json()["version"] != before


_ALLOWED_TAG = re.compile(
    r"</?(?:b|i|s|code|pre|br|blockquote)>|<a href=\"https?://[^\"<>]*\" target=\"_blank\" "
    r"rel=\"noopener\">|</a>"
)


@given(st.text(max_size=200))
def test_mrkdwn_never_lets_markup_through(text: str):
    out = str(RehearsalRoom().mrkdwn(text))
    assert "<" not in _ALLOWED_TAG.sub("", out)


# --- the sample list ----------------------------------------------------------------------


def test_the_sample_is_deterministic_and_made_up():
    first = list(sample_data.sample_subscribers())
    assert first == list(sample_data.sample_subscribers())
    assert len(first) == sample_data.SAMPLE_SIZE == 3000
    assert len({p.email for p in first}) == 3000
    assert all(p.email.endswith(("@example.com", "@example.jp")) for p in first)
    japanese = sum(1 for p in first if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", p.name))
    english = sum(1 for p in first if re.fullmatch(r"[A-Za-z]+ [A-Za-z]+", p.name))
    assert japanese > 1000 and english > 1000
    assert any(p.company == "" for p in first) and any(p.name == "" for p in first)


def test_the_sample_csv_reads_back():
    out = io.StringIO()
    assert sample_data.write_csv(out, count=5) == 5
    lines = out.getvalue().splitlines()
    assert lines[0] == "email,name,company" and len(lines) == 6


# --- the commands ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["rehearse", "--port", "0"], ["run"]])
def test_the_command_prints_the_address_and_stops_cleanly(tmp_path: Path, argv: list[str]):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "POSTMARK_"))}
    env["SLACK_BOT_TOKEN"] = ""  # `run` without tokens is the rehearsal too (make run)
    env["REHEARSAL_PORT"] = "0"  # any free port, for `run`; `rehearse` gets --port 0
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *argv],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Stop with Ctrl-C" in line:
                break
        output = "".join(lines)
        url = re.search(r"rehearsal room is open: (http://127\.0\.0\.1:\d+/)", output)
        assert url, output + (process.stderr.read() if process.stderr else "")
        assert "rehearsal room" in requests.get(url.group(1), timeout=5).text
        assert (tmp_path / "rehearsal.db").exists()
        assert not (tmp_path / "countersign.db").exists()  # nothing unused left behind
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=20)
        assert process.returncode == 0
        assert "The rehearsal room is closed." in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- practice: the pace of the practice Postmark, a halt by hand, a stale button ---------


def _button(page_text: str, action_id: str) -> dict[str, str] | None:
    """The fields of the first `action_id` button's form on the page, as a browser posts them."""
    for form in re.findall(r'<form method="post" action="/room/click".*?</form>', page_text, re.S):
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
        if fields.get("action_id") == action_id:
            fields.pop("csrf", None)
            return {k: html.unescape(v) for k, v in fields.items()}
    return None


def test_the_pace_control_sets_the_practice_postmarks_latency(rehearsal: Rehearsal):
    assert 'data-pace="instant"' in page(rehearsal)
    text = post(rehearsal, "pace", **{"as": EDITOR, "pace": "slow", "tab": "outbox"}).text
    assert rehearsal.postmark.latency == 5.0
    assert '<form method="post" action="/room/pace" class="pace" id="pace" data-pace="slow"' in text
    assert "Postmark outbox" in text and 'class="on"' in text
    post(rehearsal, "pace", **{"as": EDITOR, "pace": "realistic"})
    assert rehearsal.postmark.latency == 0.5
    # A drill may set its own latency: the page says so instead of naming a pace.
    rehearsal.postmark.latency = 2.0
    assert "now 2 s a call (a drill set it)" in page(rehearsal)
    refused = requests.post(
        f"{rehearsal.url}room/pace",
        data={"as": EDITOR, "pace": "warp", "csrf": rehearsal.room.csrf_token},
        timeout=10,
    )
    assert refused.status_code == 404 and "No pace" in refused.text
    assert rehearsal.postmark.latency == 2.0


def test_a_halt_by_hand_at_the_slow_pace_and_the_stale_halt_button(rehearsal: Rehearsal):
    from bot import issues

    desk = rehearsal.bot.desk
    issues.create(desk, actor=EDITOR, subject="Practice", body="Hello {{ subscriber.name }}")
    post(rehearsal, "pace", **{"as": EDITOR, "pace": "slow"})
    post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter submit 1"})
    approve = _button(page(rehearsal, **{"as": APPROVER_1}), "approve")
    assert approve is not None
    post(rehearsal, "click", **{**approve, "as": APPROVER_1})
    # The send is under way and slow: the progress message offers Halt.
    halt = rehearsal.room.wait_for(
        lambda: _button(page(rehearsal, **{"as": EDITOR}), "halt"), timeout=30
    )
    post(rehearsal, "click", **{**halt, "as": EDITOR})
    rehearsal.room.wait_for(
        lambda: "is halted" in html.unescape(page(rehearsal, **{"as": EDITOR})), timeout=30
    )
    after = html.unescape(page(rehearsal, **{"as": EDITOR}))
    assert _button(after, "halt") is None  # the progress message no longer offers it
    sent = len(rehearsal.postmark.messages("broadcast"))
    assert sent < 300, sent

    # The same Halt, pressed on a page drawn before the redraw: Slack sends the click,
    # and the bot answers it in an ephemeral. No error page.
    stale = requests.post(
        f"{rehearsal.url}room/click",
        data={**halt, "as": APPROVER_1, "csrf": rehearsal.room.csrf_token},
        timeout=30,
    )
    assert stale.status_code == 200
    # Alice uses Slack in English: the kill switch's answer when nothing is going out.
    rehearsal.room.wait_for(
        lambda: "there was nothing to halt" in html.unescape(page(rehearsal, **{"as": APPROVER_1})),
        timeout=10,
    )
    assert "no element with action_id" not in stale.text


def test_a_form_closed_in_the_meantime_is_said_on_the_page(rehearsal: Rehearsal):
    text = post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter new"}).text
    view_id = re.search(r'name="view_id" value="(V\w+)"', text)
    assert view_id
    post(rehearsal, "close", **{"as": EDITOR, "view_id": view_id.group(1)})
    again = post(
        rehearsal,
        "submit",
        **{"as": EDITOR, "view_id": view_id.group(1), "v:subject:value": "x", "v:body:value": "y"},
    ).text
    assert "That form was closed in the meantime; nothing was sent." in html.unescape(again)
    clicked = post(
        rehearsal, "click", **{"as": EDITOR, "view_id": view_id.group(1), "action_id": "x"}
    ).text
    assert "That form was closed in the meantime" in html.unescape(clicked)


def test_emoji_codes_are_drawn_as_slack_draws_them():
    room = RehearsalRoom()
    # Every :code: the bot's sentences use is drawn, not shown as typed.
    sources = [
        *ROOT.joinpath("handlers").glob("*.py"),
        *ROOT.joinpath("bot").glob("*.py"),
        ROOT / "handlers" / "locale" / "messages.pot",  # every sentence the bot says
    ]
    codes = set()
    for source in sources:
        codes |= set(re.findall(r"(?<![\w:]):([a-z][a-z0-9_+-]*):(?![\w:])", source.read_text()))
    codes -= {"memory"}  # SQLite's ":memory:", not an emoji
    assert "heavy_minus_sign" in codes
    for code in sorted(codes):
        assert f":{code}:" not in str(room.mrkdwn(f"a :{code}: b")), code
    assert str(room.mrkdwn(":heavy_minus_sign: cancelled")) == "➖ cancelled"
    assert str(room.mrkdwn(":octagonal_sign:")) == "🛑"
    assert str(room.mrkdwn(":no_such_emoji_here:")) == ":no_such_emoji_here:"  # as Slack
    assert str(room.mrkdwn("`:warning:`")) == "<code>:warning:</code>"  # code stays code


def test_the_outbox_search_reads_the_body_and_says_when_nothing_matches(rehearsal: Rehearsal):
    from bot import issues

    issues.create(
        rehearsal.bot.desk, actor=EDITOR, subject="Plain", body="The word is zebra-42 today."
    )
    empty = html.unescape(page(rehearsal, **{"as": EDITOR, "tab": "outbox", "q": "zebra"}))
    assert "Nothing has been sent through Postmark yet." in empty
    post(rehearsal, "command", **{"as": EDITOR, "text": "/newsletter test 1"})
    rehearsal.room.wait_for(lambda: rehearsal.postmark.messages())
    found = html.unescape(page(rehearsal, **{"as": EDITOR, "tab": "outbox", "q": "ZEBRA-42"}))
    assert "1 messages; page 1 of 1" in found and "[TEST] Plain" in found
    none = html.unescape(page(rehearsal, **{"as": EDITOR, "tab": "outbox", "q": "giraffe"}))
    assert "No message matches “giraffe”; the outbox holds 1 messages." in none
    assert "Nothing has been sent" not in none
    stream = html.unescape(
        page(rehearsal, **{"as": EDITOR, "tab": "outbox", "stream": "broadcast"})
    )
    assert "No message matches the stream broadcast" in stream


def test_an_import_pasted_into_the_page_waits_for_a_second_person(rehearsal: Rehearsal):
    text = post(
        rehearsal, "command", **{"as": EDITOR, "text": "/newsletter subscribers import"}
    ).text
    view = re.search(r'name="view_id" value="([^"]+)"', text)
    assert view and 'name="v:import_file:value"' in text
    csv_text = "Email Address,First Name,Last Name\nnew.reader@example.com,花子,山田\n"
    post(
        rehearsal,
        "submit",
        **{"as": EDITOR, "view_id": view.group(1), "v:import_file:value": csv_text},
    )
    desk = rehearsal.bot.desk
    room = rehearsal.room
    [card] = room.wait_for(
        lambda: [m for m in room.channel_messages(NEWSLETTER_CHANNEL) if "import" in m.text]
    )
    assert "it would add 1" in card.text
    channel = html.unescape(page(rehearsal, **{"as": APPROVER_1, "tab": "channel"}))
    assert "new.reader" not in channel  # counts only in the channel
    with desk.db.sessions() as session:
        assert counts_by_status(session, "Newsletter") == {"active": 300}
