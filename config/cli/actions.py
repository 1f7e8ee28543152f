"""Every ticket action the API takes, from the command line, as a named agent.

``switchboard tickets ACTION NUMBER ... --as AGENT [--override-reason R] [--json]``.
The commands are made from one table, ``ACTIONS``: each row names the action, its
arguments and options, and the core call it makes (the same functions the JSON
API calls, in ``core.tickets`` and ``core.escalation``). Each runs in one
transaction on the ticket, locked, and prints the ticket as ``tickets show`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from config.cli.base import context, emit, handle_errors, load
from config.cli.tickets import tickets
from core import agents
from core.context import Context
from core.errors import ActionRefused
from core.escalation import acknowledging
from core.models import Ticket
from core.principals import Principal, agent_principal
from core.tickets import conversation, fields, files, lookup, merging, workflow
from core.tickets.context import assemble
from core.values import AttachmentIn

Run = Callable[[Context, Session, Principal, Ticket, dict[str, Any]], object]


@dataclass(frozen=True)
class Action:
    """One command: its name, what it does, what it takes besides the ticket number,
    and the core call (given the context, session, agent, locked ticket and values)."""

    name: str
    help: str
    params: tuple[click.Parameter, ...]
    run: Run


def _text(name: str = "text") -> click.Argument:
    return click.Argument([name])


def _opt(*decls: str, **kw: Any) -> click.Option:
    return click.Option(list(decls), **kw)


ATTACH = _opt(
    "--attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file to attach (again for more).",
)


def _files(paths: tuple[Path, ...]) -> list[AttachmentIn]:
    return [files.named(p.name, "", p.read_bytes()) for p in paths]


class When(click.ParamType):
    """An ISO date or date and time; one without a zone is UTC."""

    name = "when"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO date or time, e.g. 2026-12-03T09:00", param, ctx)
        return when if when.tzinfo else when.replace(tzinfo=UTC)


def _with_values(call: Callable[..., object]) -> Run:
    """The core call with the command's arguments and options as its keywords."""
    return lambda ctx, s, who, t, v: call(ctx, s, who, t, **v)


def _message(name: str, doc: str, write: Callable[..., Any]) -> Action:
    """An action that adds TEXT, with any --attach files, to the thread through ``write``."""
    return Action(
        name,
        doc,
        (_text(), ATTACH),
        lambda ctx, s, who, t, v: write(
            ctx, s, who, t, text=v["text"], attachments=_files(v["attach"])
        ),
    )


WHEN = When()
HOLD_REASONS = click.Choice(["waiting_on_client", "pending_parts", "other"])
PRIORITIES = click.Choice(["P1", "P2", "P3", "P4"])

ACTIONS: tuple[Action, ...] = (
    Action(
        "acknowledge",
        "Acknowledge the ticket (stops the response clock).",
        (),
        _with_values(workflow.acknowledge),
    ),
    Action(
        "assign",
        "Assign to AGENT: 'me', an agent id or an agent's email.",
        (_text("assignee"),),
        lambda ctx, s, who, t, v: workflow.assign(
            ctx, s, who, t, assignee=agents.find(s, v.pop("assignee"), who), **v
        ),
    ),
    Action(
        "start",
        "Start work on the ticket.",
        (),
        _with_values(workflow.start),
    ),
    _message(
        "reply",
        "Send TEXT to the client, on their channel, with any --attach files.",
        conversation.reply,
    ),
    _message(
        "note",
        "Add TEXT as an internal note (never sent to the client), with any --attach files.",
        conversation.note,
    ),
    Action(
        "hold",
        "Put the ticket on hold (pauses the resolution clock).",
        (
            _opt("--reason", type=HOLD_REASONS, required=True),
            _opt("--parts-ref", help="The parts order (needed with pending_parts)."),
            _opt("--note", "hold_note", help="What the ticket waits for."),
            _opt(
                "--until",
                type=WHEN,
                help="When it will be looked at again (ISO date or time; UTC unless it says"
                " otherwise); told to the client.",
            ),
        ),
        _with_values(workflow.hold),
    ),
    Action(
        "resume",
        "Take the ticket off hold.",
        (),
        _with_values(workflow.resume),
    ),
    Action(
        "resolve",
        "Resolve with a resolution code and the steps taken.",
        (_opt("--code", required=True), _opt("--steps", required=True)),
        _with_values(workflow.resolve),
    ),
    Action(
        "close",
        "Close the ticket (an unresolved one needs --code and --steps).",
        (_opt("--code"), _opt("--steps")),
        _with_values(workflow.close),
    ),
    Action(
        "reopen",
        "Reopen a resolved or closed ticket.",
        (_opt("--reason", default=""),),
        _with_values(workflow.reopen),
    ),
    Action(
        "priority",
        "Set the priority (P1..P4), with a reason.",
        (click.Argument(["priority"], type=PRIORITIES), _opt("--reason", default="")),
        _with_values(fields.set_priority),
    ),
    Action(
        "category",
        "File under another category (its slug).",
        (_text("category"),),
        lambda ctx, s, who, t, v: fields.file_under(
            ctx, s, who, t, "category", v.pop("category"), **v
        ),
    ),
    Action(
        "queue",
        "Move to another queue (its slug).",
        (_text("queue"),),
        lambda ctx, s, who, t, v: fields.file_under(ctx, s, who, t, "queue", v.pop("queue"), **v),
    ),
    Action(
        "links",
        "Link the ticket to a machine, site or work order (created when new), or a location.",
        (
            _opt("--asset", help="The machine's tag."),
            _opt("--site", help="The site's code."),
            _opt("--work-order", help="The work order's number."),
            _opt("--location", help="Free text."),
        ),
        lambda ctx, s, who, t, v: fields.link(
            ctx,
            s,
            who,
            t,
            override_reason=v.pop("override_reason"),
            **{k: x for k, x in v.items() if x is not None},
        ),
    ),
    Action(
        "merge",
        "Merge the ticket into INTO (another ticket number).",
        (_text("into"),),
        lambda ctx, s, who, t, v: merging.merge(
            ctx, s, who, t, into=lookup.get_ticket(s, v.pop("into"), lock=True), **v
        ),
    ),
    Action(
        "escalate",
        "Escalate now, with a reason: starts the escalation chain.",
        (_opt("--reason", required=True),),
        _with_values(workflow.escalate),
    ),
    Action(
        "ack-escalation",
        "Acknowledge the ticket's running escalation: the chain stops.",
        (),
        lambda ctx, s, who, t, v: acknowledging.acknowledge(ctx, s, t, by=who.label, who=who),
    ),
)


def acting_agent(session: Session, ref: str) -> Principal:
    """The principal of the active agent ``ref`` names (id or email)."""
    agent = agents.find(session, ref)
    if not agent.active:
        raise ActionRefused("agents.inactive", f"{agent.name} is not an active agent", kind="role")
    return agent_principal(agent)


def _human(t: dict[str, Any]) -> None:
    click.echo(
        f"{t['number']}  {t['status']}{' (escalated)' if t['escalated'] else ''}  {t['priority']}  "
        f"queue {t['queue']}  assignee {t['assignee'] or '-'}  SLA {t['sla']['state']}"
    )
    last = t["audit"][-1] if t["audit"] else None
    if last:
        click.echo(f"  {last['actor']} {last['action']}")


def command(action: Action) -> click.Command:
    """The click command of one row of ``ACTIONS``."""

    @handle_errors
    def run(number: str, agent: str, as_json: bool, **values: Any) -> None:
        ctx = context(load())
        with ctx.db.transaction() as session:
            ticket = lookup.get_ticket(session, number, lock=True)
            action.run(ctx, session, acting_agent(session, agent), ticket, values)
            ticket_id = ticket.id
        with ctx.db.reading() as session:
            data = assemble(ctx, session, ticket_id)
        emit(data, as_json, _human)

    extra: tuple[click.Parameter, ...] = ()
    if action.name not in ("reply", "note", "ack-escalation"):
        extra = (_opt("--override-reason", help="A lead's written reason to pass a rule."),)
    return click.Command(
        action.name,
        callback=run,
        help=action.help,
        params=[
            click.Argument(["number"]),
            *action.params,
            _opt("--as", "agent", required=True, help="The agent taking the action: id or email."),
            *extra,
            _opt("--json", "as_json", is_flag=True, help="Print the ticket as JSON."),
        ],
    )


for _action in ACTIONS:
    tickets.add_command(command(_action))
