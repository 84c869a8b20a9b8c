"""Files people upload into a modal's `file_input`: look them up, fetch their bytes.

Slack puts the uploaded file objects in the submission's state; the bytes
are at the file's `url_private_download`, for a bot token with files:read
(https://docs.slack.dev/reference/block-kit/block-elements/file-input-element/:
at most 10 MB a file). The bot's token goes only to Slack itself — the host
of `SLACK_API_URL` or `files.slack.com` — never to a URL a payload names
elsewhere; the size is checked before and while reading; and Slack's sign-in
page (what an unauthorised download gets, with status 200) is refused instead
of being taken for the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.refusal import Refusal

FILE_LIMIT = 10 * 1024 * 1024  # Slack's own limit for a file_input
SLACK_FILE_HOSTS = frozenset({"files.slack.com"})
TIMEOUT = 30.0


@dataclass(frozen=True)
class Upload:
    id: str
    name: str
    content: bytes


def uploaded_files(view: dict[str, Any], block_id: str, action_id: str) -> list[dict[str, Any]]:
    """The file objects a `file_input` holds in a submitted view's state."""
    state = view.get("state", {}).get("values", {})
    value = (state.get(block_id) or {}).get(action_id) or {}
    files = value.get("files") if isinstance(value, dict) else None
    return [f for f in files or [] if isinstance(f, dict) and isinstance(f.get("id"), str)]


def _allowed(url: str, api_url: str) -> bool:
    target, api = urlsplit(url), urlsplit(api_url)
    if target.scheme not in ("https", "http") or not target.hostname:
        return False
    if target.hostname in SLACK_FILE_HOSTS and target.scheme == "https":
        return True
    return (target.scheme, target.hostname, target.port) == (api.scheme, api.hostname, api.port)


def download(client: WebClient, file_id: str, *, api_url: str, limit: int = FILE_LIMIT) -> Upload:
    """The bytes of an uploaded file. Refusal (code `file_*`) when it cannot be had.

    `file_too_large` carries `megabytes` (the limit) and `size` (what was seen, in bytes).
    """
    try:
        info = client.files_info(file=file_id)
    except SlackApiError as exc:
        raise Refusal("file_unavailable", error=str(exc.response.get("error", "?"))) from None
    file = info.get("file") or {}
    name = str(file.get("name") or file_id)
    size = int(file.get("size") or 0)
    if size > limit:
        raise Refusal("file_too_large", megabytes=limit // (1024 * 1024), size=f"{size:,}")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    if not _allowed(url, api_url):
        raise Refusal("file_unavailable", error="not_a_slack_url")
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Bearer {client.token}"},
            timeout=TIMEOUT,
            stream=True,
            allow_redirects=False,  # a redirect would carry the token elsewhere
        )
    except requests.RequestException as exc:
        raise Refusal("file_unavailable", error=type(exc).__name__) from None
    with response:
        if response.status_code != 200:
            raise Refusal("file_unavailable", error=f"HTTP {response.status_code}")
        if response.headers.get("content-type", "").lower().startswith("text/html"):
            raise Refusal("file_unavailable", error="sign_in_page")
        chunks, read = [], 0
        for chunk in response.iter_content(64 * 1024):
            read += len(chunk)
            if read > limit:
                raise Refusal("file_too_large", megabytes=limit // (1024 * 1024), size=f"{read:,}+")
            chunks.append(chunk)
    return Upload(id=file_id, name=name, content=b"".join(chunks))
