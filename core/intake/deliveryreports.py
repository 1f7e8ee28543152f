"""What a bounce or delay notice changes: the delivery it reports on, and the address.

A bounce marks the delivery ``bounced`` and keeps, on the delivery, which recipients
failed and whether for good (``OutboxDelivery.report``). A delay warning is kept
there too but changes nothing else: the mail may still arrive. A permanent failure
also marks the address (``Identity.bounced_at``): nothing automatic goes to it
again (``core.outbox.to_client`` skips it and audits why) until it writes in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core import audit
from core.models import DeliveryStatus, Identity, OutboxDelivery
from core.values import DeliveryReport, FailedRecipient

# A notice naming no message of ours is matched to our latest mail to a failed
# recipient, within this long.
MATCH_BY_RECIPIENT_WITHIN = timedelta(days=7)


def find_delivery(
    session: Session, report: DeliveryReport, channel: str, now: datetime
) -> OutboxDelivery | None:
    """The delivery a notice reports on: by our Message-ID, else by a failed recipient."""
    if report.about:
        row = session.execute(
            select(OutboxDelivery).where(
                or_(
                    OutboxDelivery.external_id == report.about,
                    OutboxDelivery.key == report.about,
                )
            )
        ).scalar_one_or_none()
        if row is not None:
            return row
    addresses = [f.address for f in report.failed if f.address]
    if not addresses:
        return None
    return (
        session.execute(
            select(OutboxDelivery)
            .where(
                OutboxDelivery.channel == channel,
                OutboxDelivery.recipient.in_(addresses),
                OutboxDelivery.created_at >= now - MATCH_BY_RECIPIENT_WITHIN,
            )
            .order_by(OutboxDelivery.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def _as_data(failed: tuple[FailedRecipient, ...]) -> list[dict[str, Any]]:
    return [
        {
            "address": f.address,
            "permanent": f.permanent,
            "status": f.status,
            "diagnostic": f.diagnostic[:300],
        }
        for f in failed
    ]


def apply(
    session: Session,
    row: OutboxDelivery,
    report: DeliveryReport,
    *,
    record_id: int,
    now: datetime,
) -> str:
    """Record the notice on ``row`` (and mark the address for a permanent bounce).

    Returns what happened, for the intake record's reason.
    """
    failed = report.failed
    if report.kind == "bounce" and not failed:
        # The notice names nobody: our mail has one recipient, and it is the one.
        failed = (FailedRecipient(row.recipient, report.permanent_notice),)
    data = {
        "kind": report.kind,
        "failed": _as_data(failed),
        "record": record_id,
        "at": now.isoformat(),
    }
    if report.kind != "bounce":
        if row.report is None or row.report.get("kind") != "bounce":
            row.report = data
        return f"delay warning for outbox row {row.id}: kept on the delivery, still {row.status}"
    row.status = DeliveryStatus.BOUNCED
    row.report = data
    permanent = [f for f in failed if f.permanent]
    row.last_error = "; ".join(
        f"{f.address}: {'permanent' if f.permanent else 'temporary'} {f.status} {f.diagnostic}".strip()
        for f in failed
    )[:2000]
    marked = []
    for failure in permanent:
        identity = session.execute(
            select(Identity).where(
                Identity.kind == row.channel, Identity.address == failure.address.lower()
            )
        ).scalar_one_or_none()
        if identity is None and failure.address.lower() == row.recipient.lower():
            identity = session.execute(
                select(Identity).where(
                    Identity.kind == row.channel, Identity.address == row.recipient
                )
            ).scalar_one_or_none()
        if identity is not None and identity.bounced_at is None:
            identity.bounced_at = now
            identity.bounce_reason = (
                f"permanent bounce of outbox row {row.id} (in-{record_id}): "
                f"{failure.status} {failure.diagnostic}"
            ).strip()[:500]
            marked.append(identity.address)
    audit.record(
        session,
        actor="system:intake",
        action="delivery_bounced",
        ticket_id=row.ticket_id,
        data={
            "outbox": row.id,
            "failed": data["failed"],
            "record": record_id,
            "addresses_marked": marked,
        },
        now=now,
    )
    kind = "permanently" if permanent else "temporarily"
    who = ", ".join(f.address for f in failed) or row.recipient
    return f"bounce for outbox row {row.id}: {who} failed {kind}; marked bounced" + (
        f"; nothing automatic goes to {', '.join(marked)} until it writes in" if marked else ""
    )


def wrote_in(session: Session, identity: Identity, *, ticket_id: int | None, now: datetime) -> None:
    """The address wrote to us: it works, so automatic messages may reach it again."""
    if identity.bounced_at is None:
        return
    audit.record(
        session,
        actor="system:intake",
        action="address_reachable_again",
        ticket_id=ticket_id,
        data={"address": identity.address, "bounced_at": identity.bounced_at.isoformat()},
        now=now,
    )
    identity.bounced_at = None
    identity.bounce_reason = None
