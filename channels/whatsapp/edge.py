"""The HTTP edge of the WhatsApp channel: Meta's webhook, verified, stored, answered.

    GET  /whatsapp/webhook     the subscription handshake (hub.mode, hub.verify_token,
                               hub.challenge)
    POST /whatsapp/webhook     messages and statuses

| the request                                                  | the answer                  |
|--------------------------------------------------------------|-----------------------------|
| GET with hub.mode=subscribe and our verify token              | 200, hub.challenge as text  |
| GET with anything else                                       | 403                         |
| POST without a valid X-Hub-Signature-256                      | 401, nothing stored         |
| POST larger than ``SWITCHBOARD_WHATSAPP_MAX_BYTES``           | 413, nothing stored         |
| POST that is not a WhatsApp Business Account webhook         | 400 naming what is wrong    |
| POST stored (items for another phone number id are not)       | 200 once committed          |
| POST the database cannot store                               | 503: Meta sends it again    |

The signature is ``sha256=`` and the HMAC-SHA256 of the raw body under the app
secret, compared in constant time. Every message, status and other change of the
body is stored as its own inbound record (``parse.split``): Meta re-sends a webhook
for up to seven days, and the same wamid twice is one record.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from channels.whatsapp.parse import CHANNEL, split
from core.errors import IntakeError
from core.intake import Incoming
from core.intake.frontdoor import FrontDoor

log = logging.getLogger(__name__)

PATH = "/whatsapp/webhook"
SIGNATURE_HEADER = "x-hub-signature-256"


def signed(body: bytes, header: str, secret: str) -> bool:
    """True when ``header`` is ``sha256=`` and the body's HMAC-SHA256 under ``secret``."""
    if not secret or header[:7].lower() != "sha256=":
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[7:].strip().lower().encode(), expected.encode())


async def _read(request: Request, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = await request.body()
    return body if len(body) <= limit else None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def verify(verify_token: str) -> Callable[[Request], Awaitable[Response]]:
    """GET: Meta's subscription handshake."""

    async def verify_webhook(request: Request) -> Response:
        query = request.query_params
        given = query.get("hub.verify_token", "")
        if (
            query.get("hub.mode") == "subscribe"
            and verify_token
            and hmac.compare_digest(given.encode(), verify_token.encode())
        ):
            return PlainTextResponse(query.get("hub.challenge", ""))
        log.info("whatsapp: refused a webhook verification with a wrong mode or verify token")
        return PlainTextResponse("wrong hub.mode or hub.verify_token", status_code=403)

    return verify_webhook


def receive(
    door: FrontDoor, *, secret: str, phone_number_id: str, max_bytes: int
) -> Callable[[Request], Awaitable[Response]]:
    """POST: check the signature, store each item, answer once committed."""

    async def receive_webhook(request: Request) -> Response:
        if SIGNATURE_HEADER not in request.headers:
            return _error(401, "unauthorized", "send the X-Hub-Signature-256 header")
        body = await _read(request, max_bytes)
        if body is None:
            return _error(413, "whatsapp.too_large", f"a webhook is at most {max_bytes} bytes")
        if not signed(body, request.headers[SIGNATURE_HEADER], secret):
            log.info("whatsapp: refused a webhook whose signature does not match the app secret")
            return _error(401, "unauthorized", "X-Hub-Signature-256 does not match the body")
        try:
            items = split(body)
        except IntakeError as exc:
            log.info("whatsapp: refused a webhook: %s", exc)
            return _error(400, "whatsapp.payload", str(exc))
        ours = [i for i in items if i.phone_number_id == phone_number_id]
        if len(ours) < len(items):
            others = sorted({i.phone_number_id for i in items} - {phone_number_id})
            log.warning(
                "whatsapp: %d webhook items for phone number id(s) %s, not ours (%s): not stored",
                len(items) - len(ours),
                ", ".join(others),
                phone_number_id,
            )
        try:  # stored together: the front door commits them in one transaction
            results = await asyncio.gather(
                *(
                    door.store_async(
                        Incoming(CHANNEL, i.external_id, i.raw, {"kind": i.kind}, "webhook")
                    )
                    for i in ours
                )
            )
        except Exception:  # ours: Meta sends the webhook again, and stored items are duplicates
            log.exception("whatsapp: could not store a webhook; Meta will send it again")
            return _error(503, "whatsapp.unavailable", "could not store the webhook; retry")
        return JSONResponse(
            {
                "stored": sum(not r.duplicate for r in results),
                "duplicates": sum(r.duplicate for r in results),
                "ignored": len(items) - len(ours),
            }
        )

    return receive_webhook
