"""Block Kit of the modals: one form per modal button, and reading a submission back."""

from __future__ import annotations

from typing import Any

from channels.slack.blocks import NOTE_MARK, clip, section
from core.models import PRIORITIES
from core.tickets import lifecycle

# Modals --------------------------------------------------------------------------------


def _input(
    block_id: str, label: str, element: dict[str, Any], optional: bool = False, hint: str = ""
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _text(action_id: str, multiline: bool = False, initial: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial[:3000]
    return element


def _select(action_id: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": action_id,
        "options": [
            {"text": {"type": "plain_text", "text": label[:75]}, "value": value}
            for value, label in options
        ],
    }


OVERRIDE_HINT = "Only a lead's override of a rule needs this; it is kept as evidence."


def modal(
    name: str,
    number: str,
    meta: str,
    reference: dict[str, list[tuple[str, str]]],
    initial_text: str = "",
) -> dict[str, Any]:
    """The modal for card button ``name``; ``meta`` travels back in ``private_metadata``."""
    titles = {
        "hold": "Hold",
        "resolve": "Resolve",
        "priority": "Change priority",
        "link": "Link asset / WO",
        "assign": "Assign",
        "note": "Internal note",
        "contact": "Same client",
    }
    override = _input(
        "override",
        "Override reason (leads)",
        _text("value", True),
        optional=True,
        hint=OVERRIDE_HINT,
    )
    if name == "hold":
        blocks = [
            _input(
                "reason",
                "Reason",
                _select("value", [(r, r.replace("_", " ")) for r in lifecycle.HOLD_REASONS]),
            ),
            _input(
                "parts_ref",
                "Parts reference",
                _text("value"),
                optional=True,
                hint="Needed for pending parts.",
            ),
            _input("note", "Note", _text("value", True), optional=True, hint="Needed for 'other'."),
            _input(
                "until",
                "Look at it again",
                {"type": "datetimepicker", "action_id": "value"},
                optional=True,
                hint="The client is told when their request will be looked at again.",
            ),
            override,
        ]
    elif name == "resolve":
        blocks = [
            _input("code", "Resolution code", _select("value", reference.get("codes", []))),
            _input("steps", "Steps taken", _text("value", True)),
            override,
        ]
    elif name == "priority":
        blocks = [
            _input("priority", "Priority", _select("value", [(p, p) for p in PRIORITIES])),
            _input("reason", "Reason", _text("value", True)),
            override,
        ]
    elif name == "link":
        blocks = [
            _input("asset", "Asset", _text("value"), optional=True),
            _input("work_order", "Work order", _text("value"), optional=True),
            _input("site", "Site", _text("value"), optional=True),
        ]
    elif name == "assign":
        blocks = [
            _input("assignee", "Agent", {"type": "users_select", "action_id": "value"}),
            override,
        ]
    elif name == "contact":
        blocks = [
            _input(
                "other",
                "Same person as",
                _text("value"),
                hint="Their other ticket (T-000123), contact (C-000012) or address "
                "(telegram:4711, email:ana@example.com). Never on a name alone.",
            ),
            _input("reason", "How you know", _text("value", True), optional=True),
        ]
    elif name == "note":
        blocks = [
            section(NOTE_MARK + ". Clients never see it."),
            _input("text", "Note", _text("value", True, initial_text)),
        ]
    else:
        raise ValueError(f"no modal named {name}")
    return {
        "type": "modal",
        "callback_id": f"sb_modal_{name}",
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": clip(f"{titles[name]} {number}", 24)},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def modal_values(view: dict[str, Any]) -> dict[str, str | None]:
    """``{block_id: value}`` from a submitted view's state."""
    values: dict[str, str | None] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        for item in actions.values():
            kind = item.get("type")
            if kind == "static_select":
                chosen = item.get("selected_option")
                values[block_id] = chosen["value"] if chosen else None
            elif kind == "users_select":
                values[block_id] = item.get("selected_user")
            elif kind == "datetimepicker":  # a Unix time in seconds
                when = item.get("selected_date_time")
                values[block_id] = str(when) if when is not None else None
            else:
                raw = item.get("value")
                values[block_id] = raw.strip() if isinstance(raw, str) and raw.strip() else None
    return values
