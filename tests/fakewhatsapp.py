"""A loopback fake of the WhatsApp Cloud API (Graph), checked against Meta's OpenAPI spec.

The real ``channels.whatsapp.graph.Graph`` (httpx) talks to it over HTTP
(``SWITCHBOARD_WHATSAPP_API_URL=fake.url``). It serves the calls the channel makes:

    POST /{Version}/{Phone-Number-ID}/messages    checked against the spec's ``Message``
                                                  schema for the body's ``type``; a media
                                                  id sent must be one uploaded here
    POST /{Version}/{Phone-Number-ID}/media       multipart upload (``file``,
                                                  ``messaging_product``, ``type``): its id
    GET  /{Version}/{Media-ID}                    the media's URL (on this server)
    GET  /media/{Media-ID}                        the bytes, with the same bearer token

Any other path, a wrong version, phone number id or token, or a body the spec would
not accept is recorded in ``violations`` and answered with a Graph error; the
``fake_whatsapp`` fixture fails the test on any. The spec is
``tests/specs/whatsapp/business-messaging-api_v23.0.yaml`` (Meta's facebook/openapi
repository, MIT licence alongside). Its message schemas combine ``allOf`` parts that
each forbid other properties; they are merged here before checking, as the
discriminator on ``type`` means them to be read.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import yaml

from tests.loopback import Loopback, LoopbackHandler

SPEC_PATH = Path(__file__).parent / "specs" / "whatsapp" / "business-messaging-api_v23.0.yaml"
VERSION = "v23.0"
PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAtest-token"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open() as f:
        return dict(yaml.load(f, Loader=loader))


def _flat(schema: Any, schemas: dict[str, Any]) -> Any:
    """``allOf`` of object parts merged into one object (closed if any part is)."""
    if isinstance(schema, list):
        return [_flat(s, schemas) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "allOf" in schema:
        parts = []
        for part in schema["allOf"]:
            while isinstance(part, dict) and str(part.get("$ref", "")).startswith(
                "#/components/schemas/"
            ):
                part = schemas[part["$ref"].rsplit("/", 1)[1]]
            parts.append(_flat(part, schemas))
        if all(isinstance(p, dict) and "properties" in p for p in parts):
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for p in parts:
                merged["properties"].update(p["properties"])
                merged["required"] += p.get("required", [])
            if any(p.get("additionalProperties") is False for p in parts):
                merged["additionalProperties"] = False
            return merged
    return {k: _flat(v, schemas) for k, v in schema.items()}


@lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    components = copy.deepcopy(spec()["components"])
    return dict(_flat(components, components["schemas"]))


def validator(schema_name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema_name}", "components": _components()}
    )


def problems(schema_name: str, value: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message[:200]}"
        for e in validator(schema_name).iter_errors(value)
    ]


def part_problems(schema_name: str, part: str, value: Any) -> list[str]:
    """What the spec says is wrong with ``value`` as property ``part`` of ``schema_name``
    (the webhook's media schemas share the sending side's envelope, so only the media
    object itself can be held to them)."""
    schema = _components()["schemas"][schema_name]["properties"][part]
    checker = jsonschema.Draft202012Validator({**schema, "components": _components()})
    return [e.message[:200] for e in checker.iter_errors(value)]


def message_problems(body: dict[str, Any]) -> list[str]:
    """What the spec's send-message schema says is wrong with ``body``."""
    mapping = spec()["components"]["schemas"]["Message"]["discriminator"]["mapping"]
    kind = body.get("type")
    if kind not in mapping:
        return [f"type: {kind!r} is not one of {sorted(mapping)}"]
    return problems(mapping[kind].rsplit("/", 1)[1], body)


@dataclass
class Sent:
    wamid: str
    body: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def to(self) -> str:
        return str(self.body["to"])

    @property
    def text(self) -> str:
        if self.type == "text":
            return str(self.body["text"]["body"])
        if self.type == "interactive":
            return str(self.body["interactive"]["body"]["text"])
        return ""


@dataclass
class FakeWhatsApp(Loopback):
    """State of the fake Cloud API; start() serves it on 127.0.0.1."""

    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    failures: list[tuple[int, int, str]] = field(default_factory=list)
    uploads: list[tuple[str, str, bytes, str]] = field(
        default_factory=list
    )  # id, name, bytes, type
    outage: int = 0  # while set, every call is answered with this status (500, 429, ...)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    # Test controls -----------------------------------------------------------------------

    def fail_next(self, code: int, status: int = 400, title: str = "Error") -> None:
        """Answer the next send with a Graph error (``code`` e.g. 131047, 130429)."""
        with self.lock:
            self.failures.append((code, status, title))

    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        with self.lock:
            self.media[media_id] = (data, mime_type)

    def messages(self, to: str | None = None) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if to is None or s.to == to]

    # Serving -----------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                self.answer(*fake.get(urlparse(self.path).path, self.headers))

            def do_POST(self) -> None:
                self.answer(*fake.post(urlparse(self.path).path, self.headers, self.body()))

        self.serve(Handler, port)
        return self.url

    # The API -----------------------------------------------------------------------------

    def _violation(self, what: str) -> tuple[int, bytes, str]:
        with self.lock:
            self.violations.append(what)
        return _error(400, 100, f"Invalid parameter: {what}")

    def _authorized(self, headers: Any) -> bool:
        return bool(headers.get("Authorization") == f"Bearer {TOKEN}")

    def get(self, path: str, headers: Any) -> tuple[int, bytes, str]:
        with self.lock:
            self.calls.append(("GET", path))
            if self.outage:
                return _error(self.outage, 130429 if self.outage == 429 else 2, "Unavailable")
        if not self._authorized(headers):
            return self._violation(f"GET {path} without the bearer token")
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "media" and parts[1] in self.media:
            data, mime = self.media[parts[1]]
            return 200, data, mime
        if len(parts) == 2 and parts[0] == VERSION:
            if parts[1] not in self.media:
                return _error(404, 100, "Unsupported get request. Object does not exist")
            data, mime = self.media[parts[1]]
            answer = {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/media/{parts[1]}",
                "mime_type": mime,
                "sha256": "0" * 64,
                "file_size": str(len(data)),
                "id": parts[1],
            }
            return 200, json.dumps(answer).encode(), "application/json"
        return self._violation(f"GET {path}: no such call in the spec")

    def upload(self, headers: Any, raw: bytes) -> tuple[int, bytes, str]:
        """``POST /media``: a multipart form with the file, as the spec's form-data body."""
        kind = headers.get("Content-Type", "")
        if not kind.startswith("multipart/form-data"):
            return self._violation("a media upload must be multipart/form-data")
        head = f"Content-Type: {kind}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields: dict[str, tuple[str | None, bytes, str]] = {}
        for part in form.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)  # bytes for a file or field, None if nested
            data = payload if isinstance(payload, bytes) else b""
            fields[str(name)] = (part.get_filename(), data, part.get_content_type())
        missing = [n for n in ("file", "messaging_product", "type") if n not in fields]
        if missing or fields["messaging_product"][1] != b"whatsapp":
            return self._violation(
                f"media upload without {missing or 'messaging_product=whatsapp'}"
            )
        filename, data, _ = fields["file"]
        mime = fields["type"][1].decode()
        with self.lock:
            media_id = f"{next(self._ids) + 9_000_000}"
            self.media[media_id] = (data, mime)
            self.uploads.append((media_id, filename or "", data, mime))
        return 200, json.dumps({"id": media_id}).encode(), "application/json"

    def post(self, path: str, headers: Any, raw: bytes) -> tuple[int, bytes, str]:
        with self.lock:
            self.calls.append(("POST", path))
            if self.outage:
                return _error(self.outage, 130429 if self.outage == 429 else 2, "Unavailable")
        if path == f"/{VERSION}/{PHONE_NUMBER_ID}/media":
            if not self._authorized(headers):
                return self._violation(f"POST {path} without the bearer token")
            return self.upload(headers, raw)
        if path != f"/{VERSION}/{PHONE_NUMBER_ID}/messages":
            return self._violation(f"POST {path}: not /{VERSION}/{PHONE_NUMBER_ID}/messages")
        if not self._authorized(headers):
            return self._violation(f"POST {path} without the bearer token")
        if "json" not in headers.get("Content-Type", ""):
            return self._violation("a message body must be application/json")
        body = json.loads(raw)
        found = message_problems(body)
        if found:
            return self._violation(f"message body: {found}")
        media = body.get(body["type"]) if body["type"] in ("image", "document") else None
        if isinstance(media, dict) and "id" in media and media["id"] not in self.media:
            return self._violation(f"{body['type']} names media {media['id']} never uploaded")
        with self.lock:
            if self.failures:
                code, status, title = self.failures.pop(0)
                return _error(status, code, title)
            wamid = f"wamid.fake{next(self._ids):06d}"
            self.sent.append(Sent(wamid, body))
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid}],
        }
        return 200, json.dumps(answer).encode(), "application/json"


def _error(status: int, code: int, title: str) -> tuple[int, bytes, str]:
    error = {
        "message": f"({'#'}{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": title},
        "fbtrace_id": "Afake",
    }
    return status, json.dumps({"error": error}).encode(), "application/json"
