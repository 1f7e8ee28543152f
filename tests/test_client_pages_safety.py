"""What a client's pages must never do: run a script someone wrote into a ticket, or
show an internal note."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from core import blobs
from core.errors import ActionRefused
from core.models import Agent, Attachment, Ticket
from core.principals import Principal, system
from core.tickets import conversation, lookup, opening, workflow
from core.values import AttachmentIn
from tests.browser import serve
from tests.cdp import Browser
from tests.harness import Harness, whole_system_examples

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
SVG = '"><svg onload=window.__pwned=1>'
FILE = "<img src=x onerror=window.__pwned=1>.png"


def path_of(link: str) -> str:
    return "/t/" + link.split("/t/", 1)[1]


def no_foreign_markup(b: Browser) -> None:
    """Nothing anyone wrote became an element: one script (ours), no image, svg or frame."""
    assert b.ran_foreign() == [], b.ran_foreign()
    assert b.js("[...document.scripts].every(s => s.src.endsWith('/static/zone.js'))")
    assert b.js("document.querySelectorAll('img, svg, iframe, object, embed').length") == 0


def test_script_in_a_subject_body_name_file_name_or_hold_note_shows_as_text_and_never_runs(
    harness: Harness, tmp_path: Path
) -> None:
    harness.fake.receive(
        "client-1",
        f"It broke {IMG}",
        subject=f"{SCRIPT}Broken",
        sender_name=SVG,
        attachments=(AttachmentIn(FILE, "image/png", b"\x89PNG\r\n"),),
    )
    harness.settle()
    number = harness.only_ticket_number()
    agent, _ = harness.agent("<b onmouseover=window.__pwned=1>Dana")
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, number, lock=True)
        workflow.assign(harness.ctx, s, agent, t, assignee=s.get_one(Agent, agent.agent_id))
        conversation.reply(harness.ctx, s, agent, t, text="<script>alert(1)</script>")
        workflow.hold(harness.ctx, s, agent, t, reason="other", hold_note=IMG)
    link = path_of(harness.ticket(number)["tracking_link"])
    with serve(harness.ctx) as base, Browser(tmp_path / "shots") as b:
        b.open(f"{base}{link}?tz=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        no_foreign_markup(b)
        assert b.text("#subject") == f"{SCRIPT}Broken"
        assert b.text("#status") == f"On hold: {IMG}"
        assert IMG in b.text(".thread") and "<script>alert(1)</script>" in b.text(".thread")
        assert FILE in b.text(".thread")
        assert b.text("#zone-name") == "UTC", "an unknown zone is UTC, not echoed"
        b.screenshot(tmp_path / "tracking.png")
        # The portal: the same payloads in every field and a file name
        b.open(base + "/portal")
        for name, value in {
            "name": SVG,
            "email": "lia@example.com",
            "subject": SCRIPT,
            "description": IMG,
            "asset": SVG,
        }.items():
            b.fill(f"#{name}", value)
        upload = tmp_path / "upload"
        upload.mkdir()
        (upload / FILE).write_bytes(b"\x89PNG\r\n")
        b.choose_files("#attachments", [upload / FILE])
        b.click("#send")
        no_foreign_markup(b)
        assert b.text("#subject") == SCRIPT
        b.open(base + path_of(b.js("document.getElementById('tracking').href")))
        no_foreign_markup(b)
        assert b.text("#subject") == SCRIPT and IMG in b.text(".thread")
        assert FILE in b.text(".thread")


OPS = st.lists(
    st.sampled_from(
        ["note", "note_file", "reply", "client", "hold", "resume", "resolve", "reopen"]
    ),
    min_size=1,
    max_size=8,
)
TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)


@whole_system_examples(25)
@given(ops=OPS, texts=st.lists(TEXT, min_size=8, max_size=8))
def test_no_page_ever_shows_an_internal_note(
    harness: Harness, ops: list[str], texts: list[str]
) -> None:
    # Given a ticket worked through any sequence of actions, with notes among them
    harness.ctx.public_requests_per_minute = 0  # many pages from one test client
    agent, _ = harness_agent(harness)
    marker = f"NOTE{uuid.uuid4().hex}"
    with harness.ctx.db.transaction() as s:
        t = opening.open_ticket(
            harness.ctx,
            s,
            system(),
            subject="Generated",
            text=texts[0] or "hello",
            requester=("fake", f"client-{uuid.uuid4().hex[:8]}", "Lia"),
        )
        workflow.acknowledge(harness.ctx, s, agent, t)
        for op, text in zip(ops, texts, strict=False):
            try:
                with s.begin_nested():
                    _apply(harness, s, agent, t, op, f"{marker} {text}", text or "x")
            except ActionRefused:
                pass  # not from this state: the sequence goes on
        number = t.number
    ticket = harness.ticket(number)
    assert any(m["kind"] == "internal" for m in ticket["thread"]) == any(
        op.startswith("note") for op in ops
    )
    # Then neither the tracking page nor anything sent to the client shows a note
    page = harness.client.get(path_of(ticket["tracking_link"]))
    assert page.status_code == 200
    assert marker not in page.text and f"{marker}.txt" not in page.text
    for file_link in re.findall(r'href="(/t/[^"]+/files/[^"]+)"', page.text):
        assert marker not in harness.client.get(file_link).text


def harness_agent(harness: Harness) -> tuple[Principal, str]:
    """One lead for all the examples run on this harness."""
    cached: tuple[Principal, str] | None = getattr(harness, "_safety_agent", None)
    if cached is None:
        cached = harness.agent("Dana Whitfield", roles=("agent", "lead"))
        setattr(harness, "_safety_agent", cached)  # noqa: B010
    return cached


def _apply(
    harness: Harness, s: Session, agent: Principal, t: Ticket, op: str, note: str, text: str
) -> None:
    ctx = harness.ctx
    if op == "note":
        conversation.note(ctx, s, agent, t, text=note)
    elif op == "note_file":
        message = conversation.note(ctx, s, agent, t, text=note)
        s.add(
            Attachment(
                message_id=message.id,
                filename=f"{note.split()[0]}.txt",
                content_type="text/plain",
                size=len(note),
                sha256=blobs.put(s, note.encode()),
            )
        )
    elif op == "reply":
        conversation.reply(ctx, s, agent, t, text=text)
    elif op == "client":
        assert t.reply_identity is not None
        conversation.client_message(ctx, s, t, t.reply_identity, text=text)
    elif op == "hold":
        workflow.hold(ctx, s, agent, t, reason="waiting_on_client")
    elif op == "resume":
        workflow.resume(ctx, s, agent, t)
    elif op == "resolve":
        workflow.resolve(ctx, s, agent, t, code="fixed", steps=text)
    else:
        workflow.reopen(ctx, s, agent, t)
