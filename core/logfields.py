"""What a log line is about: the ticket, channel and outbox key of the work at hand.

Code doing work for one ticket or delivery binds them for the block
(``with about(ticket="T-000042", channel="email"):``); the log formatter
(``config/logging.py``) adds them to every line logged meanwhile, in this thread
or task. A record's own ``extra={"ticket": ...}`` wins over the bound value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

FIELDS = ("ticket", "channel", "outbox_key")

_bound: ContextVar[dict[str, str]] = ContextVar("switchboard_log_fields", default={})  # noqa: B039 - never mutated


@contextmanager
def about(**fields: str | None) -> Iterator[None]:
    """Bind log fields (``ticket``, ``channel``, ``outbox_key``) for the block."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log fields: {', '.join(sorted(unknown))}")
    token = _bound.set({**_bound.get(), **{k: str(v) for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _bound.reset(token)


def bound() -> dict[str, str]:
    """The fields bound here now."""
    return _bound.get()
