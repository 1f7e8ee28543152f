"""The folder tree is the architecture: the arrows that must never be (shared/layers.json).

core knows no channel, no broker and no settings module; workers run the jobs they
are handed and import no channel; channels hand their jobs and tables over through
the registry, never through the workers; migrations get channel tables from it too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NEVER = [
    ("core", "channels"),
    ("core", "workers"),
    ("core", "config"),
    ("workers", "channels"),
    ("channels", "workers"),
    ("migrations", "channels"),
]


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(("part", "forbidden"), NEVER)
def test_no_part_imports_one_it_must_never_know(part: str, forbidden: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / part).rglob("*.py"))
        for name in sorted(imports(path))
        if name == forbidden or name.startswith(forbidden + ".")
    ]
    assert offenders == []


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_core_has_no_import_circles() -> None:
    files = {_module(p): p for p in (ROOT / "core").rglob("*.py")}
    graph = {
        name: {m for m in imports(path) if m in files and m != name} for name, path in files.items()
    }
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                circles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [name, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def _declared_in(name: str) -> str:
    """The module of the settings class that declares field ``name``."""
    from config.settings import Settings

    owner = next(c for c in reversed(Settings.__mro__) if name in getattr(c, "__annotations__", {}))
    return owner.__module__


def test_each_channels_settings_are_declared_in_its_own_package() -> None:
    from channels.registry import CHANNELS
    from config.settings import Settings

    misplaced = [
        f"{name} is declared in {_declared_in(name)}"
        for name in Settings.model_fields
        for channel in CHANNELS
        if name.startswith(channel.name + "_")
        and not _declared_in(name).startswith(f"channels.{channel.name}.")
    ]
    assert misplaced == []
    # the email channel's settings are named for what they configure
    email = [n for n in Settings.model_fields if n.startswith(("smtp_", "mail_", "imap_"))]
    assert email and all(_declared_in(n) == "channels.email.settings" for n in email)


def test_every_secret_setting_is_kept_out_of_the_logs() -> None:
    from config.settings import Settings

    names = [
        n
        for n, field in Settings.model_fields.items()
        if n.endswith(("_token", "_secret", "_password", "_key")) and field.annotation is str
    ]
    values = {name: f"value-of-{name}" for name in names}
    kept_out = set(Settings(**values).secret_values())  # type: ignore[arg-type]
    assert sorted(n for n in names if values[n] not in kept_out) == []
    assert len(names) >= 12
