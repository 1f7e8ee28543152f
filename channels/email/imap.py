"""The IMAP poller (imapclient): fetch new mail, store it, then mark or move it.

Per mailbox the database keeps UIDVALIDITY and the last UID stored
(``MailboxState``), so a restart continues where the last run stopped. A message
is marked seen (or moved) only after ``core.intake.receive`` committed it, and
the last UID advances only after that: a crash in between fetches the message
again, and the inbound unique key (channel, Message-ID) keeps it one record.
One poller works a mailbox at a time: it must hold the row's lease, renewed
while it works; a second poller waits until the lease expires.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import ColumnElement, Update, or_, select, update
from sqlalchemy.exc import IntegrityError

from channels.email.parse import keys_of
from core import intake
from core.context import Context
from core.models import MailboxState

log = logging.getLogger(__name__)
SEEN = b"\\Seen"


@dataclass(frozen=True)
class Account:
    host: str
    port: int = 993
    security: str = "tls"  # tls, starttls, none
    user: str = ""
    password: str = ""
    ssl_context: ssl.SSLContext | None = None

    @property
    def name(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def connect(self, timeout: float = 30.0) -> IMAPClient:
        client = IMAPClient(
            self.host,
            port=self.port,
            ssl=self.security == "tls",
            ssl_context=self.ssl_context,
            timeout=timeout,
        )
        if self.security == "starttls":
            client.starttls(self.ssl_context or ssl.create_default_context())
        client.login(self.user, self.password)
        return client


class Lease:
    """A row lease on one mailbox: only its holder polls it."""

    def __init__(
        self, ctx: Context, account: str, mailbox: str, owner: str, ttl: timedelta
    ) -> None:
        self.ctx, self.account, self.mailbox, self.owner, self.ttl = (
            ctx,
            account,
            mailbox,
            owner,
            ttl,
        )

    def _ensure_row(self) -> None:
        try:
            with self.ctx.db.transaction() as session:
                exists = session.execute(
                    select(MailboxState.id).where(
                        MailboxState.account == self.account, MailboxState.mailbox == self.mailbox
                    )
                ).first()
                if not exists:
                    session.add(
                        MailboxState(
                            account=self.account,
                            mailbox=self.mailbox,
                            last_uid=0,
                            updated_at=self.ctx.now(),
                        )
                    )
        except IntegrityError:
            pass  # another poller created it at the same moment

    def _update(self, condition: ColumnElement[bool], **values: Any) -> Update:
        """Set ``values`` on this mailbox's row where ``condition`` holds."""
        return (
            update(MailboxState)
            .where(
                MailboxState.account == self.account,
                MailboxState.mailbox == self.mailbox,
                condition,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live poller holds it."""
        self._ensure_row()
        now = self.ctx.now()
        with self.ctx.db.transaction() as session:
            free_or_mine = or_(
                MailboxState.lease_owner.is_(None),
                MailboxState.lease_owner == self.owner,
                MailboxState.lease_until < now,
            )
            result = session.execute(
                self._update(free_or_mine, lease_owner=self.owner, lease_until=now + self.ttl)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    def release(self) -> None:
        with self.ctx.db.transaction() as session:
            session.execute(
                self._update(
                    MailboxState.lease_owner == self.owner, lease_owner=None, lease_until=None
                )
            )

    def position(self) -> tuple[int | None, int]:
        with self.ctx.db.reading() as session:
            row = session.execute(
                select(MailboxState).where(
                    MailboxState.account == self.account, MailboxState.mailbox == self.mailbox
                )
            ).scalar_one()
            return row.uidvalidity, row.last_uid

    def advance(self, uidvalidity: int, last_uid: int) -> bool:
        """Record progress; False if the lease was lost meanwhile (then stop)."""
        with self.ctx.db.transaction() as session:
            result = session.execute(
                self._update(
                    MailboxState.lease_owner == self.owner,
                    uidvalidity=uidvalidity,
                    last_uid=last_uid,
                    lease_until=self.ctx.now() + self.ttl,
                    updated_at=self.ctx.now(),
                )
            )
            return result.rowcount == 1  # type: ignore[attr-defined]


class MailboxPoller:
    """Polls one mailbox of one account; ``run`` loops, ``sync`` does one pass."""

    def __init__(
        self,
        ctx: Context,
        account: Account,
        mailbox: str = "INBOX",
        *,
        move_to: str = "",
        poll_seconds: float = 30.0,
        owner: str | None = None,
        lease_seconds: float = 120.0,
        batch: int = 50,
    ) -> None:
        self.ctx = ctx
        self.account = account
        self.mailbox = mailbox
        self.move_to = move_to
        self.poll_seconds = poll_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = Lease(ctx, account.name, mailbox, self.owner, timedelta(seconds=lease_seconds))
        self.batch = batch

    def sync(self, client: IMAPClient | None = None, *, limit: int | None = None) -> int:
        """Store every message newer than the last stored UID; return how many were taken.

        Returns 0 without touching the mailbox when another poller holds it.
        """
        if not self.lease.acquire():
            log.info("mailbox %s is worked by another poller; waiting", self.mailbox)
            return 0
        own = client is None
        client = client or self.account.connect()
        try:
            return self._sync(client, limit)
        finally:
            if own:
                _logout(client)

    def _sync(self, client: IMAPClient, limit: int | None) -> int:
        info = client.select_folder(self.mailbox)
        uidvalidity = int(info[b"UIDVALIDITY"])
        known_validity, last_uid = self.lease.position()
        if known_validity is not None and known_validity != uidvalidity:
            log.warning(
                "mailbox %s changed UIDVALIDITY (%s -> %s): reading it again from the start; stored mail is not stored twice",
                self.mailbox,
                known_validity,
                uidvalidity,
            )
            last_uid = 0
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        if limit is not None:
            uids = uids[:limit]
        taken = 0
        for start in range(0, len(uids), self.batch):
            chunk = uids[start : start + self.batch]
            fetched = client.fetch(chunk, [b"BODY.PEEK[]"])
            for uid in chunk:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if raw is None:  # expunged meanwhile
                    continue
                external_id, written_key = keys_of(raw)
                intake.receive(
                    self.ctx,
                    channel="email",
                    external_id=external_id,
                    raw=raw,
                    meta={"imap_mailbox": self.mailbox, "imap_uid": uid},
                    transport="imap",
                    written_key=written_key,
                )
                self._done(client, uid)
                if not self.lease.advance(uidvalidity, uid):
                    log.warning("lost the lease on mailbox %s; stopping", self.mailbox)
                    return taken + 1
                taken += 1
        if not uids:
            self.lease.advance(uidvalidity, last_uid)
        return taken

    def _done(self, client: IMAPClient, uid: int) -> None:
        if not self.move_to:
            client.add_flags([uid], [SEEN])
            return
        client.add_flags([uid], [SEEN])
        if client.has_capability("MOVE"):
            client.move([uid], self.move_to)
        else:
            client.copy([uid], self.move_to)
            client.delete_messages([uid])
            if client.has_capability("UIDPLUS"):
                client.uid_expunge([uid])
            else:
                client.expunge()

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set: IDLE when the server has it, else sleep between passes."""
        while not stop.is_set():
            client = None
            try:
                client = self.account.connect()
                while not stop.is_set():
                    self.sync(client)
                    if client.has_capability("IDLE") and self.lease.acquire():
                        client.idle()
                        try:
                            client.idle_check(timeout=min(self.poll_seconds, 60 * 25))
                        finally:
                            client.idle_done()
                    else:
                        stop.wait(self.poll_seconds)
            except (IMAPClientError, OSError, ssl.SSLError) as exc:
                log.warning(
                    "IMAP %s/%s: %s; reconnecting in %.0fs",
                    self.account.host,
                    self.mailbox,
                    exc,
                    self.poll_seconds,
                )
                stop.wait(self.poll_seconds)
            except Exception:
                log.exception(
                    "IMAP poller for %s failed; retrying in %.0fs", self.mailbox, self.poll_seconds
                )
                stop.wait(self.poll_seconds)
            finally:
                if client is not None:
                    _logout(client)
        try:
            self.lease.release()
        except Exception:
            log.exception("could not release the lease on mailbox %s", self.mailbox)


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        pass
