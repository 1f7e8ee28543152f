"""The tracking page, opened in a real browser as a client would."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from core import blobs
from core.models import Attachment
from core.tickets import conversation, lookup, workflow
from core.values import AttachmentIn
from tests.browser import render, serve
from tests.harness import Harness


def test_the_tracking_link_shows_status_and_public_replies_but_never_notes(
    harness: Harness, tmp_path: Path
) -> None:
    agent, _ = harness.agent("Ana")
    harness.fake.receive(
        "client-1",
        "The <b>badge</b> reader beeps twice.",
        subject="Badge reader",
        sender_name="Lia",
    )
    harness.settle()
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, 1, lock=True)
        workflow.acknowledge(harness.ctx, s, agent, t)
        conversation.note(harness.ctx, s, agent, t, text="INTERNAL: client broke it herself")
        conversation.reply(
            harness.ctx, s, agent, t, text="Please hold the card flat for two seconds."
        )
        workflow.hold(harness.ctx, s, agent, t, reason="waiting_on_client")
    link = harness.ticket(1)["tracking_link"]
    with serve(harness.ctx) as base:
        url = base + link[link.index("/t/") :]
        dom = render(url, screenshot=tmp_path / "tracking.png")
        missing = render(base + "/t/not-a-real-token-at-all")
        headers = httpx.get(url).headers
    # The page runs no script from elsewhere, is never framed, never leaks its address
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert "T-000001" in dom and "Badge reader" in dom
    assert "On hold: waiting for your answer" in dom
    assert "Please hold the card flat for two seconds." in dom
    assert "INTERNAL" not in dom, "internal notes never reach the client"
    assert "&lt;b&gt;badge&lt;/b&gt;" in dom, "what the client wrote is escaped, not rendered"
    assert "does not lead to a request" in missing
    assert (tmp_path / "tracking.png").stat().st_size > 1000


def test_files_of_the_public_conversation_download_from_the_tracking_link_and_nothing_else(
    harness: Harness, tmp_path: Path
) -> None:
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
        b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
        b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    page = b"<html><script>alert(document.cookie)</script></html>"
    harness.fake.receive(
        "client-1",
        "Photo of the error and the log page.",
        subject="Badge reader",
        attachments=(
            AttachmentIn("screen shot.png", "image/png", png),
            AttachmentIn("log.html", "text/html", page),
        ),
    )
    harness.fake.receive("client-2", "Another client's ticket.", subject="Other")
    harness.settle()
    # The two messages are decided by two jobs at once: either may get the lower number.
    number = {t["subject"]: t["number"] for t in harness.tickets()["tickets"]}
    link = harness.ticket(number["Badge reader"])["tracking_link"]
    other = harness.ticket(number["Other"])["tracking_link"]
    with serve(harness.ctx) as base:
        dom = render(base + link[link.index("/t/") :])
        urls = [base + u[u.index("/t/") :] for u in re.findall(r'href="([^"]+/files/[^"]+)"', dom)]
        assert [u.rsplit("/", 1)[1] for u in urls] == ["screen%20shot.png", "log.html"]
        image = httpx.get(urls[0])
        assert image.status_code == 200 and image.content == png
        assert image.headers["content-type"] == "image/png"
        assert image.headers["content-disposition"].startswith("inline")
        # A client's HTML never runs as a page of ours: a download, sandboxed, not sniffed
        html = httpx.get(urls[1])
        assert html.status_code == 200 and html.content == page
        assert html.headers["content-type"] == "application/octet-stream"
        assert html.headers["content-disposition"].startswith("attachment")
        assert html.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in html.headers["content-security-policy"]
        # Another ticket's tracking link does not reach this ticket's files
        other_token = other.rsplit("/", 1)[1]
        own_token = link.rsplit("/", 1)[1]
        assert httpx.get(urls[0].replace(own_token, other_token)).status_code == 404
    # A file on an internal note is never served to the tracking link
    agent, _ = harness.agent("Ana")
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, number["Badge reader"], lock=True)
        note = conversation.note(harness.ctx, s, agent, t, text="INTERNAL: see the attached dump")
        dump = Attachment(
            message_id=note.id,
            filename="dump.txt",
            content_type="text/plain",
            size=6,
            sha256=blobs.put(s, b"secret"),
        )
        s.add(dump)
        s.flush()
        note_file = dump.id
    with serve(harness.ctx) as base:
        tracking = base + link[link.index("/t/") :]
        assert "dump.txt" not in render(tracking)
        assert httpx.get(f"{tracking}/files/{note_file}/dump.txt").status_code == 404


def test_an_address_guessing_tracking_links_is_slowed_down_and_the_api_is_not(
    harness: Harness,
) -> None:
    harness.ctx.public_requests_per_minute = 5  # before the app is built
    _, token = harness.agent("Ana")
    answers = [harness.client.get(f"/t/guess-{n}").status_code for n in range(5)]
    assert answers == [404] * 5
    refused = harness.client.get("/t/guess-6")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "request.rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 12  # one request's worth: 60 s / 5
    assert harness.client.get("/e/ack/guess").status_code == 429, "every public page counts"
    assert all(harness.api("GET", "/api/tickets", token).status_code == 200 for _ in range(10))
