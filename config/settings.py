"""Settings from the environment (prefix ``SWITCHBOARD_``): the core's
(``config.core_settings``) and every channel's (each in its package, joined in the
registry's ``ChannelSettings``).

A wrong value fails at start with a message naming the variable.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from channels.registry import ChannelSettings
from config.core_settings import ENV_PREFIX
from core.errors import ConfigError


class Settings(ChannelSettings):
    """All runtime settings: the core's, then each channel's. Field ``x`` is read
    from ``SWITCHBOARD_X``."""


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ConfigError naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for the README and --help."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        rows.append(
            (
                ENV_PREFIX + name.upper(),
                "" if default is None else str(default),
                field.description or "",
            )
        )
    return rows
