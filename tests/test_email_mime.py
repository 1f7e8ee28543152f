"""Hard MIME: every part a person wrote reaches the ticket, files stay files, headers read right."""

from __future__ import annotations

import binascii
import json
from pathlib import Path

import pytest

from channels.email.body import unflow
from channels.email.decode import decode_words
from channels.email.parse import parse
from core.values import Inbound

MIME = Path(__file__).parent / "fixtures" / "mime"
EXPECTED: dict[str, dict[str, object]] = json.loads(
    (MIME / "expected.json").read_text(encoding="utf-8")
)


def read(name: str) -> Inbound:
    return parse((MIME / f"{name}.eml").read_bytes(), {})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_mime_fixture_gives_its_subject_sender_words_and_files(name: str) -> None:
    expect = EXPECTED[name]
    inbound = read(name)
    assert inbound.subject == expect["subject"]
    assert inbound.sender == expect["sender"]
    if "sender_name" in expect:
        assert inbound.sender_name == expect["sender_name"]
    for words in expect["contains"]:  # type: ignore[attr-defined]
        assert words in inbound.text
    for words in expect.get("absent", []):  # type: ignore[attr-defined]
        assert words not in inbound.text
    assert [a.filename for a in inbound.attachments] == expect["attachments"]
    assert "=?" not in inbound.subject


def test_a_second_text_part_after_an_inline_image_reaches_the_ticket() -> None:
    # Given Apple Mail's shape: text, the photo, more text
    inbound = read("apple_text_image_text")
    # Then both texts are there, in order, and the photo is an inline file
    assert inbound.text.index("Typenschild") < inbound.text.index("SN-4471-B")
    assert [(a.filename, a.inline) for a in inbound.attachments] == [("IMG_0042.png", True)]


def test_text_written_after_an_attachment_is_not_dropped() -> None:
    inbound = read("alternative_then_pdf_then_text")
    assert "charges us twice" in inbound.text
    assert "PO number is 7781" in inbound.text
    assert inbound.text.count("charges us twice") == 1  # the HTML rendering is not added again
    assert inbound.html and "charges us twice" in inbound.html


def test_uuencoded_files_become_attachments_with_their_bytes() -> None:
    inbound = read("uuencoded_attachment")
    files = {a.filename: a for a in inbound.attachments}
    assert files["controller.log"].data == b"Error log 2024-06-03\nE42 at 08:10\nE42 at 08:12\n" * 3
    assert files["settings.ini"].data == b"mode=auto\nretries=3\n"
    assert "begin 644" not in inbound.text and "`" not in inbound.text
    assert inbound.text.startswith("Here are the logs you asked for.")


def test_a_part_sent_with_x_uuencode_transfer_encoding_is_decoded() -> None:
    inbound = read("uuencode_cte_part")
    assert inbound.attachments[0].data == b"Delivery note 5512: 3 pallets\n"


def test_flowed_text_is_unwrapped_and_its_signature_still_recognised() -> None:
    inbound = read("flowed_thunderbird")
    assert "It started after the update on Monday." in inbound.text
    assert "Tom Berg" not in inbound.text  # after the "-- " line


def test_delsp_removes_the_space_the_sender_added_to_break_a_line() -> None:
    # CJK text has no spaces to break at: with DelSp=yes the sender inserts one
    assert unflow("再起動で \n直りました。", delsp=True) == "再起動で直りました。"
    assert unflow("even the  \nnew ones", delsp=True) == "even the new ones"
    assert unflow("even the \nnew ones", delsp=False) == "even the new ones"


def test_flowed_quotes_join_only_at_the_same_depth_and_keep_their_marks() -> None:
    text = "> first half \n> second half\n>> deeper\nmine \nstill mine\n-- \nsig"
    assert unflow(text) == "> first half second half\n>> deeper\nmine still mine\n-- \nsig"


def test_a_boundary_folded_across_header_lines_still_splits_the_body() -> None:
    inbound = read("folded_boundary")
    assert inbound.text == "The screen on till 2 stays black after the restart."
    assert inbound.attachments == ()


def test_a_multipart_without_a_boundary_parameter_is_split_on_the_one_its_body_uses() -> None:
    inbound = read("boundary_missing")
    assert inbound.text == "The door sensor in room 12 reports open all the time."
    assert inbound.attachments[0].data.startswith(b"time,state")


def test_a_multipart_whose_body_has_no_boundary_at_all_is_read_as_text() -> None:
    raw = (
        b"From: a@client.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\nThe fridge is warm.\r\n'
    )
    assert parse(raw, {}).text == "The fridge is warm."


@pytest.mark.parametrize(
    ("encoded", "text"),
    [
        ("=?iso-8859-1?Q?caf=C3=A9?=", "café"),  # UTF-8 bytes labelled Latin-1
        ("=?us-ascii?Q?caf=C3=A9?=", "café"),  # UTF-8 bytes labelled US-ASCII
        ("=?utf-8?Q?caf=E9?=", "café"),  # Latin-1 bytes labelled UTF-8
        ("=?x-unknown?Q?caf=C3=A9?=", "café"),  # a charset nobody knows
        ("=?utf-8?Q?two words?=", "two words"),  # spaces inside the word
        ("Re:=?utf-8?Q?caf=C3=A9?=", "Re: café"),  # glued to plain text
        ("=?iso-8859-1?Q?Stra=DFe?=", "Straße"),  # a right label stays right
        ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
    ],
)
def test_encoded_words_in_a_wrong_charset_never_show_raw(encoded: str, text: str) -> None:
    assert decode_words(encoded) == text


def test_uudecode_survives_encoders_that_pad_lines() -> None:
    line = binascii.b2a_uu(b"abc").decode().rstrip("\n") + "  junk"
    raw = (
        "From: a@client.example\nSubject: x\n\nsee file\n\nbegin 600 a.bin\n" + line + "\n`\nend\n"
    ).encode()
    inbound = parse(raw, {})
    assert inbound.attachments[0].data == b"abc"
    assert inbound.text == "see file"
