"""One client across channels, from Slack: ``/ticket link``, ``/ticket unlink``,
``/ticket contact`` and the card's **Same client as…** modal.

Every change goes through ``core.contacts.links`` as the agent the Slack user is,
audited like the API and the command line; nothing here links on its own.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import contacts
from core.contacts import links
from core.contacts import views as contact_views
from core.context import Context
from core.errors import ActionRefused, NotFound
from core.models import Contact, Ticket
from core.principals import Principal
from core.tickets import lookup

HELP = [
    "• `/ticket contact T-000123` (or `C-000012`, `email:client@example.com`) — a client's "
    "addresses on every channel and their tickets",
    "• `/ticket link T-000123 telegram:4711 | reason` — the same person: join the second client "
    "into the first (one history; replies go where they last wrote)",
    "• `/ticket unlink C-000012 telegram:4711 | reason` — split that address off again",
]


def resolve(ctx: Context, session: Session, ref: str, *, add: bool = False) -> Contact:
    """A ticket's client (``T-000123``), or a contact (``C-000012``, ``CHANNEL:ADDRESS``;
    with ``add``, an address nobody wrote from yet becomes a new identity)."""
    text = ref.strip()
    if text.upper().startswith(("T-", "#T")):
        return contacts.get_contact(session, lookup.get_ticket(session, text).contact_id)
    if add:
        return contacts.contact_to_link(ctx, session, text)
    return contacts.get_contact(session, text)


def _name(contact: Contact) -> str:
    where = ", ".join(f"{i.kind}:{i.address}" for i in contact.identities)
    return f"{contacts.format_contact(contact.id)} ({contact.name or where or 'no address'})"


def command(ctx: Context, session: Session, who: Principal, verb: str, rest: str) -> str:
    """``/ticket link|unlink|contact ...``; a refusal or unknown name is answered in words."""
    words, _, reason = rest.partition("|")
    refs = words.split()
    try:
        with session.begin_nested():
            if verb == "contact" and len(refs) == 1:
                return describe(ctx, session, resolve(ctx, session, refs[0]))
            if verb == "link" and len(refs) == 2:
                keep = resolve(ctx, session, refs[0])
                other = resolve(ctx, session, refs[1], add=True)
                gone = _name(other)
                links.link(ctx, session, who, keep, other, evidence="agent", reason=reason.strip())
                session.refresh(keep, ["identities"])
                return (
                    f":link: Linked {gone} into {_name(keep)}: one client now, every ticket and "
                    "message of both under one contact; replies go where they last wrote."
                )
            if verb == "unlink" and len(refs) == 2:
                contact = resolve(ctx, session, refs[0])
                identity = contacts.identity_of(session, contact, refs[1])
                target = links.split(ctx, session, who, identity, reason=reason.strip())
                return (
                    f":scissors: {identity.kind}:{identity.address} is {_name(target)} again, "
                    f"with the tickets it opened; {contacts.format_contact(contact.id)} keeps the rest."
                )
    except ActionRefused as exc:
        return f":no_entry: Not done: {exc.message} (rule `{exc.rule}`)"
    except NotFound as exc:
        return f":no_entry: {exc}"
    return "Usage:\n" + "\n".join(HELP)


def describe(ctx: Context, session: Session, contact: Contact) -> str:
    data = contact_views.contact_detail(ctx, session, contact)
    lines = [f"*{data['id']}* {data['name'] or ''}".rstrip()]
    lines += [f"• {i['channel']}: {i['address']}" for i in data["identities"]]
    tickets = data["tickets"][:20]
    lines.append(f"Tickets ({len(data['tickets'])}):" if tickets else "No tickets.")
    lines += [
        f"• {t['number']} {t['subject'][:70]} · {t['status'].replace('_', ' ')} · replies by "
        f"{t['client']['channel'] or '-'}"
        for t in tickets
    ]
    return "\n".join(lines)


def submit_same_client(
    ctx: Context, session: Session, who: Principal, ticket: Ticket, values: dict[str, str | None]
) -> None:
    """The **Same client as…** modal: join the named client into this ticket's client."""
    other_ref = (values.get("other") or "").strip()
    if not other_ref:
        raise ActionRefused("field.other", "name the other client", kind="field")
    try:
        other = resolve(ctx, session, other_ref, add=True)
    except NotFound as exc:
        raise ActionRefused("field.other", str(exc), kind="field") from exc
    keep = contacts.get_contact(session, ticket.contact_id)
    links.link(ctx, session, who, keep, other, evidence="agent", reason=values.get("reason") or "")
