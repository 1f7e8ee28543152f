"""What agents read of an alert: the ticket's subject and first message, what changed,
and the note when it resolves. Plain text: the Slack card and thread quote it."""

from __future__ import annotations

from datetime import datetime

from core.alerts.values import AlertGroup, AlertIn
from core.models import Alert
from core.rendering import humanize_minutes, plural


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "an unknown time"


def subject(alert: AlertIn) -> str:
    summary = " ".join(alert.annotations.get("summary", "").split())
    if not summary:
        return alert.name
    return summary if alert.name.lower() in summary.lower() else f"{alert.name}: {summary}"


def _pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items())) or "(none)"


def opening(alert: AlertIn, group: AlertGroup) -> str:
    """The first message of an alert's ticket: what it says, then everything it carries."""
    lines = []
    said = alert.annotations.get("description") or alert.annotations.get("summary") or ""
    if said.strip():
        lines += [said.strip(), ""]
    lines.append(f"Alert {alert.name} is firing since {when(alert.starts_at)}.")
    lines.append(f"Labels: {_pairs(alert.labels)}")
    lines.append(f"Annotations: {_pairs(alert.annotations)}")
    if alert.generator_url:
        lines.append(f"Source: {alert.generator_url}")
    if group.external_url:
        lines.append(f"Alerts page: {group.external_url}")
    if group.truncated:
        lines.append(
            f"{plural(group.truncated, 'more alert')} of this group "
            f"{'was' if group.truncated == 1 else 'were'} left out of the notification "
            "(the sender's max_alerts); they are handled when a notification carries them."
        )
    return "\n".join(lines)


def changes(known: Alert, alert: AlertIn) -> list[str]:
    """What is new in ``alert`` against what was known of it, one line each."""
    lines = []
    if known.status != alert.status or (known.starts_at and alert.starts_at != known.starts_at):
        lines.append(
            f"Alert {alert.name} fired again at {when(alert.starts_at)}"
            + (f" (it had cleared at {when(known.ends_at)})." if known.ends_at else ".")
        )
    for what, before, after in (
        ("label", known.labels, alert.labels),
        ("annotation", known.annotations, alert.annotations),
    ):
        for name in sorted(set(before) | set(after)):
            old, new = before.get(name), after.get(name)
            if old == new:
                continue
            if old is None:
                lines.append(f"{what} {name} added: {new}")
            elif new is None:
                lines.append(f"{what} {name} removed (was: {old})")
            else:
                lines.append(f"{what} {name}: {old} -> {new}")
    if alert.generator_url != known.generator_url:
        lines.append(f"source: {alert.generator_url or '(none)'}")
    return lines


def changed(alert: AlertIn, lines: list[str]) -> str:
    if lines and lines[0].startswith("Alert "):
        return "\n".join(lines)
    return "\n".join([f"Alert {alert.name} changed:", *(f"- {line}" for line in lines)])


def resolved(alert: AlertIn, known: Alert) -> str:
    ended = alert.ends_at
    text = f"Alert {alert.name} resolved at {when(ended)}"
    if ended and known.starts_at and ended >= known.starts_at:
        minutes = int((ended - known.starts_at).total_seconds() // 60)
        text += f", after firing for {humanize_minutes(minutes) if minutes else 'under a minute'}"
    return text + "."
