"""What this deployment is set up to do, and what will silently fail.

``findings(settings)`` reads the settings, the policy and (when it can be reached)
the database's agents and queues, and says, in a person's words, what each part
does: which channels run, who an escalation step reaches, where an SLA warning
goes for a ticket nobody has, who hears of an unassigned ticket and of a low
satisfaction score. A finding is a ``problem`` when something will quietly reach
no one (``switchboard check`` then exits 1), a ``warning`` when it works but not
as one would assume, else ``ok``. ``switchboard check`` prints them; every
process role logs a summary at start.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from channels.contract import OK, PROBLEM, WARNING
from channels.registry import CHANNELS
from config.settings import Settings
from core.desk.config import config as desk_config
from core.errors import ConfigError
from core.escalation import notify, oncall
from core.escalation.config import Step
from core.escalation.config import config as escalation_config
from core.models import Agent, utcnow
from core.policy import Policy, load_policy
from core.rendering import humanize_minutes
from core.satisfaction.config import config as satisfaction_config


@dataclass(frozen=True)
class Finding:
    level: str
    part: str
    message: str


@dataclass
class Staff:
    """The active agents, as the database has them (None: not readable)."""

    agents: list[Agent] | None

    def by_email(self, email: str) -> Agent | None:
        return next((a for a in self.agents or [] if a.email.lower() == email.lower()), None)

    def with_role(self, role: str) -> list[Agent]:
        return [a for a in self.agents or [] if role in (a.roles or [])]


def findings(
    settings: Settings, policy: Policy | None = None, *, probe: bool = False
) -> list[Finding]:
    """Everything ``switchboard check`` says, most serious first; with ``probe``, the
    configured channels' platforms are asked too (a channel that does not answer is
    degraded)."""
    found: list[Finding] = []
    try:
        policy = policy or load_policy(settings.config_file)
    except ConfigError as exc:
        return [Finding(PROBLEM, "policy", f"{exc}: Switchboard will not start")]
    live = {c.name for c in CHANNELS if c.configured(settings)}
    staff = _staff(settings, found)
    found += _channels(settings, live, _unanswered(settings, live) if probe else {})
    found += _escalation(policy, live, staff)
    found += _rotations(policy, staff)
    found += _warnings_and_leads(policy, live, staff)
    found += _satisfaction(policy, staff)
    order = {PROBLEM: 0, WARNING: 1, OK: 2}
    return sorted(found, key=lambda f: order[f.level])


def report(items: list[Finding]) -> dict[str, Any]:
    """The JSON form: counts, and each finding."""
    problems = sum(f.level == PROBLEM for f in items)
    return {
        "ok": problems == 0,
        "problems": problems,
        "warnings": sum(f.level == WARNING for f in items),
        "findings": [asdict(f) for f in items],
    }


def log_summary(settings: Settings, policy: Policy, log: logging.Logger) -> None:
    """At start: one line of counts, then each problem and warning on its own line.
    A failure here is logged and never stops the process."""
    try:
        items = findings(settings, policy)
    except Exception as exc:
        from core.db import is_outage

        if is_outage(exc):  # the database went away meanwhile: health says so, once
            log.warning("the start-up check could not reach the database; run `switchboard check`")
        else:
            log.exception("the start-up check failed; run `switchboard check`")
        return
    log.log(logging.INFO if report(items)["ok"] else logging.WARNING, "check: %s", summary(items))
    for item in items:
        if item.level != OK:
            log.warning("check: %s: %s", item.level, item.message)


def summary(items: list[Finding]) -> str:
    data = report(items)
    return f"{data['problems']} problem(s), {data['warnings']} warning(s)" + (
        "" if data["ok"] else ": something will reach no one (run `switchboard check`)"
    )


def _staff(settings: Settings, found: list[Finding]) -> Staff:
    from config.runtime import require_schema
    from core.db import Database

    try:
        require_schema(settings)
    except ConfigError as exc:
        found.append(
            Finding(PROBLEM, "database", f"{exc}; agents, leads and on-call were not checked")
        )
        return Staff(None)
    db = Database(settings.effective_database_url)
    try:
        with db.reading() as session:
            agents = list(
                session.execute(
                    select(Agent).where(Agent.active.is_(True)).order_by(Agent.id)
                ).scalars()
            )
            session.expunge_all()
    finally:
        db.dispose()
    if not agents:
        found.append(
            Finding(
                PROBLEM,
                "agents",
                "there is no active agent: nobody can be notified of anything "
                "(add one: switchboard agents add)",
            )
        )
    return Staff(agents)


def _unanswered(settings: Settings, live: set[str]) -> dict[str, str]:
    """name -> why, for each configured channel whose platform does not answer now."""
    down: dict[str, str] = {}
    for channel in CHANNELS:
        if channel.name in live and channel.probe is not None:
            why = channel.probe(settings)
            if why:
                down[channel.name] = why
    return down


def _channels(settings: Settings, live: set[str], down: dict[str, str]) -> list[Finding]:
    """What each channel says of itself (``Channel.status``), in the registry's order."""
    out = [
        Finding(level, channel.name, message)
        for channel in CHANNELS
        if channel.status is not None
        for level, message in channel.status(settings, channel.name in live, down.get(channel.name))
    ]
    if settings.public_url.startswith(("http://127.", "http://localhost")):
        out.append(
            Finding(
                WARNING,
                "links",
                f"SWITCHBOARD_PUBLIC_URL is {settings.public_url}: the links in messages "
                "(tracking pages, acknowledgement and satisfaction links) open only on this machine",
            )
        )
    return out


def _usable(channels: tuple[str, ...] | list[str], live: set[str]) -> list[str]:
    return [c for c in channels if c in live]


def _reached(agents: list[Agent], channels: list[str]) -> list[Agent]:
    """The agents who have an address on one of ``channels`` (all configured)."""
    return [
        a for a in agents if (found := notify.channel_for(a, channels)) and found[0] in channels
    ]


def _step_agents(policy: Policy, step: Step, staff: Staff) -> tuple[list[Agent], str, str]:
    """Who a step names now: (agents, in words, why nobody when it names nobody)."""
    kind, name = step.target
    if kind == "oncall":
        rotation = oncall.find(policy, name or None)
        if rotation is None:
            return [], "who is on call", "no on-call rotation is configured"
        agent = staff.by_email(rotation.who(utcnow())[0])
        return [agent] if agent else [], f"who is on call ('{rotation.name}')", "not an agent"
    if kind == "agent":
        agent = staff.by_email(name)
        return [agent] if agent else [], name, "not an active agent"
    if kind == "role":
        return staff.with_role(name), f"role {name}", "no active agent has it"
    members = escalation_config(policy).groups.get(name, ())
    found: list[Agent] = []
    for member in members:
        if member.startswith("role:"):
            found += staff.with_role(member[5:])
        elif agent := staff.by_email(member):
            found.append(agent)
    return found, f"group '{name}'", "no active agent in it"


def _step(policy: Policy, step: Step, live: set[str], staff: Staff) -> tuple[bool | None, str]:
    """Whether a step reaches someone (None: not known without the database), and
    what it notifies, with why not."""
    kind, _ = step.target
    via = ", ".join(step.channels)
    usable = _usable(step.channels, live)
    if kind == "queue":
        if "slack" not in step.channels:
            return False, f"the queue without Slack (a queue is reached by Slack only; {via})"
        if "slack" not in live:
            return False, "the queue by Slack, and Slack is not configured"
        return True, "the queue by Slack"
    if kind == "assignee":
        return (
            (bool(usable), f"the assignee by {via}")
            if usable
            else (
                False,
                f"the assignee by {via}, and none of these is configured",
            )
        )
    agents, who, why = _step_agents(policy, step, staff)
    if why == "no on-call rotation is configured":
        return False, f"{who}, and {why}"
    if not usable:
        return False, f"{who} by {via}, and none of these is configured"
    if staff.agents is None:
        return None, f"{who} by {via}"
    if not agents:
        return False, f"{who} by {via}: {why}"
    if not _reached(agents, usable):
        return False, f"{who} by {via}, and none of them has an address on {', '.join(usable)}"
    return True, f"{who} by {via}"


def _escalation(policy: Policy, live: set[str], staff: Staff) -> list[Finding]:
    out: list[Finding] = []
    for chain in escalation_config(policy).chains.values():
        where = f"escalation chain '{chain.name}'"
        steps = [_step(policy, step, live, staff) for step in chain.steps]
        reaching = [said for ok, said in steps if ok]
        unknown = [said for ok, said in steps if ok is None]
        failing = [(i, said) for i, (ok, said) in enumerate(steps, 1) if ok is False]
        if not reaching and not unknown:
            out.append(
                Finding(
                    PROBLEM,
                    "escalation",
                    f"{where} notifies {'; then '.join(s for _, s in failing)}: "
                    "breaches will notify no one",
                )
            )
            continue
        for i, said in failing:
            out.append(
                Finding(
                    WARNING, "escalation", f"{where} step {i} notifies {said}: it reaches no one"
                )
            )
        if reaching:
            out.append(
                Finding(
                    OK,
                    "escalation",
                    f"{where} reaches {'; then '.join(reaching)} "
                    f"({len(reaching)} of {len(steps)} steps)",
                )
            )
        if unknown:
            out.append(
                Finding(
                    WARNING,
                    "escalation",
                    f"{where}: not checked without the database: {'; '.join(unknown)}",
                )
            )
    return out


def _rotations(policy: Policy, staff: Staff) -> list[Finding]:
    out: list[Finding] = []
    rotations = oncall.rotations(policy)
    if not rotations:
        out.append(
            Finding(
                WARNING,
                "oncall",
                "no on-call rotation is configured ([[oncall_rotations]]): steps naming "
                '"oncall" and the last fallback of SLA warnings reach no one',
            )
        )
    for rotation in rotations:
        missing = [e for e in rotation.agents if staff.agents is not None and not staff.by_email(e)]
        if missing:
            out.append(
                Finding(
                    WARNING,
                    "oncall",
                    f"on-call rotation '{rotation.name}' names {', '.join(missing)}, who "
                    "is not an active agent: their turns reach no one",
                )
            )
        else:
            out.append(Finding(OK, "oncall", f"on-call rotation '{rotation.name}' is complete"))
    return out


def _warnings_and_leads(policy: Policy, live: set[str], staff: Staff) -> list[Finding]:
    out: list[Finding] = []
    leads = desk_config(policy).leads
    on_call = bool(oncall.rotations(policy))
    for queue in policy.queues:
        slug = str(queue["slug"])
        channel = bool(queue.get("slack_channel")) and "slack" in live
        if not channel and not on_call:
            out.append(
                Finding(
                    PROBLEM,
                    "sla",
                    f"an SLA warning for a ticket nobody has in queue '{slug}' reaches no one: "
                    "the queue has no Slack channel (or Slack is not configured) and no on-call "
                    "rotation is configured",
                )
            )
        named = leads.get(slug)
        lead = staff.by_email(named) if named else None
        if staff.agents is None:
            continue
        if named and lead is None:
            out.append(
                Finding(
                    WARNING,
                    "desk",
                    f"queue '{slug}' names the lead {named}, who is not an active agent: "
                    "every agent with the role lead stands in",
                )
            )
        if lead is None and not staff.with_role("lead"):
            fallback = "its Slack channel" if channel else "who is on call" if on_call else None
            out.append(
                Finding(
                    WARNING if fallback else PROBLEM,
                    "desk",
                    f"queue '{slug}' has no lead and no agent has the role lead: unassigned "
                    + (
                        f"tickets escalate to {fallback}"
                        if fallback
                        else "tickets escalate to no one"
                    ),
                )
            )
    limits = desk_config(policy).defaults["unassigned_minutes"]
    said = ", ".join(
        f"{p} {'at once' if m == 0 else 'after ' + humanize_minutes(int(m))}"
        for p, m in sorted(limits.items())
        if m is not None
    )
    out.append(Finding(OK, "desk", f"unassigned tickets escalate to the queue's lead: {said}"))
    return out


def _satisfaction(policy: Policy, staff: Staff) -> list[Finding]:
    cfg = satisfaction_config(policy)
    if cfg.notify_at_or_below == 0 or staff.agents is None:
        return []
    told = [
        a for a in staff.agents if set(a.roles or []) & cfg.roles or a.email.lower() in cfg.emails
    ]
    if told or staff.with_role("lead"):
        return [
            Finding(
                OK,
                "satisfaction",
                f"a rating of {cfg.notify_at_or_below} or less notifies "
                f"{len(told)} agent(s) and opens a follow-up for the queue's lead",
            )
        ]
    return [
        Finding(
            PROBLEM,
            "satisfaction",
            f"a rating of {cfg.notify_at_or_below} or less notifies {', '.join(cfg.notify)}, "
            "and no active agent is one: low ratings reach no one",
        )
    ]
