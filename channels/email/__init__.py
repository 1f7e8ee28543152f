"""The email channel: SMTP and IMAP intake, the parser, and outbound mail.

Always configured: with no relay set, outbound mail goes to a local maildir.
Its services are the SMTP intake server (role ``smtp``) and one IMAP poller per
configured mailbox (role ``imap``, when ``SWITCHBOARD_IMAP_HOST`` is set).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from channels.contract import OK, PROBLEM, Channel, Plug, Service
from channels.email.ids import check_address
from channels.email.parse import parse

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from channels.email.sender import EmailSender
    from channels.email.settings import EmailSettings
    from core.channel import Forget
    from core.context import Context

NAME = "email"
# The largest file a reply carries: 25 MB once base64-encoded, what most mail
# providers take in one message.
FILE_BYTES = 18 * 1024 * 1024


def build_sender(settings: EmailSettings, ctx: Context | None = None) -> EmailSender:
    """Relay delivery when ``SWITCHBOARD_MAIL_RELAY_HOST`` is set, else the local maildir;
    with ``ctx``, a reply's files go with it as attachments."""
    from channels.email.sender import EmailSender, Relay
    from core.tickets import files

    support = (settings.support_address_list or ["support@localhost"])[0]
    relay = None
    if settings.mail_relay_host:
        relay = Relay(
            settings.mail_relay_host,
            settings.mail_relay_port,
            settings.mail_relay_security,
            settings.mail_relay_user,
            settings.mail_relay_password,
        )
    return EmailSender(
        secret=settings.signing_key(),
        mail_from=settings.mail_from or support,
        support=support,
        relay=relay,
        maildir=settings.maildir_path,
        files=(lambda out: files.load(ctx, out)) if ctx is not None else None,
    )


def smtp_service(ctx: Context, settings: EmailSettings) -> Service:
    """The SMTP intake server as a service of the ``smtp`` role."""
    from channels.email.smtp import make_server

    server = make_server(
        ctx,
        host=settings.smtp_host,
        port=settings.smtp_port,
        support=settings.support_address_list,
        max_bytes=settings.smtp_max_message_bytes,
        cert=settings.smtp_tls_cert,
        key=settings.smtp_tls_key,
    )
    started = threading.Event()

    def start() -> None:
        server.start()
        started.set()

    def stop() -> None:
        if started.is_set():
            server.stop()

    return Service("SMTP intake", "smtp", start, stop)


def imap_services(ctx: Context, settings: EmailSettings) -> list[Service]:
    """One poller thread per configured mailbox (none when ``SWITCHBOARD_IMAP_HOST`` is empty)."""
    from channels.email.imap import Account, MailboxPoller

    if not settings.imap_host:
        return []
    account = Account(
        settings.imap_host,
        settings.imap_port,
        settings.imap_security,
        settings.imap_user,
        settings.imap_password,
    )
    services = []
    for mailbox in [m.strip() for m in settings.imap_mailboxes.split(",") if m.strip()]:
        poller = MailboxPoller(
            ctx,
            account,
            mailbox,
            move_to=settings.imap_move_to,
            poll_seconds=settings.imap_poll_seconds,
        )
        stop_event = threading.Event()
        thread = threading.Thread(
            target=poller.run, args=(stop_event,), name=f"imap-{mailbox}", daemon=True
        )
        services.append(Service(f"IMAP poller for {mailbox}", "imap", thread.start, stop_event.set))
    return services


def status(settings: EmailSettings, configured: bool, down: str | None) -> list[tuple[str, str]]:
    if settings.mail_relay_host:
        where = f"{settings.mail_relay_host}:{settings.mail_relay_port}"
        return [(OK, f"outbound mail leaves through {where}")]
    return [
        (
            PROBLEM,
            "no mail relay (SWITCHBOARD_MAIL_RELAY_HOST is empty): outbound mail "
            f"(client replies, acknowledgements, email pings) is written to "
            f"{settings.maildir_path} and reaches no one",
        )
    ]


def plug(ctx: Context, settings: EmailSettings) -> Plug:
    return Plug(
        sender=build_sender(settings, ctx),
        services=[smtp_service(ctx, settings), *imap_services(ctx, settings)],
    )


def forget(settings: EmailSettings, session: Session, what: Forget) -> None:
    """An erasure: the local maildir's copies of the client's mail, once it commits."""
    from channels.email.sender import forget_maildir
    from core.db import after_commit

    def remove() -> None:
        forget_maildir(settings.maildir_path, what.keys)

    after_commit(session, remove)


CHANNEL = Channel.of(
    __name__, "Email", parser=parse, check_address=check_address, file_bytes=FILE_BYTES
)

__all__ = ["CHANNEL", "build_sender", "parse"]
