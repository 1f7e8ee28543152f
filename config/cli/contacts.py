"""Contacts: one client across channels. Find, show, link and split."""

from __future__ import annotations

import sys
from typing import Any

import click

from config.cli.base import JSON, context, emit, handle_errors, load, main


@main.group()
def contacts() -> None:
    """Clients and their addresses on every channel."""


@contacts.command("list")
@click.option("-q", "--query", default="", help="Part of an address (any channel) or a name.")
@click.option("--limit", default=50, show_default=True)
@JSON
@handle_errors
def contacts_list(query: str, limit: int, as_json: bool) -> None:
    """Contacts, newest first."""
    from core.contacts import views

    ctx = context(load())
    with ctx.db.reading() as session:
        data = views.search(session, query, limit)

    def human(d: dict[str, Any]) -> None:
        for c in d["contacts"]:
            where = ", ".join(f"{i['channel']}:{i['address']}" for i in c["identities"])
            click.echo(f"{c['id']}  {c['name'] or '-':<24} {where}")
        click.echo(f"({d['total']} in all)")

    emit(data, as_json, human)


@contacts.command("show")
@click.argument("ref")
@JSON
@handle_errors
def contacts_show(ref: str, as_json: bool) -> None:
    """One contact (C-000123 or CHANNEL:ADDRESS): identities, tickets, link history."""
    from core import contacts as core_contacts
    from core.contacts import views

    ctx = context(load())
    with ctx.db.reading() as session:
        data = views.contact_detail(
            ctx, session, core_contacts.get_contact(session, ref, follow=False)
        )
    emit(data, as_json, _human)


def _human(c: dict[str, Any]) -> None:
    click.echo(
        f"{c['id']}  {c['name'] or '(no name)'}"
        + (f" ({c['organization']})" if c["organization"] else "")
    )
    if c["merged_into"]:
        click.echo(f"  linked into {c['merged_into']}: its addresses and tickets are there")
    click.echo("identities:")
    for i in c["identities"]:
        click.echo(f"  #{i['id']} {i['channel']}:{i['address']}  since {i['since']}")
    click.echo("tickets:")
    for t in c["tickets"]:
        reply = f"replies by {t['client']['channel']}" if t["client"]["channel"] else "no address"
        click.echo(f"  {t['number']}  {t['status']:<12} {t['subject'][:60]}  ({reply})")
    for t in c["copied_on"]:
        click.echo(f"  {t['number']}  {t['status']:<12} {t['subject'][:60]}  (copied)")
    if c["history"]:
        click.echo("history:")
        for h in c["history"]:
            click.echo(
                f"  {h['at']} {h['action']} {h['other']} ({', '.join(h['identities'])}) "
                f"on {h['evidence']} by {h['by']}" + (f": {h['reason']}" if h["reason"] else "")
            )
    for p in c["pending_codes"]:
        click.echo(f"  code waiting for an answer from {p['to']} until {p['expires_at']}")


def _who(session: Any, agent_email: str | None) -> Any:
    from sqlalchemy import select

    from core.errors import NotFound
    from core.models import Agent
    from core.principals import agent_principal, system

    if not agent_email:
        return system("operator")
    agent = session.execute(
        select(Agent).where(Agent.email == agent_email.strip().lower(), Agent.active.is_(True))
    ).scalar_one_or_none()
    if agent is None:
        raise NotFound(f"no active agent with email {agent_email}")
    return agent_principal(agent)


@contacts.command("link")
@click.argument("keep")
@click.argument("other")
@click.option("--reason", default="", help="Why they are the same person (kept in the audit).")
@click.option(
    "--as", "agent_email", help="The agent taking the decision (email); else the operator."
)
@JSON
@handle_errors
def contacts_link(
    keep: str, other: str, reason: str, agent_email: str | None, as_json: bool
) -> None:
    """Join OTHER into KEEP (each C-000123 or CHANNEL:ADDRESS): one client, one history."""
    from core import contacts as core_contacts
    from core.contacts import links, views

    ctx = context(load())
    with ctx.db.transaction() as session:
        kept = core_contacts.get_contact(session, keep)
        links.link(
            ctx,
            session,
            _who(session, agent_email),
            kept,
            core_contacts.contact_to_link(ctx, session, other),
            reason=reason,
        )
        kept_id = kept.id
    with ctx.db.reading() as session:
        data = views.contact_detail(ctx, session, core_contacts.get_contact(session, kept_id))
    emit(data, as_json, _human)


@contacts.command("unlink")
@click.argument("ref")
@click.argument("identity")
@click.option("--reason", default="")
@click.option(
    "--as", "agent_email", help="The agent taking the decision (email); else the operator."
)
@JSON
@handle_errors
def contacts_unlink(
    ref: str, identity: str, reason: str, agent_email: str | None, as_json: bool
) -> None:
    """Split IDENTITY (its id or CHANNEL:ADDRESS) off contact REF, with the tickets it opened."""
    from core import contacts as core_contacts
    from core.contacts import links, views

    ctx = context(load())
    with ctx.db.transaction() as session:
        contact = core_contacts.get_contact(session, ref)
        found = core_contacts.identity_of(session, contact, identity)
        target = links.split(ctx, session, _who(session, agent_email), found, reason=reason)
        ids = contact.id, target.id
    with ctx.db.reading() as session:
        data = {
            "contact": views.contact_detail(
                ctx, session, core_contacts.get_contact(session, ids[0])
            ),
            "split_off": views.contact_detail(
                ctx, session, core_contacts.get_contact(session, ids[1])
            ),
        }

    def human(d: dict[str, Any]) -> None:
        click.echo(f"split off into {d['split_off']['id']}:")
        _human(d["split_off"])
        click.echo(f"\n{d['contact']['id']} keeps:")
        _human(d["contact"])

    emit(data, as_json, human)


@contacts.command("export")
@click.argument("ref")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--as", "agent_email", required=True, help="The lead asking (email); audited.")
@handle_errors
def contacts_export(ref: str, out: str, agent_email: str) -> None:
    """Everything held about contact REF as one JSON document (see README, Privacy)."""
    import json
    from pathlib import Path

    from core import contacts as core_contacts
    from core.privacy import export

    ctx = context(load())
    with ctx.db.transaction() as session:
        doc = export.export(
            ctx, session, _who(session, agent_email), core_contacts.get_contact(session, ref)
        )
    Path(out).write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    rows = sum(len(r) for r in doc["tables"].values())
    click.echo(
        f"{doc['contact']}: {rows} rows, {len(doc['audit_events'])} audit events, "
        f"{len(doc['files'])} files written to {out}"
    )


@contacts.command("erase")
@click.argument("ref")
@click.option("--reason", required=True, help="Why (the request's reference); audited.")
@click.option("--as", "agent_email", required=True, help="The lead deciding (email).")
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
@JSON
@handle_errors
def contacts_erase(ref: str, reason: str, agent_email: str, yes: bool, as_json: bool) -> None:
    """Erase contact REF's personal data for good (names, addresses, messages, files)."""
    from core import contacts as core_contacts
    from core.privacy import erase

    ctx = context(load())
    if not yes:
        with ctx.db.reading() as session:
            contact = core_contacts.get_contact(session, ref)
            label = f"C-{contact.id:06d}"
        click.echo(
            f"This erases {label}'s personal data for good; run again with --yes to do it.",
            err=True,
        )
        sys.exit(2)
    with ctx.db.transaction() as session:
        done = erase.erase(
            ctx,
            session,
            _who(session, agent_email),
            core_contacts.get_contact(session, ref),
            reason=reason,
        )
    erase.after_erasure(ctx)

    def human(d: dict[str, Any]) -> None:
        click.echo(f"{d['contact']} erased on {d['erased_at']} by {d['erased_by']}")
        for name, n in sorted(d["counts"].items()):
            click.echo(f"  {name}: {n}")

    emit(done.as_dict(), as_json, human)
