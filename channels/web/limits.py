"""How large a request body may be, checked before any endpoint reads it.

Every request is held to ``ctx.max_request_bytes`` (JSON, forms, webhooks), a
multipart upload (a form with files) to ``ctx.max_upload_bytes``, and a path a
channel gave its own limit (``app.state.body_limits``, by path prefix: the alerts
webhook) to that one. A body over its limit is answered 413 with the limit named,
whether its Content-Length says so up front or it only grows past it while it is
read; the endpoint then sees a disconnect, so nothing of it is stored.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int, uploads: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.uploads = uploads
        self.limits = limits  # path prefix -> bytes, filled in as channels mount

    def limit_for(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
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
    body: dict[str, Any] = {
        "error": {
            "code": "request.too_large",
            "message": f"the request body is larger than this endpoint takes ({limit} bytes); "
            "send less, or raise the limit in the settings",
            "limit": limit,
        }
    }
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
