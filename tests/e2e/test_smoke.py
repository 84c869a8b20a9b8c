from __future__ import annotations

import requests

from bot.standins.slack import EDITOR
from tests.fixtures.bot import Harness


def test_health(harness: Harness):
    reply = requests.get(f"{harness.url}/healthz", timeout=5)
    assert reply.status_code == 200
    assert reply.json() == {"ok": True}


def test_help(harness: Harness):
    response = harness.editor.command("/newsletter", "help")
    assert response.status_code == 200
    texts = harness.wait_for_ephemeral(EDITOR)
    assert any("/newsletter new" in text for text in texts)
