"""The headers every answer of the web app carries, for the pages above all.

Tracking and escalation pages are reached by a link with a token in it, from mail
and chat: no page may be framed, leak its address to another site (Referer), run
a script from anywhere but this app, or be sniffed into another type.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
FILES_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if "/files/" in path:  # a client's file: never run as a page of ours
                    headers.setdefault("Content-Security-Policy", FILES_POLICY)
                elif not path.startswith("/api/docs"):  # the API docs load their own scripts
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                if path.startswith(("/t/", "/c/", "/e/")) or "text/html" in headers.get(
                    "content-type", ""
                ):
                    headers.setdefault("Cache-Control", "no-store")  # pages behind a token
            await send(message)

        await self.app(scope, receive, with_headers)
