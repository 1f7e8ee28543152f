"""Filters of listings, checked: a value that can match nothing is refused, named.

A listing asked for ``status=bogus`` or ``asset=`` (empty) would otherwise quietly
show everything or nothing. These checks raise ``ActionRefused`` (``query.NAME``,
422 in the API, one line on the command line) naming the filter and the values
it takes.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.errors import ActionRefused


def given(name: str, value: str | None, what: str) -> str | None:
    """``value`` itself; None when not given. Empty is refused: ``what`` says what to give."""
    if value is None:
        return None
    if not value.strip():
        raise ActionRefused(
            f"query.{name}", f"{name} is empty: give {what}, or leave it out", kind="field"
        )
    return value.strip()


def choices(name: str, value: str | None, allowed: Iterable[str]) -> list[str] | None:
    """The comma-separated values of ``value``, each one of ``allowed``; None when not given."""
    if given(name, value, f"one or more of {_listed(allowed)}") is None:
        return None
    assert value is not None
    known = list(allowed)
    wanted = [v.strip() for v in value.split(",")]
    unknown = [v for v in wanted if v not in known]
    if unknown:
        raise ActionRefused(
            f"query.{name}",
            f"unknown {name} '{unknown[0]}': use one of {_listed(known)}"
            + (" (several: comma-separated)" if len(known) > 2 else ""),
            kind="field",
        )
    return wanted


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values) or "(none defined)"
