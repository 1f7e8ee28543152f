"""A client proves that an address on another channel is theirs too.

1. From somewhere that proves they hold address A (the tracking page of one of
   A's tickets: its link went only to A), the client names another address B.
   ``request`` sends B a six-digit one-time code and a signed link, through the
   outbox like any automatic message (the hourly cap per recipient applies).
2. Whoever holds B answers from there: sends the code back as a message from B
   (the intake rule ``link_code`` catches a message that is only a code, from an
   address with a code pending: ``answer``), or opens the link and presses the
   button on its page (``confirm``). That proves they hold B as well, and B's
   contact is linked into A's (``links.link``, evidence ``client_code`` or
   ``client_link``); every address of the contact is told.

A code works once and for ``LINK_CODE_MINUTES``; ``MAX_ATTEMPTS`` wrong codes from
B burn it; a new request to the same address replaces the previous one. Only an
HMAC of the code is stored. A claim nobody answers from B links nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit, outbox
from core.contacts import find_identity, find_or_create, format_contact, get_contact, normalize
from core.contacts.links import link
from core.context import Context
from core.errors import ActionRefused
from core.models import Contact, Identity, LinkCode, Ticket
from core.principals import client_principal
from core.tokens import LINK_CODE_MINUTES, link_token, parse_link_token
from core.values import Inbound

MAX_ATTEMPTS = 5  # wrong codes sent back from the address before the code is burnt
REQUESTS_PER_HOUR = 3  # codes one contact may have sent, to any addresses
ANSWER_WINDOW = timedelta(days=1)  # a code-shaped message this long after expiry is told so
CODE_RE = re.compile(r"^\s*(?:link\s*:?\s*)?(\d{3})[\s-]?(\d{3})\s*[.!]?\s*$", re.IGNORECASE)


def _hash(ctx: Context, code_id: int, code: str) -> str:
    return hmac.new(ctx.secret, f"link-code:{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


def link_url(ctx: Context, code_id: int, code: str) -> str:
    return f"{ctx.public_url.rstrip('/')}/c/link/{link_token(ctx.secret, code_id, code)}"


def request(
    ctx: Context,
    session: Session,
    identity: Identity,
    kind: str,
    address: str,
    *,
    ticket: Ticket | None = None,
) -> LinkCode:
    """Send a one-time code to (``kind``, ``address``) for ``identity``'s contact.

    Returns the code row; its ``outcome`` is ``capped`` when the address already had
    its hourly share of automatic messages (nothing was sent). Raises
    ``ActionRefused`` for a channel not run here, an address already theirs, or too
    many requests in the last hour.
    """
    kind = kind.strip().lower()
    address = normalize(kind, address)
    if kind not in ctx.client_channels:
        raise ActionRefused(
            "field.channel",
            f"channel '{kind}' is not one we can reach you on here "
            f"({', '.join(sorted(ctx.client_channels))})",
            kind="field",
        )
    if not address or len(address) > 320:
        raise ActionRefused("field.address", "give the address on that channel", kind="field")
    contact = get_contact(session, identity.contact_id)
    known = find_identity(session, kind, address)
    if known is not None and known.contact_id == contact.id:
        raise ActionRefused(
            "contacts.same", f"{kind} {address} is already linked with this one", kind="conflict"
        )
    now = ctx.now()
    recent = session.execute(
        select(func.count())
        .select_from(LinkCode)
        .where(LinkCode.contact_id == contact.id, LinkCode.created_at >= now - timedelta(hours=1))
    ).scalar_one()
    if recent >= REQUESTS_PER_HOUR:
        raise ActionRefused(
            "contacts.too_many_codes",
            f"at most {REQUESTS_PER_HOUR} codes an hour can be sent; try again later",
            kind="conflict",
        )
    session.execute(
        update(LinkCode)
        .where(
            LinkCode.contact_id == contact.id,
            LinkCode.kind == kind,
            LinkCode.address == address,
            LinkCode.used_at.is_(None),
        )
        .values(used_at=now, outcome="replaced")
        .execution_options(synchronize_session=False)
    )
    row = LinkCode(
        contact_id=contact.id,
        identity_id=identity.id,
        ticket_id=ticket.id if ticket is not None else None,
        kind=kind,
        address=address,
        created_at=now,
        expires_at=now + timedelta(minutes=LINK_CODE_MINUTES),
    )
    session.add(row)
    session.flush()
    code = f"{secrets.randbelow(1_000_000):06d}"
    row.code_hash = _hash(ctx, row.id, code)
    rendered = ctx.renderer.render(
        "link_code",
        kind,
        code=f"{code[:3]} {code[3:]}",
        link=link_url(ctx, row.id, code),
        minutes=LINK_CODE_MINUTES,
        from_channel=identity.kind,
        from_address=identity.address,
    )
    sent = outbox.to_address(
        ctx, session, kind, address, kind="link_code", rendered=rendered, key=f"link_code:{row.id}"
    )
    if sent is None:
        row.used_at, row.outcome = now, "capped"
    data = {
        "contact": format_contact(contact.id),
        "from": f"{identity.kind}:{identity.address}",
        "to": f"{kind}:{address}",
        "code": row.id,
        "sent": sent is not None,
    }
    actor = f"client:{contact.id}"
    audit.record(session, actor=actor, action="link_code_sent", data=data, now=now)
    if ticket is not None:
        audit.record(
            session, actor=actor, action="link_code_sent", ticket_id=ticket.id, data=data, now=now
        )
    return row


def _pending(
    ctx: Context, session: Session, kind: str, address: str, *, lock: bool = False
) -> list[LinkCode]:
    """Unused codes for this address, newest first (expired ones within the answer
    window); with ``lock``, locked until the transaction ends, so two answers that
    arrive together count as two attempts."""
    query = (
        select(LinkCode)
        .where(
            LinkCode.kind == kind,
            LinkCode.address == normalize(kind, address),
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > ctx.now() - ANSWER_WINDOW,
        )
        .order_by(LinkCode.id.desc())
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.execute(query).scalars())


def is_answer(ctx: Context, session: Session, inbound: Inbound) -> bool:
    """True when ``inbound`` is only a code, from an address that has one pending."""
    if inbound.attachments or not CODE_RE.match(inbound.text or ""):
        return False
    return bool(_pending(ctx, session, inbound.channel, inbound.sender))


def answer(ctx: Context, session: Session, inbound: Inbound) -> str:
    """A code sent back from the address it was sent to: link if it is right; else
    count the attempt and tell them. Returns what happened, for the intake record."""
    match = CODE_RE.match(inbound.text or "")
    assert match is not None
    code = match.group(1) + match.group(2)
    rows = _pending(ctx, session, inbound.channel, inbound.sender, lock=True)
    if not rows:  # answered or burnt by another message a moment ago
        return "a link code was sent back, but none is waiting any more"
    live = [r for r in rows if r.expires_at > ctx.now()]
    for row in live:
        if hmac.compare_digest(row.code_hash, _hash(ctx, row.id, code)):
            contact = confirm(ctx, session, row, evidence="client_code")
            return f"link code {row.id} answered: linked into {format_contact(contact.id)}"
    key = (
        "link_wrong:"
        + hashlib.sha256(f"{inbound.channel}:{inbound.external_id}".encode()).hexdigest()[:40]
    )
    if not live:
        _tell(
            ctx, session, inbound.channel, inbound.sender, "link_wrong", key, expired=True, left=0
        )
        return "an expired link code was sent back"
    left = 0
    for row in live:
        row.attempts += 1
        if row.attempts >= MAX_ATTEMPTS:
            row.used_at, row.outcome = ctx.now(), "burnt"
        left = max(left, MAX_ATTEMPTS - row.attempts)
    _tell(
        ctx, session, inbound.channel, inbound.sender, "link_wrong", key, expired=False, left=left
    )
    return f"a wrong link code was sent back ({left} tries left)"


def from_link(ctx: Context, session: Session, token: str) -> LinkCode | None:
    """The pending code a link names, or None for a forged, expired or used link."""
    found = parse_link_token(ctx.secret, token)
    if found is None:
        return None
    row = session.get(LinkCode, found[0])
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= ctx.now()
        or not hmac.compare_digest(row.code_hash, _hash(ctx, row.id, found[1]))
    ):
        return None
    return row


def confirm(ctx: Context, session: Session, row: LinkCode, *, evidence: str) -> Contact:
    """The holder of the code's address answered: link it to the asking contact."""
    row.used_at, row.outcome = ctx.now(), "linked"
    keep = get_contact(session, row.contact_id)
    other = find_or_create(session, row.kind, row.address).contact
    if other.id != keep.id:
        link(
            ctx,
            session,
            client_principal(keep.id),
            keep,
            other,
            evidence=evidence,
            reason=f"answered the code sent to {row.kind}:{row.address}",
        )
    asked = session.get(Identity, row.identity_id)
    first = f"{asked.kind} {asked.address}" if asked is not None else "your other address"
    for identity in list(keep.identities):
        if identity.kind not in ctx.client_channels:
            continue
        _tell(
            ctx,
            session,
            identity.kind,
            identity.address,
            "link_done",
            f"link_done:{row.id}:{identity.id}",
            first=first,
            second=f"{row.kind} {row.address}",
        )
    return keep


def _tell(
    ctx: Context, session: Session, kind: str, address: str, what: str, key: str, **fields: object
) -> None:
    """An automatic notice about linking to one address (capped like any other)."""
    rendered = ctx.renderer.render(what, kind, minutes=LINK_CODE_MINUTES, **fields)
    outbox.to_address(ctx, session, kind, address, kind=what, rendered=rendered, key=key[:200])
