"""The rehearsal page as an attacker meets it: attributes escaped, only its own
script runs (CSP nonce), no POST without the room's token or from another
origin, no answer to a foreign Host (DNS rebinding), 127.0.0.1 only."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
import requests

from bot.standins.room import RehearsalRoom
from bot.standins.slack import EDITOR


@pytest.fixture
def room() -> Iterator[RehearsalRoom]:
    started = RehearsalRoom()
    started.start()
    yield started
    started.stop()


def test_the_page_allows_only_its_own_script_and_style(room: RehearsalRoom):
    reply = requests.get(room.url, timeout=10)
    assert reply.status_code == 200
    policy = reply.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce, policy
    assert "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    scripts = re.findall(r"<script([^>]*)>", reply.text)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in s for s in scripts)
    assert ' style="' not in reply.text  # style attributes would need 'unsafe-inline'
    # A fresh nonce on every page.
    again = requests.get(room.url, timeout=10).headers["Content-Security-Policy"]
    assert again != policy


def test_every_form_carries_the_token_and_a_post_without_it_is_refused(room: RehearsalRoom):
    page = requests.get(room.url, timeout=10).text
    forms = re.findall(r'<form method="post".*?</form>', page, flags=re.S)
    assert forms and all(f'name="csrf" value="{room.csrf_token}"' in f for f in forms)
    for form in ({}, {"csrf": "guessed"}):
        reply = requests.post(
            f"{room.url}room/command",
            data={"as": EDITOR, "text": "/newsletter help", **form},
            allow_redirects=False,
            timeout=10,
        )
        assert reply.status_code == 403


def test_a_post_from_another_origin_is_refused_even_with_the_token(room: RehearsalRoom):
    reply = requests.post(
        f"{room.url}room/command",
        data={"as": EDITOR, "text": "/newsletter help", "csrf": room.csrf_token},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert reply.status_code == 403


def test_a_foreign_host_gets_no_page(room: RehearsalRoom):
    # A site that rebinds its name to 127.0.0.1 sends its own name as Host.
    for path in ("/", "/room/poll"):
        reply = requests.get(
            f"{room.url.rstrip('/')}{path}", headers={"Host": "evil.example"}, timeout=10
        )
        assert reply.status_code == 403
    assert requests.get(f"http://localhost:{room.port}/", timeout=10).status_code == 200


def test_the_room_listens_on_127_0_0_1_only(room: RehearsalRoom):
    assert room._server is not None
    assert room._server.server_address[0] == "127.0.0.1"
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    for address in addresses - {"127.0.0.1", "::1"}:
        with pytest.raises(OSError):
            socket.create_connection((address, room.port), timeout=1).close()


def test_a_non_utf8_form_is_refused(room: RehearsalRoom):
    reply = requests.post(
        f"{room.url}room/command",
        data=b"as=\xff\xfe&text=%2Fnewsletter",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
        timeout=10,
    )
    assert reply.status_code == 400


@pytest.mark.parametrize(
    "text",
    [
        '<https://x.example/" onmouseover="alert(1)|Approve>',
        "<https://x.example/'onfocus='alert(1)'|x>",
        '*"><script>alert(1)</script>*',
        "`\"'><img src=x onerror=alert(1)>`",
        '```"><svg onload=alert(1)>```',
    ],
)
def test_mrkdwn_cannot_break_out_of_an_attribute_or_a_tag(room: RehearsalRoom, text: str):
    drawn = str(room.mrkdwn(text))
    assert "<script" not in drawn and "<img" not in drawn and "<svg" not in drawn
    for attribute in re.findall(r'<a href="([^"]*)"', drawn):
        assert '"' not in attribute and "'" not in attribute
    assert not re.search(r"""<a [^>]*\son\w+=""", drawn)
