"""File uploads for the Slack stand-in, the way `WebClient.files_upload_v2` makes them.

Slack's upload is three steps (https://docs.slack.dev/reference/methods/files.getUploadURLExternal,
https://docs.slack.dev/reference/methods/files.completeUploadExternal):

1. `files.getUploadURLExternal` (scope `files:write`; `filename` and `length` required,
   `alt_txt` at most 1,000 characters, a `length` of 0 is `missing_argument`) answers an
   `upload_url` and a `file_id`;
2. the bytes are POSTed to that URL, raw or multipart form encoded; Slack answers HTTP 200
   (`OK - <length>`) when they arrived;
3. `files.completeUploadExternal` (`files`: a JSON array of `{"id", "title"}`; optional
   `channel_id`, or `channels` of channel or user ids, `initial_comment`, `thread_ts`)
   shares the files; with no channel the file stays private to the uploader.

`FileStore` keeps that state apart from the rest of the stand-in: each upload URL takes
one POST, the bytes must be exactly the announced length (and within the workspace's
upload limit, 1 GB on Slack), and only a file whose bytes arrived can be completed, once.
A completed upload becomes one of the stand-in's `File`s (so `files.info` and the
private download URL serve it), shared as a message carrying a `files` array.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
from dataclasses import dataclass
from email.message import Message as MimeMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

MAX_UPLOAD_BYTES = 1024**3  # Slack: files up to 1 GB
ALT_TXT_LIMIT = 1000  # alt_txt_too_large above this
MULTIPART_FRAMING = 64 * 1024  # boundaries and part headers around an upload's bytes
UPLOAD_PATH = "/upload/v1/"


class UploadError(Exception):
    """An API error of the upload methods: Slack's `error` plus documented extra fields."""

    def __init__(self, error: str, **fields: Any) -> None:
        super().__init__(error)
        self.error = error
        self.fields = fields


@dataclass
class PendingUpload:
    """A file announced by getUploadURLExternal, whose bytes may have arrived."""

    id: str
    filename: str
    length: int
    user: str
    alt_txt: str = ""
    snippet_type: str = ""
    content: bytes | None = None


@dataclass(frozen=True)
class Completed:
    """An upload completeUploadExternal accepted: the stand-in turns it into a `File`."""

    id: str
    filename: str
    title: str
    content: bytes
    user: str

    @property
    def mimetype(self) -> str:
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"

    @property
    def filetype(self) -> str:
        return self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else "binary"


def _required(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if value is None or str(value) == "":
        raise UploadError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] missing required field: {name}"]},
        )
    return str(value)


class FileStore:
    """Uploads not yet completed; the stand-in calls it under its own lock."""

    def __init__(self) -> None:
        self.max_upload_bytes = MAX_UPLOAD_BYTES
        self.pending: dict[str, PendingUpload] = {}
        self._by_token: dict[str, str] = {}

    def announce(
        self, args: dict[str, Any], user: str, base_url: str, file_id: str
    ) -> dict[str, Any]:
        """files.getUploadURLExternal: a one-time upload URL and the new file's id."""
        filename = _required(args, "filename")
        raw_length = _required(args, "length")
        try:
            length = int(raw_length)
        except ValueError as exc:
            raise UploadError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] length must be an integer"]},
            ) from exc
        if length <= 0:
            raise UploadError("missing_argument")
        if length > self.max_upload_bytes:
            raise UploadError("file_upload_size_restricted")
        alt_txt = str(args.get("alt_txt") or "")
        if len(alt_txt) > ALT_TXT_LIMIT:
            raise UploadError("alt_txt_too_large")
        token = secrets.token_urlsafe(24)
        self.pending[file_id] = PendingUpload(
            id=file_id,
            filename=filename,
            length=length,
            user=user,
            alt_txt=alt_txt,
            snippet_type=str(args.get("snippet_type") or ""),
        )
        self._by_token[token] = file_id
        return {"upload_url": f"{base_url.rstrip('/')}{UPLOAD_PATH}{token}", "file_id": file_id}

    def upload_limit(self, token: str) -> int:
        """The most an upload POST to `token` may carry: the announced length and a
        multipart form's framing; an unknown URL gets no more than a form's framing."""
        file_id = self._by_token.get(token)
        stored = self.pending.get(file_id) if file_id else None
        return (stored.length if stored else 0) + MULTIPART_FRAMING

    def receive(self, token: str, body: bytes, content_type: str) -> tuple[int, str]:
        """The upload POST: (HTTP status, body). Each URL takes its bytes once."""
        file_id = self._by_token.pop(token, None)
        if file_id is None:
            return 404, "upload URL unknown or already used"
        stored = self.pending[file_id]
        data = _file_part(body, content_type)
        if data is None:
            return 400, "no file in the multipart form"
        if len(data) != stored.length:
            return 400, f"length mismatch: announced {stored.length}, received {len(data)}"
        stored.content = data
        return 200, f"OK - {len(data)}"

    def complete(self, files: Any) -> list[Completed]:
        """files.completeUploadExternal's `files`: each uploaded, not yet completed.
        Nothing is taken unless every file qualifies."""
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError as exc:
                raise UploadError("invalid_arguments") from exc
        if not isinstance(files, list) or not files:
            raise UploadError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: files"]},
            )
        chosen: list[Completed] = []
        for item in files:
            if not isinstance(item, dict) or not item.get("id"):
                raise UploadError("invalid_arguments")
            stored = self.pending.get(str(item["id"]))
            if stored is None or stored.content is None or stored.id in (c.id for c in chosen):
                raise UploadError("file_not_found")
            title = str(item.get("title") or stored.filename)
            chosen.append(Completed(stored.id, stored.filename, title, stored.content, stored.user))
        for done in chosen:
            del self.pending[done.id]
        return chosen


def _file_part(body: bytes, content_type: str) -> bytes | None:
    """The file's bytes: the body itself, or the file part of a multipart form."""
    if not content_type.lower().startswith("multipart/form-data"):
        return body
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    parsed: MimeMessage = BytesParser(policy=HTTP).parsebytes(header + body)
    for part in parsed.iter_parts() if parsed.is_multipart() else []:  # type: ignore[attr-defined]
        if part.get_filename() is not None or part.get_param(
            "name", header="content-disposition"
        ) in (
            "file",
            "filename",
        ):
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return None
