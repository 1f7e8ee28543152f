"""The HTTP edge of the Slack app: check the signature, store, answer.

Slack sends everything to one URL. Most of it (messages, App Home opens, card
buttons) needs nothing in the answer: the edge checks the signature and the
timestamp itself (5-minute window), stores the event (``SlackWork.record_async``,
many per transaction, awaited on the event loop) and answers 200 with an empty
body as soon as the row is committed; the workers do the work.
Only what must answer inside the request goes on to bolt: modal buttons and the
note shortcut (their trigger expires in 3 s), modal submissions (a refusal shows
in the modal), /ticket, and anything the edge does not know (url_verification).

A retried event (``X-Slack-Retry-Num``) has the same event id, so its row is not
new and nothing happens twice. A bad signature or an old timestamp is a 401 and
nothing is stored.

Answers come first: ``ANSWERING`` counts the requests this process has not yet
answered, and stored events are handed to the workers only when there are none
(or after ``core.intake.frontdoor.ANSWER_FIRST_SECONDS``). That only matters where the workers share
the process with the web app (``switchboard up``): threads share one interpreter,
and a burst of events would otherwise be worked on while later requests of the
same burst still wait for their answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import Response

from channels.slack.work import MODAL_BUTTONS, SlackWork, event_key, press_key
from core.intake.frontdoor import Answering

log = logging.getLogger(__name__)

STORED_EVENTS = frozenset({"message", "app_home_opened"})
ANSWERING = Answering()


@dataclass(frozen=True)
class Stored:
    """An event or button press the edge stores and acknowledges itself."""

    key: str
    kind: str
    payload: dict[str, Any]


class Ignored:
    """An event the workers would do nothing with (a bot's own post, an edit): just 200."""


IGNORED = Ignored()


def classify(body: bytes, content_type: str, work: SlackWork) -> Stored | Ignored | None:
    """What the edge does with a verified request; None hands it to bolt."""
    try:
        if content_type.startswith("application/json"):
            envelope = json.loads(body)
            if not isinstance(envelope, dict) or envelope.get("type") != "event_callback":
                return None
            event = envelope.get("event")
            if not isinstance(event, dict):
                return None
            if event.get("type") not in STORED_EVENTS:
                log.debug("Slack event %s: nothing to do, answered 200", event.get("type"))
                return IGNORED  # app_mention, reaction_added, ...: signed, not ours to act on
            if event["type"] == "message" and not work.is_person(event):
                return IGNORED
            return Stored(event_key(envelope), event["type"], event)
        form = parse_qs(body.decode("utf-8"))
        if "payload" not in form:
            return None  # a slash command
        payload = json.loads(form["payload"][0])
        if not isinstance(payload, dict) or payload.get("type") != "block_actions":
            return None
        actions = payload.get("actions") or [{}]
        action_id = actions[0].get("action_id", "")
        if not action_id.startswith("sb_"):
            log.debug("Slack action %s of another app: answered 200", action_id[:60])
            return IGNORED
        if action_id in MODAL_BUTTONS:
            return None
        return Stored(press_key(payload), "block_actions", payload)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None  # malformed: bolt answers it as it always did


def _is_ssl_check(body: bytes, content_type: str) -> bool:
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return False
    try:
        return parse_qs(body.decode("utf-8")).get("ssl_check") == ["1"]
    except ValueError:
        return False


def endpoint(
    work: SlackWork, signing_secret: str, to_bolt: Callable[[Request, bytes], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """The ASGI endpoint for POST /slack/events."""
    verifier = SignatureVerifier(signing_secret)

    async def answer(request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        try:
            valid = verifier.is_valid(
                body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
            )
        except ValueError:  # a timestamp that is not a number
            valid = False
        if not valid:
            if _is_ssl_check(body, headers.get("content-type", "")):
                return await to_bolt(
                    request, body
                )  # Slack's certificate check is not signed; bolt answers it
            return Response(status_code=401)
        decision = classify(body, headers.get("content-type", ""), work)
        if decision is None:
            return await to_bolt(request, body)
        if isinstance(decision, Stored):
            try:
                await work.record_async(decision.key, decision.kind, decision.payload)
            except Exception:
                log.exception("could not store Slack event %s; Slack will retry it", decision.key)
                return Response(status_code=500)
        return Response(status_code=200)

    return ANSWERING.counting(answer)  # the hand-over waits while requests are answered
