"""Channel-neutral values: what every adapter turns native payloads into and out of."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AttachmentIn:
    """A file that came with a message: its bytes, or (``stored``) the SHA-256 of bytes
    already in the blob store, fetched before the message was decided (``size`` bytes)."""

    filename: str
    content_type: str
    data: bytes = b""
    inline: bool = False
    stored: str = ""
    size: int = 0

    @property
    def length(self) -> int:
        return self.size if self.stored else len(self.data)


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a delivery report names: ``permanent`` False is a temporary failure."""

    address: str
    permanent: bool
    status: str = ""  # the enhanced status code, e.g. 5.1.1
    diagnostic: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    """What a bounce or delay notice says about one of our deliveries.

    ``kind``: ``bounce`` (delivery failed), ``delay`` (still trying: not a bounce) or
    ``success``; ``about``: the id of our message it reports on, if it names one.
    """

    kind: str
    failed: tuple[FailedRecipient, ...] = ()
    about: str | None = None
    permanent_notice: bool = True  # how a recipient the notice does not name failed

    @property
    def permanent(self) -> bool:
        return self.kind == "bounce" and any(f.permanent for f in self.failed)


@dataclass(frozen=True)
class Inbound:
    """One message from outside, already translated by its channel adapter.

    Parameters:
      channel: ``email``, ``telegram``, ``whatsapp``, ``slack``, ``web``, ``fake``...
      external_id: the channel's id for this message (Message-ID, update id, ...);
        with ``channel`` it is unique, so the same message twice is one record.
      sender: the sender's address on that channel (email address, chat id, number).
      automatic: why a machine wrote it (auto-reply, bounce, read receipt...), or "":
        it never opens a ticket and never gets an answer.
      no_auto_reply: why nothing automatic may answer it (bulk or list mail, RFC 3834),
        or "": a person may have written it, so it is a ticket like any other, with no
        acknowledgement.
      copied: the other people it was addressed to (To/Cc), who become known to the ticket.
      references: ids of earlier messages this one answers (In-Reply-To first).
      reply_token: a token found in the address or ids we gave the client.
      extras: platform ids the adapter wants back on the reply (chat id, thread ts).
      chat: the chat this message was written in, on platforms without thread ids
        (a Telegram chat, a WhatsApp number): it continues the chat's open ticket.
      new_ticket: the client asked for a new ticket (``/new``), not the chat's open one.
      location: a place the client shared (coordinates, a venue's name and address):
        it becomes the ticket's location.
    """

    channel: str
    external_id: str
    sender: str
    text: str
    sender_name: str = ""
    subject: str = ""
    html: str | None = None
    attachments: tuple[AttachmentIn, ...] = ()
    references: tuple[str, ...] = ()
    reply_token: str | None = None
    automatic: str = ""
    bounce_for: str | None = None  # the outbound id a delivery report is about
    report: DeliveryReport | None = None  # a bounce or delay notice: who failed, for good or not
    no_auto_reply: str = ""
    list_id: str = ""
    copied: tuple[str, ...] = ()
    on_behalf_of: tuple[str, str] | None = None  # (address, name) of a forwarded original sender
    received_at: datetime | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    chat: str = ""
    new_ticket: bool = False
    location: str = ""


CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(value: str) -> str:
    """``value`` without NULs and other control characters (tab and line breaks kept):
    PostgreSQL refuses NUL in text, and no person meant them."""
    return CONTROLS.sub("", value) if CONTROLS.search(value) else value


def cleaned(inbound: Inbound) -> Inbound:
    """The inbound with control characters taken out of everything a person reads."""
    files = tuple(
        replace(a, filename=printable(a.filename), content_type=printable(a.content_type))
        for a in inbound.attachments
    )
    return replace(
        inbound,
        sender=printable(inbound.sender),
        sender_name=printable(inbound.sender_name),
        subject=printable(inbound.subject),
        text=printable(inbound.text),
        html=printable(inbound.html) if inbound.html is not None else None,
        attachments=files,
    )


@dataclass(frozen=True)
class Outbound:
    """One message to send, frozen when the outbox row was written.

    ``key`` is the outbox row's idempotency key: a sender must make a retry with the
    same key recognisable (a stable Message-ID) or refuse to send twice.

    ``extras["buttons"]``, when present, is a list of ``(id, title)`` pairs a chat
    sender may show as buttons under the text (Telegram inline buttons, WhatsApp
    reply buttons), in order of importance; a sender that shows fewer shows the
    first ones (the text always carries a link for all of them). A pressed button
    comes back as its id: the satisfaction question's are ``sat:TOKEN:CHOICE``,
    answered by ``core.satisfaction.answering.press``.
    """

    key: str
    channel: str
    recipient: str
    kind: str
    subject: str = ""
    text: str = ""
    html: str | None = None
    ticket_number: str | None = None
    automatic: bool = False
    thread: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("key", "channel", "recipient", "kind"):
            data.pop(name)
        return data

    @classmethod
    def from_row(
        cls, key: str, channel: str, recipient: str, kind: str, payload: dict[str, Any]
    ) -> Outbound:
        return cls(key=key, channel=channel, recipient=recipient, kind=kind, **payload)
