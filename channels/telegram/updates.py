"""Reading Telegram updates (JSON, as the Bot API sends them): what kind each is, the
id it is stored under, and the files a message names.

One update is one inbound record. Its external id makes a re-delivered update, or
the same message of a chat twice, one record:

| the update          | external id                              |
|---------------------|------------------------------------------|
| message             | ``CHAT:MESSAGE_ID``                      |
| edited_message      | ``CHAT:MESSAGE_ID:edit:EDIT_DATE``       |
| callback_query      | ``callback:QUERY_ID``                    |
| anything else       | ``update:UPDATE_ID``                     |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.errors import IntakeError, odd_shapes_refused
from core.intake.records import storable

MESSAGE_KINDS = ("message", "edited_message")
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
MAX_FILE_BYTES = 20 * 1024 * 1024  # what getFile hands to bots at most


@odd_shapes_refused("the Telegram update")
def load(raw: bytes) -> dict[str, Any]:
    """The update as a dict; ``IntakeError`` naming what is wrong when it is not one."""
    try:
        update = json.loads(raw)
    except ValueError as exc:
        raise IntakeError(f"a Telegram update is JSON: {exc}") from exc
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise IntakeError("a Telegram update is a JSON object with an integer update_id")
    return update


def kind(update: dict[str, Any]) -> str:
    """Which of the Update's optional fields it carries (``message``, ``callback_query``...)."""
    found = next((k for k in update if k != "update_id"), "")
    return storable(found, 64)  # it goes into the record's meta


def message(update: dict[str, Any]) -> dict[str, Any] | None:
    """The message of a ``message`` or ``edited_message`` update."""
    for name in MESSAGE_KINDS:
        value = update.get(name)
        if isinstance(value, dict):
            return value
    return None


def chat(msg: dict[str, Any]) -> dict[str, Any]:
    chat = msg.get("chat")
    return chat if isinstance(chat, dict) else {}


def chat_id(msg: dict[str, Any]) -> str:
    return str(chat(msg).get("id", ""))


def private(msg: dict[str, Any]) -> bool:
    return chat(msg).get("type") == "private"


@odd_shapes_refused("the Telegram update")
def external_id(update: dict[str, Any]) -> str:
    msg = message(update)
    if msg is not None and "message_id" in msg:
        base = f"{chat_id(msg)}:{msg['message_id']}"
        if "edited_message" in update:
            return f"{base}:edit:{msg.get('edit_date', update['update_id'])}"
        return base
    query = update.get("callback_query")
    if isinstance(query, dict) and query.get("id"):
        return f"callback:{query['id']}"
    return f"update:{update['update_id']}"


def command(msg: dict[str, Any]) -> tuple[str, str] | None:
    """``("/new", "the rest")`` for a message starting with a bot command, else None."""
    text = str(msg.get("text") or "")
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    name = head.split("@", 1)[0].lower()
    if "\n" in name:
        name, _, more = name.partition("\n")
        rest = f"{more}\n{rest}".strip()
    return name, rest.strip()


@dataclass(frozen=True)
class FileRef:
    """One file a message names: its id, a file name for the ticket, type and size."""

    file_id: str
    filename: str
    content_type: str
    size: int | None


def files(msg: dict[str, Any]) -> list[FileRef]:
    """The files a message carries: the largest size of a photo, documents, voice,
    audio, video and video notes."""
    found: list[FileRef] = []
    photos = msg.get("photo")
    sizes = [p for p in photos if _file(p)] if isinstance(photos, list) else []
    if sizes:
        best = max(sizes, key=lambda p: (_count(p, "file_size"), _count(p, "width") * _count(p, "height")))  # fmt: skip
        unique = best.get("file_unique_id")
        found.append(
            FileRef(
                best["file_id"],
                f"photo-{(unique if isinstance(unique, str) else best['file_id'])[:32]}.jpg",
                "image/jpeg",
                _count(best, "file_size") or None,
            )
        )
    defaults = {
        "document": ("document", "application/octet-stream", ""),
        "voice": ("voice", "audio/ogg", ".ogg"),
        "audio": ("audio", "audio/mpeg", ".mp3"),
        "video": ("video", "video/mp4", ".mp4"),
        "video_note": ("video-note", "video/mp4", ".mp4"),
    }
    for field, (stem, content_type, suffix) in defaults.items():
        item = msg.get(field)
        if not _file(item):
            continue
        assert isinstance(item, dict)
        name = item.get("file_name") or f"{stem}-{str(item.get('file_unique_id', ''))[:32]}{suffix}"
        found.append(
            FileRef(
                item["file_id"],
                str(name),
                str(item.get("mime_type") or content_type),
                _count(item, "file_size") or None,
            )
        )
    return found


def _file(item: Any) -> bool:
    """Whether ``item`` is a file object (a dict with a string ``file_id``)."""
    return isinstance(item, dict) and isinstance(item.get("file_id"), str) and bool(item["file_id"])


def _count(item: dict[str, Any], name: str) -> int:
    value = item.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
