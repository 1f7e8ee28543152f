"""The ``switchboard`` command.

``switchboard up`` runs everything (embedded); ``web``, ``smtp``, ``imap``,
``worker`` and ``clock`` run one role each (the Procfile's scaled mode): see
``roles``. The other commands read and repair: ``tickets`` (tickets, parked
items, raw messages), ``contacts`` (clients across channels: show, link, split),
``assets`` (machines, sites, work orders) and ``admin`` (settings, audit, agents,
on-call, reports, outbox).
"""

from __future__ import annotations

from config.cli import admin, assets, contacts, roles, tickets  # noqa: F401  (each adds its commands to main)
from config.cli.base import main

__all__ = ["main"]
