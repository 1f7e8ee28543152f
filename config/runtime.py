"""Assemble a running Switchboard from settings: context, broker, senders, workers.

Every process role (web, smtp, imap, worker, clock, and ``up`` which runs them
all) starts here, so the embedded and scaled deployments share one code path.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import select
from sqlalchemy.orm import Session

import channels.email  # noqa: F401  (registers the email parser with core.intake)
import migrations
from channels import slack
from channels.base import Sender
from channels.email.sender import EmailSender, Relay
from channels.fake import FakeSender
from config.settings import Settings
from core.context import Context
from core.db import Database
from core.models import Category, ResolutionCode, SupportQueue
from core.policy import load_policy
from core.rendering import Renderer
from core.sla import policy as slapolicy
from workers import jobs
from workers.broker import Broker
from workers.clock import Clock
from workers.sweep import sweep

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


def build_context(settings: Settings, db: Database | None = None) -> Context:
    policy = load_policy(settings.config_file)
    slapolicy.validate(policy)
    ctx = Context(
        db=db or Database(settings.effective_database_url),
        policy=policy,
        renderer=Renderer(settings.templates_dir),
        secret=settings.signing_key(),
        public_url=settings.public_url,
        max_attachment_bytes=settings.max_attachment_bytes,
        max_attachments=settings.max_attachments,
        auto_reply_limit_per_hour=settings.auto_reply_limit_per_hour,
    )
    if slack.enabled(settings):
        slack.install(ctx, settings)
    return ctx


def build_senders(settings: Settings, ctx: Context | None = None) -> dict[str, Sender]:
    senders: dict[str, Sender] = {
        "fake": FakeSender(settings.fake_outbox_path),
        "email": build_email_sender(settings),
    }
    if ctx is not None and slack.enabled(settings):
        senders["slack"] = slack.make_sender(settings, ctx)
    return senders


def build_email_sender(settings: Settings) -> EmailSender:
    support = (settings.support_address_list or ["support@localhost"])[0]
    relay = None
    if settings.mail_relay_host:
        relay = Relay(
            settings.mail_relay_host,
            settings.mail_relay_port,
            settings.mail_relay_security,
            settings.mail_relay_user,
            settings.mail_relay_password,
        )
    return EmailSender(
        secret=settings.signing_key(),
        mail_from=settings.mail_from or support,
        support=support,
        relay=relay,
        maildir=settings.maildir_path,
    )


def start_imap_pollers(settings: Settings, ctx: Context, stop: Any) -> list[Any]:
    """One thread per configured mailbox; none when SWITCHBOARD_IMAP_HOST is empty."""
    import threading

    from channels.email.imap import Account, MailboxPoller

    if not settings.imap_host:
        return []
    account = Account(
        settings.imap_host,
        settings.imap_port,
        settings.imap_security,
        settings.imap_user,
        settings.imap_password,
    )
    threads = []
    for mailbox in [m.strip() for m in settings.imap_mailboxes.split(",") if m.strip()]:
        poller = MailboxPoller(
            ctx,
            account,
            mailbox,
            move_to=settings.imap_move_to,
            poll_seconds=settings.imap_poll_seconds,
        )
        thread = threading.Thread(
            target=poller.run, args=(stop,), name=f"imap-{mailbox}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads


def build_smtp_server(settings: Settings, ctx: Context):  # type: ignore[no-untyped-def]
    """The SMTP intake server for this process (not started)."""
    from channels.email.smtp import make_server

    return make_server(
        ctx,
        host=settings.smtp_host,
        port=settings.smtp_port,
        support=settings.support_address_list,
        max_bytes=settings.smtp_max_message_bytes,
        cert=settings.smtp_tls_cert,
        key=settings.smtp_tls_key,
    )


class System:
    """One process's Switchboard: context, broker and (optionally) workers and clock."""

    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        self.settings = settings
        self.ctx = build_context(settings, db)
        self.broker = Broker(settings.broker_url, settings.broker_queue)
        self.ctx.dispatcher = self.broker
        self.senders = build_senders(settings, self.ctx)
        jobs.bind(
            jobs.Runtime(
                self.ctx,
                self.senders,
                settings.delivery_max_attempts,
                settings.delivery_backoff_seconds,
            )
        )
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
        )
        return self.clock

    def recover(self) -> tuple[int, int]:
        """Re-send all pending work to the broker (what a restart does first)."""
        return sweep(self.ctx, timedelta(0))

    def stop(self) -> None:
        if self.clock:
            self.clock.stop()
        if self.worker:
            self.worker.stop(timeout=5_000)
        self.broker.close()
        self.ctx.db.dispose()
