"""Helpers for the email tests: a running SMTP intake server, mail builders, the maildir."""

from __future__ import annotations

import mailbox
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from channels.email.smtp import make_server
from config.runtime import System

SUPPORT = "support@localhost"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_port(system: System) -> Iterator[int]:
    """The SMTP intake server, running on a free loopback port against the test system."""
    port = free_port()
    server = make_server(system.ctx, host="127.0.0.1", port=port, support=[SUPPORT, "help@localhost"], max_bytes=200_000)
    server.start()
    yield port
    server.stop()


def mail(sender: str = "dana@client.example", to: str = SUPPORT, subject: str = "Printer jammed", body: str = "The printer on floor 2 is jammed again.", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = headers.pop("message_id", None) or make_msgid(domain="client.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def maildir_messages(path: Path) -> list[mailbox.MaildirMessage]:
    box = mailbox.Maildir(str(path), create=False)
    return [box[key] for key in sorted(box.keys())] if path.exists() else []
