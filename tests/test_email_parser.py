"""The email parser on real-world-shaped mail, and on anything at all (fuzzed)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email.parse import external_id_of, keys_of, parse
from core.errors import IntakeError
from tests.email_support import FIXTURES, fixtures, reply_agreement

CASES = sorted(fixtures().items())


@pytest.mark.parametrize(("name", "expect"), CASES, ids=[c[0] for c in CASES])
def test_every_fixture_is_read_with_its_loop_signals_and_attachments(
    name: str, expect: dict[str, object]
) -> None:
    inbound = parse((FIXTURES / f"{name}.eml").read_bytes(), {})
    assert "@" in inbound.sender
    assert bool(inbound.automatic) == bool(expect.get("automatic")), inbound.automatic
    if "no_auto_reply" in expect:
        assert bool(inbound.no_auto_reply) == expect["no_auto_reply"], inbound.no_auto_reply
    assert inbound.bounce_for == expect.get("bounce_for")
    if "subject" in expect:
        assert inbound.subject == expect["subject"]
    if "sender_name" in expect:
        assert inbound.sender_name == expect["sender_name"]
    if "attachments" in expect:
        assert [a.filename for a in inbound.attachments] == expect["attachments"]
        assert [a.filename for a in inbound.attachments if a.inline] == expect["inline"]
    if "visible" in expect and not expect.get("automatic"):
        assert "wrote:" not in inbound.text or name == "inline_answers"


def test_replies_point_at_our_message_and_carry_the_reply_token() -> None:
    inbound = parse((FIXTURES / "gmail_de.eml").read_bytes(), {})
    assert inbound.references[0].startswith("<sb.")
    assert inbound.reply_token == "1-0123456789abcdef"
    assert inbound.sender_name == "Jürgen Maier"


def test_agents_see_the_expected_new_words_on_95_percent_of_the_reply_corpus() -> None:
    # Developed on, and held out (never used to write the splitter), each on its own
    agree, total, misses = reply_agreement(held_out=False)
    assert total >= 300
    assert agree / total >= 0.95, f"disagreements: {misses}"
    agree, total, misses = reply_agreement(held_out=True)
    assert total >= 90
    assert agree / total >= 0.95, f"disagreements: {misses}"


def test_html_only_mail_becomes_readable_text() -> None:
    inbound = parse((FIXTURES / "html_only_new.eml").read_bytes(), {})
    assert inbound.text.startswith("Our badge reader at gate 3")
    assert inbound.html and "<b>badge reader</b>" in inbound.html


def test_a_message_without_a_message_id_gets_a_stable_digest_id() -> None:
    raw = (FIXTURES / "no_message_id_bare_lf.eml").read_bytes()
    assert external_id_of(raw) == external_id_of(raw)
    assert external_id_of(raw).startswith(("sha256:", "written:"))
    assert parse(raw, {}).external_id == external_id_of(raw)


def test_without_a_message_id_the_same_mail_by_two_routes_is_one_and_a_new_send_is_not() -> None:
    written = (
        b"From: Dana <dana@client.example>\r\nTo: support@localhost\r\n"
        b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nSubject: Press 3 down\r\n\r\nError E42.\r\n"
    )
    by_one = (
        b"Received: from mx1.client.example by relay-a; Mon, 30 Nov 2026 10:00:01\r\n" + written
    )
    by_other = (
        b"Received: from mx2.client.example by relay-b; Mon, 30 Nov 2026 10:00:03\r\n"
        b"DKIM-Signature: v=1; a=rsa-sha256; d=client.example; b=abc\r\n"
        + written.replace(b"\r\n", b"\n")
    )
    assert external_id_of(by_one) == external_id_of(by_other)
    sent_again = written.replace(b"10:00:00", b"10:05:00")
    assert external_id_of(sent_again) != external_id_of(written)
    # with no Date either, only the same bytes are the same mail
    undated = b"From: dana@client.example\r\nSubject: hi\r\n\r\nHello\r\n"
    assert external_id_of(undated).startswith("sha256:")


def test_the_null_return_path_marks_mail_automatic() -> None:
    raw = b"From: someone@client.example\r\nSubject: hi\r\n\r\nbody\r\n"
    assert parse(raw, {"mail_from": ""}).automatic == "null return path"
    assert parse(raw, {"mail_from": "someone@client.example"}).automatic == ""


HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Subject",
        "Message-ID",
        "References",
        "In-Reply-To",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Auto-Submitted",
        "Date",
        "X-Junk",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "multipart/mixed; boundary=b",
            "multipart/report; report-type=delivery-status; boundary=b",
            "text/html; charset=x-nope",
            "base64",
            "quoted-printable",
            "=?utf-8?b?w6k=?=",
            "=?bogus?q?x?=",
            "<a@b>",
            "dana@client.example",
            "message/rfc822",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8),
    body=st.one_of(
        st.binary(max_size=400),
        st.sampled_from(
            [
                b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--",
                b"--b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x\r\n\r\n",
                b"<html><b>x",
            ]
        ),
    ),
)
def test_any_input_is_read_or_refused_with_a_clear_reason_never_a_crash(
    headers: list[tuple[str, str]], body: bytes
) -> None:
    raw = (
        b"".join(f"{k}: {v}".encode("utf-8", "surrogatepass") + b"\r\n" for k, v in headers)
        + b"\r\n"
        + body
    )
    try:
        inbound = parse(raw, {})
    except IntakeError as exc:
        assert str(exc)
        return
    assert isinstance(inbound.text, str) and inbound.external_id


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_the_parser(raw: bytes) -> None:
    try:
        parse(raw, {})
    except IntakeError:
        pass


def test_our_own_outbound_mail_coming_back_is_automatic() -> None:
    raw = b"From: Support <support@localhost>\r\nTo: support@localhost\r\nSubject: [#T-000001] x\r\nMessage-ID: <sb.0123456789abcdef0123.1-0123456789abcdef@localhost>\r\n\r\nHello\r\n"
    assert parse(raw, {}).automatic == "our own outbound message came back"


CORPUS = sorted((FIXTURES.parent).rglob("*.eml"))
RELAY_HEADERS = (b"received", b"dkim-signature", b"message-id")


def _split(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """A mail's head, the line break it uses, and its body (from the blank line on)."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    cut = min(x for x in (crlf, lf, len(raw)) if x >= 0)
    return raw[:cut], (b"\r\n" if cut == crlf else b"\n"), raw[cut:]


def _without(raw: bytes, names: tuple[bytes, ...]) -> bytes:
    """``raw`` without the header fields ``names`` (and their folded lines)."""
    head, eol, body = _split(raw)
    kept: list[bytes] = []
    dropping = False
    for line in head.split(eol):
        if line[:1] in (b" ", b"\t") and kept:
            if not dropping:
                kept.append(line)
            continue
        dropping = line.partition(b":")[0].strip().lower() in names
        if not dropping:
            kept.append(line)
    return eol.join(kept) + body


def _relayed(raw: bytes) -> bytes:
    """``raw`` as a relay hands it on: a Received line, a DKIM signature and a
    Message-ID of the relay's added to its head."""
    _, eol, _ = _split(raw)
    return eol.join(
        [
            b"Received: from mx9.relay.example (mx9.relay.example [192.0.2.9])",
            b"\tby mx.example with ESMTPS id Q9; Mon, 30 Nov 2026 10:00:09 +0000",
            b"DKIM-Signature: v=1; a=rsa-sha256; d=relay.example; s=s1;",
            b"\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
            b"Message-Id: <20261130100009.Q9@mx9.relay.example>",
            raw,
        ]
    )


def _dated(raw: bytes) -> bool:
    head, _, _ = _split(raw)
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    return any(line.partition(b":")[0].strip().lower() == b"date" for line in unfolded.splitlines())


def test_a_dated_mails_written_key_changes_with_what_the_sender_wrote_and_nothing_else() -> None:
    # Given every mail of the fixture corpus
    assert len(CORPUS) > 700
    dated = 0
    for path in CORPUS:
        raw = path.read_bytes()
        where = str(path.relative_to(FIXTURES.parent))
        external_id, key = keys_of(raw)
        assert external_id == external_id_of(raw), where
        # Then every mail with a Date has a written key, and one without a Date none
        if not _dated(raw):
            assert key is None, where
            continue
        dated += 1
        assert key is not None and key.startswith("written:"), where
        # that relays adding or removing transport headers and Message-IDs leave alone
        assert keys_of(_relayed(raw))[1] == key, where
        assert keys_of(_without(raw, RELAY_HEADERS))[1] == key, where
        assert keys_of(_relayed(_without(raw, RELAY_HEADERS)))[1] == key, where
        # and that another body or another subject changes
        assert keys_of(raw.rstrip(b"\r\n") + b"\r\nP.S. It happened again.\r\n")[1] != key, where
        other_subject = _without(raw, (b"subject",)).replace(
            b"\n", b"\nSubject: Press 3 down, again\n", 1
        )
        assert keys_of(other_subject)[1] != key, where
        # and a copy without a Message-ID is stored under it
        assert keys_of(_without(raw, (b"message-id",))) == (key, key), where
    assert dated > 600, dated
