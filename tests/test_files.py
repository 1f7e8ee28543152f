"""Files both ways: an agent's files on a public reply (the JSON API, base64 or
multipart, and files shared in a ticket's Slack thread) reach the client as real
attachments on the client's channel (email, Telegram, WhatsApp), through the worker,
to the loopback fakes and the maildir; a note's files never leave; what cannot go is
refused, saying why, with nothing written.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from config.cli import main as cli_main
from config.settings import Settings
from tests.email_support import maildir_messages
from tests.fakeslack import FakeSlack
from tests.faketelegram import TOKEN as TELEGRAM_TOKEN
from tests.faketelegram import FakeTelegram
from tests.fakewhatsapp import FakeWhatsApp
from tests.harness import Harness, wait_until
from tests.slack_support import QUEUE_CHANNEL, SlackDriver, slack_options
from tests.telegram_support import SECRET as TELEGRAM_SECRET
from tests.telegram_support import TelegramDriver
from tests.whatsapp_support import CLIENT, WhatsAppDriver, message, whatsapp_settings

CHAT = 424242
MAX_FILE = 100_000
MAX_UPLOAD = 400_000
PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 50
PDF = b"%PDF-1.7 the wiring diagram " * 20


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    broker_url: str,
    fake_slack: FakeSlack,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
) -> Settings:
    """Every client channel at once, and Slack for the agents."""
    return whatsapp_settings(
        tmp_path,
        database_url,
        broker_url,
        fake_whatsapp,
        public_url="https://support.example",
        delivery_max_attempts=5,
        max_attachment_bytes=MAX_FILE,
        max_upload_bytes=MAX_UPLOAD,
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_api_url=fake_telegram.url,
        telegram_mode="webhook",
        telegram_webhook_secret=TELEGRAM_SECRET,
        **slack_options(fake_slack, slack_undo_seconds=0.2),
    )


@pytest.fixture
def token(harness: Harness) -> str:
    return harness.agent("Ana Lima")[1]


def b64(name: str, data: bytes, content_type: str = "") -> dict[str, str]:
    return {
        "filename": name,
        "content_type": content_type,
        "content_base64": base64.b64encode(data).decode(),
    }


def email_ticket(harness: Harness, token: str, address: str = "lia@client.example") -> str:
    response = harness.open_by_api(token, "email", address, "Gate 3", "The gate will not open.")
    assert response.status_code == 201, response.text
    harness.settle()
    return str(response.json()["number"])


def mails_to(harness: Harness, address: str) -> list[EmailMessage]:
    found = []
    if not harness.settings.maildir_path.exists():  # no mail was ever written
        return []
    for item in maildir_messages(harness.settings.maildir_path):
        parsed = email.message_from_bytes(item.as_bytes(), policy=email.policy.default)
        if address in str(parsed["To"]):
            found.append(parsed)
    return found


def attachments(mail: EmailMessage) -> list[tuple[str, str, bytes]]:
    return [
        (str(part.get_filename()), part.get_content_type(), bytes(part.get_payload(decode=True)))
        for part in mail.iter_attachments()
    ]


def file_links(html: str) -> list[str]:
    """The download links of the files on a tracking page."""
    hrefs = [h.split('"', 1)[0] for h in html.split('href="')[1:]]
    return [h for h in hrefs if "/files/" in h]


def page(harness: Harness, number: str) -> tuple[str, str]:
    """The tracking page of ticket ``number`` (its HTML) and its path."""
    link = harness.ticket(number)["tracking_link"]
    path = link.removeprefix("https://support.example")
    response = harness.client.get(path)
    assert response.status_code == 200
    return response.text, path


# Replies with files, to each channel -----------------------------------------------------


def test_a_reply_with_files_in_json_reaches_an_email_client_as_mime_attachments(
    harness: Harness, token: str
) -> None:
    number = email_ticket(harness, token)
    response = harness.api(
        "POST",
        f"/api/tickets/{number}/reply",
        token,
        json={
            "text": "Here is the diagram and a photo of the fuse.",
            "attachments": [
                b64("wiring diagram.pdf", PDF, "application/pdf"),
                b64("fusible-n°3.png", PNG),  # no type given: guessed from the name
            ],
        },
    )
    assert response.status_code == 200, response.text
    harness.settle()
    (mail,) = [m for m in mails_to(harness, "lia@client.example") if m["Subject"].startswith("Re:")]
    assert "Here is the diagram" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert attachments(mail) == [
        ("wiring diagram.pdf", "application/pdf", PDF),
        ("fusible-n°3.png", "image/png", PNG),
    ]
    reply = harness.ticket(number)["thread"][-1]
    assert [(a["filename"], a["size"]) for a in reply["attachments"]] == [
        ("wiring diagram.pdf", len(PDF)),
        ("fusible-n°3.png", len(PNG)),
    ]
    # The client's tracking page shows them on the public thread, and they download.
    html, path = page(harness, number)
    assert "wiring diagram.pdf" in html and "fusible-n°3.png" in html
    files = file_links(html)
    assert len(files) == 2
    assert {harness.client.get(f).content for f in files} == {PDF, PNG}


def test_a_multipart_reply_reaches_a_telegram_client_as_a_photo_and_a_document(
    harness: Harness, token: str, telegram: TelegramDriver
) -> None:
    telegram.say(CHAT, "Which fuse do I change?")
    response = harness.api(
        "POST",
        "/api/tickets/T-000001/reply",
        token,
        data={"text": "This one; the manual is attached."},
        files=[
            ("file", ("fuse.png", PNG, "image/png")),
            ("file", ("manual.pdf", PDF, "application/pdf")),
        ],
    )
    assert response.status_code == 200, response.text
    harness.settle()
    sent = telegram.fake.to_chat(CHAT)
    assert any("the manual is attached" in s.text for s in sent if s.method == "sendMessage")
    assert [(s.filename, s.data) for s in sent if s.method == "sendPhoto"] == [("fuse.png", PNG)]
    assert [(s.filename, s.data) for s in sent if s.method == "sendDocument"] == [
        ("manual.pdf", PDF)
    ]
    assert not mails_to(harness, "@"), "nothing went by email"


def test_a_reply_with_files_reaches_a_whatsapp_client_uploaded_then_sent(
    harness: Harness, token: str, wa: WhatsAppDriver
) -> None:
    wa.send(message("text", text={"body": "The display shows E42."}))
    harness.settle()
    response = harness.api(
        "POST",
        "/api/tickets/T-000001/reply",
        token,
        json={
            "text": "Please check this.",
            "attachments": [b64("e42.png", PNG), b64("steps.pdf", PDF)],
        },
    )
    assert response.status_code == 200, response.text
    harness.settle()
    uploads = {name: (media_id, data) for media_id, name, data, _ in wa.fake.uploads}
    assert {name: data for name, (_, data) in uploads.items()} == {"e42.png": PNG, "steps.pdf": PDF}
    sent = [s for s in wa.fake.messages(CLIENT) if s.type in ("text", "image", "document")][-3:]
    assert [s.type for s in sent] == ["text", "image", "document"]
    assert sent[0].text.startswith("Please check this.")
    assert sent[1].body["image"] == {"id": uploads["e42.png"][0]}
    assert sent[2].body["document"] == {"id": uploads["steps.pdf"][0], "filename": "steps.pdf"}
    (row,) = [d for d in wa.deliveries() if d.kind == "reply"]
    assert row.status == "sent"


# From Slack ------------------------------------------------------------------------------


def thread_message(slack: SlackDriver, card_ts: str, text: str, files: list[dict[str, Any]]) -> str:
    """An agent's message with files in a card's thread, as Slack sends it; its event id."""
    ts = f"1800000100.{uuid.uuid4().int % 1_000_000:06d}"
    event_id = f"Ev{uuid.uuid4().hex[:10]}"
    event = {
        "type": "message",
        "subtype": "file_share",
        "user": "UANA",
        "text": text,
        "files": files,
        "upload": False,
        "ts": ts,
        "thread_ts": card_ts,
        "channel": QUEUE_CHANNEL,
        "channel_type": "channel",
        "event_ts": ts,
    }
    assert slack.event(event, event_id=event_id).status_code == 200
    return event_id


def test_a_file_an_agent_shares_in_the_slack_thread_reaches_the_client_by_email(
    harness: Harness, token: str, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    number = email_ticket(harness, token)
    card = slack.card(number)
    shared = fake_slack.add_file("new-badge.pdf", PDF, "application/pdf")
    thread_message(slack, card.ts, "Your new badge form, <https://x.example|signed>.", [shared])
    mail = wait_until(
        lambda: [m for m in mails_to(harness, "lia@client.example") if "badge form" in str(m)],
        what="the reply by email",
    )[0]
    assert attachments(mail) == [("new-badge.pdf", "application/pdf", PDF)]
    assert "signed (https://x.example)" in mail.get_body(("plain",)).get_content()
    assert [auth for _, auth in fake_slack.downloads] == ["Bearer xoxb-test"]
    (reply,) = [
        m
        for m in harness.ticket(number)["thread"]
        if m["kind"] == "public" and m["direction"] == "out"
    ]
    assert [a["filename"] for a in reply["attachments"]] == ["new-badge.pdf"]


def test_a_file_slack_cannot_hand_over_refuses_the_reply_and_the_agent_is_told(
    harness: Harness, token: str, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    number = email_ticket(harness, token)
    card = slack.card(number)
    big = fake_slack.add_file("site-video.mp4", b"v" * 10, "video/mp4", size=MAX_FILE + 1)
    thread_message(slack, card.ts, "The video of the fix.", [big])
    told = wait_until(
        lambda: [t for t in slack.ephemerals("UANA") if "site-video.mp4" in t], what="the refusal"
    )
    assert "not sent to the client" in told[0] and f"larger than {MAX_FILE} bytes" in told[0]
    harness.settle()
    ticket = harness.ticket(number)
    assert [m for m in ticket["thread"] if m["direction"] == "out" and m["kind"] == "public"] == []
    assert [d for d in ticket["deliveries"] if d["kind"] == "reply"] == []
    assert fake_slack.downloads == [], "a file over the limit is not even downloaded"
    # A program is refused by name too, after the download, with nothing sent.
    program = fake_slack.add_file("fix.exe", b"MZ", "application/octet-stream")
    thread_message(slack, card.ts, "Run this.", [program])
    wait_until(
        lambda: [t for t in slack.ephemerals("UANA") if "attachment.type_refused" in t],
        what="the refusal of the program",
    )
    harness.settle()
    assert [d for d in harness.ticket(number)["deliveries"] if d["kind"] == "reply"] == []


def test_a_file_a_client_shares_in_a_dm_is_on_their_ticket_and_files_cannot_go_back_there(
    harness: Harness, token: str, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    photo = fake_slack.add_file("reader.png", PNG, "image/png")
    ts = f"1800000200.{uuid.uuid4().int % 1_000_000:06d}"
    event = {
        "type": "message",
        "subtype": "file_share",
        "user": "UCLIENT",
        "text": "The badge reader is dead, photo attached.",
        "files": [photo],
        "ts": ts,
        "channel": "DCLIENT",
        "channel_type": "im",
        "event_ts": ts,
    }
    assert slack.event(event).status_code == 200
    wait_until(lambda: harness.tickets()["total"] == 1, what="the ticket")
    harness.settle()
    (opening,) = harness.ticket(1)["thread"]
    assert [(a["filename"], a["size"]) for a in opening["attachments"]] == [
        ("reader.png", len(PNG))
    ]
    assert "Files shared in Slack" not in opening["text"], "downloaded, not linked"
    # The Slack sender posts text to a Slack client: a reply with a file is refused.
    response = harness.api(
        "POST",
        "/api/tickets/T-000001/reply",
        token,
        json={"text": "Try this.", "attachments": [b64("howto.pdf", PDF)]},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "attachment.channel" and "howto.pdf" in error["message"]


# Refusals --------------------------------------------------------------------------------


def test_files_that_cannot_go_are_refused_by_name_and_nothing_is_written(
    harness: Harness, token: str, telegram: TelegramDriver
) -> None:
    number = email_ticket(harness, token)
    before = harness.ticket(number)

    def reply(**body: Any) -> Any:
        return harness.api("POST", f"/api/tickets/{number}/reply", token, **body)

    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (
            {"json": {"text": "x", "attachments": [b64("tool.exe", b"MZ")]}},
            422,
            "attachment.type_refused",
            "tool.exe",
        ),
        (
            {"json": {"text": "x", "attachments": [b64("big.bin", b"0" * (MAX_FILE + 1))]}},
            422,
            "attachment.too_large",
            "big.bin",
        ),
        (
            {"json": {"text": "x", "attachments": [b64("empty.txt", b"")]}},
            422,
            "attachment.empty",
            "empty.txt",
        ),
        (
            {
                "json": {
                    "text": "x",
                    "attachments": [{"filename": "a.txt", "content_base64": "bm90 IGJh%%c2U2NA=="}],
                }
            },
            422,
            "field.attachments.0.content_base64",
            "attachments.0.content_base64",
        ),
        ({"json": {"attachments": []}}, 422, "field.text", "text is required"),
        (
            {
                "files": [
                    ("file", ("huge.bin", b"0" * (MAX_UPLOAD + 10), "application/octet-stream"))
                ],
                "data": {"text": "x"},
            },
            413,
            "request.too_large",
            str(MAX_UPLOAD),
        ),
        (
            {
                "json": {
                    "text": "x",
                    "attachments": [b64(f"p{i}.bin", b"1" * (MAX_FILE - 1)) for i in range(4)],
                }
            },
            413,
            "request.too_large",
            str(MAX_UPLOAD),
        ),
    ]
    for body, status, code, named in cases:
        response = reply(**body)
        assert response.status_code == status, (code, response.text)
        error = response.json()["error"]
        assert error["code"] == code and named in error["message"], error
    after = harness.ticket(number)
    assert after["thread"] == before["thread"] and after["deliveries"] == before["deliveries"]
    # The same reply without the refused file goes, nothing lost.
    ok = reply(json={"text": "x", "attachments": [b64("notes.txt", b"fine")]})
    assert ok.status_code == 200, ok.text


def test_an_idempotent_multipart_reply_sent_twice_is_sent_once(
    harness: Harness, token: str
) -> None:
    number = email_ticket(harness, token)
    for _ in range(2):  # a client retrying picks a new multipart boundary each time
        response = harness.client.post(
            f"/api/tickets/{number}/reply",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "reply-with-file-1"},
            data={"text": "The form."},
            files=[("file", ("form.pdf", PDF, "application/pdf"))],
        )
        assert response.status_code == 200, response.text
    harness.settle()
    assert len([m for m in mails_to(harness, "lia@client.example") if "The form." in str(m)]) == 1


# Notes never leave -----------------------------------------------------------------------


def _everything_sent(harness: Harness, telegram: TelegramDriver, wa: WhatsAppDriver) -> bytes:
    """Every byte that left for a client: mail files, Telegram uploads, WhatsApp uploads."""
    mails = b"".join(
        bytes(part.get_payload(decode=True) or b"")
        for m in mails_to(harness, "@")
        for part in m.walk()
        if not part.is_multipart()
    )
    chats = b"".join(s.data + s.text.encode() for s in telegram.fake.to_chat(CHAT))
    whatsapp = b"".join(data for _, _, data, _ in wa.fake.uploads)
    whatsapp += json.dumps([s.body for s in wa.fake.messages()]).encode()
    return mails + chats + whatsapp


@hsettings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["reply", "note"]), st.integers(min_value=0, max_value=2)),
        min_size=1,
        max_size=4,
    ),
    how=st.sampled_from(["json", "multipart"]),
)
@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_file_of_a_note_ever_reaches_any_channel(
    harness: Harness,
    token: str,
    telegram: TelegramDriver,
    wa: WhatsAppDriver,
    steps: list[tuple[str, int]],
    how: str,
) -> None:
    """Property: whatever mix of replies and notes with files an agent writes, on a
    ticket whose client is on email, Telegram or WhatsApp, every reply's file reaches
    the client and no note's file reaches anyone."""
    if not harness.tickets()["total"]:
        email_ticket(harness, token, "max@client.example")  # T-000001: email
        telegram.say(CHAT, "The gate again.")  # T-000002: Telegram
        wa.send(message("text", text={"body": "And the barrier."}))  # T-000003: WhatsApp
        harness.settle()
    replied: list[bytes] = []
    noted: list[bytes] = []
    for n, (kind, count) in enumerate(steps):
        number = f"T-00000{n % 3 + 1}"
        marks = [f"{kind}-{uuid.uuid4().hex}".encode() * 3 for _ in range(count)]
        names = [f"{kind}{i}.txt" for i in range(count)]
        if how == "json":
            body: dict[str, Any] = {
                "json": {
                    "text": f"{kind} {n}",
                    "attachments": [
                        b64(name, mark) for name, mark in zip(names, marks, strict=True)
                    ],
                }
            }
        else:
            body = {
                "data": {"text": f"{kind} {n}"},
                "files": [
                    ("file", (name, mark, "text/plain"))
                    for name, mark in zip(names, marks, strict=True)
                ],
            }
        response = harness.api("POST", f"/api/tickets/{number}/{kind}", token, **body)
        assert response.status_code == 200, response.text
        (replied if kind == "reply" else noted).extend(marks)
    harness.settle()
    sent = _everything_sent(harness, telegram, wa)
    assert all(mark in sent for mark in replied), "every reply's file reached its client"
    assert not [mark for mark in noted if mark in sent], "no note's file left"


# Merged tickets --------------------------------------------------------------------------


def test_a_merged_tickets_messages_show_on_the_ticket_it_was_merged_into_everywhere(
    harness: Harness, token: str, telegram: TelegramDriver, cli: Any
) -> None:
    main = email_ticket(harness, token)  # T-000001
    telegram.say(CHAT, "The gate at door 3 is stuck too.")  # T-000002
    merged = "T-000002"
    for kind, body in (
        ("reply", {"text": "A technician is on the way.", "attachments": [b64("route.pdf", PDF)]}),
        (
            "note",
            {
                "text": "Same fault as T-000001, internal only.",
                "attachments": [b64("log.txt", b"secret log")],
            },
        ),
    ):
        assert (
            harness.api("POST", f"/api/tickets/{merged}/{kind}", token, json=body).status_code
            == 200
        )
    harness.settle()
    response = harness.api("POST", f"/api/tickets/{merged}/merge", token, json={"into": main})
    assert response.status_code == 200, response.text
    harness.settle()

    # The API view of the surviving ticket: its thread and the merged one's, in order.
    view = harness.api("GET", f"/api/tickets/{main}", token).json()
    assert view["merged"] == [merged]
    texts = [(m["ticket"], m["kind"], m["text"]) for m in view["thread"]]
    assert (merged, "public", "The gate at door 3 is stuck too.") in texts
    assert (merged, "public", "A technician is on the way.") in texts
    assert (merged, "internal", "Same fault as T-000001, internal only.") in texts
    assert texts[0] == (main, "public", "The gate will not open.")
    # The command line shows them, marked with the ticket they were written on.
    shown = cli.invoke(cli_main, ["tickets", "show", main])
    assert shown.exit_code == 0, shown.output
    assert "The gate at door 3 is stuck too." in shown.output and f"(on {merged})" in shown.output
    assert f"merged into it: {merged}" in shown.output and "files: route.pdf" in shown.output
    # The client's tracking page: the public messages and files, never the note.
    html, _ = page(harness, main)
    assert "The gate at door 3 is stuck too." in html and "route.pdf" in html
    assert "internal only" not in html and "log.txt" not in html
    (file_link,) = file_links(html)
    assert file_link.endswith("/route.pdf") and harness.client.get(file_link).content == PDF
    # The merged ticket's own page says where it continues.
    old, _ = page(harness, merged)
    nonce = harness.ticket(main)["tracking_link"].rsplit("/", 1)[1].split(".")[0]
    assert f">{main}</a>" in old and f"/t/{nonce}." in old


def test_the_client_of_a_merged_ticket_is_told_where_their_request_now_lives_on_their_channel(
    harness: Harness, token: str, telegram: TelegramDriver, wa: WhatsAppDriver
) -> None:
    main = email_ticket(harness, token)  # T-000001
    telegram.say(CHAT, "Door 3 is stuck.")  # T-000002
    wa.send(message("text", text={"body": "Door 3 will not open."}))  # T-000003
    harness.settle()
    other = email_ticket(harness, token, "max@client.example")  # T-000004
    nonce = harness.ticket(main)["tracking_link"].rsplit("/", 1)[1].split(".")[0]
    for number in ("T-000002", "T-000003", other):
        response = harness.api("POST", f"/api/tickets/{number}/merge", token, json={"into": main})
        assert response.status_code == 200, response.text
    harness.settle()
    told = telegram.texts_to(CHAT)[-1]
    assert "T-000002" in told and f"continues as {main}" in told and f"/t/{nonce}." in told
    assert "write here as before" in told
    on_whatsapp = wa.fake.messages(CLIENT)[-1]
    assert on_whatsapp.type == "text" and main in on_whatsapp.text
    assert f"/t/{nonce}." in on_whatsapp.text
    (mail,) = [m for m in mails_to(harness, "max@client.example") if "continues as" in m["Subject"]]
    assert mail["Subject"] == f"[#{other}] Your request now continues as {main}"
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"/t/{nonce}." in body and "reply to this email as before" in body
    assert mail["Auto-Submitted"] == "auto-replied"
    # The surviving ticket's own client is not told anything about it.
    assert not [
        m for m in mails_to(harness, "lia@client.example") if "continues as" in m["Subject"]
    ]
    # Told once: the merge is one notice per ticket, however often the outbox is swept.
    assert len([d for d in harness.ticket(other)["deliveries"] if d["kind"] == "merged"]) == 1
