"""Small helpers shared by listeners: ephemeral replies and refusal texts."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from bot.desk import DirectoryError
from bot.refusal import Refusal
from handlers import blocks
from handlers.mrkdwn import Mrkdwn
from handlers.texts import state_name, t

STATE_PARAMS = frozenset({"state", "current", "wanted"})


def refusal_text(refusal: Refusal) -> Mrkdwn:
    """The sentence that explains a refusal, a Slack directory failure included."""
    if isinstance(refusal, DirectoryError):
        if refusal.code == "plan_upgrade_required":
            return t("access.directory_plan")
        return t("access.directory_error", error=refusal.params.get("error", "unknown_error"))
    params = {k: (", ".join(v) if isinstance(v, list) else v) for k, v in refusal.params.items()}
    for name in STATE_PARAMS & params.keys():
        params[name] = state_name(str(params[name]))
    return t(f"refusal.{refusal.code}", **params)


def ephemeral(
    respond: Respond, text: Mrkdwn, block_list: list[dict[str, Any]] | None = None
) -> None:
    """A reply only the person who asked can see (the only place for addresses)."""
    respond(
        text=text,
        blocks=block_list or blocks.message(text),
        response_type="ephemeral",
        replace_original=False,
    )
