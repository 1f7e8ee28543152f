"""What the fault tests share: a relay that remembers what it accepted, the roles of
the Procfile as processes, and senders that retry as a mail server does."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import threading
import time
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

import httpx

from config.settings import Settings
from tests.email_support import mail
from tests.harness import process_env

RELAY_SECONDS = 0.3  # a slow relay: a kill lands mid-batch


class SlowRelay:
    """Takes ``seconds`` (RELAY_SECONDS) a mail and remembers every Message-ID it accepted."""

    def __init__(self, seconds: float = RELAY_SECONDS) -> None:
        self.seconds = seconds
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.seconds)
        self.message_ids.append(str(message_from_bytes(envelope.original_content)["Message-ID"]))
        return "250 OK"


def role_env(settings: Settings) -> dict[str, str]:
    return process_env(
        {
            "SWITCHBOARD_DATA_DIR": str(settings.data_dir),
            "SWITCHBOARD_DATABASE_URL": settings.effective_database_url,
            "SWITCHBOARD_BROKER_URL": settings.broker_url,
            "SWITCHBOARD_BROKER_QUEUE": settings.broker_queue,
            "SWITCHBOARD_SECRET_KEY": "test-secret",
            "SWITCHBOARD_MAIL_RELAY_HOST": "127.0.0.1",
            "SWITCHBOARD_MAIL_RELAY_PORT": str(settings.mail_relay_port),
            "SWITCHBOARD_MAIL_RELAY_SECURITY": "none",
            "SWITCHBOARD_WORKER_THREADS": "1",
            "SWITCHBOARD_CLOCK_INTERVAL_SECONDS": "0.5",
            "SWITCHBOARD_REDELIVERY_AFTER_SECONDS": "1",
        }
    )


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def send_mail(port: int, subject: str, sender: str = "ola@client.example") -> None:
    message = EmailMessage()
    message["From"], message["To"] = sender, "support@localhost"
    message["Subject"] = subject
    message.set_content("It shows error E42.")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(message)


class RetryingSenders:
    """``threads`` senders that write mails 0..count-1 (``Door N stuck``, each with its
    own Message-ID) as an MTA does: each is offered again until it is answered 250."""

    def __init__(self, port: int, count: int, threads: int = 4, patience: float = 90) -> None:
        self.port, self.count, self.threads, self.patience = port, count, threads, patience
        self.answered: set[int] = set()
        self.offers = 0
        self.lock = threading.Lock()
        self.running: list[threading.Thread] = []

    def start(self) -> None:
        self.running = [
            threading.Thread(target=self._send, args=(i,), daemon=True) for i in range(self.threads)
        ]
        for thread in self.running:
            thread.start()

    def join(self) -> None:
        for thread in self.running:
            thread.join()

    def _send(self, first: int) -> None:
        for n in range(first, self.count, self.threads):
            raw = (
                f"From: client{n}@client.example\r\nTo: support@localhost\r\n"
                f"Subject: Door {n} stuck\r\nMessage-ID: <door{n}@client.example>\r\n\r\n"
                f"Door {n} will not open.\r\n"
            ).encode()
            deadline = time.monotonic() + self.patience
            while time.monotonic() < deadline:
                with self.lock:
                    self.offers += 1
                try:
                    with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                        client.sendmail(f"client{n}@client.example", ["support@localhost"], raw)
                    with self.lock:
                        self.answered.add(n)
                    break
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.2)  # the server is away or said 4xx: try again


def smtp_up(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
            return client.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def storm_mail(n: int, subject: str, body: str) -> EmailMessage:
    """Client ``n``'s mail for a duplicate storm, from ``client{n}@client.example`` and
    dated 12:``n`` on the same day; every other one has no Message-ID."""
    message = mail(
        sender=f"client{n}@client.example",
        subject=subject,
        body=body,
        Date=f"Mon, 30 Nov 2026 12:{n:02d}:00 +0000",
    )
    if n % 2:
        del message["Message-ID"]
    return message


def relayed(message: EmailMessage, relay: int, *, adds_id: bool = False) -> bytes:
    """``message`` as relay ``relay`` files it: the same bytes the sender wrote, under
    that relay's own transport headers (Return-Path, Delivered-To, Received). With
    ``adds_id``, a mail that has no Message-ID gets one of the relay's at the end of its
    head, as Postfix, Exchange and sendmail add one on submission."""
    trail = (
        f"Return-Path: <bounce-{relay}@relay{relay}.example>\r\n"
        f"Delivered-To: support+{relay}@localhost\r\n"
        f"Received: from relay{relay}.example (relay{relay}.example [192.0.2.{relay + 1}])\r\n"
        f"\tby mx.example with ESMTPS id R{relay}X; {message['Date']}\r\n"
    )
    written = message.as_bytes().replace(b"\n", b"\r\n")
    if adds_id and message["Message-ID"] is None:
        head, _, body = written.partition(b"\r\n\r\n")
        queued = hashlib.sha1(head).hexdigest()[:12]
        added = f"Message-Id: <{queued}.{relay}@relay{relay}.example>".encode()
        written = head + b"\r\n" + added + b"\r\n\r\n" + body
    return trail.encode() + written
