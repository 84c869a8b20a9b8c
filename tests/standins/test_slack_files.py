"""The Slack stand-in takes file uploads the way slack_sdk's files_upload_v2 makes them.

Three steps over real HTTP: files.getUploadURLExternal, the POST of the bytes to the
upload URL, files.completeUploadExternal. The limits and errors are Slack's
(https://docs.slack.dev/reference/methods/files.getUploadURLExternal,
https://docs.slack.dev/reference/methods/files.completeUploadExternal).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.standins.slack import EDITOR, NEWSLETTER_CHANNEL, OUTSIDER, SlackStandIn

CSV = "address,outcome\n山田@example.com,delivered\n".encode()


def client(slack: SlackStandIn, token: str | None = None) -> WebClient:
    return WebClient(token=token or slack.bot_token, base_url=slack.url)


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call()
    assert info.value.response.status_code == 200
    return dict(info.value.response.data)


def announce(
    slack: SlackStandIn, filename: str = "r.csv", length: int = len(CSV)
) -> dict[str, Any]:
    answer = client(slack).files_getUploadURLExternal(filename=filename, length=length)
    assert answer["ok"] and answer["file_id"].startswith("F")
    return dict(answer.data)  # type: ignore[arg-type]


def test_files_upload_v2_to_a_user_lands_in_their_dm_only(slack: SlackStandIn) -> None:
    answer = client(slack).files_upload_v2(
        channels=[EDITOR], content=CSV, filename="recipients-7.csv", title="Recipients of #7",
        initial_comment="Who received #7",
    )  # fmt: skip
    file_id = answer["file"]["id"]
    assert answer["file"]["title"] == "Recipients of #7"
    [message] = slack.dm_messages(EDITOR)
    assert message.text == "Who received #7"
    [shared] = message.files
    assert (shared["id"], shared["name"], shared["size"]) == (file_id, "recipients-7.csv", len(CSV))
    assert shared["mimetype"] == "text/csv"
    assert slack.file_content(file_id) == CSV
    # the completed upload is a file like any other: files.info and its private URL
    info = client(slack, slack.issue_token(["files:read"])).files_info(file=file_id)["file"]
    assert info["ims"] == ["D0EDITOR1"] and info["title"] == "Recipients of #7"
    download = requests.get(
        info["url_private_download"],
        headers={"Authorization": f"Bearer {slack.bot_token}"},
        timeout=5,
    )
    assert download.content == CSV
    assert slack.channel_messages(NEWSLETTER_CHANNEL) == []
    assert slack.dm_messages(OUTSIDER) == []
    methods = [c.method for c in slack.calls()]
    assert methods[:2] == ["files.getUploadURLExternal", "files.completeUploadExternal"]


def test_upload_to_a_channel_id_and_a_private_upload(slack: SlackStandIn) -> None:
    web = client(slack)
    web.files_upload_v2(channel=NEWSLETTER_CHANNEL, content=b"chart", filename="c.png")
    [message] = slack.channel_messages(NEWSLETTER_CHANNEL)
    assert message.files[0]["channels"] == [NEWSLETTER_CHANNEL]
    assert message.to_payload()["files"][0]["mimetype"] == "image/png"
    private = web.files_upload_v2(content=b"only mine", filename="p.txt")
    assert len(slack.all_messages()) == 1  # no channel: shared nowhere
    assert slack.file_content(private["file"]["id"]) == b"only mine"


def test_the_upload_needs_files_write(slack: SlackStandIn) -> None:
    narrow = client(slack, slack.issue_token(["chat:write"]))
    body = error_of(lambda: narrow.files_getUploadURLExternal(filename="a.csv", length=3))
    assert (body["error"], body["needed"]) == ("missing_scope", "files:write")


def test_announce_limits(slack: SlackStandIn) -> None:
    web = client(slack)
    assert error_of(lambda: web.files_getUploadURLExternal(filename="a", length=0))["error"] == (
        "missing_argument"
    )
    missing = error_of(lambda: web.api_call("files.getUploadURLExternal", params={"length": 3}))
    assert missing["error"] == "invalid_arguments"
    assert "filename" in missing["response_metadata"]["messages"][0]
    long_alt = error_of(
        lambda: web.files_getUploadURLExternal(filename="a.png", length=3, alt_txt="x" * 1001)
    )
    assert long_alt["error"] == "alt_txt_too_large"
    assert web.files_getUploadURLExternal(filename="a.png", length=3, alt_txt="x" * 1000)["ok"]
    slack.file_store.max_upload_bytes = 10
    with pytest.raises(SlackApiError) as info:
        web.files_upload_v2(channels=[EDITOR], content=b"x" * 11, filename="big.csv")
    assert info.value.response["error"] == "file_upload_size_restricted"
    assert slack.dm_messages(EDITOR) == []


def test_the_upload_url_takes_exactly_the_announced_bytes_once(slack: SlackStandIn) -> None:
    ticket = announce(slack)
    short = requests.post(ticket["upload_url"], data=CSV[:-1], timeout=5)
    assert short.status_code == 400
    ticket = announce(slack)
    ok = requests.post(ticket["upload_url"], data=CSV, timeout=5)
    assert (ok.status_code, ok.text) == (200, f"OK - {len(CSV)}")
    again = requests.post(ticket["upload_url"], data=CSV, timeout=5)
    assert again.status_code == 404


def test_a_multipart_upload_is_read_like_raw_bytes(slack: SlackStandIn) -> None:
    ticket = announce(slack)
    answer = requests.post(
        ticket["upload_url"], files={"filename": ("r.csv", CSV, "text/csv")}, timeout=5
    )
    assert answer.status_code == 200
    web = client(slack)
    web.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id=EDITOR)
    assert slack.file_content(ticket["file_id"]) == CSV


def test_complete_refuses_unknown_unuploaded_and_completed_files(slack: SlackStandIn) -> None:
    web = client(slack)
    assert (
        error_of(lambda: web.files_completeUploadExternal(files=[{"id": "F0NOPE"}]))["error"]
        == "file_not_found"
    )
    pending = announce(slack)
    assert (
        error_of(lambda: web.files_completeUploadExternal(files=[{"id": pending["file_id"]}]))[
            "error"
        ]
        == "file_not_found"
    )
    requests.post(pending["upload_url"], data=CSV, timeout=5)
    # a wrong destination shares nothing and leaves the file to complete later
    bad = error_of(
        lambda: web.files_completeUploadExternal(
            files=[{"id": pending["file_id"]}], channel_id="C0MISSING"
        )
    )
    assert bad["error"] == "channel_not_found"
    done = web.files_completeUploadExternal(files=[{"id": pending["file_id"]}], channels=[EDITOR])
    assert done["files"] == [{"id": pending["file_id"], "title": "r.csv"}]
    assert (
        error_of(lambda: web.files_completeUploadExternal(files=[{"id": pending["file_id"]}]))[
            "error"
        ]
        == "file_not_found"
    )
    empty = error_of(lambda: web.api_call("files.completeUploadExternal", params={"files": "[]"}))
    assert empty["error"] == "invalid_arguments"
    assert len(slack.dm_messages(EDITOR)) == 1
