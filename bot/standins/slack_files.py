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

`FilesMethods` is the stand-in's files family: `files.info`, the upload methods on top
of `FileStore`, files a member puts into a modal's `file_input` (`add_file`), and the
private download URLs.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import time
from dataclasses import dataclass, field
from email.message import Message as MimeMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from bot.standins.server import Reply, Request
from bot.standins.slack_state import (
    MESSAGE_TEXT_LIMIT,
    Message,
    SlackError,
    SlackWorkspace,
    Token,
)

MAX_UPLOAD_BYTES = 1024**3  # Slack: files up to 1 GB
ALT_TXT_LIMIT = 1000  # alt_txt_too_large above this
MULTIPART_FRAMING = 64 * 1024  # boundaries and part headers around an upload's bytes
UPLOAD_PATH = "/upload/v1/"
FILE_INPUT_LIMIT = 10 * 1024 * 1024
FILES_PREFIX = "/files-pri/"
SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head>"
    "<body><h1>Sign in to your workspace</h1></body></html>"
)


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


# --------------------------------------------------------------------------
# The files.* methods and the private download URLs


@dataclass
class File:
    """A file a member uploaded (through a modal's `file_input`, say)."""

    id: str
    name: str
    content: bytes
    user: str
    filetype: str
    mimetype: str
    created: int = field(default_factory=lambda: int(time.time()))
    deleted: bool = False
    title: str = ""
    channels: list[str] = field(default_factory=list)  # where it was shared


class FilesMethods(SlackWorkspace):
    """files.*, uploads through `FileStore`, and the files' private download URLs."""

    def _reset_state(self) -> None:
        super()._reset_state()
        self.files: dict[str, File] = {}
        self.file_store = FileStore()

    def add_file(
        self,
        user_id: str,
        name: str,
        content: bytes,
        *,
        filetype: str | None = None,
        mimetype: str = "text/csv",
    ) -> dict[str, Any]:
        """A file `user_id` uploads, e.g. into a modal's `file_input`; returns
        the file object as Slack puts it in a view submission's state.

        Slack's `file_input` takes files of at most 10 MB
        (https://docs.slack.dev/reference/block-kit/block-elements/file-input-element/).
        """
        if len(content) > FILE_INPUT_LIMIT:
            raise ValueError(f"Slack's file_input refuses files over {FILE_INPUT_LIMIT} bytes")
        if filetype is None:
            filetype = name.rsplit(".", 1)[-1].lower() if "." in name else "text"
        with self._lock:
            file = File(
                id=f"F{next(self._ids):09d}",
                name=name,
                content=bytes(content),
                user=user_id,
                filetype=filetype,
                mimetype=mimetype,
            )
            self.files[file.id] = file
            return self._file_object(file)

    def delete_file(self, file_id: str) -> None:
        """The uploader deleted the file: files.info answers file_deleted."""
        with self._lock:
            self.files[file_id].deleted = True

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a file, as a member who may see it would download them."""
        with self._lock:
            return self.files[file_id].content

    def _file_object(self, file: File) -> dict[str, Any]:
        """The documented fields of a file object
        (https://docs.slack.dev/reference/objects/file-object)."""
        base = f"{self.url}{FILES_PREFIX}{self.team_id}-{file.id}"
        return {
            "id": file.id,
            "created": file.created,
            "timestamp": file.created,
            "name": file.name,
            "title": file.title or file.name,
            "mimetype": file.mimetype,
            "filetype": file.filetype,
            "pretty_type": file.filetype.upper(),
            "user": file.user,
            "user_team": self.team_id,
            "editable": False,
            "size": len(file.content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "url_private": f"{base}/{file.name}",
            "url_private_download": f"{base}/download/{file.name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{file.user}/{file.id}",
            "channels": [c for c in file.channels if not c.startswith("D")],
            "ims": [c for c in file.channels if c.startswith("D")],
        }

    def _api_files_info(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(args.get("file") or ""))
        if file is None:
            raise SlackError("file_not_found")
        if file.deleted:
            raise SlackError("file_deleted")
        return {"file": self._file_object(file), "comments": [], "response_metadata": {}}

    def _download(self, request: Request, rest: str) -> Reply:
        """`url_private(_download)`: the bytes, for a token with files:read.

        These URLs need `Authorization: Bearer` with a files:read token
        (https://medium.com/slack-developer-blog/important-changes-to-files-in-the-web-api-eb38f2a9c1e7).
        Without one Slack does not answer 401: it answers 200 with its sign-in
        page in HTML, so a client that does not look at the content type
        imports a web page.
        """
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        file_ref = rest.split("/", 1)[0]
        file_id = file_ref.rsplit("-", 1)[-1]
        with self._lock:
            grant = self.tokens.get(token)
            file = self.files.get(file_id)
            self._record("files.download", {"file": file_id}, 200, {"ok": grant is not None})
            if grant is None or "files:read" not in grant.scopes:
                return Reply.html(SIGN_IN_PAGE)
            if file is None or file.deleted or file_ref != f"{self.team_id}-{file_id}":
                return Reply(status=404, body=b"Not Found", headers={"Content-Type": "text/plain"})
            content, mimetype = file.content, file.mimetype
        return Reply(status=200, body=content, headers={"Content-Type": mimetype})

    def _api_files_getUploadURLExternal(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        try:
            file_id = f"F{next(self._ids):09d}"
            return self.file_store.announce(args, grant.user_id, self.url, file_id)
        except UploadError as err:
            raise SlackError(err.error, **err.fields) from err

    def _api_files_completeUploadExternal(
        self, grant: Token, args: dict[str, Any]
    ) -> dict[str, Any]:
        refs = [str(args["channel_id"])] if args.get("channel_id") else []
        refs += [c for c in str(args.get("channels") or "").split(",") if c.strip()]
        thread_ts = args.get("thread_ts") or None
        if thread_ts and len(refs) != 1:
            raise SlackError("invalid_arguments")
        # Every destination is checked before anything is shared.
        channels = [self._require_postable(grant, ref.strip()) for ref in refs]
        comment = str(args.get("initial_comment") or "")
        if len(comment) > MESSAGE_TEXT_LIMIT:
            raise SlackError("msg_too_long")
        try:
            completed = self.file_store.complete(args.get("files"))
        except UploadError as err:
            raise SlackError(err.error, **err.fields) from err
        stored = []
        for done in completed:
            file = File(
                id=done.id,
                name=done.filename,
                content=done.content,
                user=done.user,
                filetype=done.filetype,
                mimetype=done.mimetype,
                title=done.title,
                channels=[c.id for c in channels],
            )
            self.files[file.id] = file
            stored.append(file)
        for channel in channels:
            self._messages.append(
                Message(
                    channel=channel.id,
                    ts=self._next_ts(),
                    text=comment,
                    user=grant.user_id,
                    bot_id=grant.bot_id,
                    thread_ts=str(thread_ts) if thread_ts else None,
                    files=[self._file_object(item) for item in stored],
                )
            )
        return {"files": [{"id": item.id, "title": item.title} for item in stored]}

    def body_limit(self, path: str) -> int:
        if path.startswith(UPLOAD_PATH):
            with self._lock:
                return self.file_store.upload_limit(path[len(UPLOAD_PATH) :])
        return self.max_body_bytes

    def _handle_upload(self, request: Request, token: str) -> Reply:
        with self._lock:
            status, text = self.file_store.receive(
                token, request.body, request.headers.get("content-type", "")
            )
        return Reply(status=status, body=text.encode(), headers={"Content-Type": "text/plain"})
