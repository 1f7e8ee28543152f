"""The Slack app: a slack-bolt ``App`` wired to Switchboard, served by the web app.

``mount`` puts it at ``/slack/events`` on the FastAPI app (Events API,
interactivity and slash commands all use that one URL); with
``SWITCHBOARD_SLACK_SOCKET_MODE`` the same app connects out over Socket Mode.

Platform rules: every request's signature is checked and timestamps older
than 5 minutes are refused, by the HTTP edge (``channels.slack.edge``) and again
by bolt (``request_verification_enabled``, never turned off here). Each event
and button press is stored before Slack gets its answer (``SlackWork.record``)
and worked on by the workers after it, so Slack's 3-second deadline holds and a
retried event (``X-Slack-Retry-Num``, same event id) does nothing twice. Over
HTTP the edge stores those itself without entering bolt; the listeners below do
the same for Socket Mode. Modals open from a lazy listener (their trigger
expires in 3 seconds); modal submissions run before the answer, so a refusal
shows in the modal itself.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import FastAPI, Request
from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk import WebClient
from starlette.responses import Response
from starlette.routing import Route

from channels.slack import edge, modals
from channels.slack.command import run as ticket_command_text
from channels.slack.settings import SlackSettings
from channels.slack.work import MODAL_BUTTONS, SlackWork, event_key, press_key
from core.context import Context
from core.intake.frontdoor import FrontDoor

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
DISPATCH_THREADS = 8


def web_client(settings: SlackSettings) -> WebClient:
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)


def build_work(ctx: Context, settings: SlackSettings, door: FrontDoor | None = None) -> SlackWork:
    channels = frozenset(c.strip() for c in settings.slack_intake_channels.split(",") if c.strip())
    return SlackWork(
        ctx, undo_seconds=settings.slack_undo_seconds, intake_channels=channels, door=door
    )


def build_app(
    ctx: Context,
    settings: SlackSettings,
    *,
    work: SlackWork | None = None,
    client: WebClient | None = None,
) -> App:
    """The bolt app with every Switchboard listener."""
    client = client or web_client(settings)
    work = work or build_work(ctx, settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret,
        process_before_response=True,  # store first, then answer; the work runs lazily
        request_verification_enabled=True,
        # A signed request no listener wants (an app_mention, a reaction, another app's
        # button) is answered 200 by on_error below, never 404: Slack retries a 404 and
        # may turn the app's events off.
        raise_error_for_unhandled_request=True,
    )

    # Events: store (before the answer), then process (lazily) -----------------------

    def store(body: dict[str, Any], ack: Ack) -> None:
        event = body.get("event", {})
        work.record(event_key(body), event.get("type", "?"), event)
        ack()

    app.event("message")(store)
    app.event("app_home_opened")(store)

    # Card buttons: store and answer; a worker acts. Modals open lazily, right away --------

    def ack_only(ack: Ack) -> None:
        ack()

    def press(ack: Ack, body: dict[str, Any]) -> None:
        work.record(press_key(body), "block_actions", body)
        ack()

    def open_pressed_modal(body: dict[str, Any]) -> None:
        open_modal(MODAL_BUTTONS[body["actions"][0]["action_id"]], body)

    def open_modal(name: str, body: dict[str, Any]) -> None:
        view = modals.modal_for(work, name, body)
        if isinstance(view, dict):
            # A modal's trigger expires in 3 seconds: this one call goes straight to Slack.
            # (Our own client, not bolt's per-request copy, which adds a team_id.)
            client.views_open(trigger_id=body["trigger_id"], view=view)
            return
        channel = (body.get("channel") or {}).get("id")
        if channel:
            from channels.slack import outbox as slack_outbox
            from channels.slack.work import refusal_text

            with work.ctx.db.transaction() as session:
                slack_outbox.ephemeral(
                    work.ctx, session, channel, body["user"]["id"], refusal_text(view)
                )

    modal_buttons = re.compile("^(" + "|".join(MODAL_BUTTONS) + ")$")
    app.action(modal_buttons)(ack=ack_only, lazy=[open_pressed_modal])
    app.action(re.compile(r"^sb_"))(press)  # every other button

    def note_shortcut(body: dict[str, Any]) -> None:
        open_modal("note", body)

    app.shortcut("sb_note")(ack=ack_only, lazy=[note_shortcut])

    # Modals: act before answering, so a refusal shows in the modal ----------------------

    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = modals.submit(work, view, body["user"]["id"])
        if errors:
            ack(response_action="errors", errors=errors)
        else:
            ack()

    app.view(re.compile(r"^sb_modal_"))(submit)

    # /ticket: look-ups answer in the acknowledgement ------------------------------------

    def ticket_command(ack: Ack, command: dict[str, Any]) -> None:
        ack(
            text=ticket_command_text(work, command.get("text", ""), command["user_id"]),
            response_type="ephemeral",
        )

    app.command("/ticket")(ticket_command)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            log.debug("Slack request no listener handles, answered 200: %s", _what(body))
            return BoltResponse(status=200, body="")
        log.exception("Slack listener failed: %s", error)
        return None

    return app


def _what(body: dict[str, Any]) -> str:
    event = body.get("event") if isinstance(body.get("event"), dict) else None
    if event:
        return f"event {event.get('type', '?')}"
    actions = body.get("actions") or [{}]
    return f"{body.get('type', body.get('command', '?'))} {actions[0].get('action_id', '')}".strip()


class LazyApp:
    """The bolt app, built on first use and kept: building it checks the token with
    Slack (auth.test), so it must not happen at start, when Slack may be unreachable."""

    def __init__(self, build: Callable[[], App]) -> None:
        self.build = build
        self.app: App | None = None
        self.lock = threading.Lock()

    def get(self) -> App:
        with self.lock:
            if self.app is None:
                self.app = self.build()
            return self.app

    def dispatch(self, request: BoltRequest) -> BoltResponse:
        try:
            app = self.get()
        except Exception as exc:  # noqa: BLE001 - Slack is down: it retries what we refuse
            log.warning("Slack app not ready (%s); asking Slack to retry", exc)
            return BoltResponse(status=503, body="")
        return app.dispatch(request)


def mount_http(web: FastAPI, app: LazyApp, work: SlackWork, signing_secret: str) -> None:
    """Serve /slack/events: the edge stores and answers what it can, bolt the rest (off the event loop)."""

    # A small pool of its own: Slack traffic cannot take every thread the API needs.
    limiter = anyio.CapacityLimiter(DISPATCH_THREADS)

    async def to_bolt(request: Request, body: bytes) -> Response:
        bolt_response = await anyio.to_thread.run_sync(
            app.dispatch, to_bolt_request(request, body), limiter=limiter
        )
        return to_starlette_response(bolt_response)

    # First in the routing table: under a burst, matching it past every API route adds up.
    web.router.routes.insert(
        0,
        Route(
            EVENTS_PATH,
            edge.endpoint(work, signing_secret, to_bolt),
            methods=["POST"],
            include_in_schema=False,
        ),
    )
