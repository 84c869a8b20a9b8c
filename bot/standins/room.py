"""The rehearsal room: a web page on the Slack stand-in where people play Slack.

Owns `RehearsalRoom`, a `SlackStandIn` whose `handle_other()` serves one
small server-rendered page (Jinja2 templates in `templates/`, a few lines of
vanilla JS that reload it when something changed; no build step):

- pick who you are (the seeded editor, two approvers, an outsider);
- type a slash command; the room posts it through `SlackDriver`, signed, to
  the real bot, exactly as Slack would;
- see #newsletter and the bot's direct messages, with your ephemeral replies
  in place; Block Kit drawn well enough to use (header, section with fields
  and a button accessory, context, divider, actions); buttons click through
  the driver;
- an open modal as a form (its inputs, the bot's validation errors beside
  them); Submit and Cancel go through the driver too;
- the App Home tab (opening it sends `app_home_opened`, the bot publishes);
- the Postmark outbox: each message as its recipient would see it (HTML in a
  sandboxed iframe, and text), with stream, tag and metadata, and the
  recipient's unsubscribe link;
- the practice Postmark's pace (instant, realistic, slow: seconds added to each
  call), so that a send can be halted by hand at the slow pace;
- the Drills tab (`bot.drills`, attached by the rehearsal as `drills`): each
  runbook's case staged, its goal, and the verdict with the time it took; a drill
  whose steps are on other services' pages (the token rotation) shows them as
  buttons, and the room plays Slack's app pages itself (`rotate_bot_token`,
  `regenerate_signing_secret`);
- files the bot uploaded into a person's DM (the recipients CSV), downloadable
  by that person only.

Routes: `GET /` (the page: `as`, `tab`, `msg`, `page`, `q`), `GET /room/poll`
(a change counter), `POST /room/command`, `POST /room/click`,
`POST /room/submit`, `POST /room/close`, `POST /room/pace` (`pace`: a name of
`PACES`), `POST /room/drill` (`drill` to start one, `action` to press a button of
the running drill's pages of other services: Slack's app pages, Postmark's
dashboard), `GET /room/outbox/{id}/html` (a message's HTML, served under
`Content-Security-Policy: sandbox`),
`GET /room/file/{id}?as=U…` (a shared file, for a member of a conversation it was
shared in).

A button the page showed is clicked as Slack's client clicks it: if the message has
changed since (a send finished, a card was redrawn), the click still goes to the bot
with the button as shown, and the bot answers it (an ephemeral, as in Slack); a form
or message that is gone gets a note on the page, never an error page.

The room never holds its lock while the driver talks to the bot: the bot
calls back into this very server while it handles the request.

The page is hardened like any web page that shows other people's data, though
it listens on 127.0.0.1 only: every value is HTML-escaped, attributes included
(Jinja's autoescape; the mrkdwn filter escapes with quote=True); a
Content-Security-Policy allows only the page's own script (by nonce), its own
style, and frames and requests to itself; every POST must carry the room's
CSRF token and, when the browser says where it comes from (Origin), come from
the page itself; and a request whose Host is not 127.0.0.1 or localhost is
refused, so a web page that rebinds its name to 127.0.0.1 cannot read it.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

import emoji
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from bot.standins.postmark import PostmarkStandIn
from bot.standins.postmark_store import StoredMessage
from bot.standins.server import Reply, Request
from bot.standins.slack import (
    APPROVER_1,
    APPROVER_2,
    EDITOR,
    NEWSLETTER_CHANNEL,
    OUTSIDER,
    Message,
    SlackStandIn,
    im_channel_id,
)
from bot.standins.slack_driver import SlackDriver

if TYPE_CHECKING:
    from bot.drills import Drills

ROOM_PORT = 8025
COMMANDS = ("/newsletter", "/unsubscribe")  # the slash commands app.yaml declares
ROLES = {
    EDITOR: "editor",
    APPROVER_1: "approver",
    APPROVER_2: "approver",
    OUTSIDER: "not on the team",
}
MULTI_VALUE = frozenset(
    {"checkboxes", "multi_static_select", "multi_users_select", "multi_conversations_select"}
)
OUTBOX_PAGE = 50
ANSWER_WAIT = 3.0  # seconds to wait for the bot's answer before redrawing the page
# Slack's emoji names are GitHub's (the `emoji` package's aliases), plus a few of its own.
SLACK_ONLY_EMOJI = {
    "octagonal_sign": "🛑",
    "large_green_circle": "🟢",
    "large_blue_circle": "🔵",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "simple_smile": "🙂",
}
# The practice Postmark's pace: seconds added to every API call (a batch of up to 500
# messages). "realistic" is a guess at an ordinary round trip with a full batch; "slow"
# gives a person time to press Halt while a send is under way.
PACES = {"instant": 0.0, "realistic": 0.5, "slow": 5.0}

_TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Entry:
    """One message as the page draws it."""

    message: Message
    ephemeral: bool


class RehearsalRoom(SlackStandIn):
    """The Slack stand-in with the rehearsal page on it; `connect()` it to a bot."""

    def __init__(self, *, postmark: PostmarkStandIn | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.postmark = postmark
        self.driver: SlackDriver | None = None
        self.drills: Drills | None = None  # attached by the rehearsal
        self._notes: dict[str, list[str]] = {}
        # What was typed into each modal, so that a form answered with errors keeps it (as
        # Slack's client does) instead of going back to the initial values.
        self._typed: dict[str, dict[str, Any]] = {}
        self._jinja = Environment(
            loader=FileSystemLoader(str(_TEMPLATES)),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._jinja.filters["mrkdwn"] = self.mrkdwn
        self._jinja.filters["plain"] = _plain_text
        # One token per room: every form carries it, every POST must (CSRF).
        self.csrf_token = secrets.token_urlsafe(24)
        self._jinja.globals["csrf_field"] = Markup(
            '<input type="hidden" name="csrf" value="{}">'
        ).format(self.csrf_token)
        self._jinja.filters["markdown"] = _markdown_block
        self._jinja.filters["preformatted"] = _preformatted

    def connect(
        self, events_url: str, signing_secret: str, postmark: PostmarkStandIn | None
    ) -> None:
        """Point the page at the bot (its /slack/events) and at the Postmark outbox."""
        self.driver = SlackDriver(events_url, signing_secret, self)
        self.event_sink = self.driver.send_event  # the workspace's events reach the bot
        self.postmark = postmark

    # -- Slack's app pages (the token drill) -------------------------------------

    def rotate_bot_token(self) -> str:
        """OAuth & Permissions: the bot token revoked, the app reinstalled: a new xoxb
        token with the same scopes; the old one is refused (invalid_auth) from now on."""
        old = self.bot_token
        grant = self.tokens.get(old)
        new = self.issue_token(grant.scopes if grant else self._default_scopes)
        self.revoke_token(old)
        self.bot_token = new
        return new

    def regenerate_signing_secret(self) -> str:
        """Basic Information → App Credentials → Signing Secret → Regenerate: every
        request from here on is signed with the new secret; a bot that still holds the
        old one refuses them (401) until it is restarted with the new one."""
        driver = self._require_driver()
        secret = secrets.token_hex(16)
        driver.session.close()
        self.connect(driver.events_url, secret, self.postmark)
        return secret

    def token_valid(self, token: str) -> bool:
        return token in self.tokens

    def signing_secret(self) -> str:
        return self._require_driver().signing_secret

    # -- state the page shows ---------------------------------------------------

    def people(self) -> list[dict[str, str]]:
        return [
            {"id": u.id, "name": u.real_name, "role": ROLES.get(u.id, "member")}
            for u in list(self.users.values())
            if not u.is_bot and not u.deleted
        ]

    def timeline(self, user: str, channel: str) -> list[Entry]:
        """The channel as `user` sees it: its messages and their own ephemeral ones."""
        shown = [Entry(m, False) for m in self.channel_messages(channel)]
        shown += [Entry(m, True) for m in self.ephemeral_messages(user, channel)]
        return sorted(shown, key=lambda e: float(e.message.ts))

    def version(self) -> str:
        """Changes whenever anything the page shows changes (for the page's poll)."""
        snap = self.snapshot()
        parts = [
            (m["ts"], m.get("text", ""), len(str(m.get("blocks", "")))) for m in snap["messages"]
        ]
        # Home tabs are left out: opening one republishes it, which must not reload the page.
        views = sorted(
            (v, view.get("hash", ""))
            for v, view in snap["views"].items()
            if view.get("type") != "home"
        )
        outbox = len(self.postmark.messages()) if self.postmark else 0
        errors = sorted((k, tuple(sorted(v.items()))) for k, v in self._view_errors.items())
        raw = repr((parts, views, snap["modals"], outbox, errors))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    # -- mrkdwn -----------------------------------------------------------------

    def mrkdwn(self, text: Any) -> Markup:
        """Slack's mrkdwn, drawn as HTML well enough to read (escaped first)."""
        source = str(text or "")
        code_blocks: list[str] = []

        def keep_code(match: re.Match[str]) -> str:
            code_blocks.append(match.group(1))
            return f"\x00{len(code_blocks) - 1}\x00"

        def keep_inline(match: re.Match[str]) -> str:
            code_blocks.append(match.group(1))
            return f"\x01{len(code_blocks) - 1}\x01"

        # Code is set aside first so that no other markup applies inside it.
        source = re.sub(r"```(.*?)```", keep_code, source, flags=re.S)
        source = re.sub(r"`([^`\n]+)`", keep_inline, source)
        # quote=True: the app's own link targets end up inside href="…".
        out = html.escape(source, quote=True)
        out = re.sub(r"&lt;@([UW][A-Z0-9]+)&gt;", lambda m: "@" + self._name(m.group(1)), out)
        out = re.sub(
            r"&lt;#([CGD][A-Z0-9]+)(?:\|([^&]*))?&gt;",
            lambda m: "#" + (m.group(2) or self._channel_name(m.group(1))),
            out,
        )
        out = re.sub(r"&lt;!(here|channel|everyone)&gt;", r"@\1", out)
        out = re.sub(
            r"&lt;(https?://[^|&]+)\|([^&]+)&gt;",
            r'<a href="\1" target="_blank" rel="noopener">\2</a>',
            out,
        )
        out = re.sub(
            r"&lt;(https?://[^&]+)&gt;", r'<a href="\1" target="_blank" rel="noopener">\1</a>', out
        )
        out = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", out)
        out = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", out)
        out = re.sub(r"(?<![\w~])~([^~\n]+)~(?![\w~])", r"<s>\1</s>", out)
        out = re.sub(r":([a-z0-9_+-]+):", lambda m: _emoji(m.group(1)), out)
        out = re.sub(r"(?m)^&gt; ?(.*)$", r"<blockquote>\1</blockquote>", out)
        out = _slack_entities(out.replace("\n", "<br>"))
        out = re.sub(
            "\x00(\\d+)\x00",
            lambda m: "<pre>" + _code(code_blocks[int(m.group(1))]) + "</pre>",
            out,
        )
        out = re.sub(
            "\x01(\\d+)\x01",
            lambda m: "<code>" + _code(code_blocks[int(m.group(1))]) + "</code>",
            out,
        )
        return Markup(out)  # noqa: S704 - built from escaped text above

    def _name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return (user.display_name or user.real_name or user.name) if user else user_id

    def _channel_name(self, channel_id: str) -> str:
        channel = self.channels.get(channel_id)
        return channel.name if channel else channel_id

    # -- HTTP -------------------------------------------------------------------

    def handle_other(self, request: Request) -> Reply:
        path, method = request.path, request.method
        if path == "/" or path.startswith("/room/"):
            refusal = self._refusal(request)
            if refusal is not None:
                return Reply.html(f"<p>{html.escape(refusal)}</p>", 403)
        try:
            if path == "/" and method == "GET":
                return self._page(request)
            if path == "/room/poll" and method == "GET":
                return Reply.json({"version": self.version()})
            if path.startswith("/room/outbox/") and path.endswith("/html") and method == "GET":
                return self._message_html(path[len("/room/outbox/") : -len("/html")])
            if path.startswith("/room/file/") and method == "GET":
                return self._file(path[len("/room/file/") :], request.arg("as") or "")
            if method == "POST" and path in (
                "/room/pace",
                "/room/drill",
                "/room/command",
                "/room/click",
                "/room/submit",
                "/room/close",
            ):
                try:
                    lists = parse_qs(request.body.decode("utf-8"), strict_parsing=False)
                except UnicodeDecodeError:
                    return Reply.html("<p>The form is not UTF-8.</p>", 400)
                form = {k: v[0] for k, v in lists.items()}
                if not hmac.compare_digest(form.get("csrf", ""), self.csrf_token):
                    return Reply.html("<p>This form is not from the rehearsal page.</p>", 403)
                if path == "/room/drill":
                    return self._post_drill(lists)
                if path == "/room/pace":
                    return self._post_pace(form)
                user = form.get("as") or EDITOR
                if user not in self.users:
                    return Reply.html("<p>Unknown person.</p>", 400)
                before = self.version()
                try:
                    if path == "/room/submit":
                        self._post_submit(user, form, lists)
                    elif path == "/room/click":
                        self._post_click(user, form, lists)
                    else:
                        getattr(self, "_post_" + path.rsplit("/", 1)[1])(user, form)
                except Gone as gone:
                    # What the page showed has gone (a form closed, a message deleted):
                    # Slack's client would no longer show it. Say so on the page.
                    self._note(user, str(gone))
                self._settle(before)
                return _redirect(
                    {"as": user, "tab": form.get("tab") or "channel", "msg": form.get("msg", "")}
                )
        except LookupError as exc:
            return Reply.html(f"<p>{html.escape(str(exc))}</p><p><a href='/'>Back</a></p>", 404)
        return super().handle_other(request)

    def _refusal(self, request: Request) -> str | None:
        """Why a request to the page is refused: a foreign Host (DNS rebinding) or,
        for a POST, a foreign Origin (the CSRF token is checked with the form)."""
        here = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if request.headers.get("host", "") not in here:
            return "The rehearsal room answers only at 127.0.0.1 or localhost."
        origin = request.headers.get("origin")
        if (
            request.method == "POST"
            and origin is not None
            and origin not in {f"http://{h}" for h in here}
        ):
            return "This form was not sent from the rehearsal page."
        return None

    def _settle(self, before: str) -> None:
        """Wait (briefly) for the bot's asynchronous answer, then redraw once it is quiet."""
        try:
            self.wait_for(lambda: self.version() != before, timeout=ANSWER_WAIT, interval=0.05)
        except TimeoutError:
            return
        # Answers often come in twos (an ack, then a reply); the page's poll catches later ones.
        time.sleep(0.15)

    def _note(self, user: str, text: str) -> None:
        self._notes.setdefault(user, []).append(text)

    def _require_driver(self) -> SlackDriver:
        if self.driver is None:
            raise LookupError("The room is not connected to a bot.")
        return self.driver

    def _post_command(self, user: str, form: dict[str, str]) -> None:
        line = (form.get("text") or "").strip()
        command, _, text = line.partition(" ")
        if command not in COMMANDS:
            self._note(
                user,
                f"{command or line!r} is not a command of this app; try {' or '.join(COMMANDS)}.",
            )
            return
        channel = form.get("channel") or NEWSLETTER_CHANNEL
        actor = self._require_driver().as_user(user, channel=channel)
        response = actor.command(command, text.strip())
        if response.status_code != 200:
            self._note(
                user,
                f"{command} failed: the app answered HTTP {response.status_code} "
                "(Slack would say dispatch_failed).",
            )

    def _message_for(self, user: str, channel: str, ts: str) -> Message:
        for message in self.all_messages():
            mine = not message.ephemeral or message.recipient == user
            if message.channel == channel and message.ts == ts and mine:
                return message
        raise Gone("That message is no longer there (it was deleted); nothing was sent.")

    def _post_click(
        self, user: str, form: dict[str, str], lists: dict[str, list[str]] | None = None
    ) -> None:
        actor = self._require_driver().as_user(user)
        action_id = form.get("action_id") or ""
        block_id = form.get("block_id") or None
        if form.get("click"):  # a button inside a modal: "action_id|block_id"
            action_id, _, block = form["click"].partition("|")
            block_id = block or None
        # The button as the page showed it: sent as it was if the message changed since.
        shown: dict[str, Any] = {"type": "button", "text": {"type": "plain_text"}}
        shown["text"]["text"] = form.get("text") or action_id
        if form.get("value") is not None:
            shown["value"] = form["value"]
        if form.get("view_id"):
            view = self._open_view(user, form["view_id"])
            typed = self._typed_values(view, lists or {})
            response = actor.click(
                action_id, view=view, block_id=block_id, typed=typed, shown=shown
            )
        else:
            message = self._message_for(user, form.get("channel", ""), form.get("ts", ""))
            response = actor.click(action_id, message=message, block_id=block_id, shown=shown)
        if response.status_code != 200:
            self._note(user, f"The button failed: the app answered HTTP {response.status_code}.")

    def _post_submit(self, user: str, form: dict[str, str], lists: dict[str, list[str]]) -> None:
        view = self._open_view(user, form.get("view_id", ""))
        values = self._typed_values(view, lists, uploader=user)
        self._typed[view["id"]] = {
            f"v:{b}:{a}": v
            for b, fields in values.items()
            for a, v in fields.items()
            if not isinstance(v, list) or all(isinstance(i, str) for i in v)
        }
        response = self._require_driver().as_user(user).submit_view(view, values)
        if response.status_code != 200:
            self._note(user, f"Submitting failed: the app answered HTTP {response.status_code}.")

    def _typed_values(
        self, view: dict[str, Any], lists: dict[str, list[str]], *, uploader: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """What the form holds for each input of `view`, as the driver takes it.

        The page takes a file_input's file as text in a box (no multipart upload
        here); on submit it becomes a file uploaded by `uploader`, as Slack's
        picker makes one (`pasted.csv`, or `pasted.txt` where CSV is not taken).
        A click inside the modal carries no upload."""
        values: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            element = block.get("element") if block.get("type") == "input" else None
            if not element or not element.get("action_id"):
                continue
            given = lists.get(f"v:{block['block_id']}:{element['action_id']}")
            value: Any
            if element.get("type") in MULTI_VALUE:
                value = list(given or [])
            elif element.get("type") == "file_input":
                text = given[0] if given else ""
                name = "pasted.csv" if "csv" in (element.get("filetypes") or []) else "pasted.txt"
                value = (
                    [self.add_file(uploader, name, text.encode("utf-8"))]
                    if text and uploader
                    else []
                )
            else:
                # An empty field is absent from the form post; Slack sends it as null.
                value = given[0] if given and given[0] != "" else None
            values.setdefault(block["block_id"], {})[element["action_id"]] = value
        return values

    def _open_view(self, user: str, view_id: str) -> dict[str, Any]:
        """`user`'s open modal or Home tab `view_id` (Gone when it was closed)."""
        home = self.home_view(user)
        if home is not None and home["id"] == view_id:
            return home
        for view in self.open_views(user):
            if view["id"] == view_id:
                return view
        raise Gone("That form was closed in the meantime; nothing was sent.")

    def _post_close(self, user: str, form: dict[str, str]) -> None:
        view_id = form.get("view_id", "")
        if self.get_view(view_id) is not None:
            self._require_driver().as_user(user).close_view(view_id)

    def _post_pace(self, form: dict[str, str]) -> Reply:
        pace = form.get("pace", "")
        if pace not in PACES:
            raise LookupError(f"No pace {pace!r}; the room knows {', '.join(PACES)}.")
        if self.postmark is not None:
            self.postmark.latency = PACES[pace]
        user = form.get("as") if form.get("as") in self.users else EDITOR
        return _redirect({"as": str(user), "tab": form.get("tab") or "channel", "msg": ""})

    def pace(self) -> str:
        """The practice Postmark's pace by name (a drill may set another: then in seconds)."""
        latency = self.postmark.latency if self.postmark is not None else 0.0
        named = [name for name, seconds in PACES.items() if seconds == latency]
        return named[0] if named else f"{latency:g} s"

    # -- the page ---------------------------------------------------------------

    def _page(self, request: Request) -> Reply:
        user = request.arg("as") or EDITOR
        if user not in self.users:
            user = EDITOR
        tab = request.arg("tab") or "channel"
        if tab == "home" and self.driver is not None:
            before = (self.home_view(user) or {}).get("hash")
            self.driver.as_user(user).open_app_home()
            try:
                self.wait_for(
                    lambda: (self.home_view(user) or {}).get("hash") not in (None, before),
                    timeout=ANSWER_WAIT,
                )
            except TimeoutError:
                self._note(user, "The app did not publish a Home tab.")
        context: dict[str, Any] = {
            "me": user,
            "me_name": self._name(user),
            "tab": tab,
            "people": self.people(),
            "channel_id": NEWSLETTER_CHANNEL,
            "channel_name": self._channel_name(NEWSLETTER_CHANNEL),
            "in_channel": user in (self.channels.get(NEWSLETTER_CHANNEL) or _NoChannel()).members,
            "dm_id": im_channel_id(user),
            "notes": self._notes.pop(user, []),
            "modal": None,
            "version": self.version(),
            "name_of": self._name,
            "commands": COMMANDS,
            "outbox_count": len(self.postmark.messages()) if self.postmark else 0,
            "pace": self.pace(),
            "paces": PACES,
        }
        stack = self.open_views(user)
        if stack:
            top = stack[-1]
            context["modal"] = top
            context["modal_errors"] = self.view_errors(top["id"])
            context["modal_typed"] = self._typed.get(top["id"], {})
        if tab == "channel":
            context["entries"] = self.timeline(user, NEWSLETTER_CHANNEL)
        elif tab == "dm":
            context["entries"] = self.timeline(user, im_channel_id(user))
        elif tab == "home":
            context["home"] = self.home_view(user)
        elif tab == "outbox":
            context.update(self._outbox(request))
        elif tab == "drills":
            context.update(self._drills_context())
        nonce = secrets.token_urlsafe(16)
        template = self._jinja.get_template("room.html")
        reply = Reply.html(template.render(**context, nonce=nonce))
        reply.headers.update(page_headers(nonce))
        return reply

    def _outbox(self, request: Request) -> dict[str, Any]:
        messages = list(reversed(self.postmark.messages())) if self.postmark else []
        query = (request.arg("q") or "").strip().lower()
        stream = request.arg("stream") or ""
        if stream:
            messages = [m for m in messages if m.MessageStream == stream]
        if query:
            messages = [m for m in messages if query in _searchable(m)]
        try:
            page = max(1, int(request.arg("page") or 1))
        except ValueError:
            page = 1
        start = (page - 1) * OUTBOX_PAGE
        selected: StoredMessage | None = None
        wanted = request.arg("msg")
        if wanted and self.postmark:
            selected = self.postmark.message(wanted)
        elif messages:
            selected = messages[0]
        streams: dict[str, int] = {}
        for m in self.postmark.messages() if self.postmark else []:
            streams[m.MessageStream] = streams.get(m.MessageStream, 0) + 1
        unsubscribe = None
        if (
            selected is not None
            and self.postmark is not None
            and self.postmark.stream_type(selected.MessageStream) == "Broadcasts"
        ):
            unsubscribe = self.postmark.unsubscribe_url(selected.MessageID)
        return {
            "outbox": messages[start : start + OUTBOX_PAGE],
            "outbox_total": len(messages),
            "outbox_page": page,
            "outbox_pages": max(1, -(-len(messages) // OUTBOX_PAGE)),
            "outbox_query": request.arg("q") or "",
            "outbox_all": len(self.postmark.messages()) if self.postmark else 0,
            "outbox_stream": stream,
            "streams": streams,
            "selected": selected,
            "unsubscribe_url": unsubscribe,
            "suppressed": (
                self.postmark.is_suppressed(selected.Recipients[0], selected.MessageStream)
                if selected is not None and self.postmark is not None and selected.Recipients
                else False
            ),
        }

    def _post_drill(self, lists: dict[str, list[str]]) -> Reply:
        form = {k: v[0] for k, v in lists.items()}
        user = form.get("as") if form.get("as") in self.users else EDITOR
        drills = self.drills
        if drills is None:
            raise LookupError("This room has no drills.")
        drill_id = form.get("drill", "")
        if drill_id:
            if drill_id not in {d.id for d in drills.all()}:
                raise LookupError(f"No drill {drill_id!r}.")
            drills.start(drill_id)
        elif form.get("action"):
            drills.act(form["action"])  # another service's page, played by the drill
        return _redirect({"as": str(user), "tab": "drills", "msg": ""})

    def _drills_context(self) -> dict[str, Any]:
        drills = self.drills
        if drills is None:
            return {"drills": [], "drill": None}
        verdict = drills.check()
        running = drills.current
        return {
            "drills": drills.all(),
            "drill": running,
            "drill_def": next(
                (d for d in drills.all() if running and d.id == running.drill_id), None
            ),
            "verdict": verdict,
            "elapsed": int(drills.elapsed(running)) if running else 0,
        }

    def _file(self, file_id: str, user: str) -> Reply:
        """A shared file's bytes, for a member of a conversation it was shared in."""
        with self._lock:
            file = self.files.get(file_id)
            allowed = file is not None and any(
                user in (self.channels.get(c) or _NoChannel()).members for c in file.channels
            )
            if file is None or not allowed:
                raise LookupError("No such file for you.")
            content, mimetype, name = file.content, file.mimetype, file.name
        reply = Reply(status=200, body=content, headers={"Content-Type": mimetype})
        reply.headers["Content-Disposition"] = f'attachment; filename="{_safe_name(name)}"'
        return reply

    def _message_html(self, message_id: str) -> Reply:
        message = self.postmark.message(message_id) if self.postmark else None
        if message is None:
            raise LookupError("There is no such message in the outbox.")
        reply = Reply.html(message.HtmlBody or "<p>(This message has no HTML part.)</p>")
        # The message is shown exactly as sent, but may not run script or reach the page.
        reply.headers["Content-Security-Policy"] = "sandbox allow-popups"
        reply.headers["X-Content-Type-Options"] = "nosniff"
        return reply


def page_headers(nonce: str) -> dict[str, str]:
    """The page's CSP: only its own script (this nonce), style, frames and requests."""
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null`
        # on the page's own form posts, which the Origin check would refuse.
        "Referrer-Policy": "same-origin",
    }


class Gone(LookupError):
    """What the page showed is no longer there: said on the page, not as an error page."""


def _emoji(name: str) -> str:
    """`:name:` as Slack draws it; an unknown name stays as typed, as Slack leaves it."""
    if name in SLACK_ONLY_EMOJI:
        return SLACK_ONLY_EMOJI[name]
    return str(emoji.emojize(f":{name}:", language="alias"))


def _searchable(message: StoredMessage) -> str:
    """What the outbox search looks in: recipients, subject and the text a reader reads
    (the text part; the HTML part only when there is no text part)."""
    body = message.TextBody or message.HtmlBody or ""
    return " ".join((*message.Recipients, message.Subject or "", body)).lower()


class _NoChannel:
    members: tuple[str, ...] = ()


def _slack_entities(escaped: str) -> str:
    """Slack shows `&amp;`, `&lt;` and `&gt;` as the characters they stand for
    (https://api.slack.com/reference/surfaces/formatting#escaping): once
    HTML-escaped they are `&amp;amp;` etc., which become the HTML entities."""
    return re.sub(r"&amp;(amp|lt|gt);", r"&\1;", escaped)


def _code(source: str) -> str:
    return _slack_entities(html.escape(source, quote=True))


def _plain_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return str(value or "")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "file"


def _redirect(params: dict[str, str]) -> Reply:
    location = "/?" + urlencode({k: v for k, v in params.items() if v})
    return Reply(status=303, headers={"Location": location})


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def _markdown_block(text: Any) -> Markup:
    """A `markdown` block as Slack draws it: standard Markdown (no raw HTML)."""
    return Markup(_MARKDOWN.render(str(text or "")))  # noqa: S704 - markdown-it escapes


def _preformatted(block: Any) -> str:
    """The text of a rich_text block's preformatted sections (shown in <pre>)."""
    parts: list[str] = []
    sections = block.get("elements") if isinstance(block, dict) else None
    for section in sections or []:
        for element in section.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "".join(parts)
