"""Tickets, parked items and raw inbound messages: look, and repair."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from config.cli.assets import context_lines
from config.cli.base import JSON, context, emit, handle_errors, load, main

# Tickets ----------------------------------------------------------------------------


@main.group()
def tickets() -> None:
    """Look at tickets, and take every action on them as a named agent."""


@tickets.command("list")
@click.option("--status", help="Comma-separated statuses.")
@click.option("--priority", help="Comma-separated priorities (P1..P4).")
@click.option("--queue")
@click.option("--assignee", help="Agent name or email.")
@click.option(
    "-q", "--query", help="Find by number, subject, client name or address, or message text."
)
@click.option("--asset", help="Only tickets about this machine (its tag).")
@click.option("--site", help="Only tickets at this site (its code).")
@click.option("--work-order", help="Only tickets linked to this work order (its number).")
@click.option("--all", "include_closed", is_flag=True, help="Include closed tickets.")
@click.option("--limit", default=50, show_default=True)
@JSON
@handle_errors
def tickets_list(as_json: bool, **filters: Any) -> None:
    """List tickets, newest first."""
    from core.tickets import views

    ctx = context(load())
    with ctx.db.reading() as session:
        # The options are list_tickets' own filters, by name.
        data = views.list_tickets(ctx, session, **filters)

    def human(d: dict[str, Any]) -> None:
        for t in d["tickets"]:
            flag = " ESCALATED" if t["escalated"] else ""
            click.echo(
                f"{t['number']}  {t['priority']}  {t['status']:<12} {t['sla']['state']:<6} {t['subject'][:60]}{flag}"
            )
        about = "" if d.get("total_exact", True) else "about "
        click.echo(f"({about}{d['total']:,} in all)")

    emit(data, as_json, human)


def reported(delivery: dict[str, Any]) -> str:
    """What the platform said later, when it reports a status (WhatsApp: delivered, read)."""
    status = (delivery.get("report") or {}).get("status")
    return f", {status}" if status else ""


@tickets.command("show")
@click.argument("number")
@JSON
@handle_errors
def tickets_show(number: str, as_json: bool) -> None:
    """Show one ticket: its machine and that machine's recent history, thread,
    deliveries and audit trail."""
    from core.tickets.context import assemble

    ctx = context(load())
    with ctx.db.reading() as session:
        data = assemble(ctx, session, number)

    def human(t: dict[str, Any]) -> None:
        click.echo(f"{t['number']}  {t['subject']}")
        click.echo(
            f"  status {t['status']}{' (escalated)' if t['escalated'] else ''}, {t['priority']}, queue {t['queue']}, category {t['category']}"
        )
        click.echo(
            f"  client {t['client']['name'] or '?'} ({t['client']['contact']}); next reply by "
            f"{t['reply_via']['channel']} {t['reply_via']['address']}: {t['reply_via']['why']}"
        )
        for hint in t["client"].get("hints") or []:  # a chat window, a Send on WhatsApp link
            click.echo(
                f"  {hint['text'] if 'text' in hint else hint['label'] + ': ' + hint['link']}"
            )
        click.echo(
            f"  assignee {t['assignee'] or '-'}; SLA {t['sla']['state']}, {sla_line(t['sla'])}"
        )
        for line in context_lines(t):
            click.echo(line)
        for f in t["follow_ups"]:
            who = f["for"]["name"] if f["for"] else "nobody"
            state = "open" if f["status"] == "open" else f"done ({f['note'] or f['done_by']})"
            click.echo(f"follow-up #{f['id']} for {who}, {state}: {f['reason']}")
        if t["merged_into"]:
            click.echo(f"  merged into {t['merged_into']}: its conversation continues there")
        if t["merged"]:
            click.echo(f"  merged into it: {', '.join(t['merged'])} (their messages are below)")
        click.echo("thread:")
        for m in t["thread"]:
            origin = f" (on {m['ticket']})" if m["ticket"] != t["number"] else ""
            names = ", ".join(a["filename"] for a in m["attachments"])
            click.echo(
                f"  [{m['created_at']}] {m['kind']}/{m['direction']} {m['author']}{origin}: "
                f"{m['text'][:200]}" + (f"\n    files: {names}" if names else "")
            )
        click.echo("deliveries:")
        for d in t["deliveries"]:
            click.echo(
                f"  #{d['id']} {d['kind']} via {d['channel']} -> {d['status']}{reported(d)} (attempts {d['attempts']}){' ' + d['last_error'] if d['last_error'] else ''}"
            )
        click.echo("audit:")
        for e in t["audit"]:
            click.echo(
                f"  {e['seq']:>3} {e['at']} {e['actor']} {e['action']} {json.dumps(e['data'], default=str)[:160]}"
            )

    emit(data, as_json, human)


@tickets.command("revoke-link")
@click.argument("number")
@click.option("--reason", default="", help="Why (kept in the audit).")
@click.option("--as", "agent_email", help="The agent revoking it (email); else the operator.")
@JSON
@handle_errors
def tickets_revoke_link(number: str, reason: str, agent_email: str | None, as_json: bool) -> None:
    """Replace a ticket's tracking link: the old one stops working at once, and the
    client is sent the new one on their channel."""
    from config.cli.contacts import _who
    from core.tickets import lookup, tracking

    ctx = context(load())
    with ctx.db.transaction() as session:
        ticket = lookup.get_ticket(session, number, lock=True)
        row = tracking.revoke(ctx, session, _who(session, agent_email), ticket, reason=reason)
        data = {
            "number": ticket.number,
            "tracking_link": ctx.tracking_link(ticket.tracking_token),
            "sent_to_client": row is not None,
        }

    def human(d: dict[str, Any]) -> None:
        click.echo(
            f"{d['number']}: the old tracking link no longer works; new link {d['tracking_link']}"
        )
        click.echo(
            "  sent to the client"
            if d["sent_to_client"]
            else "  the client could not be reached: send it yourself"
        )

    emit(data, as_json, human)


def sla_line(sla: dict[str, Any]) -> str:
    """Each SLA clock as a person asks about it: due when, or met or missed and when."""
    parts = []
    for name in ("response", "resolution"):
        clock = sla.get(name)
        if not clock:
            continue
        if clock["stopped_at"]:
            parts.append(f"{name} {'met' if clock['met'] else 'missed'} {clock['stopped_at']}")
        elif clock["paused"]:
            parts.append(f"{name} clock paused")
        else:
            parts.append(f"{name} due {clock['due_at']}")
    return "; ".join(parts) or "no SLA target"


# Parked -----------------------------------------------------------------------------


@main.group()
def parked() -> None:
    """Messages kept for a human, and deliveries that ran out of attempts."""


@parked.command("list")
@JSON
@handle_errors
def parked_list(as_json: bool) -> None:
    from core import parked as parked_items

    ctx = context(load())
    with ctx.db.reading() as session:
        items = parked_items.listing(session)

    def human(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            click.echo(
                f"{r['id']:<10} {r['channel']:<9} {r['rule']:<12} {r['ticket'] or '-':<9} {(r['reason'] or '')[:90]}"
            )
        click.echo(f"({len(rows)} parked)")

    emit(items, as_json, human)


@parked.command("retry")
@click.argument("item_id")
@JSON
@handle_errors
def parked_retry(item_id: str, as_json: bool) -> None:
    """Retry a parked item: in-N (inbound) runs the rules again, out-N re-queues a delivery."""
    from config.runtime import System, require_schema
    from core import parked as parked_items

    settings = load()
    require_schema(settings)
    system = System(settings)
    try:
        result = parked_items.retry(system.ctx, item_id)
        if system.broker.in_process:  # nobody else would run the delivery: do it now
            system.start_workers()
            system.broker.dramatiq.join(settings.broker_queue, timeout=30_000)
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
    ctx = context(load())
    with ctx.db.reading() as session:
        record = session.get(InboundRecord, int(number))
        if record is None:
            raise NotFound(f"inbound record {item_id} does not exist")
        raw = bytes(record.raw)
    sys.stdout.buffer.write(raw)
    sys.stdout.flush()
