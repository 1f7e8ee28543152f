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
    server = make_server(
        system.ctx,
        host="127.0.0.1",
        port=port,
        support=[SUPPORT, "help@localhost"],
        max_bytes=200_000,
    )
    server.start()
    yield port
    server.stop()


def mail(
    sender: str = "dana@client.example",
    to: str = SUPPORT,
    subject: str = "Printer jammed",
    body: str = "The printer on floor 2 is jammed again.",
    **headers: str,
) -> EmailMessage:
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


# The fixture set of real-world-shaped mail -----------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "email"


def fixtures() -> dict[str, dict[str, object]]:
    """name -> expectations, from tests/fixtures/email/expected.json."""
    import json

    return json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _norm(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines()).strip()


def reply_agreement(held_out: bool | None = None) -> tuple[int, int, list[str]]:
    """(agreeing, total, names that disagree): the parser's visible text vs the expected one.

    ``held_out``: only the fixtures added after the splitter was written (True),
    only the ones it was developed on (False), or all (None).
    """
    from channels.email.parse import parse

    agree, total, misses = 0, 0, []
    for name, expect in sorted(fixtures().items()):
        if "visible" not in expect:
            continue
        if held_out is not None and bool(expect.get("held_out")) != held_out:
            continue
        total += 1
        got = parse((FIXTURES / f"{name}.eml").read_bytes(), {}).text
        if _norm(got) == _norm(str(expect["visible"])):
            agree += 1
        else:
            misses.append(name)
    return agree, total, misses
