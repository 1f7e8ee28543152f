"""``Idempotency-Key`` on every write of the JSON API, in one place.

A POST, PUT, PATCH or DELETE under ``/api/`` that carries the header is run once
per caller (its bearer token) and key (``core.idempotency``):

======================================  ===========================================
the same key again, with                the answer
======================================  ===========================================
the same method, path and body          the first answer, status and body, replayed
                                        (header ``Idempotent-Replayed: true``)
the same, while the first still runs    409 ``idempotency.in_progress``, Retry-After
another method, path or body            422 ``idempotency.key_reused``
======================================  ===========================================

A key is 1 to 255 printable ASCII characters (else 422 ``idempotency.key_invalid``).
Answers are kept for ``SWITCHBOARD_IDEMPOTENCY_KEY_HOURS``. An answer that is our
failure (5xx) or a failed login (401) is not kept: the key is free again. Bodies
are compared as JSON (key order and spacing do not matter), and a multipart form
(a reply with files) by its fields and files, not its bytes (a client sending it
again picks a new boundary). The alerts webhook's
header of the same name (``channels/alerts``) is that channel's own: a
notification's id, not handled here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.web import forms
from channels.web.responses import database_unavailable, error
from core import idempotency
from core.context import Context
from core.db import report_outage

log = logging.getLogger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_AFTER_SECONDS = 1


def _refusal(status: int, code: str, message: str, **headers: str) -> Response:
    response = error(status, code, message)
    response.headers.update(headers)
    return response


def _canonical(body: bytes, content_type: str = "") -> bytes:
    """The body as compared: JSON re-serialised with sorted keys, a multipart form as
    its fields and its files' names, types and hashes, else the bytes."""
    if not body.strip():
        return b""
    if content_type.lower().startswith("multipart/form-data"):
        sent = forms.multipart(content_type, body)
        if not sent.fields and not sent.files:  # nothing readable in it: its bytes
            return body
        return json.dumps(
            {
                "fields": sent.fields,
                "files": [
                    [f.filename, f.content_type, hashlib.sha256(f.data).hexdigest()]
                    for f in sent.files
                ],
            },
            sort_keys=True,
        ).encode()
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return body


def _caller(headers: Headers) -> str | None:
    """The SHA-256 of the bearer token; None without one (the API answers 401)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hashlib.sha256(token.strip().encode()).hexdigest()


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= idempotency.MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


class IdempotencyMiddleware:
    """Pure ASGI middleware: reads the body, claims the key, runs or answers."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITES
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        caller = _caller(headers)
        if key is None or caller is None:
            await self.app(scope, receive, send)
            return
        if not _valid_key(key):
            refusal = _refusal(
                422,
                "idempotency.key_invalid",
                "the Idempotency-Key header must be 1 to 255 printable ASCII characters "
                "(a UUID is a good choice)",
            )
            await refusal(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away, or the body was over its limit (413 sent)
            return
        path = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        canonical = _canonical(body, headers.get("content-type", ""))
        digest = hashlib.sha256(f"{scope['method']} {path}\n".encode() + canonical)
        request = idempotency.Request(caller, key, digest.hexdigest(), scope["method"], path)
        try:
            outcome = await run_in_threadpool(idempotency.claim, self.ctx, request)
        except DBAPIError as exc:  # answered as the app answers an outage: 503, nothing done
            if not report_outage(self.ctx.health, exc):
                raise
            await database_unavailable()(scope, receive, send)
            return
        if isinstance(outcome, idempotency.Started):
            await self._run(outcome.row_id, scope, _replaying(body, receive), send)
            return
        await _answer(outcome, key)(scope, receive, send)

    async def _run(self, row_id: int, scope: Scope, receive: Receive, send: Send) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await run_in_threadpool(idempotency.release, self.ctx, row_id)
            raise
        status = int(start.get("status", 500))
        if status >= 500 or status == 401:
            await run_in_threadpool(idempotency.release, self.ctx, row_id)
            return
        content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
        try:
            await run_in_threadpool(
                idempotency.finish, self.ctx, row_id, status, b"".join(chunks), content_type
            )
        except DBAPIError:  # answered already; the key stays "in progress" until it expires
            log.exception("could not store the answer of an API write under an idempotency key")


def _answer(outcome: idempotency.Outcome, key: str) -> Response:
    """What a request under a key already taken gets."""
    if isinstance(outcome, idempotency.Reused):
        return _refusal(
            422,
            "idempotency.key_reused",
            f"the Idempotency-Key '{key}' was already used for another request "
            f"({outcome.method} {outcome.path}, or another body); use a new key for a new request",
        )
    if isinstance(outcome, idempotency.Replay):
        headers = {"Idempotent-Replayed": "true"}
        if outcome.content_type:
            headers["Content-Type"] = outcome.content_type
        return Response(outcome.body, status_code=outcome.status_code, headers=headers)
    return _refusal(
        409,
        "idempotency.in_progress",
        f"a request with the Idempotency-Key '{key}' is still running; "
        f"send it again in {RETRY_AFTER_SECONDS} s to get its answer",
        **{"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body; None when it never came whole (a disconnect)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
