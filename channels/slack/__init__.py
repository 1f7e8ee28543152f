"""The Slack channel: agents work the queue from Slack, and clients may write in from it.

- ``app``: the slack-bolt app (Events API, interactivity, /ticket) mounted on the web app
- ``edge``: the HTTP endpoint: checks signatures, stores events and button presses, answers
- ``work``: what events, buttons, modals and the command do, through ``core.actions``
- ``cards``: the observer that keeps each ticket's card and thread up to date
- ``outbox``: Slack outbox rows; ``sender``: delivers them through the Web API
- ``intake``: Slack messages from non-agents as ``Inbound`` values
- ``blocks``: Block Kit; ``models``: the channel's tables
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from channels.base import Sender
    from channels.slack.work import SlackWork
    from config.settings import Settings
    from core.context import Context

CHANNEL = "slack"


def enabled(settings: Settings) -> bool:
    return bool(settings.slack_bot_token)


def install(ctx: Context, settings: Settings) -> None:
    """Hook Slack into a context: the card observer, the intake parser, the event sweep."""
    from channels.slack import intake
    from channels.slack.app import build_work
    from channels.slack.cards import CardObserver
    from channels.slack.work import JOB
    from workers import jobs
    from workers.clock import TICKS

    intake.register()
    if _work(ctx) is None:
        observer = CardObserver(settings.slack_default_channel)
        observer.work = build_work(ctx, settings)
        ctx.observers.append(observer)
    # A worker job of our own; System builds the broker (which declares JOBS) after the context.
    jobs.JOBS.setdefault(JOB, _process_event)  # type: ignore[arg-type]  # (takes an event id, a str)
    if _sweep not in TICKS:
        TICKS.append(_sweep)


def _work(ctx: Context) -> SlackWork | None:
    """The context's Slack work (kept on its card observer, so it lives as long as the context)."""
    from channels.slack.cards import CardObserver

    for observer in ctx.observers:
        if isinstance(observer, CardObserver):
            return observer.work
    return None


def _process_event(event_id: str) -> None:
    """The worker job: do what one stored Slack event asks (after Slack has its answers)."""
    from channels.slack.edge import ANSWERING
    from workers import jobs

    ANSWERING.wait_until_answered()
    work = _work(jobs.runtime().ctx)
    if work is not None:
        work.process(event_id)


def _sweep(ctx: Context) -> None:
    work = _work(ctx)
    if work is not None:
        work.sweep(ctx)


def make_sender(settings: Settings, ctx: Context) -> Sender:
    from channels.slack.app import web_client
    from channels.slack.sender import SlackSender

    return SlackSender(web_client(settings), ctx)


def attach(web: FastAPI, ctx: Context, settings: Settings) -> Any:
    """Serve the Slack app from ``web`` (HTTP) or connect it over Socket Mode.

    Returns the Socket Mode handler to close at shutdown, or None.
    """
    from channels.slack.app import build_app, build_work, mount, start_socket_mode
    from core.errors import ConfigError

    if settings.slack_socket_mode and not settings.slack_app_token:
        raise ConfigError(
            "SWITCHBOARD_SLACK_SOCKET_MODE is on but SWITCHBOARD_SLACK_APP_TOKEN (xapp-...) is empty"
        )
    if not settings.slack_socket_mode and not settings.slack_signing_secret:
        raise ConfigError(
            "SWITCHBOARD_SLACK_SIGNING_SECRET is empty: Slack's requests could not be checked (copy it from the app's Basic Information page)"
        )
    work = _work(ctx) or build_work(ctx, settings)
    app = build_app(ctx, settings, work=work)
    if settings.slack_socket_mode:
        return start_socket_mode(app, settings)
    mount(web, app, work, settings.slack_signing_secret)
    return None
