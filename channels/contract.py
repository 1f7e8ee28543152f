"""What a channel is: the one contract every channel package fulfils.

A channel package builds one ``Channel`` value (``Channel.of(__name__, ...)``) and is listed once, in
``channels.registry``. Nothing else in the tree names it: the process wiring
(``config.runtime``) asks each listed channel whether it is configured and, if
so, plugs it in, collecting from its ``Plug`` the sender the workers use, the
jobs and clock ticks it adds, the observers that follow ticket changes, its web
routes and the services it runs in a process role (an SMTP server, an IMAP
poller, a Socket Mode connection, ...).

A platform that cannot be reached never stops the process: a service whose
``start`` raises is reported degraded (``core.health``) and started again in the
background until it comes up (``config.supervise``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from typing import TYPE_CHECKING, Any, TypeAlias

from core.channel import ClientHint, EventHandler, Fetcher, Forget, Parser, Sender

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.context import Context, Observer

Settings: TypeAlias = Any
"""The deployment's settings (``config.settings.Settings``), as every channel function
is given them. They extend each channel's settings class (``<package>/settings.py``,
itself an extension of ``config.core_settings.CoreSettings``), so a channel's
functions take its own class; this module cannot name the joined class, which is
made of the channels."""

Job = Callable[..., None]
"""A worker job: called by a Dramatiq actor with ints and strings."""

Tick = Callable[["Context"], object]
"""Called by the clock on every tick; one that fails never stops the others."""

Mount = Callable[[Any], None]
"""Adds routes to the web app (a FastAPI instance)."""

ROLES = ("web", "smtp", "imap", "poll")
"""The process roles a channel's services run in (``switchboard up`` runs them all)."""


@dataclass
class Service:
    """Something a channel runs inside a process role, started and stopped with it.

    ``start`` may raise when its platform cannot be reached; it is then retried in
    the background. ``stop`` must be safe to call whether or not ``start`` succeeded.
    """

    name: str
    role: str
    start: Callable[[], None]
    stop: Callable[[], None] = lambda: None


@dataclass
class Plug:
    """What one configured channel adds to one process."""

    sender: Sender | None = None
    fetcher: Fetcher | None = None  # downloads the files its payloads only name
    events: EventHandler | None = None
    hints: list[ClientHint] = field(default_factory=list)  # notes and links for the agent
    observers: list[Observer] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    ticks: list[Tick] = field(default_factory=list)
    mount: Mount | None = None
    services: list[Service] = field(default_factory=list)


def _no_tables() -> None:
    return None


def _always(settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class Channel:
    """One channel: its name, how its stored payloads parse, and how it plugs in.

    - ``configured(settings)``: whether this deployment uses it (only configured
      channels are plugged in, and only they can be named as a client's channel).
    - ``plug(ctx, settings)``: build what it adds to a process; must not reach the
      platform (that happens in a ``Service``'s ``start``, which may be retried).
    - ``parser``: raw stored payload -> ``Inbound`` (None: the neutral JSON form).
    - ``tables()``: imports the modules declaring the channel's tables, so the
      schema (migrations, tests) knows them.
    - ``clients``: whether clients can be reached on it (False for staff-only
      channels).
    - ``answers``: whether whoever writes in on it is written back to at all
      (acknowledgements, replies, notices). False for a monitoring system: it is
      not a person, and nothing is ever sent to it.
    - ``check_address``: raises ``ValueError`` naming the problem when a client
      address typed by a person is not one on this channel (None: any text).
    - ``forget(settings, session, what)``: its part of erasing a client's personal
      data (``core.channel.Forgetter``); wired in whether or not the channel is
      configured now, since its tables and files may hold data from when it was.
    - ``file_bytes``: the largest file an agent's reply can carry to a client on
      it (0: its sender sends no files, so a reply with files is refused, saying
      so; None: no limit of its own).
    - ``probe(settings)``: asks the platform what a process's start-up asks it (a
      token check); None when it answers, else why not, in a few words without
      secrets (``switchboard check`` then says the channel is degraded). None: the
      channel has nothing to ask.
    - ``status(settings, configured, down)``: what ``switchboard check`` says of the
      channel, as ``(level, message)`` pairs (``OK``, ``WARNING``, ``PROBLEM``);
      ``down`` is why its platform did not answer the probe (None: it did, or it
      was not asked). None: nothing is said of it.
    """

    name: str
    title: str
    configured: Callable[[Settings], bool]
    plug: Callable[[Context, Settings], Plug]
    parser: Parser | None = None
    tables: Callable[[], object] = _no_tables
    clients: bool = True
    answers: bool = True
    check_address: Callable[[str], None] | None = None
    forget: Callable[[Settings, Session, Forget], None] | None = None
    file_bytes: int | None = None
    probe: Callable[[Settings], str | None] | None = None
    status: Callable[[Settings, bool, str | None], list[tuple[str, str]]] | None = None

    @classmethod
    def of(cls, package: str, title: str, *, models: bool = False, **more: Any) -> Channel:
        """The channel a package declares by the names every channel package uses: its
        ``NAME``, ``plug`` and, where it has them, ``configured`` (else: always),
        ``forget``, ``probe`` and ``status``.
        ``package`` is the package's ``__name__``; ``models``: its tables are declared
        in ``<package>.models``; ``more``: the other fields (``parser``, ...)."""
        module = sys.modules[package]
        return cls(
            name=module.NAME,
            title=title,
            configured=getattr(module, "configured", _always),
            plug=module.plug,
            forget=getattr(module, "forget", None),
            probe=getattr(module, "probe", None),
            status=getattr(module, "status", None),
            tables=partial(import_module, f"{package}.models") if models else _no_tables,
            **more,
        )


OK, WARNING, PROBLEM = "ok", "warning", "problem"
"""The levels of what ``switchboard check`` finds (``Channel.status``)."""


def switched_by(
    title: str, setting: str
) -> Callable[[Any, bool, str | None], list[tuple[str, str]]]:
    """A ``status`` for a channel that is simply on or off: configured, or not, naming
    the setting (``SWITCHBOARD_`` + ``setting``) that turns it on."""

    def status(settings: Any, configured: bool, down: str | None) -> list[tuple[str, str]]:
        if configured:
            return [(OK, f"{title} is configured")]
        return [(OK, f"{title} is not configured (SWITCHBOARD_{setting} is empty)")]

    return status
