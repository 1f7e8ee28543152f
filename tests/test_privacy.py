"""A client's personal data: exported whole, erased for good, the audit still verifying.

Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from channels import registry
from config.cli import main
from core import audit
from core.models import AuditChainHead, AuditEvent, Base, Contact, InboundRecord, utcnow
from core.values import AttachmentIn
from tests.email_support import mail, send_mail
from tests.harness import Harness
from tests.test_audit import _bypass_triggers

NAME = "Zebediah Quuxington"
ADDRESS = "+15550001234"  # the client's address on the fake channel: a phone number
SECOND = "zeb.quux@example.org"  # their email, linked by an agent
BODY = "The hydraulic pump on line 7 leaks red fluid near gate K9"
FILE = b"%PDF-1.4 warranty card of Zebediah, serial ZQ-77-AC"
SUBJECT = "Pump leaking on line 7"
NEEDLES = ("zebediah", "quuxington", ADDRESS, SECOND, "hydraulic pump on line 7", "zq-77-ac")


def _history(h: Harness) -> tuple[str, str, str]:
    """A client with two addresses, a ticket with a file, replies, a note that names
    them, a hold, a stored API answer, and another client's ticket mentioning them.
    Returns (lead token, agent token, ticket number)."""
    _, lead = h.agent("Lena", roles=("lead",))
    _, agent = h.agent("Ana")
    h.fake.receive(
        ADDRESS,
        BODY,
        subject=SUBJECT,
        sender_name=NAME,
        attachments=(
            AttachmentIn(filename="zebediah-card.pdf", content_type="application/pdf", data=FILE),
        ),
    )
    h.settle()
    number = h.only_ticket_number()
    for path, body in (
        ("acknowledge", {}),
        ("reply", {"text": f"Hello {NAME}, a technician is on the way."}),
        ("note", {"text": f"{NAME} called again, very upset."}),
        ("hold", {"reason": "other", "note": f"waiting for {NAME} to send photos"}),
    ):
        response = h.api("POST", f"/api/tickets/{number}/{path}", agent, json=body)
        assert response.status_code == 200, (path, response.text)
    linked = h.api(
        "POST", "/api/contacts/C-000001/link", agent, json={"contact": f"email:{SECOND}"}
    )
    assert linked.status_code == 200, linked.text
    h.fake.receive(ADDRESS, "Photos follow tomorrow.", subject=f"Re: {SUBJECT}")
    # Another client's ticket whose message mentions our client's address
    opened = h.client.post(
        "/api/tickets",
        json={
            "subject": "Forklift",
            "text": f"My colleague ({SECOND}) saw it too.",
            "requester": {"channel": "fake", "address": "other-client", "name": "Olga"},
        },
        headers={"Authorization": f"Bearer {agent}", "Idempotency-Key": "k-1"},
    )
    assert opened.status_code in (200, 201), opened.text
    # A stored API answer holding the client's name (the ticket view)
    shown = h.client.post(
        f"/api/tickets/{number}/priority",
        json={"priority": "P2", "reason": "line stopped"},
        headers={"Authorization": f"Bearer {agent}", "Idempotency-Key": "k-2"},
    )
    assert shown.status_code == 200, shown.text
    h.settle()
    return lead, agent, number


def _contact_tables() -> set[str]:
    """Every table that references a contact, directly or through rows that do,
    worked out here from the schema's foreign keys (not from the export's code)."""
    for channel in registry.CHANNELS:
        channel.tables()
    found = {"contacts"}
    grew = True
    while grew:
        grew = False
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                own_ticket_link = table.name == "tickets" and fk.parent.name in (
                    "merged_into_id",
                    "linked_from_id",
                )
                if (
                    fk.column.table.name in found
                    and table.name not in found
                    and not own_ticket_link
                ):
                    found.add(table.name)
                    grew = True
    return found


def _leftovers(h: Harness) -> list[str]:
    """Every value of every column of every table (search indexes included) that
    holds one of the client's strings."""
    found = []
    with h.ctx.db.reading() as s:
        conn = s.connection()
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    words = str(value).lower()
                    for needle in NEEDLES:
                        if needle.lower() in words or needle.lower().replace("+", "") in words:
                            found.append(f"{table}.{column}: {needle}")
    return found


def test_an_export_holds_every_table_that_references_the_contact(harness: Harness) -> None:
    lead, agent, number = _history(harness)
    # A plain agent may not export
    refused = harness.api("GET", "/api/contacts/C-000001/export", agent)
    assert refused.status_code == 403, refused.text
    response = harness.api("GET", "/api/contacts/C-000001/export", lead)
    assert response.status_code == 200, response.text
    doc = response.json()
    # Every table a contact can be reached from is there (a new one the export left
    # out would fail here), with the rows this client has in them
    assert set(doc["tables"]) == _contact_tables()
    tables = doc["tables"]
    assert [c["name"] for c in tables["contacts"] if c["name"]] == [NAME]
    assert {i["address"] for i in tables["identities"]} == {ADDRESS, SECOND}
    assert [t["subject"] for t in tables["tickets"]] == [SUBJECT]
    bodies = [m["body_text"] for m in tables["messages"]]
    assert BODY in bodies and "Photos follow tomorrow." in bodies
    assert any(NAME in b and "upset" in b for b in bodies)  # the internal note too
    assert [a["filename"] for a in tables["attachments"]] == ["zebediah-card.pdf"]
    assert all(r["recipient"] == ADDRESS for r in tables["outbox"]) and tables["outbox"]
    raw = [base64.b64decode(r["raw"]) for r in tables["inbound_records"]]
    assert any(BODY.encode() in r for r in raw)
    for name in ("participants", "sla_events", "ticket_facts", "contact_links"):
        assert tables[name], name
    # The file itself, and the audit events of their ticket
    assert [base64.b64decode(f["content_base64"]) for f in doc["files"]] == [FILE]
    assert {e["action"] for e in doc["audit_events"]} >= {"open", "reply", "note", "hold"}
    # The export is audited
    with harness.ctx.db.reading() as s:
        last = (
            s.execute(
                select(AuditEvent)
                .where(AuditEvent.chain == "system")
                .order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
    assert last is not None and last.action == "contact_exported" and "Lena" in last.actor


def test_an_erasure_leaves_no_personal_string_in_the_database_or_on_disk(
    harness: Harness, cli: CliRunner, tmp_path: Path
) -> None:
    lead, agent, number = _history(harness)
    assert _leftovers(harness)  # the scan finds them before
    assert ADDRESS in harness.settings.fake_outbox_path.read_text()
    # When a lead erases the client from the command line
    erase = ["contacts", "erase", "C-000001", "--reason", "GDPR request R-17"]
    unconfirmed = cli.invoke(main, [*erase, "--as", "lena@support.example"])
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.output
    assert _leftovers(harness)  # nothing was done without --yes
    done = cli.invoke(main, [*erase, "--as", "lena@support.example", "--yes", "--json"])
    assert done.exit_code == 0, done.output
    counts = json.loads(done.output)["counts"]
    assert counts["messages"] >= 4 and counts["files_deleted"] == 1 and counts["identities"] == 2
    # Then no column of any table holds their name, addresses, words or file
    assert _leftovers(harness) == []
    # ... nor the fake channel's file of what was sent to them
    assert ADDRESS not in harness.settings.fake_outbox_path.read_text()
    # ... and search no longer finds the ticket by what it said
    found = harness.api("GET", "/api/tickets", lead, params={"q": "hydraulic"}).json()
    assert found["tickets"] == []
    # The ticket is still there, its content erased
    ticket = harness.ticket(number)
    assert ticket["subject"] == "[erased]"
    # The audit still verifies, and names what the erasure emptied
    verified = cli.invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "erased on" in verified.output and "by agent:1:Lena" in verified.output
    # A new message from the same address is a stranger: a new contact, a new ticket
    harness.fake.receive(ADDRESS, "Hello, new here", subject="New question", sender_name="Zed")
    harness.settle()
    newest = harness.tickets()["tickets"][0]
    assert newest["client"]["contact"] != "C-000001" and newest["client"]["name"] == "Zed"
    with harness.ctx.db.reading() as s:
        old = s.get(Contact, 1)
        assert old is not None and old.erased_at is not None and old.identities == []
    # Erasing twice is refused, plainly
    again = _erase(harness, lead, reason="again, by mistake", status=409)
    assert "already erased" in again.text


def test_erasure_is_for_leads_and_needs_a_reason_that_does_not_name_the_client(
    harness: Harness,
) -> None:
    lead, agent, _ = _history(harness)
    _erase(harness, agent, status=403)
    unconfirmed = harness.api(
        "POST", "/api/contacts/C-000001/erase", lead, json={"reason": "GDPR request R-17"}
    )
    assert unconfirmed.status_code == 422 and "confirm" in unconfirmed.text
    naming = _erase(harness, lead, reason=f"asked by {NAME} on the phone", status=422)
    assert "must not name the client" in naming.text
    assert _leftovers(harness)  # refused: nothing erased


def _erase(h: Harness, token: str, reason: str = "GDPR request R-17", status: int = 200) -> Any:
    """Erase C-000001 (confirmed) as the agent whose token this is; the response, whose
    status must be ``status``."""
    response = h.api(
        "POST",
        "/api/contacts/C-000001/erase",
        token,
        json={"reason": reason, "confirm": True},
    )
    assert response.status_code == status, response.text
    return response


def test_an_erased_clients_mail_keeps_no_key_taken_from_what_they_wrote(
    harness: Harness, smtp_port: int
) -> None:
    # Given a client's mail, stored under its Message-ID and the digest of what they wrote
    _, lead = harness.agent("Lena", roles=("lead",))
    send_mail(
        smtp_port,
        mail(sender=SECOND, subject=SUBJECT, body=BODY, Date="Mon, 30 Nov 2026 12:00:00 +0000"),
    )
    harness.settle()
    keys = select(InboundRecord.external_id, InboundRecord.written_key)
    with harness.ctx.db.reading() as s:
        [(external_id, written_key)] = s.execute(keys).all()
    assert external_id.startswith("<") and str(written_key).startswith("written:")
    # When the client is erased, then neither key is left
    _erase(harness, lead)
    with harness.ctx.db.reading() as s:
        [(external_id, written_key)] = s.execute(keys).all()
    assert external_id.startswith("erased:") and written_key is None


def _erased_event(h: Harness) -> AuditEvent:
    with h.ctx.db.reading() as s:
        ev = (
            s.execute(
                select(AuditEvent).where(AuditEvent.erased_at.is_not(None)).order_by(AuditEvent.id)
            )
            .scalars()
            .first()
        )
    assert ev is not None
    return ev


def test_audit_verify_tells_an_erased_event_from_a_tampered_one(harness: Harness) -> None:
    lead, _, _ = _history(harness)
    _erase(harness, lead)
    ev = _erased_event(harness)
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert report.ok, report.problems
    assert any(f"{ev.chain}: event {ev.seq} ({ev.action}) erased on" in e for e in report.erased)
    # The database lets nothing but an erasure through: not a change to an erased event
    with harness.ctx.db.transaction() as s:
        try:
            s.execute(
                text("UPDATE audit_events SET data_digest = :d WHERE id = :i"),
                {"d": "0" * 64, "i": ev.id},
            )
        except Exception as exc:  # noqa: BLE001
            assert "append-only" in str(exc)
        else:
            raise AssertionError("the database let an erased event be changed")
    # Someone who switches the guard off and changes what an erased event keeps is found
    _bypass_triggers(
        harness, "UPDATE audit_events SET data_digest = :d WHERE id = :i", d="1" * 64, i=ev.id
    )
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert any(f"{ev.chain}: event {ev.seq}" in p and "edited" in p for p in report.problems), (
        report.problems
    )


def test_content_removed_without_an_erasure_record_is_found(harness: Harness) -> None:
    lead, _, number = _history(harness)
    ticket_id = int(number.split("-")[1])
    # An attacker empties an event and makes it look erased, without an erasure record
    with harness.ctx.db.reading() as s:
        ev = s.execute(
            select(AuditEvent).where(
                AuditEvent.chain == f"ticket:{ticket_id}", AuditEvent.action == "note"
            )
        ).scalar_one()
    digest = audit.data_digest(ev.salt or "", ev.data)
    _bypass_triggers(
        harness,
        "UPDATE audit_events SET data = '{}', salt = NULL, data_digest = :d, erased_at = :t, "
        "erased_by = 'agent:1:Lena' WHERE id = :i",
        d=digest,
        t=utcnow().replace(tzinfo=None) if not harness.ctx.db.is_postgres else utcnow(),
        i=ev.id,
    )
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
    assert any(
        f"ticket:{ticket_id}: event {ev.seq} (note)" in p and "no erasure" in p
        for p in report.problems
    ), report.problems


def test_events_written_before_digests_still_verify_and_can_be_erased(harness: Harness) -> None:
    # Given a ticket chain whose next event is written the old way (hash over the data)
    lead, _, number = _history(harness)
    ticket_id = int(number.split("-")[1])
    chain = f"ticket:{ticket_id}"
    with harness.ctx.db.transaction() as s:
        head = s.execute(select(AuditChainHead).where(AuditChainHead.chain == chain)).scalar_one()
        data = {"note": f"old-style event naming {NAME}"}
        now = utcnow()
        digest = audit.event_hash(
            chain, head.seq + 1, ticket_id, "system:old", "note", data, now, head.hash
        )
        s.add(
            AuditEvent(
                chain=chain,
                seq=head.seq + 1,
                ticket_id=ticket_id,
                actor="system:old",
                action="note",
                data=data,
                created_at=now,
                prev_hash=head.hash,
                hash=digest,
            )
        )
        head.seq, head.hash = head.seq + 1, digest
    with harness.ctx.db.reading() as s:
        assert audit.verify(s).ok
    # When the client is erased, the old event is emptied too, and the trail verifies
    _erase(harness, lead)
    assert _leftovers(harness) == []
    with harness.ctx.db.reading() as s:
        report = audit.verify(s)
        old = s.execute(select(AuditEvent).where(AuditEvent.actor == "system:old")).scalar_one()
    assert report.ok, report.problems
    assert old.data == {} and old.data_digest is None
    assert any(f"{chain}: event {old.seq} (note) erased on" in e for e in report.erased)


def test_the_command_line_exports_to_a_file_for_a_lead(
    harness: Harness, cli: CliRunner, tmp_path: Path
) -> None:
    _history(harness)
    out = tmp_path / "c1.json"
    refused = cli.invoke(
        main, ["contacts", "export", "C-000001", "--out", str(out), "--as", "ana@support.example"]
    )
    assert refused.exit_code != 0 and not out.exists()
    done = cli.invoke(
        main,
        [
            "contacts",
            "export",
            f"{'fake'}:{ADDRESS}",
            "--out",
            str(out),
            "--as",
            "lena@support.example",
        ],
    )
    assert done.exit_code == 0, done.output
    doc = json.loads(out.read_text())
    assert doc["contact"] == "C-000001" and doc["format"] == "switchboard-contact-export"
    assert {i["address"] for i in doc["tables"]["identities"]} == {ADDRESS, SECOND}
