"""Helpers for the email tests: a running SMTP intake server, mail builders, the maildir."""

from __future__ import annotations

import mailbox
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from channels.email.smtp import make_server
from config.runtime import System
from tests.harness import Harness
from tests.harness import free_port as free_port  # the email tests take it from here too

SUPPORT = "support@localhost"


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


def send_mail(port: int, message: EmailMessage | bytes, mail_from: str | None = None) -> None:
    """Hand ``message`` to the SMTP intake server on ``port``, as a client's mailer would."""
    with smtplib.SMTP("127.0.0.1", port) as client:
        if isinstance(message, bytes):
            client.sendmail(
                mail_from if mail_from is not None else "x@client.example", [SUPPORT], message
            )
        else:
            client.send_message(message, from_addr=mail_from)


def outgoing(harness: Harness) -> list[mailbox.MaildirMessage]:
    """The mail Switchboard has sent so far (the maildir, no relay), oldest first."""
    path = harness.settings.maildir_path
    return maildir_messages(path) if (path / "new").exists() else []


def open_ticket(
    harness: Harness, port: int, sender: str = "dana@client.example"
) -> mailbox.MaildirMessage:
    """``sender`` opens a ticket by mail; returns the acknowledgement, the only mail sent."""
    send_mail(
        port,
        mail(sender=sender, subject="VPN drops every hour", message_id="<first@client.example>"),
    )
    harness.settle()
    [ack] = outgoing(harness)
    return ack


# The fixture set of real-world-shaped mail -----------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "email"


def fixtures() -> dict[str, dict[str, object]]:
    """name -> expectations, from tests/fixtures/email/expected.json."""
    import json

    return json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


def norm(text: str) -> str:
    """Text compared for agreement: spaces inside lines and runs of blank lines do not count."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


# The reply corpus: tests/fixtures/replies/*.json and the .eml fixtures above -------------

REPLIES = Path(__file__).parent / "fixtures" / "replies"


@dataclass(frozen=True)
class ReplyCase:
    """One reply with the text an agent should see; ``raw`` is the message as received."""

    source: str
    name: str
    client: str
    language: str
    held_out: bool
    raw: bytes
    visible: str


def _as_message(text: str, sender_name: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = (
        f'"{sender_name}" <reply@client.example>' if sender_name else "reply@client.example"
    )
    msg["To"] = SUPPORT
    msg["Subject"] = "Re: Printer"
    msg["Message-ID"] = "<corpus@client.example>"
    msg.set_content(text, cte="8bit" if not text.isascii() else "7bit")
    return msg.as_bytes()


def reply_cases() -> list[ReplyCase]:
    """Every reply of the corpus, the public suites first, then our own .eml fixtures."""
    import json

    cases: list[ReplyCase] = []
    for path in sorted(REPLIES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data["replies"] if isinstance(data, dict) else data
        for item in items:
            raw = (
                str(item["eml"]).encode("utf-8")
                if "eml" in item
                else _as_message(str(item["text"]), str(item.get("sender_name", "")))
            )
            cases.append(
                ReplyCase(
                    source=path.stem,
                    name=str(item["name"]),
                    client=str(item["client"]),
                    language=str(item["language"]),
                    held_out=bool(item["held_out"]),
                    raw=raw,
                    visible=str(item["visible"]),
                )
            )
    for name, expect in sorted(fixtures().items()):
        if "visible" in expect:
            cases.append(
                ReplyCase(
                    source="switchboard",
                    name=name,
                    client=str(expect.get("client", "?")),
                    language=str(expect.get("language", "?")),
                    held_out=bool(expect.get("held_out")),
                    raw=(FIXTURES / f"{name}.eml").read_bytes(),
                    visible=str(expect["visible"]),
                )
            )
    return cases


def reply_agreement(held_out: bool | None = None) -> tuple[int, int, list[str]]:
    """(agreeing, total, names that disagree): the parser's visible text vs the expected one.

    ``held_out``: only the replies kept out of development (True), only the ones the
    splitter was developed on (False), or all (None).
    """
    from channels.email.parse import parse

    agree, total, misses = 0, 0, []
    for case in reply_cases():
        if held_out is not None and case.held_out != held_out:
            continue
        total += 1
        if norm(parse(case.raw, {}).text) == norm(case.visible):
            agree += 1
        else:
            misses.append(f"{case.source}/{case.name}")
    return agree, total, misses
