"""The ``switchboard`` command.

``switchboard up`` runs everything (embedded); ``web``, ``smtp``, ``imap``,
``worker`` and ``clock`` run one role each (the Procfile's scaled mode): see
``roles``. The other commands read and repair: ``tickets`` (tickets, parked
items, raw messages; ``actions``: every ticket action, as a named agent), ``contacts`` (clients across channels: show, link, split),
``assets`` (machines, sites, work orders) and ``admin`` (settings, audit, agents,
on-call, reports, outbox) and ``team`` (API tokens, deactivating an agent,
an agent's preferences, organizations and their tier), ``follow-ups`` (what the
desk rules opened) and ``check`` (what is configured, and what that means).
"""

from __future__ import annotations

from config.cli import (  # noqa: F401  (each adds its commands to main)
    actions,
    admin,
    assets,
    contacts,
    desk,
    roles,
    team,
    tickets,
)
from config.cli.base import main

__all__ = ["main"]
