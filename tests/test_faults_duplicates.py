"""A duplicate storm on the chat channels and in the IMAP mailbox: Telegram and WhatsApp
each send every webhook three times at once (their retries after a slow answer, a
second delivery server), and every mail sits in the polled mailboxes three times
(delivered by three relays, half without a Message-ID, which some relays add): one
ticket per message and one acknowledgement per client, on SQLite and PostgreSQL.

(The SMTP storm, with and without Message-IDs, is in ``tests/test_faults.py``.)
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from channels.email.imap import MailboxPoller
from config.settings import Settings
from tests import dovecot as dovecot_support
from tests.dovecot import Dovecot, account
from tests.email_support import maildir_messages
from tests.faketelegram import FakeTelegram
from tests.fakewhatsapp import FakeWhatsApp
from tests.fault_support import relayed, storm_mail
from tests.harness import Harness
from tests.telegram_support import TelegramDriver, telegram_settings
from tests.whatsapp_support import (
    WhatsAppDriver,
    message,
    webhook,
    whatsapp_values,
)

CLIENTS = 15
dovecot = dovecot_support.dovecot  # the fixtures, under their own names
imap = dovecot_support.imap


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    broker_url: str,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
) -> Settings:
    return telegram_settings(
        tmp_path, database_url, broker_url, fake_telegram, **whatsapp_values(fake_whatsapp)
    )


def test_every_telegram_and_whatsapp_webhook_three_times_at_once_is_one_ticket_and_one_ack(
    harness: Harness, fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp
) -> None:
    telegram = TelegramDriver(harness, fake_telegram)
    whatsapp = WhatsAppDriver(harness, fake_whatsapp)
    posts: list[tuple[str, Any]] = []
    for n in range(CLIENTS):
        update = telegram.updates.message(5000 + n, f"Scanner {n} shows E42.")
        number = f"1650555{n:04d}"
        body = json.dumps(webhook([message("text", sender=number, text={"body": f"Gate {n} stuck."})]))  # fmt: skip
        for _ in range(3):  # the same update, the same wamid: three deliveries of each
            posts.append(("telegram", update))
            posts.append(("whatsapp", body.encode()))

    def post(item: tuple[str, Any]) -> int:
        channel, body = item
        answer = telegram.post(body) if channel == "telegram" else whatsapp.post(body)
        return int(answer.status_code)

    with ThreadPoolExecutor(max_workers=9) as pool:
        answers = list(pool.map(post, posts))
    assert set(answers) == {200}, answers
    harness.settle(timeout=60)
    tickets = harness.tickets(limit=100)
    assert tickets["total"] == 2 * CLIENTS, tickets["total"]
    assert len(telegram.records()) == CLIENTS
    assert len(whatsapp.records()) == CLIENTS
    for n in range(CLIENTS):
        assert len(telegram.texts_to(5000 + n)) == 1, (
            f"chat {5000 + n}: {telegram.texts_to(5000 + n)}"
        )
        assert len(fake_whatsapp.messages(f"1650555{n:04d}")) == 1, n


def test_every_mail_three_times_in_the_polled_mailboxes_is_one_ticket_and_one_ack(
    harness: Harness, dovecot: Dovecot, imap: IMAPClient
) -> None:
    """Each client's mail is in the mailboxes three times: two copies in INBOX and one
    filed into Support (both polled), each under another relay's transport headers;
    half have no Message-ID, and of those the second relay adds one of its own to its
    copy (and to every other one the third relay adds another). Two pollers read the
    folders at once; the third copy of a third of the mails arrives only after the first
    was decided and acknowledged."""
    # Given every mail filed by three relays, the copies shuffled, a third held back
    imap.create_folder("Support")
    first: list[tuple[str, bytes]] = []
    later: list[tuple[str, bytes]] = []
    for n in range(CLIENTS):
        message = storm_mail(n, f"Badge reader {n} offline", f"Badge reader {n} went dark at noon.")
        copies = [("INBOX", relayed(message, 0)), ("INBOX", relayed(message, 1, adds_id=True))]
        copies.append(("Support", relayed(message, 2, adds_id=n % 4 == 3)))
        first += copies[:2] if n % 3 == 0 else copies
        later += copies[2:] if n % 3 == 0 else []
    random.Random(16).shuffle(first)
    for folder, raw in first:
        imap.append(folder, raw)
    pollers = [MailboxPoller(harness.ctx, account(dovecot), box) for box in ("INBOX", "Support")]

    def poll() -> int:
        with ThreadPoolExecutor(max_workers=2) as pool:
            return sum(pool.map(lambda p: p.sync(), pollers))

    # When both folders are polled at once, and the held-back copies arrive later
    assert poll() == len(first)
    harness.settle(timeout=60)
    for folder, raw in later:
        imap.append(folder, raw)
    assert poll() == len(later)
    harness.settle(timeout=60)
    # Then each mail is one record, one ticket and one acknowledgement
    assert len(harness.records("email")) == CLIENTS
    tickets = harness.tickets(limit=100)
    assert sorted(t["subject"] for t in tickets["tickets"]) == sorted(
        f"Badge reader {n} offline" for n in range(CLIENTS)
    )
    acks = [str(m["To"]) for m in maildir_messages(harness.settings.maildir_path)]
    assert sorted(acks) == sorted(f"client{n}@client.example" for n in range(CLIENTS))
    # and every copy was read and marked seen in both folders
    for folder in ("INBOX", "Support"):
        imap.select_folder(folder)
        assert imap.search(["UNSEEN"]) == [], folder
