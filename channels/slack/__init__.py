"""The Slack channel: agents work the queue from Slack, and clients may write in from it.

- ``app``: the slack-bolt app (Events API, interactivity, /ticket) mounted on the web app
- ``edge``: the HTTP endpoint: checks signatures, stores events and button presses, answers
- ``work``: what events, buttons, modals and the command do, through the core actions (``core.tickets``)
- ``cards``: the observer that keeps each ticket's card and thread up to date
- ``outbox``: Slack outbox rows; ``sender``: delivers them through the Web API
- ``intake``: Slack messages from non-agents as ``Inbound`` values
- ``files``: downloads the files shared in Slack before the event is decided (``Plug.fetcher``)
- ``blocks``: Block Kit; ``models``: the channel's tables

Configured when ``SWITCHBOARD_SLACK_BOT_TOKEN`` is set. Slack being unreachable
never stops a process: the token check and the Socket Mode connection are
services, reported degraded and retried until Slack answers; ``probe`` asks the
same for ``switchboard check``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from channels.contract import OK, WARNING, Channel, Plug, Service
from channels.slack.intake import parse

if TYPE_CHECKING:
    from channels.slack.settings import SlackSettings
    from core.context import Context

log = logging.getLogger(__name__)

NAME = "slack"


def configured(settings: SlackSettings) -> bool:
    return bool(settings.slack_bot_token)


def plug(ctx: Context, settings: SlackSettings) -> Plug:
    """The card observer, the sender, the event handler, and the web-role services."""
    from channels.slack.app import build_work, web_client
    from channels.slack.cards import CardObserver
    from channels.slack.edge import ANSWERING
    from channels.slack.files import fetcher
    from channels.slack.sender import SlackSender
    from core.intake.frontdoor import FrontDoor

    # Stored events reach the workers only once this process has answered the Slack
    # requests in flight (it matters where they share the process: switchboard up).
    work = build_work(ctx, settings, FrontDoor(ctx, before_hand_over=ANSWERING.wait_until_answered))
    observer = CardObserver(settings.slack_default_channel)
    observer.work = work
    client = web_client(settings)

    def check_token() -> None:
        """Who the bot is (its own messages are not a person's); raises while Slack is unreachable."""
        work.bot_user_id = client.auth_test().get("user_id")

    def mount(web: Any) -> None:
        from channels.slack.app import LazyApp, build_app, mount_http

        if settings.slack_socket_mode:
            return
        _require(
            settings.slack_signing_secret,
            "SWITCHBOARD_SLACK_SIGNING_SECRET is empty: Slack's requests could not be checked "
            "(copy it from the app's Basic Information page)",
        )
        app = LazyApp(lambda: build_app(ctx, settings, work=work, client=client))
        mount_http(web, app, work, settings.slack_signing_secret)

    services = [Service("Slack Web API", "web", check_token)]
    if settings.slack_socket_mode:
        services.append(_socket_mode(ctx, settings, work, client))
    return Plug(
        sender=SlackSender(client, ctx),
        events=work.handle,
        fetcher=fetcher(settings.slack_bot_token, settings.slack_api_url),
        observers=[observer],
        mount=mount,
        services=services,
    )


def status(settings: SlackSettings, configured: bool, down: str | None) -> list[tuple[str, str]]:
    if down:
        return [
            (
                WARNING,
                f"Slack is configured but degraded: {down}; ticket cards and "
                "Slack notifications wait and are retried, and the web role retries "
                "its token check until Slack answers (/healthz: 'Slack Web API')",
            )
        ]
    if configured:
        return [(OK, "Slack is configured: agents work tickets from Slack")]
    return [
        (
            WARNING,
            "Slack is not configured (SWITCHBOARD_SLACK_BOT_TOKEN is empty): no ticket "
            "cards, and any notification meant for Slack reaches no one",
        )
    ]


def probe(settings: SlackSettings) -> str | None:
    """Ask Slack who the bot is, as the web role's token check does; None when it
    answers, else why not (``switchboard check``)."""
    from slack_sdk.errors import SlackApiError

    from channels.slack.app import web_client

    try:
        web_client(settings).auth_test()
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        return (
            f"the Web API answered HTTP {exc.response.status_code} {data.get('error', '')}".strip()
        )
    except Exception as exc:  # noqa: BLE001 - unreachable: refused, unresolvable, timed out
        reason = getattr(exc, "reason", None) or exc
        return f"the Web API cannot be reached ({type(reason).__name__})"
    return None


def _socket_mode(ctx: Context, settings: SlackSettings, work: Any, client: Any) -> Service:
    from channels.slack.app import build_app

    _require(
        settings.slack_app_token,
        "SWITCHBOARD_SLACK_SOCKET_MODE is on but SWITCHBOARD_SLACK_APP_TOKEN (xapp-...) is empty",
    )
    handlers: list[Any] = []

    def start() -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(
            build_app(ctx, settings, work=work, client=client), settings.slack_app_token
        )
        handler.connect()
        handlers.append(handler)

    def stop() -> None:
        for handler in handlers:
            handler.close()

    return Service("Slack Socket Mode", "web", start, stop)


def _require(value: str, message: str) -> None:
    from core.errors import ConfigError

    if not value:
        raise ConfigError(message)


CHANNEL = Channel.of(
    __name__,
    "Slack",
    models=True,
    parser=parse,
    file_bytes=0,  # the sender posts text only
)
