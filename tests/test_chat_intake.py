"""Chats: messages without thread ids continue the chat's open ticket; files a payload
only names are fetched before the message is decided, outside any transaction.

Driven through the fake channel as a chat platform's adapter would: each message
carries its chat, and a payload may name files instead of carrying them.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest

from core.channel import Fetched
from core.intake.fetch import attached
from core.intake.records import inbound_from_json
from core.models import Ticket
from core.values import Inbound
from tests.harness import Harness, at_once


def thread_texts(harness: Harness, number: int) -> list[str]:
    return [m["text"] for m in harness.ticket(number)["thread"]]


def test_a_chat_continues_its_open_ticket_until_the_client_asks_for_a_new_one(
    harness: Harness,
) -> None:
    harness.fake.receive("tg-1", "The gate will not open.", chat="tg-1")
    harness.settle()
    harness.fake.receive("tg-1", "It beeps twice.", chat="tg-1")
    harness.fake.receive("tg-2", "Another chat, another client.", chat="tg-2")
    harness.settle()
    assert harness.tickets()["total"] == 2
    assert thread_texts(harness, 1) == ["The gate will not open.", "It beeps twice."]
    harness.fake.receive("tg-1", "Also the badge printer.", chat="tg-1", new_ticket=True)
    harness.settle()
    harness.fake.receive("tg-1", "It is out of ribbon.", chat="tg-1")
    harness.settle()
    assert thread_texts(harness, 3) == ["Also the badge printer.", "It is out of ribbon."]
    assert len(thread_texts(harness, 1)) == 2, "the newest ticket is the chat's open one"


def test_a_chat_whose_ticket_was_closed_starts_a_new_one_and_a_resolved_one_reopens(
    harness: Harness,
) -> None:
    agent, _ = harness.agent("Ana")
    harness.fake.receive("tg-1", "The gate will not open.", chat="tg-1")
    harness.settle()
    harness.resolve(1, agent, "New fuse.")
    harness.fake.receive("tg-1", "It stopped again.", chat="tg-1")
    harness.settle()
    assert harness.tickets()["total"] == 1
    assert harness.ticket(1)["status"] != "resolved"
    harness.resolve(1, agent, "New motor.", acknowledge=False, close=True)
    harness.fake.receive("tg-1", "Now the printer.", chat="tg-1")
    harness.settle()
    assert harness.tickets()["total"] == 2
    assert thread_texts(harness, 2) == ["Now the printer."]


def test_a_burst_from_a_new_chat_is_one_ticket(harness: Harness) -> None:
    """A client typing five lines in a row, decided in batches at once: one ticket."""
    at_once(*(partial(harness.fake.receive, "tg-9", f"line {n}", chat="tg-9") for n in range(8)))
    harness.settle()
    assert harness.tickets()["total"] == 1
    assert sorted(thread_texts(harness, 1)) == [f"line {n}" for n in range(8)]


# Files a payload only names ---------------------------------------------------------------


def remote_files(harness: Harness, fetcher: Any) -> None:
    """The fake channel's payloads name files by id in ``extras["files"]``, as a chat
    platform's webhook does; its parser takes them from what was fetched."""

    def parser(raw: bytes, meta: dict[str, Any]) -> Inbound:
        inbound = inbound_from_json(raw, meta)
        files, missing = [], []
        for ref in inbound.extras.get("files", []):
            got = attached(meta, ref)
            if isinstance(got, str):
                missing.append(f"[file {ref} {got}]")
            else:
                files.append(got)
        text = "\n".join([inbound.text, *missing])
        return Inbound(**{**inbound.__dict__, "attachments": tuple(files), "text": text})

    harness.ctx.parsers["fake"] = parser
    harness.ctx.fetchers["fake"] = fetcher


def receive_naming(harness: Harness, *refs: str) -> None:
    from channels.fake import NAME
    from core import intake
    from core.intake.records import inbound_to_json

    inbound = Inbound(
        channel=NAME,
        external_id=f"remote-{'-'.join(refs)}",
        sender="tg-5",
        text="Photo of the error.",
        chat="tg-5",
        extras={"files": list(refs)},
    )
    intake.receive(
        harness.ctx,
        channel=NAME,
        external_id=inbound.external_id,
        raw=inbound_to_json(inbound),
        transport="fake",
    )


def test_named_files_are_fetched_outside_any_transaction_and_attached(harness: Harness) -> None:
    calls: list[str] = []

    def fetcher(raw: bytes, meta: dict[str, Any], limit: int) -> list[Fetched]:
        calls.append("fetch")
        # No lock is held while we download: another writer gets through at once.
        done = threading.Event()

        def write() -> None:
            with harness.ctx.db.transaction() as s:
                s.execute(Ticket.__table__.select().limit(1))
            done.set()

        threading.Thread(target=write).start()
        assert done.wait(5), "a write transaction waited for the download"
        return [
            Fetched("photo-1", "error.jpg", "image/jpeg", b"\xff\xd8jpeg-bytes"),
            Fetched(
                "big-2",
                "video.mp4",
                "video/mp4",
                problem="larger than Telegram hands to bots (20 MB)",
            ),
        ]

    remote_files(harness, fetcher)
    receive_naming(harness, "photo-1", "big-2")
    harness.settle()
    thread = harness.ticket(1)["thread"]
    assert [(a["filename"], a["size"]) for a in thread[0]["attachments"]] == [("error.jpg", 12)]
    assert "[file big-2 larger than Telegram hands to bots (20 MB)]" in thread[0]["text"]
    assert calls == ["fetch"], "fetched once"


def test_files_that_cannot_be_fetched_still_leave_the_message_recorded(harness: Harness) -> None:
    def fetcher(raw: bytes, meta: dict[str, Any], limit: int) -> list[Fetched]:
        raise ConnectionError("api.telegram.org unreachable")

    assert "could not be fetched: api.telegram.org unreachable" in _text_without_files(
        harness, fetcher
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_fetched_file_over_the_limit_is_not_kept(harness: Harness) -> None:
    harness.ctx.max_attachment_bytes = 10

    def fetcher(raw: bytes, meta: dict[str, Any], limit: int) -> list[Fetched]:
        assert limit == 10
        return [Fetched("photo-1", "error.jpg", "image/jpeg", b"x" * 11)]

    assert "larger than 10 bytes: not kept" in _text_without_files(harness, fetcher)


def _text_without_files(harness: Harness, fetcher: Any) -> str:
    """Receive a message naming photo-1 that ``fetcher`` fetches; the first thread line's
    text, once it is checked to have kept no file."""
    remote_files(harness, fetcher)
    receive_naming(harness, "photo-1")
    harness.settle()
    thread = harness.ticket(1)["thread"]
    assert thread[0]["attachments"] == []
    return str(thread[0]["text"])
