"""The SMTP conversation: each reply code a sending mail server can get, and what is stored."""

from __future__ import annotations

import smtplib
from functools import partial

import pytest
from sqlalchemy import func, select

from channels.email.parse import external_id_of
from channels.email.smtp import make_server
from core.context import Context
from core.db import Database
from core.models import InboundRecord
from core.tokens import reply_token
from tests.email_support import SUPPORT, free_port, mail, maildir_messages
from tests.fault_support import relayed, storm_mail
from tests.harness import Harness, at_once, whole_system_examples


def records(harness: Harness) -> int:
    with harness.ctx.db.reading() as session:
        return int(session.execute(select(func.count()).select_from(InboundRecord)).scalar_one())


def test_mail_to_the_support_address_is_answered_250_and_opens_a_ticket_with_an_acknowledgement(
    harness: Harness, smtp_port: int
) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        code, answer = client.ehlo()
        assert code == 250
        client.send_message(mail(subject="Printer jammed on floor 2"))
    harness.settle()
    ticket = harness.ticket(harness.only_ticket_number())
    assert ticket["subject"] == "Printer jammed on floor 2"
    assert ticket["client"]["address"] == "dana@client.example"
    acks = maildir_messages(harness.settings.maildir_path)
    assert len(acks) == 1
    assert acks[0]["To"] == "dana@client.example"
    assert "[#T-000001]" in acks[0]["Subject"]
    assert acks[0]["Auto-Submitted"] == "auto-replied"


def test_an_unknown_recipient_is_refused_with_550_5_1_1_at_rcpt(
    harness: Harness, smtp_port: int
) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.ehlo()
        client.mail("dana@client.example")
        code, answer = client.rcpt("sales@localhost")
        assert code == 550 and answer.startswith(b"5.1.1")
        code, _ = client.rcpt(SUPPORT)
        assert code == 250
    assert records(harness) == 0


def test_a_reply_address_with_a_valid_token_is_accepted_and_a_forged_one_refused(
    harness: Harness, smtp_port: int
) -> None:
    token = reply_token(harness.ctx.secret, 1)
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.ehlo()
        client.mail("dana@client.example")
        assert client.rcpt(f"support+{token}@localhost")[0] == 250
        assert client.rcpt("support+1-0000000000000000@localhost")[0] == 550
        assert client.rcpt(f"sales+{token}@localhost")[0] == 550


def test_a_message_over_the_size_limit_is_refused_with_552_and_not_stored(
    harness: Harness, smtp_port: int
) -> None:
    big = mail(body="x" * 300_000)
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        with pytest.raises(smtplib.SMTPResponseException) as caught:
            client.sendmail("dana@client.example", [SUPPORT], big.as_bytes())
    assert caught.value.smtp_code == 552
    assert records(harness) == 0


def test_when_the_database_is_unreachable_the_answer_is_451_and_a_retry_stores_it_once(
    harness: Harness, smtp_port: int
) -> None:
    broken = Context(
        db=Database("postgresql+psycopg://postgres@127.0.0.1:1/none"),
        policy=harness.ctx.policy,
        renderer=harness.ctx.renderer,
        secret=harness.ctx.secret,
    )
    port = free_port()
    server = make_server(broken, host="127.0.0.1", port=port, support=[SUPPORT], max_bytes=100_000)
    server.start()
    message = mail()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            with pytest.raises(smtplib.SMTPDataError) as caught:
                client.send_message(message)
        assert caught.value.smtp_code == 451
    finally:
        server.stop()
        broken.db.dispose()
    assert records(harness) == 0
    # The sending server retries later, against a healthy database
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.send_message(message)
    harness.settle()
    assert records(harness) == 1


def test_the_same_message_delivered_twice_is_one_record_and_one_ticket(
    harness: Harness, smtp_port: int
) -> None:
    message = mail(message_id="<same-one@client.example>")
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            client.send_message(message)
    harness.settle()
    assert records(harness) == 1
    assert harness.tickets()["total"] == 1


def test_a_message_without_message_id_is_stored_under_a_digest_of_its_bytes(
    harness: Harness, smtp_port: int
) -> None:
    raw = b"From: dana@client.example\r\nTo: support@localhost\r\nSubject: no id\r\n\r\nHello there\r\n"
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            client.sendmail("dana@client.example", [SUPPORT], raw)
    harness.settle()
    with harness.ctx.db.reading() as session:
        ids = session.execute(select(InboundRecord.external_id)).scalars().all()
    assert len(ids) == 1 and ids[0].startswith("sha256:")


def test_a_mail_without_message_id_arriving_by_three_relays_is_one_ticket_and_one_answer(
    harness: Harness, smtp_port: int
) -> None:
    written = (
        b"From: dana@client.example\r\nTo: support@localhost\r\n"
        b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nSubject: Press 3 down\r\n\r\nError E42.\r\n"
    )
    for relay in ("mx1", "mx2", "backup-mx"):
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            client.sendmail(
                "dana@client.example",
                [SUPPORT],
                f"Received: from {relay}.client.example; Mon, 30 Nov 2026 10:00:0{len(relay)}\r\n".encode()
                + written,
            )
    harness.settle()
    assert records(harness) == 1
    assert harness.tickets()["total"] == 1
    acks = [d for d in harness.ticket(1)["deliveries"] if d["kind"] == "ack"]
    assert len(acks) == 1


@pytest.mark.parametrize(
    "relays_add_ids",
    [(False, True), (True, False), (True, True)],
    ids=["as-is-then-relay-id", "relay-id-then-as-is", "two-relay-ids-large-mail"],
)
def test_a_mail_without_message_id_that_a_relay_gives_one_is_still_one_ticket_and_one_answer(
    harness: Harness,
    smtp_port: int,
    relays_add_ids: tuple[bool, bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a client's mail without a Message-ID, reaching us by two relays, where one
    # or both add a Message-ID of their own on the way (as Postfix or Exchange do);
    # with two, a mail large enough for its keys to be read off the event loop
    body = "Press 3 stopped with error E42.\n"
    if all(relays_add_ids):
        body += "Log line: press 3 cycle complete.\n" * 3_000  # about 100 kB
        monkeypatch.setattr("channels.email.smtp.INLINE_KEYS", 50_000)
    message = storm_mail(1, "Press 3 down", body)
    assert message["Message-ID"] is None
    copies = [relayed(message, relay, adds_id=adds) for relay, adds in enumerate(relays_add_ids)]
    assert len({external_id_of(c) for c in copies}) == 2, "the copies have different ids"
    # When both copies are delivered, one after the other
    answers = []
    for copy in copies:
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            client.ehlo()
            client.mail("client1@client.example")
            client.rcpt(SUPPORT)
            code, answer = client.data(copy)
            assert code == 250, answer
            answers.append(answer.decode())
    harness.settle()
    # Then the later copy is a duplicate of the first: one record, one ticket, one answer
    tickets = harness.tickets()
    assert [t["subject"] for t in tickets["tickets"]] == ["Press 3 down"]
    acks = maildir_messages(harness.settings.maildir_path)
    assert [str(a["To"]) for a in acks] == ["client1@client.example"]
    assert records(harness) == 1
    assert ["(duplicate)" in a for a in answers] == [False, True], answers


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@whole_system_examples(25)
@given(body=st.binary(min_size=1, max_size=2000))
def test_any_bytes_sent_over_smtp_are_stored_or_refused_with_a_code_and_never_crash_the_server(
    harness: Harness, smtp_port: int, body: bytes
) -> None:
    raw = b"From: fuzz@client.example\r\n" + body.replace(b"\r", b"").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        try:
            client.sendmail("fuzz@client.example", [SUPPORT], raw)
        except smtplib.SMTPResponseException as exc:
            assert 500 <= exc.smtp_code < 600, exc
        assert client.noop()[0] == 250, "the server is still there"
    harness.settle()
    with harness.ctx.db.reading() as session:
        statuses = set(session.execute(select(InboundRecord.status)).scalars())
    assert statuses <= {"done", "parked", "dropped"}


def test_starttls_is_offered_with_a_configured_certificate(harness: Harness, tmp_path) -> None:
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = make_server(
        harness.ctx,
        host="127.0.0.1",
        port=port,
        support=[SUPPORT],
        max_bytes=100_000,
        cert=cert,
        key=key,
    )
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            context = ssl.create_default_context(cafile=str(cert))
            context.check_hostname = False
            client.starttls(context=context)
            client.ehlo()
            client.send_message(mail(subject="Over TLS"))
    finally:
        server.stop()
    harness.settle()
    assert harness.ticket(harness.only_ticket_number())["subject"] == "Over TLS"


def test_messages_from_many_sessions_at_once_are_each_answered_250_and_stored_once(
    harness: Harness, smtp_port: int
) -> None:
    answers: list[str] = []

    def session(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            for i in range(3):
                client.ehlo_or_helo_if_needed()
                client.mail(f"client{n}@client.example")
                client.rcpt(SUPPORT)
                code, answer = client.data(
                    mail(
                        sender=f"client{n}@client.example",
                        subject=f"Session {n} message {i}",
                        message_id=f"<s{n}-{i}@client.example>",
                    ).as_bytes()
                )
                assert code == 250
                answers.append(answer.decode())
        # the same message again from this session is a duplicate of the first one
        with smtplib.SMTP("127.0.0.1", smtp_port) as client:
            client.send_message(
                mail(
                    sender=f"client{n}@client.example",
                    subject=f"Session {n} message 0",
                    message_id=f"<s{n}-0@client.example>",
                )
            )

    at_once(*(partial(session, n) for n in range(6)))
    assert len(answers) == 18
    assert len({a.split("record ")[1] for a in answers}) == 18, "each message its own record"
    harness.settle()
    assert records(harness) == 18
    with harness.ctx.db.reading() as s:
        outcomes = s.execute(select(InboundRecord.status, InboundRecord.reason)).all()
    assert harness.tickets()["total"] == 18, outcomes


def test_a_message_the_database_refuses_does_not_turn_away_the_others_committed_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import threading

    from core import intake
    from core.intake import frontdoor

    batches: list[list[str]] = []
    queued = threading.Event()

    def receive_many(
        ctx: object, items: list[intake.Incoming], hand_over: bool = True
    ) -> list[intake.Received]:
        if items[0].external_id == "<warm-up@x>":  # keeps the writer busy while three queue up
            assert queued.wait(10)
        batches.append([i.external_id for i in items])
        if any(i.external_id == "<poison@x>" for i in items):
            raise ValueError("the database refuses this one")
        return [intake.Received(n, False, handed_over=True) for n, _ in enumerate(items, 1)]

    monkeypatch.setattr(frontdoor, "receive_many", receive_many)
    from types import SimpleNamespace

    from core.health import Health

    # No database: receive_many is replaced; the writer thread only asks to go first.
    ctx = SimpleNamespace(db=SimpleNamespace(prefer_this_thread=lambda: None), health=Health())
    door = frontdoor.FrontDoor(ctx=ctx)  # type: ignore[arg-type]

    async def send_three() -> list[object]:
        warm_up = asyncio.ensure_future(
            door.store_async(intake.Incoming("email", "<warm-up@x>", b"raw", {}))
        )
        while door.writer is None or not door.queue.empty():
            await asyncio.sleep(0.01)  # the writer has taken the warm-up
        items = [
            intake.Incoming("email", f"<{name}@x>", b"raw", {}) for name in ("a", "poison", "b")
        ]
        stores = [asyncio.ensure_future(door.store_async(i)) for i in items]
        while door.queue.qsize() < 3:
            await asyncio.sleep(0.01)
        queued.set()
        await warm_up
        return await asyncio.gather(*stores, return_exceptions=True)

    results = asyncio.run(send_three())
    assert batches[1] == ["<a@x>", "<poison@x>", "<b@x>"], "stored as one batch first"
    assert isinstance(results[1], ValueError), "the refused one is answered 451"
    assert [type(r).__name__ for r in (results[0], results[2])] == ["Received", "Received"], (
        "the others get 250"
    )
