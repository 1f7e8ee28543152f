"""The ``switchboard`` command.

``switchboard up`` runs everything in one process (embedded); ``web``, ``smtp``,
``imap``, ``worker`` and ``clock`` run one role each (the Procfile's scaled mode).
The other commands read and repair: tickets, parked items, audit, agents.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from config import logging as sblogging
from config.settings import Settings, describe_settings, load_settings
from core.errors import ConfigError, SwitchboardError

log = logging.getLogger("switchboard")


def _settings() -> Settings:
    settings = load_settings()
    sblogging.setup(settings.log_level)
    return settings


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"switchboard: {exc}", err=True)
            sys.exit(2)
        except SwitchboardError as exc:
            click.echo(f"switchboard: {exc}", err=True)
            sys.exit(1)

    return wrapper


def emit(data: Any, as_json: bool, human: Callable[[Any], object]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human(data)


def _each(rows: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]) -> None:
    for row in rows:
        click.echo(line(row))


def _context(settings: Settings):  # type: ignore[no-untyped-def]
    from config.runtime import build_context

    return build_context(settings)


@click.group()
def main() -> None:
    """Switchboard: support intake from email, chat and webhooks, worked from Slack."""


# Running ------------------------------------------------------------------------------


@main.command()
@handle_errors
def migrate() -> None:
    """Create or upgrade the database schema and load queues, categories and codes."""
    from config.runtime import migrate as run_migrate

    settings = _settings()
    run_migrate(settings)
    click.echo(f"database ready: {_safe_url(settings.effective_database_url)}")


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


def _wait_for_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def _needs_shared_broker(settings: Settings, role: str) -> None:
    if settings.broker_url.startswith(("memory://", "stub://")):
        raise ConfigError(
            f"SWITCHBOARD_BROKER_URL is {settings.broker_url}, which lives inside one process; "
            f"the '{role}' role runs as its own process, so set it to redis://... or amqp://... "
            "(or run everything in one process with 'switchboard up')"
        )


def _attach_slack(web_app: Any, system: Any) -> Any:
    """Serve the Slack app at /slack/events (or over Socket Mode) when a bot token is set."""
    from channels import slack

    if not slack.enabled(system.settings):
        return None
    handler = slack.attach(web_app, system.ctx, system.settings)
    click.echo(
        "Slack: " + ("connected over Socket Mode" if handler else "listening at /slack/events")
    )
    return handler


@main.command()
@handle_errors
def up() -> None:
    """Run the whole system in this process: web, workers, clock (and channels)."""
    import uvicorn

    from channels.web.app import create_app
    from config.runtime import System, build_smtp_server, start_imap_pollers
    from config.runtime import migrate as run_migrate

    settings = _settings()
    run_migrate(settings)
    system = System(settings)
    system.start_workers()
    system.make_clock().start_thread()
    system.recover()
    smtp_server = build_smtp_server(settings, system.ctx)
    smtp_server.start()
    imap_stop = threading.Event()
    start_imap_pollers(settings, system.ctx, imap_stop)
    click.echo(
        f"Switchboard is up: http://{settings.http_host}:{settings.http_port}, SMTP on {settings.smtp_host}:{settings.smtp_port}  (data in {settings.data_dir.resolve()})"
    )
    web_app = create_app(system.ctx)
    socket_mode = _attach_slack(web_app, system)
    try:
        uvicorn.run(
            web_app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            access_log=False,
        )
    finally:
        if socket_mode is not None:
            socket_mode.close()
        imap_stop.set()
        smtp_server.stop()
        system.stop()


@main.command()
@handle_errors
def web() -> None:
    """Run the web app (JSON API, pages, webhooks)."""
    import uvicorn

    from channels.web.app import create_app
    from config.runtime import System

    settings = _settings()
    _needs_shared_broker(settings, "web")
    system = System(settings)
    web_app = create_app(system.ctx)
    socket_mode = _attach_slack(web_app, system)
    try:
        uvicorn.run(
            web_app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            access_log=False,
        )
    finally:
        if socket_mode is not None:
            socket_mode.close()
        system.stop()


@main.command()
@handle_errors
def worker() -> None:
    """Run Dramatiq workers: deliveries and inbound processing."""
    from config.runtime import System

    settings = _settings()
    _needs_shared_broker(settings, "worker")
    system = System(settings)
    system.start_workers()
    log.info("worker running; stop with Ctrl-C")
    try:
        _wait_for_signal()
    finally:
        system.stop()


@main.command()
@handle_errors
def clock() -> None:
    """Run the clock: re-sends lost work, audit checkpoints, SLA ticks."""
    from config.runtime import System

    settings = _settings()
    _needs_shared_broker(settings, "clock")
    system = System(settings)
    system.recover()
    clk = system.make_clock()
    signal.signal(signal.SIGTERM, lambda *_: clk.stop())
    signal.signal(signal.SIGINT, lambda *_: clk.stop())
    try:
        clk.run()
    finally:
        system.stop()


@main.command()
@handle_errors
def smtp() -> None:
    """Run the SMTP intake server (stores mail; workers decide it)."""
    from config.runtime import System, build_smtp_server

    settings = _settings()
    _needs_shared_broker(settings, "smtp")
    system = System(settings)
    server = build_smtp_server(settings, system.ctx)
    server.start()
    log.info(
        "SMTP intake listening on %s:%s for %s",
        settings.smtp_host,
        settings.smtp_port,
        ", ".join(settings.support_address_list),
    )
    try:
        _wait_for_signal()
    finally:
        server.stop()
        system.stop()


@main.command()
@handle_errors
def imap() -> None:
    """Run the IMAP poller: one per mailbox in SWITCHBOARD_IMAP_MAILBOXES."""
    from config.runtime import System, start_imap_pollers

    settings = _settings()
    _needs_shared_broker(settings, "imap")
    if not settings.imap_host:
        raise ConfigError(
            "SWITCHBOARD_IMAP_HOST is empty: set it (and IMAP_USER, IMAP_PASSWORD) to poll a mailbox"
        )
    system = System(settings)
    stop = threading.Event()
    start_imap_pollers(settings, system.ctx, stop)
    log.info("IMAP poller running for %s on %s", settings.imap_mailboxes, settings.imap_host)
    try:
        _wait_for_signal()
    finally:
        stop.set()
        system.stop()


@main.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def show_settings(as_json: bool) -> None:
    """List every setting with its default and what it does."""
    rows = [{"variable": v, "default": d, "description": t} for v, d, t in describe_settings()]
    emit(
        rows,
        as_json,
        lambda rs: _each(
            rs, lambda r: f"{r['variable']:<40} {r['default'] or '(empty)':<28} {r['description']}"
        ),
    )


# Tickets ----------------------------------------------------------------------------


@main.group()
def tickets() -> None:
    """Look at tickets."""


@tickets.command("list")
@click.option("--status", help="Comma-separated statuses.")
@click.option("--priority", help="Comma-separated priorities (P1..P4).")
@click.option("--queue")
@click.option("--assignee", help="Agent name or email.")
@click.option("-q", "--query", help="Search subject, client name or address.")
@click.option("--all", "include_closed", is_flag=True, help="Include closed tickets.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def tickets_list(
    status: str | None,
    priority: str | None,
    queue: str | None,
    assignee: str | None,
    query: str | None,
    include_closed: bool,
    limit: int,
    as_json: bool,
) -> None:
    """List tickets, newest first."""
    from core.tickets import views

    ctx = _context(_settings())
    with ctx.db.reading() as session:
        data = views.list_tickets(
            ctx,
            session,
            status=status,
            priority=priority,
            queue=queue,
            assignee=assignee,
            query=query,
            include_closed=include_closed,
            limit=limit,
        )

    def human(d: dict[str, Any]) -> None:
        for t in d["tickets"]:
            flag = " ESCALATED" if t["escalated"] else ""
            click.echo(
                f"{t['number']}  {t['priority']}  {t['status']:<12} {t['sla']['state']:<6} {t['subject'][:60]}{flag}"
            )
        click.echo(f"({d['total']} in all)")

    emit(data, as_json, human)


@tickets.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def tickets_show(number: str, as_json: bool) -> None:
    """Show one ticket with its thread, deliveries and audit trail."""
    from core.tickets import actions, views

    ctx = _context(_settings())
    with ctx.db.reading() as session:
        data = views.ticket_detail(ctx, session, actions.get_ticket(session, number))

    def human(t: dict[str, Any]) -> None:
        click.echo(f"{t['number']}  {t['subject']}")
        click.echo(
            f"  status {t['status']}{' (escalated)' if t['escalated'] else ''}, {t['priority']}, queue {t['queue']}, category {t['category']}"
        )
        click.echo(
            f"  client {t['client']['name'] or '?'} via {t['client']['channel']} {t['client']['address']}"
        )
        click.echo(
            f"  assignee {t['assignee'] or '-'}; SLA {t['sla']['state']}, response due {t['sla']['response_due_at']}"
        )
        click.echo("thread:")
        for m in t["thread"]:
            click.echo(
                f"  [{m['created_at']}] {m['kind']}/{m['direction']} {m['author']}: {m['text'][:200]}"
            )
        click.echo("deliveries:")
        for d in t["deliveries"]:
            click.echo(
                f"  #{d['id']} {d['kind']} via {d['channel']} -> {d['status']} (attempts {d['attempts']}){' ' + d['last_error'] if d['last_error'] else ''}"
            )
        click.echo("audit:")
        for e in t["audit"]:
            click.echo(
                f"  {e['seq']:>3} {e['at']} {e['actor']} {e['action']} {json.dumps(e['data'], default=str)[:160]}"
            )

    emit(data, as_json, human)


# Parked -----------------------------------------------------------------------------


@main.group()
def parked() -> None:
    """Messages kept for a human, and deliveries that ran out of attempts."""


@parked.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def parked_list(as_json: bool) -> None:
    from core.tickets import views

    ctx = _context(_settings())
    with ctx.db.reading() as session:
        items = views.parked(session)

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            click.echo(
                f"{r['id']:<10} {r['channel']:<9} {r['rule']:<12} {r['ticket'] or '-':<9} {(r['reason'] or '')[:90]}"
            )
        click.echo(f"({len(rows)} parked)")

    emit(items, as_json, human)


@parked.command("retry")
@click.argument("item_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def parked_retry(item_id: str, as_json: bool) -> None:
    """Retry a parked item: in-N (inbound) runs the rules again, out-N re-queues a delivery."""
    from channels.web.api import retry_item
    from config.runtime import System

    settings = _settings()
    system = System(settings)
    try:
        result = retry_item(system.ctx, item_id)
        if system.broker.in_process:  # nobody else would run the delivery: do it now
            system.start_workers()
            system.broker.dramatiq.join(settings.broker_queue, timeout=30_000)  # type: ignore[attr-defined]
    finally:
        system.stop()
    emit(
        result,
        as_json,
        lambda r: click.echo(
            f"{r['id']}: {r['status']}"
            + (f" ({r.get('reason')})" if r.get("reason") else "")
            + (f" -> {r['ticket']}" if r.get("ticket") else "")
        ),
    )


# Inbound ----------------------------------------------------------------------------


@main.group()
def inbound() -> None:
    """Inbound messages exactly as they arrived."""


@inbound.command("raw")
@click.argument("item_id")
@handle_errors
def inbound_raw(item_id: str) -> None:
    """Print the original bytes of inbound record in-N (for email: the full message source)."""
    from core.errors import NotFound
    from core.models import InboundRecord

    number = item_id.removeprefix("in-")
    if not number.isdigit():
        raise NotFound(f"'{item_id}' is not an inbound record id (expected in-123)")
    ctx = _context(_settings())
    with ctx.db.reading() as session:
        record = session.get(InboundRecord, int(number))
        if record is None:
            raise NotFound(f"inbound record {item_id} does not exist")
        raw = bytes(record.raw)
    sys.stdout.buffer.write(raw)
    sys.stdout.flush()


# Audit ------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """Check the tamper-evident audit trail."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def audit_verify(as_json: bool) -> None:
    """Recompute every hash chain and checkpoint; exit 1 if anything was changed."""
    from core import audit as core_audit

    ctx = _context(_settings())
    with ctx.db.reading() as session:
        report = core_audit.verify(session)

    def human(r: dict[str, Any]) -> None:
        click.echo(f"{r['events']} events in {r['chains']} chains, {r['checkpoints']} checkpoints")
        for p in r["problems"]:
            click.echo(f"  PROBLEM: {p}")
        click.echo("audit trail intact" if r["ok"] else "AUDIT TRAIL BROKEN")

    emit(report.as_dict(), as_json, human)
    if not report.ok:
        sys.exit(1)


@audit.command("checkpoint")
@handle_errors
def audit_checkpoint() -> None:
    """Record every chain's head now (the clock does this every 10 minutes)."""
    from workers.sweep import checkpoint

    checkpoint(_context(_settings()))
    click.echo("checkpoint written")


# Agents -----------------------------------------------------------------------------


@main.group()
def agents() -> None:
    """Staff who work tickets, and their API tokens."""


@agents.command("add")
@click.argument("name")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["agent", "lead", "admin"]),
    default=("agent",),
    show_default=True,
)
@click.option("--slack-user", help="Their Slack user id (U...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def agents_add(
    name: str, email: str, roles: tuple[str, ...], slack_user: str | None, as_json: bool
) -> None:
    """Add an agent and print their API token (shown once; only its hash is kept)."""
    from sqlalchemy import select

    from core import audit as core_audit
    from core.models import Agent
    from core.tokens import api_token, hash_token

    ctx = _context(_settings())
    token = api_token()
    with ctx.db.transaction() as session:
        if session.execute(select(Agent).where(Agent.email == email.lower())).scalar_one_or_none():
            raise SwitchboardError(f"an agent with email {email} exists already")
        roles_list = sorted(set(roles) | {"agent"})
        agent = Agent(
            name=name,
            email=email.lower(),
            roles=roles_list,
            slack_user_id=slack_user,
            api_token_hash=hash_token(token),
        )
        session.add(agent)
        session.flush()
        core_audit.record(
            session,
            actor="system:cli",
            action="agent_added",
            data={"agent": agent.id, "roles": roles_list},
        )
        data = {
            "id": agent.id,
            "name": name,
            "email": agent.email,
            "roles": roles_list,
            "token": token,
        }
    emit(
        data,
        as_json,
        lambda d: click.echo(
            f"agent {d['id']} {d['name']} ({', '.join(d['roles'])})\nAPI token (shown once): {d['token']}"
        ),
    )


@agents.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def agents_list(as_json: bool) -> None:
    from sqlalchemy import select

    from core.models import Agent

    ctx = _context(_settings())
    with ctx.db.reading() as session:
        rows = [
            {
                "id": a.id,
                "name": a.name,
                "email": a.email,
                "roles": a.roles,
                "slack_user_id": a.slack_user_id,
                "active": a.active,
            }
            for a in session.execute(select(Agent).order_by(Agent.id)).scalars()
        ]
    emit(
        rows,
        as_json,
        lambda rs: _each(
            rs,
            lambda r: (
                f"{r['id']:>3} {r['name']:<24} {r['email']:<32} {','.join(r['roles'])}{'' if r['active'] else ' (inactive)'}"
            ),
        ),
    )


# SLA: on-call and reports -----------------------------------------------------------


@main.group()
def oncall() -> None:
    """On-call rotations from the policy file."""


@oncall.command("now")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def oncall_now(as_json: bool) -> None:
    """Who is on call in every rotation right now, and until when."""
    from core.escalation import oncall as core_oncall

    ctx = _context(_settings())
    rows = core_oncall.now_on_call(ctx.policy, ctx.now())

    def human(rs: list[dict[str, Any]]) -> None:
        if not rs:
            click.echo("no on-call rotation is configured (oncall_rotations in the policy file)")
        for r in rs:
            click.echo(f"{r['rotation']:<16} {r['agent']:<32} until {r['until']} ({r['why']})")

    emit(rows, as_json, human)


@main.group()
def report() -> None:
    """Reports."""


@report.command("sla")
@click.option("--since", help="ISO date or time (default: --days ago).")
@click.option("--until", help="ISO date or time (default: now).")
@click.option("--days", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def report_sla(since: str | None, until: str | None, days: int, as_json: bool) -> None:
    """SLA compliance per priority, queue and category for tickets opened in the period."""
    from core.sla import report as slareport

    ctx = _context(_settings())
    start, end = slareport.period(ctx.now(), since, until, days)
    with ctx.db.reading() as session:
        data = slareport.compliance(ctx, session, start, end)

    def human(d: dict[str, Any]) -> None:
        click.echo(f"SLA compliance, tickets opened {d['since']} .. {d['until']}")
        for group in ("priority", "queue", "category"):
            click.echo(f"\nby {group}:")
            for key, b in d[f"by_{group}"].items():
                parts = []
                for clock in ("response", "resolution"):
                    c = b[clock]
                    share = "-" if c["met_share"] is None else f"{c['met_share']:.0%}"
                    parts.append(
                        f"{clock} met {share} avg {c['average_minutes']} p90 {c['p90_minutes']} min"
                    )
                click.echo(f"  {key:<16} {b['tickets']:>6} tickets  " + "; ".join(parts))

    emit(data, as_json, human)


# Outbox -----------------------------------------------------------------------------


@main.group()
def outbox() -> None:
    """Deliveries to clients and staff, with their status."""


@outbox.command("list")
@click.option("--status", help="pending, sending, sent, failed, parked, bounced")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def outbox_list(status: str | None, limit: int, as_json: bool) -> None:
    from sqlalchemy import select

    from core.models import OutboxDelivery
    from core.tickets import views

    ctx = _context(_settings())
    with ctx.db.reading() as session:
        stmt = select(OutboxDelivery).order_by(OutboxDelivery.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboxDelivery.status == status)
        rows = [views.delivery_dict(d) for d in session.execute(stmt).scalars()]
    emit(
        rows,
        as_json,
        lambda rs: _each(
            rs,
            lambda r: (
                f"#{r['id']:<5} {r['ticket'] or '-':<9} {r['kind']:<8} {r['channel']:<8} {r['status']:<8} {r['recipient']}"
            ),
        ),
    )


if __name__ == "__main__":
    main()
