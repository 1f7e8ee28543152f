"""What clients receive: templates, overrides, attachments, and notes that never leave."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import outbox
from core.principals import system
from core.rendering import Renderer
from core.tickets import conversation, opening
from core.values import AttachmentIn
from tests.harness import Harness


def test_an_operator_template_overrides_the_shipped_one_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "ack").mkdir()
    (tmp_path / "ack" / "default.txt.j2").write_text(
        "Hi {{ client_name }}, ticket {{ ticket_number }} is logged."
    )
    fields = {
        "client_name": "Kim",
        "ticket_number": "T-000009",
        "subject": "Fan noise",
        "priority": "P3",
        "response_target": "4 hours",
        "tracking_link": "http://x/t/abc",
    }
    rendered = Renderer(tmp_path).render("ack", "fake", **fields)
    assert rendered.text == "Hi Kim, ticket T-000009 is logged.\n"
    assert rendered.subject == "[#T-000009] Fan noise", (
        "the subject still comes from the shipped template"
    )


def test_html_templates_escape_what_the_client_wrote() -> None:
    fields = {
        "client_name": "<script>alert(1)</script>",
        "ticket_number": "T-000001",
        "subject": "<b>hi</b>",
        "priority": "P3",
        "priority_words": "Normal",
        "response_target": "",
        "tracking_link": "http://x/t/abc",
    }
    rendered = Renderer().render("ack", "email", **fields)
    assert rendered.html is not None
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


def test_an_internal_note_can_never_become_a_client_delivery(harness: Harness) -> None:
    agent, _ = harness.agent("Ana")
    with harness.ctx.db.transaction() as s:
        t = opening.open_ticket(
            harness.ctx, s, system(), subject="x", text="y", requester=("fake", "c-1", "")
        )
        note = conversation.note(harness.ctx, s, agent, t, text="client is difficult")
        with pytest.raises(outbox.InternalNoteLeak):
            outbox.to_client(
                harness.ctx,
                s,
                t,
                kind="reply",
                rendered=harness.ctx.renderer.render(
                    "reply",
                    "fake",
                    ticket_number=t.number,
                    body=note.body_text,
                    agent_name="Ana",
                    subject="x",
                    priority="P3",
                    client_name="",
                    tracking_link="",
                    response_target="",
                ),
                message=note,
                automatic=False,
                key="leak",
            )
    harness.settle()
    assert all("difficult" not in s["text"] for s in harness.sent())


def test_attachments_are_stored_once_by_content_and_limits_are_flagged(harness: Harness) -> None:
    harness.ctx.max_attachment_bytes = 1000
    harness.fake.receive(
        "c-1",
        "photos attached",
        subject="Broken lid",
        attachments=(
            AttachmentIn("lid.jpg", "image/jpeg", b"\xff\xd8" + b"a" * 100),
            AttachmentIn("lid-copy.jpg", "image/jpeg", b"\xff\xd8" + b"a" * 100),
            AttachmentIn("huge.bin", "application/octet-stream", b"b" * 5000),
            AttachmentIn("setup.exe", "application/octet-stream", b"MZ"),
        ),
    )
    harness.settle()
    files = harness.ticket(1)["thread"][0]["attachments"]
    assert [f["filename"] for f in files] == ["lid.jpg", "lid-copy.jpg", "huge.bin", "setup.exe"]
    assert files[0]["sha256"] == files[1]["sha256"]
    assert files[2]["flagged"].startswith("not kept")
    assert "dangerous" in files[3]["flagged"]
    from sqlalchemy import func, select

    from core.models import StoredBlob

    with harness.ctx.db.reading() as s:
        assert s.execute(select(func.count()).select_from(StoredBlob)).scalar_one() == 2, (
            "one copy per content"
        )


def test_a_reply_threads_only_on_ids_from_its_own_channel_oldest_first(harness: Harness) -> None:
    from core.models import Message, OutboxDelivery

    with harness.ctx.db.transaction() as s:
        t = opening.open_ticket(
            harness.ctx,
            s,
            system(),
            subject="VPN",
            text="drops",
            requester=("email", "kim@client.example", "Kim"),
            external_id="<first@client.example>",
            send_ack=False,
        )
        s.add(
            Message(
                ticket_id=t.id,
                kind="public",
                direction="in",
                channel="slack",
                body_text="x",
                external_id="thread:C1/1700000000.1",
            )
        )
        for key, kind, channel, recipient, external_id in (
            ("card:1", "card", "slack", "C1", "C1/1700000000.2"),
            ("reply:9", "reply", "email", "kim@client.example", "<sb.reply9@support.example>"),
        ):
            s.add(
                OutboxDelivery(
                    key=key,
                    ticket_id=t.id,
                    kind=kind,
                    channel=channel,
                    recipient=recipient,
                    payload={},
                    status="sent",
                    external_id=external_id,
                    created_at=harness.ctx.now(),
                )
            )
        s.flush()
        refs = outbox.thread_info(s, t, "email")["references"]
    assert refs == ["<first@client.example>", "<sb.reply9@support.example>"]
