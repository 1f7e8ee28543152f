"""A loopback fake of the Telegram Bot API, checked against the Bot API spec.

python-telegram-bot's real client talks to it over HTTP (``base_url`` set to
``fake.url``). Every call is checked against ``tests/specs/telegram/api.json``
(Bot API 10.1, scraped from core.telegram.org into JSON; MIT licence alongside):
an unknown method, an unknown parameter or a missing required one, a text over
4,096 characters or callback data over 64 bytes is recorded in ``violations``
and answered with a 400, and the ``fake_telegram`` fixture fails the test. Every
object the fake answers with, and every update a test builds (``Updates``), is
checked against the spec's type of it in the same way.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

from tests.loopback import Loopback, LoopbackHandler

SPEC_PATH = Path(__file__).parent / "specs" / "telegram" / "api.json"
TOKEN = "123456:TEST-token"
BOT = {"id": 123456, "is_bot": True, "first_name": "Switchboard", "username": "switchboard_bot"}
_SPEC: dict[str, Any] | None = None


def spec() -> dict[str, Any]:
    global _SPEC
    if _SPEC is None:
        _SPEC = json.loads(SPEC_PATH.read_text())
    return _SPEC


def check_object(type_name: str, value: Any, where: str = "") -> list[str]:
    """What in ``value`` the spec's type ``type_name`` does not allow (empty: all fine)."""
    types = spec()["types"]
    where = where or type_name
    known = types.get(type_name)
    if known is None:
        return []
    if known.get("subtypes"):  # one of several: the first that fits
        found = [check_object(sub, value, where) for sub in known["subtypes"]]
        return [] if any(not f for f in found) else found[0]
    if not isinstance(value, dict):
        return [f"{where}: a {type_name} is an object"]
    fields = {f["name"]: f for f in known.get("fields", [])}
    problems = [f"{where}: unknown field {k}" for k in value if k not in fields]
    problems += [
        f"{where}: missing {n}" for n, f in fields.items() if f["required"] and n not in value
    ]
    for name, item in value.items():
        if name in fields:
            problems += _check_value(fields[name]["types"], item, f"{where}.{name}")
    return problems


def _check_value(types: list[str], value: Any, where: str) -> list[str]:
    for kind in types:
        if kind.startswith("Array of "):
            if isinstance(value, list):
                return [
                    p
                    for i, v in enumerate(value)
                    for p in _check_value([kind[9:]], v, f"{where}[{i}]")
                ]
            continue
        if kind == "Integer" and isinstance(value, int) and not isinstance(value, bool):
            return []
        if kind == "Float" and isinstance(value, (int, float)):
            return []
        if kind == "String" and isinstance(value, str):
            return []
        if kind in ("Boolean", "True") and isinstance(value, bool):
            return []
        if kind in spec()["types"] and isinstance(value, dict):
            return check_object(kind, value, where)
    return [f"{where}: {value!r:.40} is not {' or '.join(types)}"]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class Sent:
    chat_id: str
    message_id: int
    method: str
    text: str = ""
    filename: str = ""
    data: bytes = b""
    reply_markup: dict[str, Any] | None = None


class Updates:
    """Builds updates as Telegram sends them, each checked against the spec's Update."""

    def __init__(self) -> None:
        self.update_ids = itertools.count(1000)
        self.message_ids = itertools.count(1)
        self.file_ids = itertools.count(1)

    def user(self, user_id: int, first_name: str = "Lia", last_name: str = "") -> dict[str, Any]:
        found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            found["last_name"] = last_name
        return found

    def message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        chat_type: str = "private",
        first_name: str = "Lia",
        message_id: int | None = None,
        edit_date: int | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """An Update carrying a message (``edit_date``: an edited_message) of ``content``
        (photo=[...], document={...}, location={...}, ...)."""
        msg: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type}
            | ({"first_name": first_name} if chat_type == "private" else {"title": "Team"}),
            "from": self.user(abs(chat_id) if chat_type == "private" else 777, first_name),
        }
        if text is not None:
            msg["caption" if content.get("photo") or content.get("document") else "text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        msg.update(content)
        if edit_date is not None:
            msg["edit_date"] = edit_date
        return self.wrap("edited_message" if edit_date is not None else "message", msg)

    def callback(self, user_id: int, data: str, chat_id: int | None = None) -> dict[str, Any]:
        query = {
            "id": f"cq{next(self.update_ids)}",
            "from": self.user(user_id, "Ana"),
            "chat_instance": "ci-1",
            "data": data,
            "message": {
                "message_id": next(self.message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id or user_id, "type": "private"},
                "text": "ping",
            },
        }
        return self.wrap("callback_query", query)

    def wrap(self, kind: str, value: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self.update_ids), kind: value}
        problems = check_object("Update", update)
        assert not problems, f"a test built an update the spec does not allow: {problems}"
        return update

    def file(self, size: int | None = 1000) -> dict[str, Any]:
        n = next(self.file_ids)
        found: dict[str, Any] = {"file_id": f"FILE{n:04d}", "file_unique_id": f"U{n:04d}"}
        if size is not None:
            found["file_size"] = size
        return found

    def photo(self, sizes: tuple[int, ...] = (800, 12000, 40000)) -> list[dict[str, Any]]:
        return [
            {**self.file(size), "width": 90 * (i + 1), "height": 60 * (i + 1)}
            for i, size in enumerate(sizes)
        ]


@dataclass
class FakeTelegram(Loopback):
    """State of the fake Bot API; start() serves it on 127.0.0.1."""

    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # what getFile hands out, by file_id
    pending: list[dict[str, Any]] = field(default_factory=list)  # for getUpdates
    confirmed: int = 0  # getUpdates offsets confirm updates below them
    failures: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)
    outage: int = 0  # while set, every call is answered with this status (500, 429, ...)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.message_ids = itertools.count(5000)

    # Test controls -----------------------------------------------------------------------

    def fail_next(
        self, method: str, code: int = 429, *, retry_after: int = 1, after: int = 0
    ) -> None:
        """Answer a call of ``method`` with ``code`` (429: flood control), once ``after``
        more calls of it have succeeded."""
        with self.lock:
            self.failures.append((method, code, {"retry_after": retry_after, "after": after}))

    def to_chat(self, chat_id: int | str) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if s.chat_id == str(chat_id)]

    def calls_of(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def queue_updates(self, *updates: dict[str, Any]) -> None:
        with self.lock:
            self.pending.extend(updates)

    # Serving -----------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(LoopbackHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                path = unquote(urlparse(self.path).path)
                body = self.body()
                if path.startswith("/file/bot"):
                    status, data, ctype = fake.download(path)
                else:
                    token, _, method = path.removeprefix("/bot").partition("/")
                    params, files = _read(self.headers.get("Content-Type", ""), body)
                    params.update(parse_qsl(urlparse(self.path).query))
                    status, payload = fake.dispatch(token, method, params, files)
                    data, ctype = json.dumps(payload).encode(), "application/json"
                self.answer(status, data, ctype)

        self.serve(Handler, port)
        return self.url

    # The API -----------------------------------------------------------------------------

    def check(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> str | None:
        methods = spec()["methods"]
        if method not in methods:
            return f"unknown method {method}"
        fields = {f["name"]: f for f in methods[method].get("fields", [])}
        given = set(params) | set(files)
        unknown = sorted(given - set(fields))
        missing = sorted(n for n, f in fields.items() if f["required"] and n not in given)
        if unknown:
            return f"{method}: unknown parameter(s) {', '.join(unknown)}"
        if missing:
            return f"{method}: missing required parameter(s) {', '.join(missing)}"
        text = params.get("text")
        if method == "sendMessage" and not 1 <= len(str(text)) <= 4096:
            return f"sendMessage: text must be 1-4096 characters, got {len(str(text))}"
        markup = params.get("reply_markup")
        if markup is not None:
            markup = json.loads(markup) if isinstance(markup, str) else markup
            problems = check_object("InlineKeyboardMarkup", markup)
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if len(str(button.get("callback_data", "")).encode()) > 64:
                        problems.append("callback_data is 1-64 bytes")
            if problems:
                return f"{method}: reply_markup: {problems}"
        if method == "setWebhook":
            secret = str(params.get("secret_token", ""))
            if secret and not (
                1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)
            ):
                return "setWebhook: secret_token is 1-256 of A-Z a-z 0-9 _ -"
        return None

    def dispatch(
        self, token: str, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append(Call(method, params, files))
            if self.outage:
                return self.outage, _error(self.outage, {"retry_after": 1})
            if token != TOKEN:
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            problem = self.check(method, params, files)
            if problem:
                self.violations.append(problem)
                return 400, {
                    "ok": False,
                    "error_code": 400,
                    "description": f"Bad Request: {problem}",
                }
            for i, (name, code, opts) in enumerate(self.failures):
                if name == method and opts["after"] > 0:
                    opts["after"] -= 1
                elif name == method:
                    del self.failures[i]
                    return code, _error(code, opts)
            chat = str(params.get("chat_id", ""))
            if chat and chat in self.blocked:
                return 403, _error(403, {})
            result = self._answer(method, params, files)
        returns = spec()["methods"][method]["returns"][0]
        problems = check_object(returns, result) if isinstance(result, dict) else []
        assert not problems, (
            f"the fake answered {method} with what the spec does not allow: {problems}"
        )
        return 200, {"ok": True, "result": result}

    def _answer(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        if method == "getMe":
            return BOT
        if method in ("setWebhook", "deleteWebhook"):
            self.webhook = dict(params) if method == "setWebhook" else {}
            return True
        if method == "answerCallbackQuery":
            return True
        if method == "getUpdates":
            offset = int(params.get("offset", 0) or 0)
            if offset:
                self.confirmed = max(self.confirmed, offset)
            self.pending = [u for u in self.pending if u["update_id"] >= self.confirmed]
            limit = int(params.get("limit", 100) or 100)
            return self.pending[:limit]
        if method == "getFile":
            file_id = str(params["file_id"])
            data = self.files.get(file_id, b"")
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(data),
                "file_path": f"documents/{file_id}.bin",
            }
        if method == "editMessageText":
            chat, message_id = str(params["chat_id"]), int(params["message_id"])
            found = [s for s in self.sent if s.chat_id == chat and s.message_id == message_id]
            if not found:
                return True  # the test then sees nothing changed
            found[0].text = str(params["text"])
            markup = params.get("reply_markup")
            found[0].reply_markup = json.loads(markup) if isinstance(markup, str) else markup
            return {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "text": found[0].text,
                "edit_date": int(time.time()),
            }
        if method in ("sendMessage", "sendPhoto", "sendDocument"):
            chat = str(params["chat_id"])
            message_id = next(self.message_ids)
            markup = params.get("reply_markup")
            markup = json.loads(markup) if isinstance(markup, str) else markup
            filename, data = next(iter(files.values()), ("", b""))
            sent = Sent(
                chat, message_id, method, str(params.get("text", "")), filename, data, markup
            )
            self.sent.append(sent)
            msg: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "from": BOT,
            }
            if method == "sendMessage":
                msg["text"] = sent.text
            elif method == "sendPhoto":
                msg["photo"] = [
                    {
                        "file_id": f"P{message_id}",
                        "file_unique_id": f"p{message_id}",
                        "width": 1,
                        "height": 1,
                    }
                ]
            else:
                msg["document"] = {
                    "file_id": f"D{message_id}",
                    "file_unique_id": f"d{message_id}",
                    "file_name": filename,
                }
            if markup:
                msg["reply_markup"] = markup
            return msg
        return True

    def download(self, path: str) -> tuple[int, bytes, str]:
        # /file/bot<token>/documents/<file_id>.bin
        token = path.removeprefix("/file/bot").split("/", 1)[0]
        file_id = path.rsplit("/", 1)[-1].removesuffix(".bin")
        with self.lock:
            data = self.files.get(file_id)
        if token != TOKEN or data is None:
            return 404, b"Not Found", "text/plain"
        return 200, data, "application/octet-stream"


def _error(code: int, opts: dict[str, Any]) -> dict[str, Any]:
    if code == 429:
        seconds = opts.get("retry_after", 1)
        return {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        }
    if code == 403:
        return {
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot was blocked by the user",
        }
    return {"ok": False, "error_code": code, "description": "Internal Server Error"}


def _read(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Form fields and uploaded files of a request (urlencoded, multipart or JSON)."""
    if not body:
        return {}, {}
    if "json" in content_type:
        return dict(json.loads(body)), {}
    if "multipart/form-data" in content_type:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            decoded = part.get_payload(decode=True)  # bytes for a file or field, None if nested
            payload = decoded if isinstance(decoded, bytes) else b""
            if filename:
                files[str(name)] = (filename, payload)
            else:
                params[str(name)] = payload.decode()
        return params, files
    return dict(parse_qsl(body.decode())), {}
