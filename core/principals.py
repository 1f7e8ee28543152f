"""Who is acting: a client, an agent (with roles) or the system itself."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Agent


@dataclass(frozen=True)
class Principal:
    kind: str  # client, agent, system
    roles: frozenset[str]
    name: str = ""
    agent_id: int | None = None
    contact_id: int | None = None

    @property
    def label(self) -> str:
        """How the audit names this actor."""
        if self.kind == "agent":
            return f"agent:{self.agent_id}:{self.name}"
        if self.kind == "client":
            return f"client:{self.contact_id}"
        return f"system:{self.name or 'core'}"

    @property
    def is_staff(self) -> bool:
        return self.kind == "agent"


def agent_principal(agent: Agent) -> Principal:
    return Principal("agent", frozenset(agent.roles), agent.name, agent_id=agent.id)


def client_principal(contact_id: int) -> Principal:
    return Principal("client", frozenset({"client"}), contact_id=contact_id)


def system(name: str = "core") -> Principal:
    return Principal("system", frozenset({"system"}), name)
