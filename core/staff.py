"""Staff addresses per channel: who an event from a channel's address is, and back."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.errors import ActionRefused
from core.models import Agent, StaffIdentity


def agent_at(session: Session, channel: str, address: str, *, active: bool = True) -> Agent | None:
    """The agent whose address on ``channel`` is ``address`` (only active ones by default)."""
    query = (
        select(Agent)
        .join(StaffIdentity, StaffIdentity.agent_id == Agent.id)
        .where(StaffIdentity.channel == channel, StaffIdentity.address == address)
    )
    if active:
        query = query.where(Agent.active.is_(True))
    return session.execute(query).scalar_one_or_none()


def set_address(session: Session, agent: Agent, channel: str, address: str | None) -> None:
    """Give ``agent`` this address on ``channel`` (None removes it).

    Raises ``ActionRefused`` (``staff.address_taken``) when another agent has it.
    """
    if channel == "email":
        raise ActionRefused(
            "staff.email", "an agent's email is their account's email", kind="field"
        )
    if address:
        other = agent_at(session, channel, address, active=False)
        if other is not None and other.id != agent.id:
            raise ActionRefused(
                "staff.address_taken",
                f"{channel} address {address} belongs to agent {other.id} ({other.name})",
                kind="conflict",
            )
    session.execute(
        delete(StaffIdentity).where(
            StaffIdentity.agent_id == agent.id, StaffIdentity.channel == channel
        )
    )
    if address:
        session.add(StaffIdentity(agent_id=agent.id, channel=channel, address=address))
    session.flush()
    session.expire(agent, ["identities"])
