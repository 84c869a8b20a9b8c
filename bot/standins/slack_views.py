"""The Slack stand-in's views.* methods: modals (a stack of at most three), App Home, triggers.

`views.open`, `views.push`, `views.update`, `views.publish`
(https://docs.slack.dev/reference/methods/views.open and its neighbours); the trigger ids
the driver issues, and what Slack does with an app's answer to a view_submission.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from bot.standins.slack_blocks import validate_view
from bot.standins.slack_state import SlackError, SlackWorkspace, Token, with_block_ids

MODAL_STACK_LIMIT = 3
# views.open / push / update / publish: "view_too_large: Error returned if the provided
# view is greater than 250kb" (https://docs.slack.dev/reference/methods/views.open, Errors).
# Measured as the view's compact JSON in UTF-8 and 250 KiB, the most lenient reading, so
# that the stand-in never refuses a view that Slack takes.
VIEW_MAX_BYTES = 250 * 1024


@dataclass
class _Trigger:
    user_id: str
    expires_at: float
    used: bool = False


class ViewsMethods(SlackWorkspace):
    """views.*, the modal stacks and App Home views, and trigger ids."""

    def _reset_state(self) -> None:
        super()._reset_state()
        # "Triggers expire in three seconds" and "may only be used once"
        # (https://api.slack.com/docs/triggers), counted from when Slack issued it.
        self.trigger_ttl = 3.0
        self._triggers: dict[str, _Trigger] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._view_owner: dict[str, str] = {}
        self._view_errors: dict[str, dict[str, str]] = {}
        self._modal_stacks: dict[str, list[str]] = {}
        self._home: dict[str, str] = {}

    # -- triggers (issued by the driver) ---------------------------------------

    def register_trigger(self, trigger_id: str, user_id: str, ttl: float | None = None) -> str:
        with self._lock:
            expires = time.time() + (self.trigger_ttl if ttl is None else ttl)
            self._triggers[trigger_id] = _Trigger(user_id=user_id, expires_at=expires)
        return trigger_id

    def new_trigger_id(self, user_id: str, ttl: float | None = None) -> str:
        """A fresh trigger id in Slack's shape, registered for `user_id`."""
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12):012d}.{secrets.token_hex(16)}"
        return self.register_trigger(trigger_id, user_id, ttl)

    def _use_trigger(self, args: dict[str, Any]) -> _Trigger:
        trigger_id = args.get("trigger_id")
        if not trigger_id:
            raise SlackError("invalid_arguments", response_metadata={"messages": [
                "[ERROR] missing required field: trigger_id"
            ]})  # fmt: skip
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if time.time() > trigger.expires_at:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    # -- inspection helpers ----------------------------------------------------

    def open_views(self, user_id: str) -> list[dict[str, Any]]:
        """The user's modal stack, root first (empty when no modal is open)."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._modal_stacks.get(user_id, [])]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def get_view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            view = self._views.get(view_id)
            return copy.deepcopy(view) if view else None

    def view_errors(self, view_id: str) -> dict[str, str]:
        """Field errors the app answered a view_submission with (response_action errors)."""
        with self._lock:
            return dict(self._view_errors.get(view_id, {}))

    # -- interaction bookkeeping (called by the driver) -------------------------

    def apply_view_submission_ack(
        self, user_id: str, view_id: str, body: bytes, *, submitted_hash: str | None = None
    ) -> None:
        """Do what Slack does with the answer to a view_submission.

        Empty: close the view. `response_action` clear/update/push/errors as
        documented. Slack applies the answer when it arrives, before the app can
        call views.update; here the driver applies it after the HTTP reply, so an
        `update` is dropped when the view changed since `submitted_hash` (the
        app's views.update came first and is the newer view).
        """
        text = body.decode("utf-8", errors="replace").strip()
        payload: Any = {}
        if text:
            try:
                payload = json.loads(text)
            except ValueError:
                payload = {}
        action = payload.get("response_action") if isinstance(payload, dict) else None
        with self._lock:
            stack = self._modal_stacks.setdefault(user_id, [])
            if action == "errors":
                self._view_errors[view_id] = dict(payload.get("errors") or {})
            elif action == "clear":
                self._close_views(user_id, list(stack))
            elif action == "update" and isinstance(payload.get("view"), dict):
                current = self._views.get(view_id)
                newer = (
                    submitted_hash is not None
                    and current is not None
                    and current["hash"] != submitted_hash
                )
                if current is not None and not newer:
                    self._views[view_id] = self._make_view(
                        payload["view"], user_id, view_id=view_id, previous=current
                    )
                    self._view_errors.pop(view_id, None)
            elif action == "push" and isinstance(payload.get("view"), dict):
                self._push_view(user_id, payload["view"])
            else:
                self._close_views(user_id, [view_id])

    def close_view(self, user_id: str, view_id: str, *, all_views: bool = False) -> None:
        """The user closed a modal (Cancel / X); `all_views` closes the stack."""
        with self._lock:
            stack = self._modal_stacks.get(user_id, [])
            self._close_views(user_id, list(stack) if all_views else [view_id])

    def _close_views(self, user_id: str, view_ids: list[str]) -> None:
        stack = self._modal_stacks.get(user_id, [])
        for view_id in view_ids:
            if view_id in stack:
                # closing a view closes the ones pushed above it too
                del stack[stack.index(view_id) :]

    # -- views.* ---------------------------------------------------------------

    def _check_view(self, view: Any, expected_type: str) -> dict[str, Any]:
        if isinstance(view, dict):
            encoded = json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode()
            if len(encoded) > VIEW_MAX_BYTES:
                raise SlackError("view_too_large")
        errors = validate_view(view, expected_type=expected_type)
        if errors:
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        assert isinstance(view, dict)
        external_id = view.get("external_id")
        if external_id:
            for other in self._views.values():
                if other.get("external_id") == external_id:
                    raise SlackError("duplicate_external_id")
        return view

    def _make_view(
        self,
        spec: dict[str, Any],
        user_id: str,
        *,
        view_id: str | None = None,
        previous: dict[str, Any] | None = None,
        previous_view_id: str | None = None,
        root_view_id: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._ids):010d}"
        self._view_owner[view_id] = user_id
        root = root_view_id or (previous or {}).get("root_view_id") or view_id
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "blocks": with_block_ids(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(spec.get("title")),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": (previous or {}).get("previous_view_id", previous_view_id),
            "root_view_id": root,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _push_view(self, user_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        stack = self._modal_stacks.setdefault(user_id, [])
        if len(stack) >= MODAL_STACK_LIMIT:
            raise SlackError("push_limit_reached")
        previous = stack[-1] if stack else None
        root = stack[0] if stack else None
        view = self._make_view(spec, user_id, previous_view_id=previous, root_view_id=root)
        self._views[view["id"]] = view
        stack.append(view["id"])
        return view

    def _api_views_open(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(args)
        spec = self._check_view(args.get("view"), "modal")
        self._modal_stacks[trigger.user_id] = []
        view = self._push_view(trigger.user_id, spec)
        return {"view": copy.deepcopy(view)}

    def _api_views_push(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(args)
        spec = self._check_view(args.get("view"), "modal")
        view = self._push_view(trigger.user_id, spec)
        return {"view": copy.deepcopy(view)}

    def _api_views_update(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", response_metadata={"messages": [
                "[ERROR] either view_id or external_id is required"
            ]})  # fmt: skip
        if not view_id:
            view_id = next(
                (v for v, view in self._views.items() if view.get("external_id") == external_id),
                None,
            )
        current = self._views.get(str(view_id)) if view_id else None
        if current is None:
            raise SlackError("not_found")
        view_hash = args.get("hash")
        if view_hash and view_hash != current["hash"]:
            raise SlackError("hash_conflict")
        spec = args.get("view")
        if isinstance(spec, dict) and spec.get("external_id") == current.get("external_id"):
            spec = {k: v for k, v in spec.items() if k != "external_id"}
        spec = self._check_view(spec, current["type"])
        if not spec.get("external_id") and current.get("external_id"):
            spec = {**spec, "external_id": current["external_id"]}
        owner = self._view_owner.get(current["id"], "")
        view = self._make_view(spec, owner, view_id=current["id"], previous=current)
        self._views[current["id"]] = view
        self._view_errors.pop(current["id"], None)
        return {"view": copy.deepcopy(view)}

    def _api_views_publish(self, grant: Token, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id") or "")
        user = self.users.get(user_id)
        if user is None or user.deleted:
            raise SlackError("not_found")
        view_hash = args.get("hash")
        current_id = self._home.get(user_id)
        current = self._views.get(current_id) if current_id else None
        if view_hash and current is not None and view_hash != current["hash"]:
            raise SlackError("hash_conflict")
        spec = self._check_view(args.get("view"), "home")
        view = self._make_view(spec, user_id, view_id=current_id, previous=current)
        self._views[view["id"]] = view
        self._home[user_id] = view["id"]
        return {"view": copy.deepcopy(view)}
