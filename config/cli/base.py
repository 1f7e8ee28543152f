"""What every ``switchboard`` command shares: the group, settings, errors, output."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from config import logging as sblogging
from config.settings import Settings, load_settings
from core.errors import ConfigError, SwitchboardError

log = logging.getLogger("switchboard")


def load() -> Settings:
    settings = load_settings()
    sblogging.configure(settings)
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
        except SQLAlchemyError as exc:
            log.debug("database error", exc_info=True)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            click.echo(
                f"switchboard: the database refused: {reason} "
                "(is it migrated? run `switchboard migrate`)",
                err=True,
            )
            sys.exit(2)

    return wrapper


JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
"""The ``--json`` flag of every command that can print its result as JSON."""


def emit(data: Any, as_json: bool, human: Callable[[Any], object]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human(data)


def each(rows: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]) -> None:
    for row in rows:
        click.echo(line(row))


def context(settings: Settings):
    from config.runtime import build_context, require_schema

    require_schema(settings)
    return build_context(settings)


@click.group()
def main() -> None:
    """Switchboard: support intake from email, chat and webhooks, worked from Slack."""
