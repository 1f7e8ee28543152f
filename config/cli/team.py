"""Running the team from the command line: API tokens, deactivating an agent, an
agent's notification preferences, and organizations with their contract tier.

The operator acts as ``system:cli``; every change goes through ``core.agents`` and
``core.organizations`` (the same calls as the JSON API) and is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.orm import Session

from config.cli.admin import agents
from config.cli.base import JSON, context, each, emit, handle_errors, load, main
from core import agents as core_agents
from core import organizations as orgs
from core.context import Context
from core.models import MAX_ID
from core.principals import system

OPERATOR = system("cli")


def _write(
    as_json: bool, human: Callable[[Any], object], work: Callable[[Context, Session], Any]
) -> None:
    """Run ``work`` in one transaction and print what it returns."""
    ctx = context(load())
    with ctx.db.transaction() as session:
        data = work(ctx, session)
    emit(data, as_json, human)


def _agent_line(a: dict[str, Any]) -> None:
    click.echo(
        f"agent {a['id']} {a['name']} <{a['email']}> {'active' if a['active'] else 'INACTIVE'}; "
        f"preferences {a['preferences'] or '{}'}"
    )


def _token_line(t: dict[str, Any]) -> str:
    state = f"revoked {t['revoked_at']} by {t['revoked_by']}" if t["revoked_at"] else "active"
    return f"#{t['id']:<4} agent {t['agent']:<4} {t['name']:<20} {t['hint']:<12} {state}"


# Agents: deactivate, reactivate, preferences ------------------------------------------


def _activation(name: str, active: bool, summary: str) -> None:
    """Add ``agents deactivate`` or ``agents reactivate``."""

    @agents.command(name, help=summary)
    @click.argument("agent")
    @click.option("--reason", default="", help="Kept in the audit.")
    @JSON
    @handle_errors
    def command(agent: str, reason: str, as_json: bool) -> None:
        _write(
            as_json,
            _agent_line,
            lambda ctx, s: core_agents.set_active(
                ctx, s, OPERATOR, core_agents.find(s, agent), active, reason
            ),
        )


_activation(
    "deactivate", False, "AGENT (id or email) stops: tokens refused, no pings, no assignments."
)
_activation(
    "reactivate", True, "AGENT (id or email) works again (tokens not revoked work again too)."
)


@agents.command("preferences")
@click.argument("agent")
@click.option("--channels", help="Comma-separated, in order: slack,telegram,email,fake.")
@click.option("--address", "addresses", multiple=True, help="CHANNEL=ADDRESS (repeatable).")
@click.option("--quiet-hours", help="START-END, e.g. 22:00-07:00.")
@click.option("--timezone", help="Of the quiet hours, e.g. Europe/Paris (default UTC).")
@click.option(
    "--clear",
    multiple=True,
    type=click.Choice(core_agents.PREFERENCE_KEYS),
    help="Remove a preference (repeatable).",
)
@JSON
@handle_errors
def agents_preferences(
    agent: str,
    channels: str | None,
    addresses: tuple[str, ...],
    quiet_hours: str | None,
    timezone: str | None,
    clear: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show or change how AGENT is reached: channels, extra addresses, quiet hours."""
    changes: dict[str, Any] = dict.fromkeys(clear)
    if channels is not None:
        changes["channels"] = [c.strip() for c in channels.split(",") if c.strip()]
    if addresses:
        pairs = [a.partition("=") for a in addresses]
        bad = [a for a, (_, eq, v) in zip(addresses, pairs, strict=True) if not eq or not v]
        if bad:
            raise click.BadParameter(
                f"expected CHANNEL=ADDRESS, got {bad[0]}", param_hint="--address"
            )
        changes["addresses"] = {k.strip(): v.strip() for k, _, v in pairs}
    if quiet_hours is not None:
        start, _, end = quiet_hours.partition("-")
        changes["quiet_hours"] = {"start": start.strip(), "end": end.strip(), "timezone": timezone}
    _write(
        as_json,
        _agent_line,
        lambda ctx, s: core_agents.set_preferences(
            ctx, s, OPERATOR, core_agents.find(s, agent), changes
        ),
    )


# API tokens ---------------------------------------------------------------------------


@main.group()
def tokens() -> None:
    """Agents' API tokens: issue, list, revoke."""


@tokens.command("issue")
@click.argument("agent")
@click.option("--name", default="", help="What the token is for, e.g. 'laptop' or 'ci'.")
@JSON
@handle_errors
def tokens_issue(agent: str, name: str, as_json: bool) -> None:
    """A new API token for AGENT (id or email), printed once."""
    _write(
        as_json,
        lambda t: click.echo(f"{_token_line(t)}\nAPI token (shown once): {t['token']}"),
        lambda ctx, s: core_agents.issue_token(ctx, s, OPERATOR, core_agents.find(s, agent), name),
    )


@tokens.command("list")
@click.argument("agent")
@JSON
@handle_errors
def tokens_list(agent: str, as_json: bool) -> None:
    """AGENT's tokens (never the tokens themselves), revoked ones too."""
    _write(
        as_json,
        lambda rows: each(rows, _token_line),
        lambda ctx, s: core_agents.tokens(s, OPERATOR, core_agents.find(s, agent)),
    )


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_ID))
@JSON
@handle_errors
def tokens_revoke(token_id: int, as_json: bool) -> None:
    """Revoke token TOKEN_ID (from tokens list): refused from now on."""
    _write(
        as_json,
        lambda t: click.echo(_token_line(t)),
        lambda ctx, s: core_agents.revoke_token(ctx, s, OPERATOR, token_id),
    )


# Organizations ------------------------------------------------------------------------


@main.group()
def organizations() -> None:
    """Client companies and their contract tier (what SLA rules select by)."""


def _org_line(o: dict[str, Any]) -> str:
    return f"{o['id']:>4} {o['name']:<30} tier {o['tier']:<12} {o['email_domain'] or '-'}"


def _org_changed(o: dict[str, Any]) -> None:
    click.echo(_org_line(o))
    if o.get("tickets_moved"):
        click.echo(f"  SLA policy changed on {', '.join(o['tickets_moved'])}")


@organizations.command("list")
@JSON
@handle_errors
def organizations_list(as_json: bool) -> None:
    _write(as_json, lambda rows: each(rows, _org_line), lambda ctx, s: orgs.listing(s))


@organizations.command("add")
@click.argument("name")
@click.option("--tier", default="standard", show_default=True)
@click.option("--domain", help="Email domain: a first-time sender from it joins the organization.")
@JSON
@handle_errors
def organizations_add(name: str, tier: str, domain: str | None, as_json: bool) -> None:
    _write(
        as_json,
        _org_changed,
        lambda ctx, s: orgs.org_dict(orgs.create(ctx, s, OPERATOR, name, tier, domain), s),
    )


@organizations.command("update")
@click.argument("ref")
@click.option("--name")
@click.option("--tier", help="A new tier moves open tickets to the SLA policy it selects.")
@click.option("--domain", help="Email domain ('' removes it).")
@JSON
@handle_errors
def organizations_update(
    ref: str, name: str | None, tier: str | None, domain: str | None, as_json: bool
) -> None:
    """Change organization REF (id or name)."""
    changes = {
        k: v
        for k, v in {"name": name, "tier": tier, "email_domain": domain}.items()
        if v is not None
    }
    _write(
        as_json,
        _org_changed,
        lambda ctx, s: orgs.update(ctx, s, OPERATOR, orgs.get(s, ref), changes),
    )


@organizations.command("member")
@click.argument("contact")
@click.argument("ref")
@JSON
@handle_errors
def organizations_member(contact: str, ref: str, as_json: bool) -> None:
    """Put client CONTACT (C-000012 or CHANNEL:ADDRESS) in organization REF ('-': in none)."""
    _write(
        as_json,
        lambda d: click.echo(
            f"{d['contact']} -> {d['organization']['name'] if d['organization'] else 'no organization'}"
            + (
                f"; SLA policy changed on {', '.join(d['tickets_moved'])}"
                if d["tickets_moved"]
                else ""
            )
        ),
        lambda ctx, s: orgs.set_contact_organization(
            ctx, s, OPERATOR, contact, None if ref == "-" else orgs.get(s, ref)
        ),
    )
