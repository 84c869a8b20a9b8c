"""Block Kit checks the Slack stand-in applies, as Slack's servers do.

Slack refuses a message or view whose blocks break Block Kit's rules
(`invalid_blocks` for messages, `invalid_arguments` for views) and names each
fault with a JSON pointer. This module checks the rules that most often bite
(counts, lengths, required fields, unique ids, known types) so that a bot
tested against the stand-in does not meet them first in production. It is a
subset of Slack's validation: what it rejects, Slack rejects too.

The limits, from Slack's reference (docs.slack.dev):
- 50 blocks in a message, 100 in a modal or Home tab
  (https://docs.slack.dev/reference/block-kit/blocks);
- a section's text at most 3,000 characters
  (https://docs.slack.dev/reference/block-kit/blocks/section-block);
- a `markdown` block: "The cumulative limit for all markdown blocks in a single
  payload is 12,000 characters"
  (https://docs.slack.dev/reference/block-kit/blocks/markdown-block);
- `plain_text_input`: `max_length` "between 1 and 3000, inclusive", `min_length`
  between 0 and 3000, a placeholder of at most 150 characters
  (https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element);
- `file_input`: `max_files` from 1 to 10, `filetypes` a list of extensions
  (https://docs.slack.dev/reference/block-kit/block-elements/file-input-element);
- a confirmation dialog: `title` plain text of at most 100 characters, `text` of
  at most 300, `confirm` and `deny` plain text of at most 30 each, `style`
  primary or danger
  (https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object).
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
MARKDOWN_LIMIT = 12_000  # all markdown blocks of one payload together
TEXT_INPUT_LIMIT = 3_000  # a plain_text_input's max_length at most

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "checkboxes",
        "radio_buttons",
        "static_select",
        "multi_static_select",
        "external_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "file_input",
    }
)
INTERACTIVE_ELEMENTS = INPUT_ELEMENTS | {"button", "overflow", "workflow_button"}
OPTION_ELEMENTS = frozenset(
    {"checkboxes", "radio_buttons", "static_select", "multi_static_select", "overflow"}
)


def _ptr(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _text_object(
    obj: Any,
    pointer: str,
    errors: list[str],
    *,
    max_len: int,
    plain_only: bool = False,
) -> None:
    if not isinstance(obj, dict):
        errors.append(_ptr("must be an object", pointer))
        return
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        errors.append(_ptr(f"must be one of {', '.join(allowed)}", f"{pointer}/type"))
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(_ptr("must be more than 0 characters", f"{pointer}/text"))
    elif len(text) > max_len:
        errors.append(_ptr(f"must be less than {max_len + 1} characters", f"{pointer}/text"))


def _options(options: Any, pointer: str, errors: list[str]) -> None:
    if not isinstance(options, list) or not options:
        errors.append(_ptr("must provide at least 1 item", pointer))
        return
    if len(options) > 100:
        errors.append(_ptr("no more than 100 items allowed", pointer))
    for i, option in enumerate(options):
        where = f"{pointer}/{i}"
        if not isinstance(option, dict):
            errors.append(_ptr("must be an object", where))
            continue
        _text_object(option.get("text"), f"{where}/text", errors, max_len=75)
        value = option.get("value")
        if not isinstance(value, str) or not value:
            errors.append(_ptr("must be more than 0 characters", f"{where}/value"))
        elif len(value) > 150:
            errors.append(_ptr("must be less than 151 characters", f"{where}/value"))


def _int_field(
    element: dict[str, Any], name: str, low: int, high: int, pointer: str, errors: list[str]
) -> int | None:
    value = element.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        errors.append(_ptr(f"must be an integer between {low} and {high}", f"{pointer}/{name}"))
        return None
    return value


def _confirm(obj: Any, pointer: str, errors: list[str]) -> None:
    """A confirmation dialog object: every field required, each within its limit."""
    if not isinstance(obj, dict):
        errors.append(_ptr("must be an object", pointer))
        return
    _text_object(obj.get("title"), f"{pointer}/title", errors, max_len=100, plain_only=True)
    _text_object(obj.get("text"), f"{pointer}/text", errors, max_len=300)
    _text_object(obj.get("confirm"), f"{pointer}/confirm", errors, max_len=30, plain_only=True)
    _text_object(obj.get("deny"), f"{pointer}/deny", errors, max_len=30, plain_only=True)
    style = obj.get("style")
    if style is not None and style not in ("primary", "danger"):
        errors.append(_ptr("must be one of primary, danger", f"{pointer}/style"))


def _text_input(element: dict[str, Any], pointer: str, errors: list[str]) -> None:
    high = _int_field(element, "max_length", 1, TEXT_INPUT_LIMIT, pointer, errors)
    low = _int_field(element, "min_length", 0, TEXT_INPUT_LIMIT, pointer, errors)
    if high is not None and low is not None and low > high:
        errors.append(_ptr("min_length must not exceed max_length", f"{pointer}/min_length"))
    if "placeholder" in element:
        _text_object(
            element["placeholder"], f"{pointer}/placeholder", errors, max_len=150, plain_only=True
        )
    initial = element.get("initial_value")
    if initial is not None and not isinstance(initial, str):
        errors.append(_ptr("must be a string", f"{pointer}/initial_value"))


def _file_input(element: dict[str, Any], pointer: str, errors: list[str]) -> None:
    _int_field(element, "max_files", 1, 10, pointer, errors)
    filetypes = element.get("filetypes")
    if filetypes is not None and (
        not isinstance(filetypes, list) or not all(isinstance(f, str) and f for f in filetypes)
    ):
        errors.append(_ptr("must be an array of file extensions", f"{pointer}/filetypes"))


def _element(element: Any, pointer: str, errors: list[str], allowed: frozenset[str]) -> None:
    if not isinstance(element, dict):
        errors.append(_ptr("must be an object", pointer))
        return
    kind = element.get("type")
    if kind == "image":
        if not element.get("image_url") and not element.get("slack_file"):
            errors.append(_ptr("must provide image_url", pointer))
        return
    if kind not in allowed:
        errors.append(_ptr(f"unsupported element type: {kind!r}", f"{pointer}/type"))
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
        errors.append(_ptr("must be a string of at most 255 characters", f"{pointer}/action_id"))
    if kind == "button":
        _text_object(element.get("text"), f"{pointer}/text", errors, max_len=75, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            errors.append(_ptr("must be less than 2001 characters", f"{pointer}/value"))
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.append(_ptr("must be one of primary, danger", f"{pointer}/style"))
    elif kind == "plain_text_input":
        _text_input(element, pointer, errors)
    elif kind == "file_input":
        _file_input(element, pointer, errors)
    elif kind in OPTION_ELEMENTS and "option_groups" not in element:
        _options(element.get("options"), f"{pointer}/options", errors)
    if "confirm" in element:
        _confirm(element["confirm"], f"{pointer}/confirm", errors)


def validate_blocks(blocks: Any, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Return Slack-style error strings for `blocks`; empty when they pass."""
    errors: list[str] = []
    if not isinstance(blocks, list):
        return [_ptr("must provide an array", pointer)]
    if len(blocks) > limit:
        errors.append(_ptr(f"no more than {limit} items allowed", pointer))
    seen_block_ids: set[str] = set()
    markdown_chars = 0
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict):
            errors.append(_ptr("must be an object", where))
            continue
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            errors.append(_ptr(f"unsupported type: {kind!r}", f"{where}/type"))
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                errors.append(_ptr("must be 1-255 characters", f"{where}/block_id"))
            elif block_id in seen_block_ids:
                errors.append(_ptr(f"duplicate block_id: {block_id}", f"{where}/block_id"))
            else:
                seen_block_ids.add(block_id)
        _block(kind, block, where, errors)
        if kind == "markdown" and isinstance(block.get("text"), str):
            markdown_chars += len(block["text"])
            if markdown_chars > MARKDOWN_LIMIT:
                errors.append(
                    _ptr(
                        f"the markdown blocks of a payload hold at most {MARKDOWN_LIMIT} "
                        "characters together",
                        f"{where}/text",
                    )
                )
    return errors


def _block(kind: str, block: dict[str, Any], where: str, errors: list[str]) -> None:
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            errors.append(_ptr("must provide either text or fields", where))
        if text is not None:
            _text_object(text, f"{where}/text", errors, max_len=3000)
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(_ptr("must provide 1-10 items", f"{where}/fields"))
            else:
                for j, field in enumerate(fields):
                    _text_object(field, f"{where}/fields/{j}", errors, max_len=2000)
        if "accessory" in block:
            _element(block["accessory"], f"{where}/accessory", errors, INTERACTIVE_ELEMENTS)
    elif kind == "header":
        _text_object(block.get("text"), f"{where}/text", errors, max_len=150, plain_only=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            errors.append(_ptr("must provide 1-25 items", f"{where}/elements"))
            return
        action_ids: set[str] = set()
        for j, element in enumerate(elements):
            _element(element, f"{where}/elements/{j}", errors, INTERACTIVE_ELEMENTS)
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if isinstance(action_id, str):
                if action_id in action_ids:
                    errors.append(
                        _ptr(
                            f"duplicate action_id: {action_id}",
                            f"{where}/elements/{j}/action_id",
                        )
                    )
                action_ids.add(action_id)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            errors.append(_ptr("must provide 1-10 items", f"{where}/elements"))
            return
        for j, element in enumerate(elements):
            sub = f"{where}/elements/{j}"
            if isinstance(element, dict) and element.get("type") == "image":
                _element(element, sub, errors, frozenset())
            else:
                _text_object(element, sub, errors, max_len=3000)
    elif kind == "input":
        _text_object(block.get("label"), f"{where}/label", errors, max_len=2000, plain_only=True)
        if "element" not in block:
            errors.append(_ptr("must provide element", f"{where}/element"))
        else:
            _element(block["element"], f"{where}/element", errors, INPUT_ELEMENTS)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            errors.append(_ptr("must be more than 0 characters", f"{where}/text"))
    elif kind == "image":
        if not block.get("image_url") and not block.get("slack_file"):
            errors.append(_ptr("must provide image_url", where))
        alt = block.get("alt_text")
        if not isinstance(alt, str) or not alt:
            errors.append(_ptr("must be more than 0 characters", f"{where}/alt_text"))


def validate_view(view: Any, *, expected_type: str | None) -> list[str]:
    """Errors for a view payload (modal or home), as views.* report them."""
    if not isinstance(view, dict):
        return [_ptr("must be an object", "/view")]
    errors: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        errors.append(_ptr("must be one of modal, home", "/view/type"))
    elif expected_type is not None and kind != expected_type:
        errors.append(_ptr(f"must be {expected_type}", "/view/type"))
    blocks = view.get("blocks")
    errors += validate_blocks(blocks, limit=VIEW_BLOCK_LIMIT, pointer="/view/blocks")
    if kind == "modal":
        _text_object(view.get("title"), "/view/title", errors, max_len=24, plain_only=True)
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if view.get("submit") is not None:
            _text_object(view["submit"], "/view/submit", errors, max_len=24, plain_only=True)
        elif has_input:
            errors.append(_ptr("must provide submit when input blocks are present", "/view"))
        if view.get("close") is not None:
            _text_object(view["close"], "/view/close", errors, max_len=24, plain_only=True)
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > 3000):
        errors.append(_ptr("must be less than 3001 characters", "/view/private_metadata"))
    callback_id = view.get("callback_id")
    if callback_id is not None and (not isinstance(callback_id, str) or len(callback_id) > 255):
        errors.append(_ptr("must be less than 256 characters", "/view/callback_id"))
    return errors
