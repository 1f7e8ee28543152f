"""Settings, audit, agents, on-call, reports and the outbox."""

from __future__ import annotations

import sys
from typing import Any

import click

from config.cli.base import JSON, context, each, emit, handle_errors, load, main
from config.settings import describe_settings
from core.errors import SwitchboardError
from core.models import DeliveryStatus


@main.command("settings")
@JSON
@handle_errors
def show_settings(as_json: bool) -> None:
    """List every setting with its default and what it does."""
    rows = [{"variable": v, "default": d, "description": t} for v, d, t in describe_settings()]
    emit(
        rows,
        as_json,
        lambda rs: each(
            rs, lambda r: f"{r['variable']:<40} {r['default'] or '(empty)':<28} {r['description']}"
        ),
    )


# Audit ------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """Check the tamper-evident audit trail."""


@audit.command("verify")
@JSON
@handle_errors
def audit_verify(as_json: bool) -> None:
    """Recompute every hash chain and checkpoint; exit 1 if anything was changed."""
    from core import audit as core_audit

    ctx = context(load())
    with ctx.db.reading() as session:
        report = core_audit.verify(session)

    def human(r: dict[str, Any]) -> None:
        click.echo(f"{r['events']} events in {r['chains']} chains, {r['checkpoints']} checkpoints")
        if r["erased"]:
            click.echo(
                f"{len(r['erased'])} events hold no content any more (personal data erased):"
            )
            for line in r["erased"][:20]:
                click.echo(f"  {line}")
            if len(r["erased"]) > 20:
                click.echo(f"  ... and {len(r['erased']) - 20} more (--json lists them all)")
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

    checkpoint(context(load()))
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
@JSON
@handle_errors
def agents_add(
    name: str, email: str, roles: tuple[str, ...], slack_user: str | None, as_json: bool
) -> None:
    """Add an agent and print their API token (shown once; only its hash is kept)."""
    from sqlalchemy import select

    from core import agents as core_agents
    from core import audit as core_audit
    from core import staff
    from core.models import Agent
    from core.principals import system

    ctx = context(load())
    with ctx.db.transaction() as session:
        if session.execute(select(Agent).where(Agent.email == email.lower())).scalar_one_or_none():
            raise SwitchboardError(f"an agent with email {email} exists already")
        roles_list = sorted(set(roles) | {"agent"})
        agent = Agent(name=name, email=email.lower(), roles=roles_list)
        session.add(agent)
        session.flush()
        if slack_user:
            staff.set_address(session, agent, "slack", slack_user)
        core_audit.record(
            session,
            actor="system:cli",
            action="agent_added",
            data={"agent": agent.id, "roles": roles_list},
        )
        issued = core_agents.issue_token(ctx, session, system("cli"), agent, "first")
        data = {
            "id": agent.id,
            "name": name,
            "email": agent.email,
            "roles": roles_list,
            "token": issued["token"],
        }
    emit(
        data,
        as_json,
        lambda d: click.echo(
            f"agent {d['id']} {d['name']} ({', '.join(d['roles'])})\nAPI token (shown once): {d['token']}"
        ),
    )


@agents.command("list")
@JSON
@handle_errors
def agents_list(as_json: bool) -> None:
    from sqlalchemy import select

    from core.agents import agent_dict
    from core.models import Agent

    ctx = context(load())
    with ctx.db.reading() as session:
        rows = [agent_dict(a) for a in session.execute(select(Agent).order_by(Agent.id)).scalars()]
    emit(
        rows,
        as_json,
        lambda rs: each(
            rs,
            lambda r: (
                f"{r['id']:>3} {r['name']:<24} {r['email']:<32} {','.join(r['roles'])}{'' if r['active'] else ' (inactive)'}"
            ),
        ),
    )


@agents.command("login-link")
@click.argument("email")
@handle_errors
def agents_login_link(email: str) -> None:
    """Print a link that signs this agent in to the lead pages (the KPI dashboard);
    it works for 15 minutes."""
    from sqlalchemy import select

    from core.models import Agent
    from core.tokens import LOGIN_LINK_MINUTES, staff_token

    ctx = context(load())
    with ctx.db.reading() as session:
        agent = session.execute(
            select(Agent).where(Agent.email == email.lower(), Agent.active.is_(True))
        ).scalar_one_or_none()
        if agent is None:
            raise SwitchboardError(f"no active agent with email {email} (switchboard agents list)")
        link = (
            f"{ctx.public_url.rstrip('/')}/leads/login/{staff_token(ctx.secret, 'login', agent.id)}"
        )
    click.echo(link)
    click.echo(
        f"(works for {LOGIN_LINK_MINUTES} minutes; the dashboard shows figures to leads and admins only)",
        err=True,
    )


# SLA: on-call and reports -----------------------------------------------------------


@main.group()
def oncall() -> None:
    """On-call rotations from the policy file."""


@oncall.command("now")
@JSON
@handle_errors
def oncall_now(as_json: bool) -> None:
    """Who is on call in every rotation right now, and until when."""
    from core.escalation import oncall as core_oncall

    ctx = context(load())
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
@JSON
@handle_errors
def report_sla(since: str | None, until: str | None, days: int, as_json: bool) -> None:
    """SLA compliance per priority, queue and category for tickets opened in the period."""
    from core.sla import report as slareport

    ctx = context(load())
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
                        f"{clock} met {share} avg {_shown(c['average_minutes'])}"
                        f" p90 {_shown(c['p90_minutes'])} min"
                    )
                click.echo(f"  {key:<16} {b['tickets']:>6} tickets  " + "; ".join(parts))

    emit(data, as_json, human)


def _shown(value: object, unit: str = "") -> str:
    """A figure for reading: ``-`` where there is none (never "None")."""
    if value is None or value == "":
        return "-"
    if unit == "%":
        return f"{float(value):.0%}"  # type: ignore[arg-type]
    return f"{value}{unit}"


@report.command("kpis")
@click.option("--since", help="ISO date or time (default: --days ago).")
@click.option("--until", help="ISO date or time (default: now).")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660))
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (the figures of GET /api/reports/kpis)."
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (the dashboard's export).")
@handle_errors
def report_kpis(
    since: str | None, until: str | None, days: int, as_json: bool, as_csv: bool
) -> None:
    """KPIs for tickets opened in the period: first response and resolution time, SLA
    compliance, reopen rate, escalation frequency and satisfaction, in total and by
    priority, queue, category and agent."""
    import csv

    from core.kpis import report as kpireport
    from core.sla import report as slareport

    ctx = context(load())
    start, end = slareport.period(ctx.now(), since, until, days)
    with ctx.db.reading() as session:
        data = kpireport.kpis(session, start, end, ctx.now())
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(kpireport.HEADER)
        writer.writerows(kpireport.table(data))
        return

    def line(name: str, b: dict[str, Any]) -> str:
        s = b["satisfaction"]
        return (
            f"  {name:<20} {b['tickets']:>6} tickets"
            f"  first response {_shown(b['first_response']['average_minutes'], ' min')}"
            f"  resolution {_shown(b['resolution']['average_minutes'], ' min')}"
            f"  SLA met {_shown(b['sla']['response']['met_share'], '%')}"
            f"/{_shown(b['sla']['resolution']['met_share'], '%')}"
            f"  reopened {_shown(b['reopen']['rate'], '%')}"
            f"  escalated {_shown(b['escalation']['rate'], '%')}"
            f"  rating {_shown(s['average_rating'])} ({s['ratings']})"
        )

    def human(d: dict[str, Any]) -> None:
        click.echo(f"KPIs, tickets opened {d['since']} .. {d['until']}")
        click.echo("(SLA met: response/resolution; rating: average of 5 (answers))")
        click.echo(line("all", d["total"]))
        for group in kpireport.DIMENSIONS:
            click.echo(f"\nby {group}:")
            for key, b in d[f"by_{group}"].items():
                click.echo(line(key, b))

    emit(data, as_json, human)


# Outbox -----------------------------------------------------------------------------


@main.group()
def outbox() -> None:
    """Deliveries to clients and staff, with their status."""


@outbox.command("list")
@click.option("--status", type=click.Choice([s.value for s in DeliveryStatus]))
@click.option("--limit", default=50, show_default=True)
@JSON
@handle_errors
def outbox_list(status: str | None, limit: int, as_json: bool) -> None:
    from sqlalchemy import select

    from core.models import OutboxDelivery
    from core.tickets import views

    ctx = context(load())
    with ctx.db.reading() as session:
        stmt = select(OutboxDelivery).order_by(OutboxDelivery.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboxDelivery.status == status)
        rows = [views.delivery_dict(d) for d in session.execute(stmt).scalars()]
    emit(
        rows,
        as_json,
        lambda rs: each(
            rs,
            lambda r: (
                f"#{r['id']:<5} {r['ticket'] or '-':<9} {r['kind']:<8} {r['channel']:<8} {r['status']:<8} {r['recipient']}"
            ),
        ),
    )


if __name__ == "__main__":
    main()
