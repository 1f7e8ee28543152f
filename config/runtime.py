"""Assemble a running Switchboard from settings: context, broker, senders, workers.

Every process role (web, smtp, imap, worker, clock, and ``up`` which runs them
all) starts here, so the embedded and scaled deployments share one code path.
"""

from __future__ import annotations

import gc
import logging
import threading
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import dramatiq
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import migrations
from channels.contract import Plug
from channels.registry import CHANNELS
from config.settings import Settings
from config.supervise import Supervisor
from core import idempotency, processes
from core.alerts import policy as alertpolicy
from core.channel import Sender
from core.context import Context
from core.db import Database
from core.desk import config as desk
from core.desk import rules as deskrules
from core.errors import ConfigError
from core.escalation import config as escalation
from core.escalation import oncall
from core.models import Category, ResolutionCode, SupportQueue
from core.policy import Policy, load_policy
from core.rendering import Renderer
from core.satisfaction import config as satisfaction
from core.sla import policy as slapolicy
from core.sla import ticket as sla_ticket
from workers import jobs
from workers.broker import Broker
from workers.clock import Clock
from workers.sweep import sweep

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(url: str) -> AlembicConfig:
    """Alembic's configuration; the schema it compares against holds every channel's tables."""
    from core.models import Base

    for channel in CHANNELS:
        channel.tables()
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["target_metadata"] = Base.metadata
    return cfg


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest revision and load reference data from config."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.effective_database_url), "head")
    ctx = build_context(settings)
    sync_reference_data(ctx)
    with ctx.db.transaction() as session:
        sla_ticket.backfill_attention(session)
        deskrules.backfill(ctx, session)
    ctx.db.dispose()


def require_schema(settings: Settings) -> None:
    """Refuse, saying what to run, unless the database exists at the newest revision.

    Creates nothing: a command run from the wrong directory, or before ``migrate``,
    leaves no empty data directory or database behind.

    Raises:
      ConfigError: no database there, it cannot be reached, or it is not migrated.
    """
    if not settings.embedded:
        settings.signing_key()  # a shared database needs the shared key: say that first
    url = make_url(settings.effective_database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        if not Path(url.database).exists():
            raise ConfigError(
                f"no Switchboard database at {url.database}: run `switchboard migrate` first, "
                "or run from the directory Switchboard lives in (or set SWITCHBOARD_DATA_DIR "
                "or SWITCHBOARD_DATABASE_URL to where it is)"
            )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if inspect(conn).has_table("alembic_version")
                else None
            )
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"cannot reach the database {shown} ({type(getattr(exc, 'orig', None) or exc).__name__}): "
            "check SWITCHBOARD_DATABASE_URL and that the server is running"
        ) from None
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(str(url))).get_current_head()
    if current != head:
        state = f"at revision {current}" if current else "empty (no schema)"
        raise ConfigError(
            f"the database {shown} is {state}; this Switchboard needs {head}: "
            "run `switchboard migrate`"
        )


def sync_reference_data(ctx: Context) -> None:
    """Create or update queues, categories and resolution codes named in the policy."""
    with ctx.db.transaction() as session:
        for q in ctx.policy.queues:
            _upsert(
                session,
                SupportQueue,
                "slug",
                q["slug"],
                name=q.get("name", q["slug"]),
                slack_channel=q.get("slack_channel") or None,
            )
        for c in ctx.policy.categories:
            _upsert(session, Category, "slug", c["slug"], name=c.get("name", c["slug"]))
        for r in ctx.policy.resolution_codes:
            _upsert(
                session,
                ResolutionCode,
                "code",
                r["code"],
                description=r.get("description", ""),
                active=True,
            )


def _upsert(session: Session, model: Any, key: str, value: str, **fields: Any) -> None:
    row = session.execute(select(model).where(getattr(model, key) == value)).scalar_one_or_none()
    if row is None:
        row = model(**{key: value})
        session.add(row)
    for name, field_value in fields.items():
        setattr(row, name, field_value)


def validate_policy(policy: Policy) -> None:
    """Parse every SLA-related section (and the alert mapping, the satisfaction
    question and the desk rules) now, so a mistake fails
    at start, naming it."""
    slapolicy.config(policy)
    escalation.config(policy)
    oncall.rotations(policy)
    alertpolicy.config(policy)
    satisfaction.config(policy)
    desk.config(policy)


def build_context(settings: Settings, db: Database | None = None) -> Context:
    """The core's context for this process, with every configured channel plugged in."""
    return wire(settings, db)[0]


# The settings the context takes as they are, under the same name.
SAME_NAMED = (
    "public_url",
    "max_attachment_bytes",
    "max_attachments",
    "max_request_bytes",
    "max_upload_bytes",
    "public_requests_per_minute",
    "auto_reply_limit_per_hour",
    "tracking_link_days",
    "portal_per_address_per_hour",
    "portal_per_ip_per_hour",
    "machine_answer_seconds",
)


def wire(settings: Settings, db: Database | None = None) -> tuple[Context, dict[str, Plug]]:
    """Build the context and plug in each configured channel from the registry.

    Every channel's parser is known (a record stored while a channel was configured
    stays readable); only configured channels add observers, senders, jobs and ticks.
    Plugging in reaches no platform, so it cannot fail because one is down.
    """
    policy = load_policy(settings.config_file)
    validate_policy(policy)
    live = [c for c in CHANNELS if c.configured(settings)]
    ctx = Context(
        db=db or Database(settings.effective_database_url),
        policy=policy,
        renderer=Renderer(settings.templates_dir),
        secret=settings.signing_key(),
        **{name: getattr(settings, name) for name in SAME_NAMED},
        idempotency_ttl=timedelta(hours=settings.idempotency_key_hours),
        parsers={c.name: c.parser for c in CHANNELS if c.parser is not None},
        client_channels=frozenset(c.name for c in live if c.clients),
        silent_channels=frozenset(c.name for c in CHANNELS if not c.answers),
        address_checks={c.name: c.check_address for c in CHANNELS if c.check_address},
        forgetters={c.name: partial(c.forget, settings) for c in CHANNELS if c.forget},
        file_limits={c.name: c.file_bytes for c in CHANNELS if c.file_bytes is not None},
    )
    ctx.db.watch(ctx.health)
    plugs: dict[str, Plug] = {}
    for channel in live:
        plug = channel.plug(ctx, settings)
        ctx.observers.extend(plug.observers)
        ctx.client_hints.extend(plug.hints)
        if plug.events is not None:
            ctx.event_handlers[channel.name] = plug.events
        if plug.fetcher is not None:
            ctx.fetchers[channel.name] = plug.fetcher
        plugs[channel.name] = plug
    return ctx, plugs


def settle_heap() -> None:
    """Leave what start-up built (modules, mappers, settings, templates, the web app)
    out of the cyclic garbage collector's later passes. A full pass walked those
    180,000-odd objects, none of them ever garbage, in about 100 ms with every thread
    of the process stopped, a webhook's answer among them; a pass over what the
    process made since start-up takes a few milliseconds. Call once, at the end of a
    server process's start-up, never where Systems come and go (a test's): what is
    frozen is never collected."""
    gc.collect()
    gc.freeze()


class System:
    """One process's Switchboard: context, channels, broker, and (as the role asks)
    workers, clock, web app and channel services."""

    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        self.settings = settings
        self.ctx, self.plugs = wire(settings, db)
        channel_jobs = {name: fn for plug in self.plugs.values() for name, fn in plug.jobs.items()}
        self.broker = Broker(
            settings.broker_url,
            settings.broker_queue,
            {**jobs.JOBS, **channel_jobs},
            health=self.ctx.health,
        )
        self.ctx.dispatcher = self.broker
        self.stopping = threading.Event()
        self.broker.watch(self.stopping)
        self.senders: dict[str, Sender] = {
            name: plug.sender for name, plug in self.plugs.items() if plug.sender is not None
        }
        jobs.bind(
            jobs.Runtime(
                self.ctx,
                self.senders,
                settings.delivery_max_attempts,
                settings.delivery_backoff_seconds,
                settings.delivery_outage_hours * 3600,
            )
        )
        self.supervisor = Supervisor(self.ctx.health)
        # Seen every few seconds: what this process claims is freed soon after it dies.
        self.ctx.process_id = processes.new_id()
        self.heartbeat = processes.Heartbeat(self.ctx, "switchboard")
        self.heartbeat.start()
        self.worker: dramatiq.Worker | None = None
        self.clock: Clock | None = None

    def start_workers(self) -> None:
        self.worker = self.broker.worker(self.settings.worker_threads)
        self.worker.start()
        log.info(
            "workers started: %d threads on %s",
            self.settings.worker_threads,
            self.broker.url.split("@")[-1],
        )

    def make_clock(self) -> Clock:
        self.clock = Clock(
            self.ctx,
            interval=self.settings.clock_interval_seconds,
            redeliver_after=timedelta(seconds=self.settings.redelivery_after_seconds),
            ticks=[idempotency.sweep, *(t for plug in self.plugs.values() for t in plug.ticks)],
        )
        return self.clock

    def web_app(self) -> Any:
        """The web app with every configured channel's routes mounted."""
        from channels.web.app import create_app

        app = create_app(self.ctx)
        for plug in self.plugs.values():
            if plug.mount is not None:
                plug.mount(app)
        return app

    def start_services(self, *roles: str) -> list[str]:
        """Start the channel services of these roles; returns their names. One that
        cannot start yet (its platform is down) is retried in the background."""
        services = [s for plug in self.plugs.values() for s in plug.services if s.role in roles]
        self.supervisor.start(services)
        return [s.name for s in services]

    def recover(self) -> tuple[int, int]:
        """Re-send all pending work to the broker (what a restart does first)."""
        return sweep(self.ctx, timedelta(0))

    def stop(self) -> None:
        self.stopping.set()
        self.supervisor.stop()
        if self.clock:
            self.clock.stop()
        if self.worker:
            self.worker.stop(timeout=5_000)
        self.broker.close()
        self.heartbeat.stop()
        self.ctx.db.dispose()
