"""Assemble a running Switchboard from settings: context, broker, senders, workers.

Every process role (web, smtp, imap, worker, clock, and ``up`` which runs them
all) starts here, so the embedded and scaled deployments share one code path.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import select

import migrations
from channels import slack
from channels.base import Sender
from channels.fake import FakeSender
from config.settings import Settings
from core.context import Context
from core.db import Database
from core.models import Category, ResolutionCode, SupportQueue
from core.policy import load_policy
from core.rendering import Renderer
from workers import jobs
from workers.broker import Broker
from workers.clock import Clock

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings) -> None:
    """Bring the schema to the newest revision and load reference data from config."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.effective_database_url), "head")
    ctx = build_context(settings)
    sync_reference_data(ctx)
    ctx.db.dispose()


def sync_reference_data(ctx: Context) -> None:
    """Create or update queues, categories and resolution codes named in the policy."""
    with ctx.db.transaction() as session:
        for q in ctx.policy.queues:
            row = session.execute(select(SupportQueue).where(SupportQueue.slug == q["slug"])).scalar_one_or_none()
            if row is None:
                row = SupportQueue(slug=q["slug"])
                session.add(row)
            row.name = q.get("name", q["slug"])
            row.slack_channel = q.get("slack_channel") or None
        for c in ctx.policy.categories:
            row_c = session.execute(select(Category).where(Category.slug == c["slug"])).scalar_one_or_none()
            if row_c is None:
                row_c = Category(slug=c["slug"])
                session.add(row_c)
            row_c.name = c.get("name", c["slug"])
        for r in ctx.policy.resolution_codes:
            row_r = session.execute(select(ResolutionCode).where(ResolutionCode.code == r["code"])).scalar_one_or_none()
            if row_r is None:
                row_r = ResolutionCode(code=r["code"])
                session.add(row_r)
            row_r.description = r.get("description", "")
            row_r.active = True


def build_context(settings: Settings, db: Database | None = None) -> Context:
    ctx = Context(
        db=db or Database(settings.effective_database_url),
        policy=load_policy(settings.config_file),
        renderer=Renderer(settings.templates_dir),
        secret=settings.signing_key(),
        public_url=settings.public_url,
        max_attachment_bytes=settings.max_attachment_bytes,
        max_attachments=settings.max_attachments,
    )
    if slack.enabled(settings):
        slack.install(ctx, settings)
    return ctx


def build_senders(settings: Settings, ctx: Context | None = None) -> dict[str, Sender]:
    senders: dict[str, Sender] = {"fake": FakeSender(settings.fake_outbox_path)}
    if ctx is not None and slack.enabled(settings):
        senders["slack"] = slack.make_sender(settings, ctx)
    return senders


class System:
    """One process's Switchboard: context, broker and (optionally) workers and clock."""

    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        self.settings = settings
        self.ctx = build_context(settings, db)
        self.broker = Broker(settings.broker_url, settings.broker_queue)
        self.ctx.dispatcher = self.broker
        self.senders = build_senders(settings, self.ctx)
        jobs.bind(jobs.Runtime(self.ctx, self.senders, settings.delivery_max_attempts, settings.delivery_backoff_seconds))
        self.worker = None
        self.clock: Clock | None = None

    def start_workers(self) -> None:
        self.worker = self.broker.worker(self.settings.worker_threads)
        self.worker.start()
        log.info("workers started: %d threads on %s", self.settings.worker_threads, self.broker.url.split("@")[-1])

    def make_clock(self) -> Clock:
        self.clock = Clock(self.ctx, interval=self.settings.clock_interval_seconds, redeliver_after=timedelta(seconds=self.settings.redelivery_after_seconds))
        return self.clock

    def recover(self) -> tuple[int, int]:
        """Re-send all pending work to the broker (what a restart does first)."""
        from workers.sweep import sweep

        return sweep(self.ctx, timedelta(0))

    def stop(self) -> None:
        if self.clock:
            self.clock.stop()
        if self.worker:
            self.worker.stop(timeout=5_000)
        self.broker.close()
        self.ctx.db.dispose()
