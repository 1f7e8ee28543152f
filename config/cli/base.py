"""What every ``switchboard`` command shares: the group, settings, errors, output."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from config import logging as sblogging
from config.settings import Settings, load_settings
from core.errors import ConfigError, SwitchboardError

log = logging.getLogger("switchboard")


def load() -> Settings:
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


def each(rows: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]) -> None:
    for row in rows:
        click.echo(line(row))


def context(settings: Settings):  # type: ignore[no-untyped-def]
    from config.runtime import build_context

    return build_context(settings)


@click.group()
def main() -> None:
    """Switchboard: support intake from email, chat and webhooks, worked from Slack."""
