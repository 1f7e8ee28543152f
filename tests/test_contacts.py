"""One client across channels: linking contacts, proving an address, where replies go.

The client is driven as a person would be: by email through the SMTP server, on
the fake channel, and in the browser-facing pages (the tracking page's form, the
link sent with a code); agents use the JSON API.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from core.models import InboundRecord
from tests.email_support import mail, outgoing, send_mail
from tests.harness import Harness
from tests.sla_support import FakeNow

CODE_RE = re.compile(r"code back from here: (\d{3} \d{3})")
LINK_RE = re.compile(r"(https?://\S+/c/link/\S+)")


def mail_text(message: Message) -> str:
    part = message.get_payload()[0] if message.is_multipart() else message  # type: ignore[index]
    return part.get_payload(decode=True).decode()  # type: ignore[union-attr]


def fake_to(harness: Harness, address: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        s
        for s in harness.sent()
        if s["recipient"] == address and (kind is None or s["kind"] == kind)
    ]


def ask_for_code(harness: Harness, number: str, channel: str, address: str) -> Any:
    """The client fills in the form on the tracking page of ``number``."""
    path = urlsplit(harness.ticket(number)["tracking_link"]).path
    return harness.client.post(
        path + "/link",
        content=f"channel={channel}&address={address}",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def code_in(text: str) -> str:
    match = CODE_RE.search(text)
    assert match, text
    return match.group(1)


def contact(harness: Harness, token: str, ref: str) -> dict[str, Any]:
    response = harness.api("GET", f"/api/contacts/{ref}", token)
    assert response.status_code == 200, response.text
    return response.json()


def identities(data: dict[str, Any]) -> set[str]:
    return {f"{i['channel']}:{i['address']}" for i in data["identities"]}


# The client proves their other address --------------------------------------------------


def test_a_client_who_emailed_then_wrote_on_the_fake_channel_gets_the_reply_on_the_fake_channel(
    harness: Harness, smtp_port: int
) -> None:
    agent, token = harness.agent("Ana")
    # Given Dana opened a ticket by email
    send_mail(smtp_port, mail(sender="dana@client.example", subject="Label printer offline"))
    harness.settle()
    assert harness.only_ticket_number() == "T-000001"
    # When she names her chat address on the ticket's page, and sends back the code it got
    response = ask_for_code(harness, "T-000001", "fake", "dana-chat")
    assert response.status_code == 303, response.text
    assert "note=code_sent" in response.headers["location"]
    harness.settle()
    [code_message] = fake_to(harness, "dana-chat", "link_code")
    assert "email dana@client.example" in code_message["text"]
    harness.fake.receive("dana-chat", code_in(code_message["text"]))
    harness.settle()
    # Then she is one client: the chat address is on her contact, no ticket was opened
    dana = contact(harness, token, "email:dana@client.example")
    assert identities(dana) == {"email:dana@client.example", "fake:dana-chat"}
    assert harness.tickets()["total"] == 1, "the code was not a new ticket"
    # And when she writes about the ticket from the chat, it joins it
    harness.fake.receive("dana-chat", "Still offline after a restart.", subject="[#T-000001]")
    harness.settle()
    assert harness.tickets()["total"] == 1
    shown = harness.api("GET", "/api/tickets/T-000001", token).json()
    assert shown["reply_via"]["channel"] == "fake"
    assert shown["reply_via"]["why"] == "the client last wrote by fake"
    # So the agent's reply reaches her on the fake channel, not by email
    mailed = len(outgoing(harness))
    harness.api("POST", "/api/tickets/T-000001/reply", token, json={"text": "Try port 2, please."})
    harness.settle()
    assert [s["text"] for s in fake_to(harness, "dana-chat", "reply")][0].count("port 2") == 1
    assert len(outgoing(harness)) == mailed, "nothing went by email"
    # And once she answers by email again, the next reply goes by email
    send_mail(
        smtp_port,
        mail(sender="dana@client.example", subject="Re: [#T-000001] Label printer offline"),
    )
    harness.settle()
    assert harness.api("GET", "/api/tickets/T-000001", token).json()["reply_via"]["channel"] == (
        "email"
    )
    harness.api("POST", "/api/tickets/T-000001/reply", token, json={"text": "Then port 3."})
    harness.settle()
    assert any("port 3" in mail_text(m) for m in outgoing(harness))
    assert not [s for s in harness.sent() if "port 3" in s["text"]]


def test_the_link_mailed_with_the_code_links_only_when_its_page_is_confirmed(
    harness: Harness, smtp_port: int
) -> None:
    _, token = harness.agent("Ana")
    harness.fake.receive("kim-chat", "Door sensor loose.", subject="Door sensor")
    harness.settle()
    assert ask_for_code(harness, "T-000001", "email", "Kim@Client.example").status_code == 303
    harness.settle()
    [message] = [m for m in outgoing(harness) if "code" in str(m["Subject"]).lower()]
    assert message["To"] == "kim@client.example"
    assert message["Auto-Submitted"] == "auto-replied", "a link code is an automatic message"
    link = LINK_RE.search(mail_text(message))
    assert link
    path = urlsplit(link.group(1)).path
    # Opening the link (as a mail scanner would) changes nothing
    page = harness.client.get(path)
    assert page.status_code == 200 and "Yes, link them" in page.text
    assert identities(contact(harness, token, "fake:kim-chat")) == {"fake:kim-chat"}
    # Pressing its button links the addresses
    done = harness.client.post(path)
    assert done.status_code == 200 and "are now one client" in done.text
    kim = contact(harness, token, "fake:kim-chat")
    assert identities(kim) == {"fake:kim-chat", "email:kim@client.example"}
    assert [h["evidence"] for h in kim["history"]] == ["client_link"]
    # Used once: the same link again links nothing more and says so
    again = harness.client.post(path)
    assert again.status_code == 404 and "not valid" in again.text
    harness.settle()
    # Both addresses are told (so a link nobody asked for does not go unnoticed)
    assert fake_to(harness, "kim-chat", "link_done")
    assert any("now linked" in str(m["Subject"]) for m in outgoing(harness))


def test_a_forged_or_expired_code_or_link_links_nothing(harness: Harness, now: FakeNow) -> None:
    _, token = harness.agent("Ana")
    harness.fake.receive("lia-1", "Badge reader beeps.", subject="Badge reader")
    harness.settle()
    ask_for_code(harness, "T-000001", "fake", "lia-2")
    harness.settle()
    [message] = fake_to(harness, "lia-2", "link_code")
    link = LINK_RE.search(message["text"])
    assert link
    path = urlsplit(link.group(1)).path
    # A forged link (a changed token) is refused
    forged = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    assert harness.client.get(forged).status_code == 404
    assert harness.client.post(forged).status_code == 404
    # A made-up code sent back is a wrong answer: counted, told, nothing linked
    real = code_in(message["text"]).replace(" ", "")
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    harness.fake.receive("lia-2", wrong)
    harness.settle()
    [told] = fake_to(harness, "lia-2", "link_wrong")
    assert "4 more times" in told["text"]
    # After the code's time is up, neither the right code nor the link works
    now.advance(minutes=16)
    assert harness.client.get(path).status_code == 404
    harness.fake.receive("lia-2", real)
    harness.settle()
    assert "expired" in fake_to(harness, "lia-2", "link_wrong")[-1]["text"]
    assert identities(contact(harness, token, "fake:lia-1")) == {"fake:lia-1"}
    assert harness.api("GET", "/api/contacts/fake:lia-2", token).status_code == 404
    assert harness.tickets()["total"] == 1, "a code sent back never opens a ticket"


def test_five_wrong_codes_burn_it_so_guessing_from_a_forged_sender_cannot_work(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    harness.fake.receive("max-1", "Scanner jams.", subject="Scanner")
    harness.settle()
    ask_for_code(harness, "T-000001", "fake", "max-2")
    harness.settle()
    real = code_in(fake_to(harness, "max-2", "link_code")[0]["text"]).replace(" ", "")
    for n in range(1, 6):
        harness.fake.receive("max-2", f"{(int(real) + n) % 1_000_000:06d}")
    harness.settle()
    told = fake_to(harness, "max-2")
    assert len(told) == harness.ctx.auto_reply_limit_per_hour, "never more than the hourly cap"
    assert any("1 more time" in t["text"] for t in told)
    harness.fake.receive("max-2", real)
    harness.settle()
    assert identities(contact(harness, token, "fake:max-1")) == {"fake:max-1"}
    with harness.ctx.db.reading() as session:
        outcomes = [
            (r.outcome, r.reason)
            for r in session.execute(select(InboundRecord).order_by(InboundRecord.id)).scalars()
        ]
    assert [o for o, _ in outcomes[1:6]] == ["link"] * 5, "each wrong code is kept, as an answer"
    reasons = [r for _, r in outcomes[1:6]]
    assert all(r is not None and r.startswith("a wrong link code") for r in reasons), reasons
    assert outcomes[6][0] == "open", "once burnt, the right code is just a message"


def test_a_code_can_only_be_asked_for_a_channel_run_here_and_not_too_often(
    harness: Harness,
) -> None:
    harness.fake.receive("ola-1", "Lift stuck.", subject="Lift")
    harness.settle()
    refused = ask_for_code(harness, "T-000001", "carrier-pigeon", "coop-4")
    assert refused.status_code == 422 and "not one we can reach you on" in refused.text
    for n in range(3):
        assert ask_for_code(harness, "T-000001", "fake", f"ola-{n + 2}").status_code == 303
    too_many = ask_for_code(harness, "T-000001", "fake", "ola-9")
    assert too_many.status_code == 422 and "at most 3 codes an hour" in too_many.text
    assert not fake_to(harness, "ola-9")


# Agents link and split -------------------------------------------------------------------


def test_two_clients_with_the_same_name_and_subject_are_never_merged(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    harness.fake.receive("bob-a", "Printer jams.", subject="Printer", sender_name="Bob Smith")
    harness.settle()
    harness.fake.receive("bob-b", "Printer jams.", subject="Printer", sender_name="Bob Smith")
    harness.fake.receive("bob-b", "123 456")  # code-shaped, but nobody sent bob-b a code
    harness.settle()
    first, second = contact(harness, token, "fake:bob-a"), contact(harness, token, "fake:bob-b")
    assert first["id"] != second["id"]
    assert [t["number"] for t in first["tickets"]] == ["T-000001"]
    assert len(second["tickets"]) == 2, "their own tickets only"
    found = harness.api("GET", "/api/contacts?q=bob smith", token).json()
    assert found["total"] == 2


def test_a_linked_contacts_tickets_list_both_channels_tickets_and_unlink_splits_them_again(
    harness: Harness, smtp_port: int
) -> None:
    _, token = harness.agent("Ana")
    send_mail(smtp_port, mail(sender="eva@client.example", subject="Badge printer"))
    harness.settle()
    harness.fake.receive("eva-chat", "Gate 4 is stuck.", subject="Gate 4")
    harness.settle()
    eva = contact(harness, token, "email:eva@client.example")["id"]
    # When an agent links the chat contact into the email one, with a reason
    response = harness.api(
        "POST",
        f"/api/contacts/{eva}/link",
        token,
        json={"contact": "fake:eva-chat", "reason": "she told me on the phone"},
    )
    assert response.status_code == 200, response.text
    linked = response.json()
    # Then her tickets from both channels are one list, and each answers where it came from
    assert identities(linked) == {"email:eva@client.example", "fake:eva-chat"}
    assert {(t["number"], t["client"]["channel"]) for t in linked["tickets"]} == {
        ("T-000001", "email"),
        ("T-000002", "fake"),
    }
    assert linked["history"][0]["reason"] == "she told me on the phone"
    by_address = harness.api("GET", "/api/contacts?q=eva-chat", token).json()
    assert [c["id"] for c in by_address["contacts"]] == [eva]
    assert harness.api("GET", "/api/tickets?q=eva@client", token).json()["total"] == 2
    gone = contact(harness, token, "C-000002")
    assert gone["merged_into"] == eva and gone["identities"] == []
    audit = harness.api("GET", "/api/tickets/T-000002", token).json()["audit"]
    assert "contacts_linked" in [e["action"] for e in audit]
    # Linking them again is refused, naming why
    again = harness.api("POST", f"/api/contacts/{eva}/link", token, json={"contact": "C-000002"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "contacts.same"
    # When the agent splits the chat address off again, it takes its own ticket with it
    split = harness.api(
        "POST", f"/api/contacts/{eva}/unlink", token, json={"identity": "fake:eva-chat"}
    ).json()
    assert split["split_off"]["id"] == "C-000002", "back to the contact it came from"
    assert [t["number"] for t in split["split_off"]["tickets"]] == ["T-000002"]
    assert [t["number"] for t in split["contact"]["tickets"]] == ["T-000001"]
    assert [h["action"] for h in split["contact"]["history"]] == ["link", "split"]
    # And its last identity cannot be split off
    alone = harness.api(
        "POST", f"/api/contacts/{eva}/unlink", token, json={"identity": "email:eva@client.example"}
    )
    assert alone.status_code == 409 and alone.json()["error"]["code"] == "contacts.only_identity"


def test_after_a_split_a_ticket_the_other_address_wrote_on_is_answered_where_its_client_wrote(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    harness.fake.receive("noa-1", "Wi-Fi drops.", subject="Wi-Fi")
    harness.settle()
    harness.fake.receive("noa-2", "Hello.", subject="Hello")
    harness.settle()
    harness.api("POST", "/api/contacts/fake:noa-1/link", token, json={"contact": "fake:noa-2"})
    harness.fake.receive("noa-2", "It dropped again.", subject="[#T-000001]")
    harness.settle()
    assert harness.api("GET", "/api/tickets/T-000001", token).json()["reply_via"]["address"] == (
        "noa-2"
    )
    # When the second address turns out to be someone else, replies on T-000001 go back to noa-1
    harness.api("POST", "/api/contacts/fake:noa-1/unlink", token, json={"identity": "fake:noa-2"})
    shown = harness.api("GET", "/api/tickets/T-000001", token).json()
    assert shown["reply_via"]["address"] == "noa-1"
    assert shown["client"]["contact"] == "C-000001"
    other = contact(harness, token, "fake:noa-2")
    assert [t["number"] for t in other["copied_on"]] == ["T-000001"], "it wrote there"


def test_notes_never_leave_on_any_of_a_linked_clients_channels(
    harness: Harness, smtp_port: int
) -> None:
    _, token = harness.agent("Ana")
    send_mail(smtp_port, mail(sender="ida@client.example", subject="Press 3"))
    harness.fake.receive("ida-chat", "Press 3 again.", subject="Press 3 chat")
    harness.settle()
    harness.api(
        "POST",
        "/api/contacts/email:ida@client.example/link",
        token,
        json={"contact": "fake:ida-chat"},
    )
    before = (len(harness.sent()), len(outgoing(harness)))
    for number in ("T-000001", "T-000002"):
        harness.api("POST", f"/api/tickets/{number}/note", token, json={"text": "SECRET note"})
    harness.settle()
    assert (len(harness.sent()), len(outgoing(harness))) == before
    assert not any("SECRET" in s["text"] for s in harness.sent())


def test_a_reply_goes_to_another_address_of_the_client_when_the_last_ones_channel_is_not_run(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    harness.fake.receive("uma-chat", "Gate 2 is stuck.", subject="Gate 2")
    harness.settle()
    harness.api(
        "POST", "/api/contacts/fake:uma-chat/link", token, json={"contact": "email:uma@x.example"}
    )
    # When the fake channel stops being run here, the reply goes to her email instead
    harness.ctx.client_channels = frozenset({"email"})
    shown = harness.api("GET", "/api/tickets/T-000001", token).json()
    assert shown["reply_via"]["channel"] == "email"
    assert "not run here" in shown["reply_via"]["why"]
    harness.api("POST", "/api/tickets/T-000001/reply", token, json={"text": "On our way."})
    harness.settle()
    deliveries = harness.api("GET", "/api/tickets/T-000001", token).json()["deliveries"]
    assert [(d["kind"], d["channel"], d["recipient"]) for d in deliveries][-1] == (
        "reply",
        "email",
        "uma@x.example",
    )


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite writers never race an insert
def test_a_name_learnt_while_another_message_created_the_same_sender_fills_the_contact_in(
    harness: Harness, monkeypatch: Any
) -> None:
    """Two first messages from one sender, decided at once: the one without a name wins
    the insert; the one with the name finds the contact already there and names it."""
    import core.contacts as contacts

    with harness.ctx.db.transaction() as session:
        contacts.find_or_create(session, "fake", "bob-c")  # a code-shaped first message
    real = contacts.find_identity
    calls: list[int] = []

    def not_yet_committed(*args: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(contacts, "find_identity", not_yet_committed)
    with harness.ctx.db.transaction() as session:
        identity = contacts.find_or_create(session, "fake", "bob-c", "Bob Smith")
        contact_id = identity.contact_id
    monkeypatch.undo()
    _, token = harness.agent("Ana")
    found = harness.api("GET", "/api/contacts?q=bob smith", token).json()
    assert [c["id"] for c in found["contacts"]] == [f"C-{contact_id:06d}"]
