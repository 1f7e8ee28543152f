"""How large a request body may be, checked before any endpoint reads it.

Every request is held to ``ctx.max_request_bytes`` (JSON, forms, webhooks), a
multipart upload (a form with files) and the API's reply and note (JSON that may
carry files in base64: ``channels.web.uploads.PATHS``) to ``ctx.max_upload_bytes``,
and a path a
channel gave its own limit (``app.state.body_limits``, by path prefix: the alerts
webhook) to that one. A body over its limit is answered 413 with the limit named,
whether its Content-Length says so up front or it only grows past it while it is
read; the endpoint then sees a disconnect, so nothing of it is stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int,
        uploads: int,
        limits: dict[str, int],
        upload_paths: str = r"(?!)",
    ) -> None:
        self.app = app
        self.default = default
        self.uploads = uploads
        self.limits = limits  # path prefix -> bytes, filled in as channels mount
        self.upload_paths = re.compile(upload_paths)  # paths whose bodies carry files

    def limit_for(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            return self.uploads
        if self.upload_paths.match(path):
            return self.uploads
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not refused:
                    refused = True
                    if not started:
                        await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer
            started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _too_large(send: Send, limit: int) -> None:
    await _answer(
        send,
        413,
        "request.too_large",
        f"the request body is larger than this endpoint takes ({limit} bytes); "
        "send less, or raise the limit in the settings",
        headers=[(b"connection", b"close")],
        limit=limit,
    )


async def _answer(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]],
    **extra: Any,
) -> None:
    data = json.dumps({"error": {"code": code, "message": message, **extra}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


PUBLIC_PREFIXES = ("/t/", "/c/", "/e/", "/s/", "/portal", "/leads/login")
"""The pages anyone can reach without signing in: tracking links and their files,
contact links, escalation acknowledgements, satisfaction questions, the portal form,
and the lead pages' sign-in (token form and login links)."""


class PublicRate:
    """At most ``per_minute`` requests a minute from one address to the public pages
    (a bucket that refills steadily, so a person clicking around never meets it and
    a script guessing tokens does at once); over it: 429 with Retry-After. Counted per
    process: with several web processes, each counts its own share."""

    def __init__(self, app: ASGIApp, *, per_minute: int, clock: Any = None) -> None:
        import time

        self.app = app
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock or time.monotonic
        self.buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)

    def take(self, address: str) -> float:
        """0 when the request may go on; else the seconds until it may."""
        now = self.clock()
        tokens, at = self.buckets.get(address, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens < 1:
            self.buckets[address] = (tokens, now)
            return (1 - tokens) / self.rate
        self.buckets[address] = (tokens - 1, now)
        if len(self.buckets) > 50_000:  # forget addresses whose bucket is full again
            self.buckets = {
                a: (t, s)
                for a, (t, s) in self.buckets.items()
                if t + (now - s) * self.rate < self.capacity
            }
        return 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or self.capacity <= 0 or not path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        wait = self.take(str(client[0]))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        await _answer(
            send,
            429,
            "request.rate_limited",
            "too many requests from your address to these pages; wait a moment and try again",
            headers=[(b"retry-after", str(max(1, round(wait))).encode())],
        )
