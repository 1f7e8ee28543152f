"""A client's personal data: everything held about a contact, exported or erased.

- ``holdings``: what the database holds about one contact. The rows are found by
  walking the schema's foreign keys from the contact (its identities, the contacts
  linked into it, its tickets and everything hanging off them, the messages it wrote
  elsewhere), so a table added later with a reference to any of these is included
  without being named here; audit events (no foreign key: they outlive anything)
  and attachment bytes (content-addressed) are added by what they name.
- ``export``: those holdings as one JSON document.
- ``erase``: the right to be forgotten. Message content, names, addresses, phone
  numbers, chat ids, subjects, free text, attachments (and their bytes), raw inbound
  payloads and the channels' own copies (files on disk too) are removed or replaced;
  the audit events that held any of it are emptied through ``core.audit.erase``, so
  every hash chain still verifies and ``audit verify`` names each erased event. The
  contact row stays, nameless and marked erased, so tickets and figures keep their
  shape; its identities go, so the same address writing again is a stranger.
"""

from __future__ import annotations

from core.errors import ActionRefused
from core.principals import Principal

LEADS = frozenset({"lead", "admin", "system"})


def require_lead(who: Principal, what: str) -> None:
    if not who.roles & LEADS:
        raise ActionRefused(
            "privacy.role", f"only a lead or an admin may {what} a client's data", kind="role"
        )
