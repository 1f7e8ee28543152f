"""A loopback fake of the Slack Web API, checked against Slack's published OpenAPI spec.

The real ``slack_sdk.WebClient`` talks to it over HTTP (``base_url=fake.url``).
Every call's method and argument names are checked against
``tests/specs/slack/slack_web_openapi_v2.json`` (copied from Slack's
``slack-api-specs`` repository, MIT licence alongside): an unknown method, an
unknown argument or a missing required one is recorded in ``violations`` and
answered with an error, and the ``fake_slack`` fixture fails the test.

Files shared in the workspace (``add_file``) are served at their ``url_private`` /
``url_private_download`` (``/files-pri/...``) to a request with the bot token, as
Slack serves them; without it Slack answers with its sign-in page (a redirect).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.loopback import Loopback, LoopbackHandler

SPEC_PATH = Path(__file__).parent / "specs" / "slack" / "slack_web_openapi_v2.json"
BOT_USER = "UBOT0001"


def load_spec(path: Path = SPEC_PATH) -> dict[str, tuple[set[str], set[str]]]:
    """method -> (allowed argument names, required argument names), token excluded."""
    spec = json.loads(path.read_text())
    methods: dict[str, tuple[set[str], set[str]]] = {}
    for route, verbs in spec["paths"].items():
        allowed: set[str] = set()
        required: set[str] = set()
        for op in verbs.values():
            for param in op.get("parameters", []):
                if param["name"] == "token":
                    continue
                allowed.add(param["name"])
                if param.get("required"):
                    required.add(param["name"])
        methods[route.lstrip("/")] = (allowed, required)
    return methods


@dataclass
class Call:
    method: str
    args: dict[str, Any]


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    ephemeral_user: str | None = None

    def as_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "message",
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
            "user": BOT_USER,
            "bot_id": "BBOT0001",
        }
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        return data


@dataclass
class FakeSlack(Loopback):
    """State of the fake workspace; start() serves it on 127.0.0.1."""

    url_path = "/api/"

    spec: dict[str, tuple[set[str], set[str]]] = field(default_factory=load_spec)
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    ephemerals: list[Message] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    home: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> bytes, type
    downloads: list[tuple[str, str]] = field(default_factory=list)  # path, Authorization
    # While set, every API call is answered with this status: 429 as Slack rate-limits
    # (Retry-After, ``ratelimited``), anything else with an HTML error page from its edge.
    outage: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._ts = itertools.count(1)

    # Test controls -------------------------------------------------------------------

    def fail_next(
        self, method: str, status: int = 429, *, retry_after: int = 1, error: str = "ratelimited"
    ) -> None:
        """Answer the next call of ``method`` with an error (429 with Retry-After by default)."""
        with self.lock:
            self.failures.append((method, status, {"retry_after": retry_after, "error": error}))

    def add_file(
        self, name: str, data: bytes, mimetype: str, *, size: int | None = None
    ) -> dict[str, Any]:
        """A file shared in the workspace: Slack's file object for a message event
        (``size`` as Slack states it, when it should differ from the bytes')."""
        with self.lock:
            file_id = f"F{next(self._ts):08d}"
            path = f"/files-pri/T0001-{file_id}/download/{name}"
            self.files[path] = (data, mimetype)
        return {
            "id": file_id,
            "created": 1800000000,
            "timestamp": 1800000000,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "user": "UANA",
            "mode": "hosted",
            "is_external": False,
            "size": len(data) if size is None else size,
            "url_private": f"http://127.0.0.1:{self.port}/files-pri/T0001-{file_id}/{name}",
            "url_private_download": f"http://127.0.0.1:{self.port}{path}",
            "permalink": f"https://fake.slack.com/files/UANA/{file_id}/{name}",
        }

    def posted(self, channel: str | None = None, thread_ts: str | None = None) -> list[Message]:
        with self.lock:
            return [
                m
                for m in self.messages
                if (channel is None or m.channel == channel)
                and (thread_ts is None or m.thread_ts == thread_ts)
            ]

    def calls_of(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    # Serving -------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                parsed = urlparse(self.path)
                if parsed.path.startswith("/files-pri/"):
                    self._file(parsed.path)
                    return
                method = parsed.path.rsplit("/", 1)[-1]
                args: dict[str, Any] = dict(parse_qsl(parsed.query))
                body = self.body()
                ctype = self.headers.get("Content-Type", "")
                if body and "json" in ctype:
                    args.update(json.loads(body))
                elif body:
                    args.update(dict(parse_qsl(body.decode())))
                args.pop("token", None)
                if fake.outage and fake.outage != 429:
                    with fake.lock:
                        fake.calls.append(Call(method, args))
                    page = f"<html><body>{fake.outage} Server Error</body></html>".encode()
                    self.answer(fake.outage, page, "text/html; charset=utf-8")
                    return
                status, payload, headers = fake.dispatch(
                    method, args, self.headers.get("Authorization", "")
                )
                data = json.dumps(payload).encode()
                self.answer(status, data, "application/json; charset=utf-8", headers)

            def _file(self, path: str) -> None:
                auth = self.headers.get("Authorization", "")
                with fake.lock:
                    fake.downloads.append((path, auth))
                    found = fake.files.get(path)
                if not auth.startswith("Bearer xoxb-"):  # Slack sends a browser to sign in
                    self.send_response(302)
                    self.send_header("Location", "https://fake.slack.com/?redir=" + path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data, mimetype = found
                self.send_response(200)
                self.send_header("Content-Type", mimetype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.serve(Handler, port)
        return self.url

    # The API -------------------------------------------------------------------------

    def check(self, method: str, args: dict[str, Any]) -> str | None:
        if method not in self.spec:
            return f"unknown method {method}"
        allowed, required = self.spec[method]
        unknown = sorted(set(args) - allowed)
        missing = sorted(required - set(args))
        if unknown:
            return f"{method}: unknown argument(s) {', '.join(unknown)}"
        if missing:
            return f"{method}: missing required argument(s) {', '.join(missing)}"
        for name in ("blocks", "view"):
            value = args.get(name)
            if isinstance(value, str):
                try:
                    json.loads(value)
                except ValueError:
                    return f"{method}: {name} is not JSON"
        return None

    def dispatch(
        self, method: str, args: dict[str, Any], auth: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.calls.append(Call(method, args))
            problem = self.check(method, args)
            if problem:
                self.violations.append(problem)
                return 200, {"ok": False, "error": "invalid_arguments", "detail": problem}, {}
            if not auth.startswith("Bearer "):
                return 200, {"ok": False, "error": "not_authed"}, {}
            if self.outage == 429:
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
            for i, (name, status, opts) in enumerate(self.failures):
                if name == method:
                    del self.failures[i]
                    headers = {"Retry-After": str(opts["retry_after"])} if status == 429 else {}
                    return status, {"ok": False, "error": opts["error"]}, headers
            handler = getattr(self, "api_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {"ok": True}, {}
            return 200, handler(args), {}

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    @staticmethod
    def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
        blocks = args.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    def api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "switchboard",
            "team_id": "T0001",
            "user_id": BOT_USER,
            "bot_id": "BBOT0001",
        }

    def _message(self, args: dict[str, Any], ephemeral_user: str | None = None) -> Message:
        return Message(
            args["channel"],
            self._next_ts(),
            args.get("text", ""),
            self._blocks(args),
            args.get("thread_ts"),
            ephemeral_user,
        )

    def api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._message(args)
        self.messages.append(msg)
        return {"ok": True, "channel": msg.channel, "ts": msg.ts, "message": msg.as_api()}

    def api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        for msg in self.messages:
            if msg.channel == args["channel"] and msg.ts == args["ts"]:
                msg.text = args.get("text", msg.text)
                msg.blocks = self._blocks(args) or msg.blocks
                return {"ok": True, "channel": msg.channel, "ts": msg.ts}
        return {"ok": False, "error": "message_not_found"}

    def api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._message(args, args["user"])
        self.ephemerals.append(msg)
        return {"ok": True, "message_ts": msg.ts}

    def api_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "channel": args["channel"],
            "permalink": f"https://fake.slack.com/archives/{args['channel']}/p{args['message_ts'].replace('.', '')}",
        }

    def api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        self.views.append(view)
        return {"ok": True, "view": {"id": f"V{len(self.views):04d}", **view}}

    def api_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        self.home[args["user_id"]] = view
        return {"ok": True, "view": {"id": "VHOME", **view}}

    def api_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        found = [
            m.as_api()
            for m in reversed(self.messages)
            if m.channel == args.get("channel") and not m.thread_ts
        ]
        return {"ok": True, "messages": found, "has_more": False}

    def api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        found = [
            m.as_api()
            for m in self.messages
            if m.channel == args.get("channel")
            and (m.ts == args.get("ts") or m.thread_ts == args.get("ts"))
        ]
        return {"ok": True, "messages": found, "has_more": False}

    def api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(
            args["user"],
            {"id": args["user"], "name": args["user"].lower(), "real_name": args["user"]},
        )
        return {
            "ok": True,
            "user": {
                **user,
                "profile": {
                    "real_name": user.get("real_name", ""),
                    "display_name": user.get("name", ""),
                },
            },
        }
