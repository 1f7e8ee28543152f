"""The portal form: a client raises a ticket on the web, without writing an email.

``check`` names every field that is wrong (all at once, so the form shows them
together); ``submit`` opens the ticket for the client's email address, through the
one opening path, so the acknowledgement with the tracking link goes out by email
like any other. Each sending of the form carries a key made when the form was
served: a second sending of the same form (a double click, a reload) finds the
ticket the first one opened (``PortalSubmission.form_key`` is unique). At most
``ctx.portal_per_address_per_hour`` tickets per address and
``ctx.portal_per_ip_per_hour`` per IP address open in an hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.context import Context
from core.errors import ActionRefused
from core.models import PRIORITIES, Category, PortalSubmission, Ticket
from core.principals import system
from core.tickets import opening
from core.values import AttachmentIn

CHANNEL = "email"  # the portal's clients are answered by email
MAX = {"name": 200, "email": 320, "subject": 200, "description": 20000, "asset": 120}


@dataclass(frozen=True)
class Form:
    """What the client typed (already trimmed), and who sent it."""

    name: str
    email: str
    subject: str
    description: str
    priority: str
    category: str = ""
    asset: str = ""
    attachments: Sequence[AttachmentIn] = field(default_factory=tuple)
    form_key: str = ""
    ip: str = ""


def categories(session: Session) -> list[tuple[str, str]]:
    """(slug, name) of every category, by name: the choices the form offers."""
    return [
        (slug, name)
        for slug, name in session.execute(
            select(Category.slug, Category.name).order_by(Category.name)
        ).all()
    ]


def check(ctx: Context, session: Session, form: Form) -> dict[str, str]:
    """Every field that is wrong, with what to do about it (empty: all good)."""
    problems: dict[str, str] = {}
    for name in ("name", "email", "subject", "description"):
        if not getattr(form, name):
            problems[name] = f"Please fill in your {name}."
    for name, most in MAX.items():
        if len(getattr(form, name)) > most:
            problems[name] = f"Please keep it under {most} characters."
    if form.email and "email" not in problems:
        checker = ctx.address_checks.get(CHANNEL)
        try:
            if checker is not None:
                checker(form.email)
            elif "@" not in form.email:
                raise ValueError("it has no @")
        except ValueError as exc:
            problems["email"] = f"That is not an email address we can write to ({exc})."
    if form.priority not in PRIORITIES:
        problems["priority"] = "Please choose how urgent it is."
    if form.category and form.category not in {slug for slug, _ in categories(session)}:
        problems["category"] = "Please choose a category from the list."
    if len(form.attachments) > ctx.max_attachments:
        problems["attachments"] = f"Please attach at most {ctx.max_attachments} files."
    elif sum(len(a.data) for a in form.attachments) > ctx.max_attachment_bytes:
        problems["attachments"] = (
            f"The files are too large together: at most {ctx.max_attachment_bytes // 1048576} MB."
        )
    if not form.form_key or len(form.form_key) > 64:
        problems["form"] = "This form has expired. Please reload the page and send it again."
    return problems


def earlier(session: Session, form_key: str) -> Ticket | None:
    """The ticket an earlier sending of this same form opened, if any."""
    return session.execute(
        select(Ticket)
        .join(PortalSubmission, PortalSubmission.ticket_id == Ticket.id)
        .where(PortalSubmission.form_key == form_key)
    ).scalar_one_or_none()


def _sent_since(session: Session, column: Any, value: str, since: datetime) -> int:
    return session.execute(
        select(func.count())
        .select_from(PortalSubmission)
        .where(column == value, PortalSubmission.created_at > since)
    ).scalar_one()


def submit(ctx: Context, session: Session, form: Form) -> Ticket:
    """Open the ticket the form asks for (or find the one this form already opened).

    Raises:
      ActionRefused: ``portal.invalid`` (``check`` found problems), ``portal.channel``
        (email is not configured here), ``portal.limit`` (too many this hour).
    """
    found = earlier(session, form.form_key) if form.form_key else None
    if found is not None:
        return found
    problems = check(ctx, session, form)
    if problems:
        raise ActionRefused("portal.invalid", " ".join(problems.values()), kind="field")
    if CHANNEL not in ctx.client_channels:
        raise ActionRefused(
            "portal.channel",
            "the portal answers by email, and email is not configured here",
            kind="state",
        )
    email = form.email.lower()
    since = ctx.now() - timedelta(hours=1)
    if (
        _sent_since(session, PortalSubmission.email, email, since)
        >= ctx.portal_per_address_per_hour
    ):
        raise ActionRefused(
            "portal.limit",
            "You have sent us several requests in the last hour. Please wait a little, "
            "or answer one of our emails to add to a request.",
            kind="conflict",
        )
    if _sent_since(session, PortalSubmission.ip, form.ip, since) >= ctx.portal_per_ip_per_hour:
        raise ActionRefused(
            "portal.limit",
            "Many requests came from your network in the last hour. Please try again later.",
            kind="conflict",
        )
    ticket = opening.open_ticket(
        ctx,
        session,
        system("portal"),
        subject=form.subject,
        text=form.description,
        requester=(CHANNEL, email, form.name),
        attachments=form.attachments,
        priority=form.priority,
        category=form.category or None,
        links={"asset": form.asset} if form.asset else None,
    )
    session.add(
        PortalSubmission(
            form_key=form.form_key,
            ticket_id=ticket.id,
            email=email,
            ip=form.ip[:64],
            created_at=ctx.now(),
        )
    )
    session.flush()  # a concurrent sending of the same form fails here, on the unique key
    return ticket
