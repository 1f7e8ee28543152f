"""The webhook edge: check the secret, store the update, answer.

    POST /telegram/webhook

| the request                                                  | the answer                   |
|--------------------------------------------------------------|------------------------------|
| X-Telegram-Bot-Api-Secret-Token missing or wrong              | 401, nothing stored          |
| larger than ``MAX_BYTES``                                     | 413, nothing stored          |
| not an Update (JSON object with an integer ``update_id``)     | 400 naming what is wrong     |
| stored (or already stored: the same update or message again)  | 200 once committed           |
| the database cannot store it                                  | 503: Telegram sends it again |

The secret is compared in constant time. A button press (``callback_query``) is
answered in the response itself (``answerCallbackQuery`` as the webhook reply),
so the client's spinner stops at once; what the press does happens in a worker.
Answers come first: stored updates go to the workers once this process has no
webhook request waiting for its answer (``ANSWERING``; it matters where the workers
share the process, ``switchboard up``).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from channels.telegram import updates
from core.errors import IntakeError
from core.intake import Incoming, Received
from core.intake.frontdoor import Answering, FrontDoor

log = logging.getLogger(__name__)

NAME = "telegram"
PATH = "/telegram/webhook"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
MAX_BYTES = 1024 * 1024
PRESSED = "Received"
ANSWERING = Answering()  # the hand-over to the workers waits for these answers first


def incoming(update: dict[str, Any], raw: bytes, transport: str) -> Incoming:
    """The inbound record for one update (its external id: ``updates.external_id``)."""
    return Incoming(
        NAME,
        updates.external_id(update),
        raw,
        {"update_id": update["update_id"], "kind": updates.kind(update)},
        transport=transport,
    )


def callback_answer(update: dict[str, Any]) -> dict[str, Any] | None:
    """answerCallbackQuery's parameters for a button press, else None."""
    query = update.get("callback_query")
    if not isinstance(query, dict) or not query.get("id"):
        return None
    return {"callback_query_id": str(query["id"]), "text": PRESSED}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def endpoint(door: FrontDoor, secret: str) -> Callable[[Request], Awaitable[Response]]:
    expected = secret.encode()

    async def _receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.info("telegram: refused a webhook request without the right secret token")
            return _error(401, "unauthorized", f"send the webhook's secret in {SECRET_HEADER}")
        body = await request.body()
        if len(body) > MAX_BYTES:
            return _error(413, "telegram.too_large", f"an update is at most {MAX_BYTES} bytes")
        try:
            update = updates.load(body)
            record = incoming(update, body, "webhook")
        except IntakeError as exc:
            return _error(400, "telegram.update", str(exc))
        try:
            received: Received = await door.store_async(record)
        except Exception:  # ours: nothing stored, so Telegram must send it again
            log.exception(
                "telegram: could not store update %s; Telegram will retry", update["update_id"]
            )
            return _error(503, "telegram.unavailable", "could not store the update; retry")
        answer = callback_answer(update)
        if answer is not None:
            return JSONResponse({"method": "answerCallbackQuery", **answer})
        return JSONResponse({"ok": True, "duplicate": received.duplicate})

    return ANSWERING.counting(_receive)  # the hand-over waits while requests are answered
