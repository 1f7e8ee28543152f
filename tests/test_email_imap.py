"""The IMAP poller against a real Dovecot on loopback (started by the test, never the system one)."""

from __future__ import annotations

import functools
import threading
import time

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from channels.email.imap import MailboxPoller
from core.models import InboundRecord
from tests import dovecot as dovecot_support
from tests.dovecot import Dovecot, account
from tests.email_support import mail, send_mail
from tests.harness import Harness, at_once

dovecot = dovecot_support.dovecot  # the fixtures, under their own names
imap = dovecot_support.imap


def deliver(client: IMAPClient, n: int, folder: str = "INBOX", start: int = 0) -> None:
    for i in range(start, start + n):
        client.append(
            folder,
            mail(
                subject=f"Problem {i}",
                body=f"Details of problem {i}.",
                message_id=f"<imap-{i}@client.example>",
            ).as_bytes(),
        )


def stored(harness: Harness) -> list[str]:
    with harness.ctx.db.reading() as session:
        return list(
            session.execute(select(InboundRecord.external_id).order_by(InboundRecord.id)).scalars()
        )


def test_new_mail_is_stored_opened_as_a_ticket_and_marked_seen(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient
) -> None:
    deliver(imap, 2)
    assert MailboxPoller(harness.ctx, account(dovecot)).sync() == 2
    harness.settle()
    assert harness.tickets()["total"] == 2
    imap.select_folder("INBOX")
    assert imap.search(["UNSEEN"]) == []
    # A second pass finds nothing new
    assert MailboxPoller(harness.ctx, account(dovecot)).sync() == 0
    assert len(stored(harness)) == 2


def test_a_restart_mid_mailbox_neither_misses_nor_repeats_a_message(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient
) -> None:
    deliver(imap, 5)
    first = MailboxPoller(harness.ctx, account(dovecot), lease_seconds=0.2)
    assert first.sync(limit=2) == 2
    # The first poller dies after storing message 3 but before recording its progress
    real_advance = first.lease.advance
    calls = []

    def crash(uidvalidity: int, last_uid: int) -> bool:
        calls.append(last_uid)
        raise ConnectionError("killed")

    first.lease.advance = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        first.sync()
    first.lease.advance = real_advance  # type: ignore[method-assign]
    time.sleep(0.3)  # its lease runs out; a new process takes over
    second = MailboxPoller(harness.ctx, account(dovecot))
    assert second.sync() == 3, "message 3 is fetched again, then 4 and 5"
    assert stored(harness) == [f"<imap-{i}@client.example>" for i in range(5)], (
        "each message exactly once"
    )
    harness.settle()
    assert harness.tickets()["total"] == 5


def test_a_changed_uidvalidity_reads_the_mailbox_again_without_storing_twice(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient
) -> None:
    imap.create_folder("Support")
    deliver(imap, 2, folder="Support")
    poller = MailboxPoller(harness.ctx, account(dovecot), "Support")
    assert poller.sync() == 2
    before = imap.select_folder("Support")[b"UIDVALIDITY"]
    imap.close_folder()
    imap.delete_folder("Support")
    time.sleep(1.1)  # UIDVALIDITY is a timestamp in Dovecot: make it differ
    imap.create_folder("Support")
    deliver(imap, 3, folder="Support")  # the same two again, and one new
    assert imap.select_folder("Support")[b"UIDVALIDITY"] != before
    assert poller.sync() == 3
    assert stored(harness) == [f"<imap-{i}@client.example>" for i in range(3)]


def test_two_pollers_on_one_mailbox_never_work_it_at_the_same_time(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient
) -> None:
    deliver(imap, 6)
    pollers = [MailboxPoller(harness.ctx, account(dovecot), owner=f"poller-{i}") for i in range(2)]
    taken: dict[str, int] = {}

    def work(p: MailboxPoller) -> None:
        taken[p.owner] = p.sync()

    at_once(*(functools.partial(work, p) for p in pollers))
    assert sorted(taken.values()) == [0, 6], "one poller took the mailbox, the other waited"
    assert len(stored(harness)) == 6


def test_the_same_message_by_smtp_twice_and_by_imap_is_one_ticket(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient, smtp_port: int
) -> None:
    message = mail(subject="Scanner offline", message_id="<both-ways@client.example>")
    for _ in range(2):
        send_mail(smtp_port, message)
    imap.append("INBOX", message.as_bytes())
    MailboxPoller(harness.ctx, account(dovecot)).sync()
    harness.settle()
    assert stored(harness) == ["<both-ways@client.example>"]
    assert harness.tickets()["total"] == 1


def test_processed_mail_is_moved_to_the_configured_folder(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient
) -> None:
    imap.create_folder("Processed")
    deliver(imap, 2)
    MailboxPoller(harness.ctx, account(dovecot), move_to="Processed").sync()
    assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    assert imap.select_folder("Processed")[b"EXISTS"] == 2


def test_the_running_poller_picks_up_mail_as_it_arrives(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient
) -> None:
    stop = threading.Event()
    poller = MailboxPoller(harness.ctx, account(dovecot), poll_seconds=0.5)
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deliver(imap, 1)
        deadline = time.monotonic() + 20
        while not stored(harness) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(harness) == ["<imap-0@client.example>"]
    finally:
        stop.set()
        thread.join(timeout=10)
    with harness.ctx.db.reading() as session:
        assert session.execute(select(func.count()).select_from(InboundRecord)).scalar_one() == 1
