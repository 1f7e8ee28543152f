"""The process roles: ``up`` runs them all in one process (embedded); ``web``,
``worker``, ``clock``, ``smtp``, ``imap`` and ``poll`` run one each (the Procfile's scaled
mode); ``migrate`` prepares the database. All of them start through ``serve``.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading

import click

from config import check
from config.cli.base import handle_errors, load, main
from config.settings import Settings
from core.errors import ConfigError

log = logging.getLogger("switchboard")


@main.command()
@handle_errors
def migrate() -> None:
    """Create or upgrade the database schema and load queues, categories and codes."""
    from config.runtime import migrate as run_migrate

    settings = load()
    run_migrate(settings)
    click.echo(f"database ready: {_safe_url(settings.effective_database_url)}")


@main.command()
@handle_errors
def up() -> None:
    """Run the whole system in this process: web, workers, clock and every channel."""
    from config.runtime import migrate as run_migrate

    settings = load()
    run_migrate(settings)
    serve(settings, "web", "smtp", "imap", "poll", workers=True, clock=True)


def _role(
    name: str,
    summary: str,
    *roles: str,
    workers: bool = False,
    clock: bool = False,
    needs: tuple[str, str] | None = None,
) -> None:
    """Add the command that runs one role of the scaled mode in its own process:
    the channel services of ``roles``, the workers, the clock. ``needs``: a setting
    the role cannot run without, and what to say when it is empty."""

    @main.command(name, help=summary)
    @handle_errors
    def command() -> None:
        settings = _shared(load(), name)
        if needs and not getattr(settings, needs[0]):
            raise ConfigError(needs[1])
        serve(settings, *roles, workers=workers, clock=clock)


_role("web", "Run the web app (JSON API, pages, webhooks) and the channels' web services.", "web")
_role(
    "worker", "Run Dramatiq workers: deliveries, inbound processing, channel events.", workers=True
)
_role("clock", "Run the clock: re-sends lost work, audit checkpoints, SLA ticks.", clock=True)
_role("smtp", "Run the SMTP intake server (stores mail; workers decide it).", "smtp")
_role(
    "imap",
    "Run the IMAP poller: one per mailbox in SWITCHBOARD_IMAP_MAILBOXES.",
    "imap",
    needs=(
        "imap_host",
        "SWITCHBOARD_IMAP_HOST is empty: set it (and IMAP_USER, IMAP_PASSWORD) to poll a mailbox",
    ),
)
_role(
    "poll",
    "Run the chat pollers: Telegram long polling (when no public https URL is set).",
    "poll",
    needs=(
        "telegram_bot_token",
        "SWITCHBOARD_TELEGRAM_BOT_TOKEN is empty: set it (from BotFather) to poll Telegram",
    ),
)


def serve(settings: Settings, *roles: str, workers: bool = False, clock: bool = False) -> None:
    """Run one process: the workers and the clock if asked, the channel services of
    ``roles``, and the web app when ``web`` is one of them; until SIGTERM or Ctrl-C."""
    import uvicorn

    from config.runtime import System, require_schema, settle_heap

    require_schema(settings)
    system = System(settings)
    try:
        if workers:
            system.start_workers()
        if clock:
            system.make_clock().start_thread()
        if workers or clock:
            system.recover()
        app = system.web_app() if "web" in roles else None
        # The web port listens before the banner, so "is up" is true when printed:
        # a request sent after it waits in the backlog until the app takes it.
        listening = _listen(settings.http_host, settings.http_port) if app else None
        names = system.start_services(*roles)
        settle_heap()
        click.echo(_banner(settings, roles, workers, clock, names))
        check.log_summary(settings, system.ctx.policy, log)
        for part, state in system.ctx.health.snapshot().items():
            if state.state != "up":
                click.echo(f"  {part}: {state.state} ({state.detail}); retrying in the background")
        if app is None or listening is None:
            _wait_for_signal()
        else:
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host=settings.http_host,
                    port=settings.http_port,
                    log_level="warning",
                    access_log=False,
                    log_config=None,  # uvicorn's lines go through ours (config/logging.py)
                )
            )
            server.run(sockets=[listening])
    finally:
        system.stop()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (as uvicorn would open it)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); "
            "set SWITCHBOARD_HTTP_PORT to a free port"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _banner(
    settings: Settings, roles: tuple[str, ...], workers: bool, clock: bool, services: list[str]
) -> str:
    parts = []
    if "web" in roles:
        parts.append(f"http://{settings.http_host}:{settings.http_port}")
    parts.extend(services)
    if workers:
        parts.append(f"{settings.worker_threads} worker threads")
    if clock:
        parts.append(f"clock every {settings.clock_interval_seconds:g}s")
    return f"Switchboard is up: {', '.join(parts)}  (data in {settings.data_dir.resolve()})"


def _wait_for_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def _shared(settings: Settings, role: str) -> Settings:
    """A role of the scaled mode needs a broker other processes can reach."""
    if settings.broker_url.startswith(("memory://", "stub://")):
        raise ConfigError(
            f"SWITCHBOARD_BROKER_URL is {settings.broker_url}, which lives inside one process; "
            f"the '{role}' role runs as its own process, so set it to redis://... or amqp://... "
            "(or run everything in one process with 'switchboard up')"
        )
    return settings


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
