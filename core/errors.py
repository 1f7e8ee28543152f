"""One exception hierarchy for Switchboard."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar


class SwitchboardError(Exception):
    """Base of every error Switchboard raises on purpose."""

    code = "error"


class ConfigError(SwitchboardError):
    """A setting or configuration file is missing or wrong (names the variable)."""

    code = "config_error"


class NotFound(SwitchboardError):
    """The thing asked for does not exist."""

    code = "not_found"


class ActionRefused(SwitchboardError):
    """A core action was refused by a named rule.

    Parameters:
      rule: the rule's name, e.g. ``lifecycle.state`` or ``resolve.needs_code``.
      message: a sentence a person can act on.
      kind: ``role`` (who may do it), ``state`` (not from this status),
        ``field`` (a required field is missing or wrong) or ``conflict``.
      overridable: a lead may take the action anyway with a written reason.
    """

    def __init__(
        self, rule: str, message: str, *, kind: str = "state", overridable: bool = False
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.kind = kind
        self.overridable = overridable

    @property
    def code(self) -> str:  # type: ignore[override]
        return self.rule

    def __str__(self) -> str:
        return f"{self.message} [{self.rule}]"


class DeliveryError(SwitchboardError):
    """A channel could not deliver an outbound message."""

    code = "delivery_error"

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        outage: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after  # seconds the channel asked us to wait (HTTP 429)
        # The platform is unreachable or failing (no connection, 5xx, 429): the channel
        # is reported degraded in health until a delivery on it goes through again.
        self.outage = outage


class IntakeError(SwitchboardError):
    """An inbound payload could not be turned into an ``Inbound`` value."""

    code = "unparseable"


SHAPE_ERRORS = (
    AttributeError, TypeError, KeyError, IndexError, ValueError, OverflowError, RecursionError,
    UnicodeError,
)  # fmt: skip
"""What reading a platform's JSON raises when a field is not of the type or size the
platform documents: a string where an object belongs, a timestamp out of range,
nesting deeper than the reader goes, a lone surrogate."""

_Reader = TypeVar("_Reader", bound=Callable[..., Any])


def odd_shapes_refused(what: str) -> Callable[[_Reader], _Reader]:
    """For a reader of a platform's payload: a field of another type or size than the
    platform documents is the sender's fault, refused as ``IntakeError`` naming it
    (a 400 at the edge, a parked record with its reason later), never a crash."""

    def wrap(reader: _Reader) -> _Reader:
        @functools.wraps(reader)
        def reading(*args: Any, **kwargs: Any) -> Any:
            try:
                return reader(*args, **kwargs)
            except IntakeError:
                raise
            except SHAPE_ERRORS as exc:
                raise IntakeError(
                    f"{what} has a field of a type or size it cannot have "
                    f"({type(exc).__name__}: {str(exc)[:120]})"
                ) from None

        return reading  # type: ignore[return-value]

    return wrap
