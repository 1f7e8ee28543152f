"""One exception hierarchy for Switchboard."""

from __future__ import annotations


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
