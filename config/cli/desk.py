"""The desk rules' follow-ups (``switchboard follow-ups list|done``) and
``switchboard check``."""

from __future__ import annotations

from typing import Any

import click

from config.cli.base import JSON, context, each, emit, handle_errors, load, main


@main.group("follow-ups")
def follow_ups() -> None:
    """Follow-ups the desk rules opened: unassigned tickets, long holds, low scores."""


@follow_ups.command("list")
@click.option(
    "--status",
    type=click.Choice(["open", "done", "all"]),
    default="open",
    show_default=True,
    help="Which follow-ups.",
)
@click.option("--for", "agent_ref", help="Only those for this agent (id or email).")
@JSON
@handle_errors
def follow_ups_list(status: str, agent_ref: str | None, as_json: bool) -> None:
    """Follow-ups, newest first."""
    from core import agents
    from core.desk import followups

    ctx = context(load())
    with ctx.db.reading() as session:
        agent_id = agents.find(session, agent_ref).id if agent_ref else None
        rows = followups.listing(
            session, status=None if status == "all" else status, agent_id=agent_id
        )

    def line(f: dict[str, Any]) -> str:
        who = f["for"]["email"] if f["for"] else "nobody"
        done = f"  done by {f['done_by']}: {f['note'] or '-'}" if f["status"] == "done" else ""
        return (
            f"#{f['id']}  {f['ticket']} ({f['priority']})  {f['kind']}  for {who}  "
            f"{f['reason']}{done}"
        )

    emit(
        {"follow_ups": rows},
        as_json,
        lambda d: each(d["follow_ups"], line) if d["follow_ups"] else click.echo("none"),
    )


@follow_ups.command("done")
@click.argument("follow_up_id", type=int)
@click.option("--as", "agent", required=True, help="The agent marking it done: id or email.")
@click.option("--note", default="", help="What was done (kept in the audit).")
@JSON
@handle_errors
def follow_ups_done(follow_up_id: int, agent: str, note: str, as_json: bool) -> None:
    """Mark a follow-up done."""
    from config.cli.actions import acting_agent
    from core.desk import followups

    ctx = context(load())
    with ctx.db.transaction() as session:
        followups.done(ctx, session, acting_agent(session, agent), follow_up_id, note)
        (row,) = followups.listing(session, status=None, follow_up_id=follow_up_id)
    emit(row, as_json, lambda f: click.echo(f"#{f['id']} on {f['ticket']}: done"))


@main.command("check")
@JSON
@handle_errors
def check_command(as_json: bool) -> None:
    """Say what is configured and what is not, and what that means; exit 1 when
    something will silently reach no one."""
    from config import check

    items = check.findings(load(), probe=True)

    def human(data: dict[str, Any]) -> None:
        click.echo(f"Switchboard check: {check.summary(items)}")
        for f in data["findings"]:
            click.echo(f"  {f['level']:<8} {f['part']:<12} {f['message']}")

    data = check.report(items)
    emit(data, as_json, human)
    if not data["ok"]:
        raise SystemExit(1)
