"""The HTTP edge of the alerts channel: check who sends, read, store, answer.

    POST /alerts/alertmanager     Alertmanager's webhook (version 4)
    POST /alerts/generic          the generic JSON format (``channels.alerts.parse``)

| the request                                              | the answer                  |
|----------------------------------------------------------|-----------------------------|
| neither a valid bearer token nor a valid signature        | 401, nothing stored         |
| larger than ``SWITCHBOARD_ALERTS_MAX_BYTES``              | 413, nothing stored         |
| not a notification in the endpoint's format              | 400 naming what is wrong    |
| stored (or a repeated ``Idempotency-Key``)                | 202 once committed          |
| the database cannot store it                             | 503: the sender retries     |

A caller proves itself with ``Authorization: Bearer SWITCHBOARD_ALERTS_TOKEN`` or
with ``X-Switchboard-Signature: sha256=HEX``, the HMAC-SHA256 of the raw body under
``SWITCHBOARD_ALERTS_HMAC_SECRET``; both are compared in constant time.

5xx only when nothing was stored, so Alertmanager (which retries 5xx, not 4xx)
retries exactly then. A store that timed out may still have committed: the retry is
then a second record, and deciding it changes nothing (``core.alerts.apply``
compares every alert with what is known of it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from channels.alerts.parse import FORMATS
from core.errors import IntakeError
from core.intake import Incoming
from core.intake.frontdoor import FrontDoor

log = logging.getLogger(__name__)

CHANNEL = "alerts"
SIGNATURE_HEADER = "x-switchboard-signature"
NO_CREDENTIALS = (
    "send 'Authorization: Bearer <token>' or an "
    "'X-Switchboard-Signature: sha256=<HMAC-SHA256 of the body>' header"
)


def _error(status: int, code: str, message: str) -> JSONResponse:
    response = JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def authorized(authorization: str, signature: str, body: bytes, token: str, secret: str) -> bool:
    """A valid bearer token, or a valid HMAC-SHA256 signature of the raw body."""
    if token and authorization[:7].lower() == "bearer ":
        if hmac.compare_digest(authorization[7:].strip().encode(), token.encode()):
            return True
    if secret and signature[:7].lower() == "sha256=":
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(signature[7:].strip().lower().encode(), expected.encode()):
            return True
    return False


async def _body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it grows past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def endpoint(
    door: FrontDoor, kind: str, *, token: str, secret: str, max_bytes: int
) -> Callable[[Request], Awaitable[Response]]:
    """The ASGI endpoint for one format (``alertmanager`` or ``generic``)."""
    read = FORMATS[kind]

    async def receive_alerts(request: Request) -> Response:
        headers = request.headers
        if SIGNATURE_HEADER not in headers and "authorization" not in headers:
            return _error(401, "unauthorized", NO_CREDENTIALS)  # before reading the body
        body = await _body(request, max_bytes)
        if body is None:
            return _error(413, "alerts.too_large", f"a notification is at most {max_bytes} bytes")
        if not authorized(
            headers.get("authorization", ""), headers.get(SIGNATURE_HEADER, ""), body, token, secret
        ):
            log.info("alerts: refused a %s notification without valid credentials", kind)
            return _error(401, "unauthorized", NO_CREDENTIALS)
        try:
            group = read(body)
        except IntakeError as exc:  # the sender's fault: say what, store nothing
            log.info("alerts: refused a %s notification: %s", kind, exc)
            return _error(400, "alerts.payload", str(exc))
        key = headers.get("idempotency-key", "").strip()
        external_id = f"key:{kind}:{key}" if key else f"{kind}:{uuid.uuid4().hex}"
        try:
            received = await door.store_async(
                Incoming(CHANNEL, external_id, body, {"format": kind}, transport=kind)
            )
        except Exception:  # ours: nothing was stored, so the sender must retry
            log.exception("alerts: could not store a %s notification; the sender will retry", kind)
            return _error(503, "alerts.unavailable", "could not store the notification; retry")
        return JSONResponse(
            {
                "record": f"in-{received.record_id}",
                "duplicate": received.duplicate,
                "alerts": len(group.alerts),
            },
            status_code=202,
        )

    return receive_alerts
