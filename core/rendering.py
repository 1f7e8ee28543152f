"""Message texts from jinja2 templates, with operator overrides.

Templates live in ``templates/KIND/``; see ``templates/__init__.py`` for the naming.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)

import templates as shipped

SHIPPED_DIR = Path(shipped.__file__).resolve().parent


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


class Renderer:
    """Renders one message kind for one channel."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders = []
        if override_dir is not None:
            loaders.append(FileSystemLoader(str(override_dir)))
        loaders.append(FileSystemLoader(str(SHIPPED_DIR)))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(
                enabled_extensions=("html", "html.j2"), default_for_string=False
            ),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # ``{{ minutes|duration }}``: "1 minute", "15 minutes", "2 hours", in the right number.
        self.env.filters["duration"] = humanize_minutes

    def _maybe(self, name: str, fields: dict[str, Any]) -> str | None:
        try:
            template = self.env.get_template(name)
        except TemplateNotFound:
            return None
        return template.render(**fields)

    def render(self, kind: str, channel: str, **fields: Any) -> Rendered:
        text = self._maybe(f"{kind}/{channel}.txt.j2", fields)
        if text is None:
            text = self.env.get_template(f"{kind}/default.txt.j2").render(**fields)
        subject = (self._maybe(f"{kind}/subject.txt.j2", fields) or "").strip()
        html = self._maybe(f"{kind}/{channel}.html.j2", fields)
        return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 minute``, ``2 minutes``: the count with its noun in the right number."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def humanize_minutes(minutes: int | None) -> str:
    """A duration as a person says it: ``1 minute``, ``4 hours``, ``2 days``, ``1 h 30 min``."""
    if not minutes:
        return ""
    if minutes < 60:
        return plural(minutes, "minute")
    if minutes % 1440 == 0:
        return plural(minutes // 1440, "day")
    if minutes % 60 == 0:
        return plural(minutes // 60, "hour")
    return f"{minutes // 60} h {minutes % 60} min"
