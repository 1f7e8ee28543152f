"""Contacts and their identities across channels."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import transaction_cache
from core.models import Contact, Identity, Organization

CREATED = "identities_created"  # (kind, address) of identities this transaction created


def first_time_here(session: Session, kind: str, address: str) -> bool:
    """True once for an identity this transaction created (a first-time sender), on
    the first ask: after that, this transaction may have written to them already."""
    return transaction_cache(session, CREATED).pop((kind, normalize(kind, address)), False)


def normalize(kind: str, address: str) -> str:
    address = address.strip()
    return address.lower() if kind == "email" else address


def find_identity(session: Session, kind: str, address: str) -> Identity | None:
    return session.execute(
        select(Identity).where(Identity.kind == kind, Identity.address == normalize(kind, address))
    ).scalar_one_or_none()


def find_or_create(session: Session, kind: str, address: str, name: str = "") -> Identity:
    """The identity for (kind, address), creating a contact for a first-time sender."""
    address = normalize(kind, address)
    identity = find_identity(session, kind, address)
    if identity is not None:
        if name and not identity.contact.name:
            identity.contact.name = name
        return identity
    org = None
    if kind == "email" and "@" in address:
        org = session.execute(
            select(Organization).where(Organization.email_domain == address.rsplit("@", 1)[1])
        ).scalar_one_or_none()
    contact = Contact(name=name, organization=org)
    identity = Identity(kind=kind, address=address, display=name, contact=contact)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite write transactions start with BEGIN IMMEDIATE: no other writer can
        # be creating the same identity now, so the savepoint would never be used.
        session.add_all([contact, identity])
        session.flush()
        transaction_cache(session, CREATED)[(kind, address)] = True
        return identity
    try:
        with session.begin_nested():
            session.add_all([contact, identity])
    except IntegrityError:  # another transaction created it just now
        identity = find_identity(session, kind, address)
        assert identity is not None
    else:
        transaction_cache(session, CREATED)[(kind, address)] = True
    return identity
