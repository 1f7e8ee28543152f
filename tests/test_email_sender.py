"""Outbound mail: what the relay receives, and how its answers become delivery statuses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st

from channels.email.sender import MAILDIR_ASCII, RELAY_ASCII, EmailSender, Relay
from core.errors import DeliveryError
from core.values import Outbound
from tests.email_support import free_port, maildir_messages


class Relayed:
    """A tiny relay: records what it accepts, answers what it is told for DATA."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.answer = "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.answer.startswith("250"):
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return self.answer


@contextmanager
def serving(**options: Any) -> Iterator[tuple[Relayed, int]]:
    """A relay on a free loopback port (``options``: the SMTP server's) while inside."""
    handler = Relayed()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def relay() -> Iterator[tuple[Relayed, int]]:
    with serving() as running:
        yield running


def outbound(key: str = "reply:7", automatic: bool = False) -> Outbound:
    return Outbound(
        key=key,
        channel="email",
        recipient="dana@client.example",
        kind="reply",
        subject="[#T-000003] VPN drops",
        text="Please restart the client.\n",
        html="<p>Please restart the client.</p>",
        ticket_number="T-000003",
        automatic=automatic,
        thread={
            "ticket_id": 3,
            "references": [
                "<first@client.example>",
                "<sb.aaaaaaaaaaaaaaaaaaaa.3-0000000000000000@localhost>",
            ],
        },
    )


def sender_for(port: int | None, tmp_path: Path) -> EmailSender:
    relay = Relay("127.0.0.1", port, security="none") if port else None
    return EmailSender(
        secret=b"k",
        mail_from="support@localhost",
        support="support@localhost",
        relay=relay,
        maildir=tmp_path / "maildir",
    )


def test_a_reply_goes_through_the_relay_with_threading_headers(
    relay: tuple[Relayed, int], tmp_path: Path
) -> None:
    handler, port = relay
    message_id = sender_for(port, tmp_path).send(outbound())
    [(mail_from, rcpts, raw)] = handler.messages
    msg = message_from_bytes(raw, policy=policy.default)
    assert mail_from == "support@localhost" and rcpts == ["dana@client.example"]
    assert message_id is not None and message_id.startswith("<sb.")
    assert msg["Message-ID"] == message_id
    assert msg["In-Reply-To"] == "<sb.aaaaaaaaaaaaaaaaaaaa.3-0000000000000000@localhost>"
    assert msg["References"].split() == [
        "<first@client.example>",
        "<sb.aaaaaaaaaaaaaaaaaaaa.3-0000000000000000@localhost>",
    ]
    assert msg["Reply-To"].startswith("support+3-")
    assert msg["Thread-Index"] and "Auto-Submitted" not in msg
    assert {p.get_content_type() for p in msg.walk()} >= {"text/plain", "text/html"}


def test_a_retry_of_the_same_outbox_row_carries_the_same_message_id(tmp_path: Path) -> None:
    sender = sender_for(None, tmp_path)
    first = sender.send(outbound(automatic=True))
    second = sender.send(outbound(automatic=True))
    assert first == second
    written = maildir_messages(tmp_path / "maildir")
    assert len(written) == 1, "the maildir gets a retried message once"
    assert written[0]["Auto-Submitted"] == "auto-replied"
    assert sender.send(outbound(key="reply:8")) != first


def refused(relay: tuple[Relayed, int], tmp_path: Path, answer: str) -> DeliveryError:
    """What sending fails with when the relay answers the mail with ``answer``."""
    handler, port = relay
    handler.answer = answer
    with pytest.raises(DeliveryError) as caught:
        sender_for(port, tmp_path).send(outbound())
    return caught.value


def test_a_permanent_refusal_by_the_relay_is_a_permanent_failure(
    relay: tuple[Relayed, int], tmp_path: Path
) -> None:
    failure = refused(relay, tmp_path, "550 5.7.1 Relaying denied")
    assert failure.permanent and "550" in str(failure)


def test_a_temporary_refusal_or_an_unreachable_relay_is_retried(
    relay: tuple[Relayed, int], tmp_path: Path
) -> None:
    assert not refused(relay, tmp_path, "451 4.3.0 Try again later").permanent
    with pytest.raises(DeliveryError) as caught:
        sender_for(free_port(), tmp_path).send(outbound())
    assert not caught.value.permanent and "unreachable" in str(caught.value)


class Counting(Relayed):
    """A relay that also counts the SMTP sessions opened to it."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses


def test_a_burst_of_mail_shares_one_relay_session_and_a_dropped_session_is_replaced(
    tmp_path: Path,
) -> None:
    handler = Counting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    sender = sender_for(port, tmp_path)
    try:
        for n in range(5):
            sender.send(outbound(key=f"ack:{n}", automatic=True))
        assert len(handler.messages) == 5 and handler.sessions == 1, "five mails, one session"
        # The relay restarts (as relays do): the kept session is dead. After the idle
        # check interval the sender notices with NOOP and opens a new one.
        controller.stop()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        sender.CHECK_AFTER_SECONDS = 0.0
        sender.send(outbound(key="ack:after-restart", automatic=True))
        assert len(handler.messages) == 6 and handler.sessions == 2
    finally:
        sender.close()
        controller.stop()


def test_a_refused_mail_does_not_spoil_the_session_for_the_next(
    relay: tuple[Relayed, int], tmp_path: Path
) -> None:
    handler, port = relay
    sender = sender_for(port, tmp_path)
    handler.answer = "451 4.3.0 try later"
    with pytest.raises(DeliveryError):
        sender.send(outbound(key="reply:1"))
    handler.answer = "250 OK"
    message_id = sender.send(outbound(key="reply:2"))
    assert [message_from_bytes(raw)["Message-ID"] for _, _, raw in handler.messages] == [
        message_id
    ], "the next mail goes through"
    sender.close()


def _to(recipient: str) -> Outbound:
    base = outbound(key=f"ack:{recipient}")
    return Outbound(**{**base.__dict__, "recipient": recipient})


def test_an_address_with_a_non_ascii_domain_goes_in_idna_through_any_relay(
    relay: tuple[Relayed, int], tmp_path: Path
) -> None:
    handler, port = relay
    sender_for(port, tmp_path).send(_to("dana@cliënt.example"))
    (_, rcpts, data), *_ = handler.messages
    assert rcpts == ["dana@xn--clint-psa.example"]
    assert b"To: dana@xn--clint-psa.example" in data


def test_a_non_ascii_local_part_goes_with_smtputf8_where_the_relay_offers_it(
    tmp_path: Path,
) -> None:
    with serving(enable_SMTPUTF8=True) as (handler, port):
        sender_for(port, tmp_path).send(_to("josé@cliënt.example"))
    (_, rcpts, data), *_ = handler.messages
    assert rcpts == ["josé@xn--clint-psa.example"]
    assert "To: josé@xn--clint-psa.example".encode() in data


def test_a_non_ascii_local_part_is_a_clear_permanent_failure_where_the_relay_cannot(
    tmp_path: Path,
) -> None:
    with serving(enable_SMTPUTF8=False) as (handler, port):
        with pytest.raises(DeliveryError) as failed:
            sender_for(port, tmp_path).send(_to("josé@cliënt.example"))
        # while an ASCII local part with a non-ASCII domain still goes, in IDNA
        sender_for(port, tmp_path).send(_to("dana@cliënt.example"))
    assert failed.value.permanent and "SMTPUTF8" in str(failed.value)
    assert [rcpts for _, rcpts, _ in handler.messages] == [["dana@xn--clint-psa.example"]]


def test_a_non_ascii_address_is_written_to_the_maildir_in_utf8(tmp_path: Path) -> None:
    sender_for(None, tmp_path).send(_to("josé@cliënt.example"))
    (raw,) = [p.read_bytes() for p in (tmp_path / "maildir" / "new").iterdir()]
    assert "To: josé@xn--clint-psa.example".encode() in raw


@pytest.mark.parametrize(
    "bad", ["not an email bcc: x@y", "dana@client.example\r\nBcc: x@y", "", "@client.example"]
)
def test_what_is_not_one_address_is_refused_for_good_and_nothing_is_sent(
    relay: tuple[Relayed, int], tmp_path: Path, bad: str
) -> None:
    handler, port = relay
    with pytest.raises(DeliveryError) as failed:
        sender_for(port, tmp_path).send(_to(bad))
    assert failed.value.permanent
    assert handler.messages == []


SUBJECT = "[#T-000003] Störung: Scanner offline"


def _in_words(recipient: str) -> Outbound:
    """An acknowledgement whose subject and text are not ASCII, to ``recipient``."""
    base = outbound(key=f"ack:{recipient}")
    text = "Wir kümmern uns darum.\n"
    return Outbound(**{**base.__dict__, "recipient": recipient, "subject": SUBJECT, "text": text})


@pytest.mark.parametrize("recipient", ["dana@client.example", "josé@cliënt.example"])
@pytest.mark.parametrize("route", ["relay", "maildir"])
def test_a_subject_and_text_outside_ascii_arrive_as_written_by_relay_and_in_the_maildir(
    tmp_path: Path, route: str, recipient: str
) -> None:
    # Given an acknowledgement in German, to an ASCII address or one that needs SMTPUTF8
    if route == "relay":
        with serving(enable_SMTPUTF8=True) as (handler, port):
            sender_for(port, tmp_path).send(_in_words(recipient))
        [(_, _, raw)] = handler.messages
    else:
        sender_for(None, tmp_path).send(_in_words(recipient))
        (raw,) = [p.read_bytes() for p in (tmp_path / "maildir" / "new").iterdir()]
    # Then the mail says what was written, the Thread-Topic too
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == SUBJECT
    assert msg["Thread-Topic"] == "Störung: Scanner offline"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().splitlines() == ["Wir kümmern uns darum."]
    # in 7-bit headers (RFC 2047) unless the address itself needs UTF-8 (RFC 6531)
    assert raw.split(b"\n\n")[0].split(b"\r\n\r\n")[0].isascii() == recipient.isascii()
    if route == "relay":
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "SMTP line ends"


HEADER_TEXT = st.one_of(
    st.text(max_size=120),  # anything: line breaks, controls, surrogates, non-ASCII
    st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=90),  # around a line
    st.from_regex(r"[\t -~]{60,80}", fullmatch=True),  # printable ASCII, near the fold
)


@given(
    name=st.sampled_from(["Subject", "To", "References", "X-Switchboard-Ticket", "Thread-Topic"]),
    value=HEADER_TEXT,
)
def test_headers_are_written_byte_for_byte_as_the_stdlibs_compat32_writes_them(
    name: str, value: str
) -> None:
    # Given any header value, printable ASCII that fits a line (written as it is) or not
    for ours, stdlib in (
        (MAILDIR_ASCII, policy.compat32),
        (RELAY_ASCII, policy.compat32.clone(linesep="\r\n")),
    ):
        try:
            want = stdlib.fold_binary(name, value)
        except Exception as exc:  # what the stdlib refuses, ours refuses the same way
            with pytest.raises(type(exc)):
                ours.fold_binary(name, value)
            continue
        # Then our policy writes exactly the same bytes
        assert ours.fold_binary(name, value) == want


def test_a_whole_mail_is_the_same_bytes_as_the_stdlibs_compat32_would_write(
    tmp_path: Path,
) -> None:
    # Given a reply with threading headers, an HTML part and a long References line
    out = outbound()
    out.thread["references"] = [f"<m{i}.{'x' * 30}@client.example>" for i in range(6)]
    msg = sender_for(None, tmp_path).build(out)
    # Then what is written to the maildir and to a relay is what compat32 writes
    assert msg.as_bytes(policy=MAILDIR_ASCII) == msg.as_bytes(policy=policy.compat32)
    relay_policy = policy.compat32.clone(linesep="\r\n")
    assert msg.as_bytes(policy=RELAY_ASCII) == msg.as_bytes(policy=relay_policy)
    assert b"References: <m0." in msg.as_bytes(policy=RELAY_ASCII)  # folded, not cut
