"""Machines, sites and work orders as records: made on the fly from a ticket's fields,
kept from the API and the command line, and each machine's story told in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from config.cli import main
from config.runtime import alembic_config
from config.settings import Settings
from core.principals import Principal
from core.tickets import fields, lookup
from tests.harness import Harness


def _open(harness: Harness, token: str, subject: str, **links: str) -> str:
    response = harness.api(
        "POST",
        "/api/tickets",
        token,
        json={
            "subject": subject,
            "text": f"{subject}.",
            "requester": {"channel": "fake", "address": "plant-7", "name": "Dana"},
            **links,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


def _resolve(harness: Harness, agent: Principal, number: str, code: str, steps: str) -> None:
    harness.resolve(number, agent, steps, code=code)


def test_a_ticket_opened_with_references_creates_and_links_the_records_they_name(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    number = _open(
        harness,
        token,
        "Press 3 leaks oil",
        asset="PRESS-3",
        site="Plant North",
        work_order="WO-881",
        location="Hall B, bay 4",
    )
    _, token2 = harness.agent("Ben")
    second = _open(harness, token2, "Press 3 leaks again", asset="press-3")
    first, again = harness.ticket(number), harness.ticket(second)
    assert first["links"] == {
        "asset": "PRESS-3",
        "site": "Plant North",
        "work_order": "WO-881",
        "location": "Hall B, bay 4",
    }
    # The records learnt from each other: the press stands at the site, in that bay
    press = harness.api("GET", "/api/assets/PRESS-3", token).json()
    assert (press["site"], press["location"]) == ("Plant North", "Hall B, bay 4")
    order = harness.api("GET", "/api/work-orders/wo-881", token).json()
    assert (order["asset"], order["site"], order["status"]) == ("PRESS-3", "Plant North", "open")
    # A later ticket naming the press (any case) is about the same machine, at its site
    assert again["links"]["asset"] == "PRESS-3" and again["links"]["site"] == "Plant North"
    assert press["tickets_total"] == 2 and [w["number"] for w in press["work_orders"]] == ["WO-881"]


def test_the_api_creates_and_updates_records_and_refuses_a_second_with_the_same_reference(
    harness: Harness,
) -> None:
    _, token = harness.agent("Ana")
    created = harness.api(
        "POST",
        "/api/assets",
        token,
        json={"tag": "CNC-12", "name": "Mill 12", "model": "DMU 50", "site": "PLANT-S"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["site"] == "PLANT-S" and created.json()["tickets"] == []
    twice = harness.api("POST", "/api/assets", token, json={"tag": "cnc-12"})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "asset.exists"
    updated = harness.api(
        "PATCH",
        "/api/assets/cnc-12",
        token,
        json={"serial": "SN-4471", "attributes": {"power_kw": 15}},
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["serial"]) == ("Mill 12", "SN-4471")
    assert updated.json()["attributes"] == {"power_kw": 15}
    assert harness.api("PATCH", "/api/assets/CNC-99", token, json={}).status_code == 404
    assert harness.api("GET", "/api/assets/CNC-99", token).status_code == 404
    site = harness.api("PATCH", "/api/sites/plant-s", token, json={"name": "Plant South"})
    assert site.json()["name"] == "Plant South"
    assert [a["tag"] for a in site.json()["assets"]["items"]] == ["CNC-12"]
    order = harness.api(
        "POST",
        "/api/work-orders",
        token,
        json={"number": "WO-9", "title": "Spindle", "asset": "CNC-12"},
    )
    assert order.status_code == 201 and order.json()["site"] == "PLANT-S"
    closed = harness.api("PATCH", "/api/work-orders/WO-9", token, json={"status": "closed"})
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
    bad = harness.api("PATCH", "/api/work-orders/WO-9", token, json={"status": "done"})
    assert bad.status_code == 422
    # Every change is audited
    with harness.ctx.db.reading() as s:
        audited = [
            row[0]
            for row in s.execute(
                text("SELECT action FROM audit_events WHERE chain = 'system' ORDER BY seq")
            )
        ]
    assert audited == [
        "asset_created",
        "asset_updated",
        "site_updated",
        "work_order_created",
        "work_order_updated",
    ]


def test_resolving_a_ticket_about_a_machine_writes_its_history(harness: Harness) -> None:
    agent, token = harness.agent("Ana")
    first = _open(harness, token, "Press 3 overheats", asset="PRESS-3")
    _resolve(harness, agent, first, "replaced", "Replaced the oil cooler fan.")
    second = _open(harness, token, "Press 3 overheats again", asset="PRESS-3")
    _resolve(harness, agent, second, "fixed", "Cleaned the cooler fins.")
    other = _open(harness, token, "Oven 1 door", asset="OVEN-1")
    _resolve(harness, agent, other, "fixed", "New hinge.")
    open_one = _open(harness, token, "Press 3 noisy", asset="PRESS-3", work_order="WO-12")
    # The ticket moved to another machine after it was resolved: history stays where it was
    with harness.ctx.db.transaction() as s:
        fields.link(harness.ctx, s, agent, lookup.get_ticket(s, first, lock=True), asset="PRESS-4")
    press = harness.api("GET", "/api/assets/PRESS-3", token).json()
    assert [(r["ticket"], r["code"], r["steps"]) for r in press["resolutions"]] == [
        (second, "fixed", "Cleaned the cooler fins."),
        (first, "replaced", "Replaced the oil cooler fan."),
    ]
    assert press["resolutions"][0]["agent"] == "Ana"
    assert (press["tickets_total"], press["tickets_open"]) == (2, 1)
    assert [t["number"] for t in press["tickets"]] == [open_one, second]
    assert [w["number"] for w in press["work_orders"]] == ["WO-12"]
    # And the agent of the open ticket sees that history with it
    shown = harness.ticket(open_one)
    assert [r["code"] for r in shown["asset"]["resolutions"]] == ["fixed", "replaced"]
    assert shown["work_order"]["number"] == "WO-12"
    assert harness.api("GET", "/api/assets/PRESS-3?limit=1", token).json()["resolutions"] == [
        press["resolutions"][0]
    ]


def test_the_ticket_list_filters_by_asset_site_and_work_order(harness: Harness) -> None:
    _, token = harness.agent("Ana")
    press = _open(harness, token, "Press", asset="PRESS-3", site="PLANT-N")
    oven = _open(harness, token, "Oven", asset="OVEN-1", site="PLANT-N", work_order="WO-5")
    _open(harness, token, "Printer")

    def numbers(query: str) -> list[str]:
        response = harness.api("GET", f"/api/tickets?{query}", token)
        assert response.status_code == 200
        return [t["number"] for t in response.json()["tickets"]]

    assert numbers("asset=press-3") == [press]
    assert numbers("site=PLANT-N") == [oven, press]
    assert numbers("work_order=WO-5") == [oven]
    assert numbers("site=PLANT-N&asset=OVEN-1") == [oven]
    assert numbers("asset=NO-SUCH-MACHINE") == [], "an unknown asset names no ticket"
    assert len(numbers("")) == 3


def _run(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_the_command_line_keeps_records_and_tells_a_machines_story(
    harness: Harness, cli: CliRunner
) -> None:
    agent, token = harness.agent("Ana")
    _run(cli, "assets", "add", "PRESS-3", "--name", "Press 3", "--site", "PLANT-N")
    _run(cli, "assets", "update", "press-3", "--serial", "SN-1")
    _run(cli, "workorders", "add", "WO-77", "--title", "Annual service", "--asset", "PRESS-3")
    number = _open(harness, token, "Press 3 leaks", asset="PRESS-3", work_order="WO-77")
    _resolve(harness, agent, number, "fixed", "New seal on the main cylinder.")
    shown = _run(cli, "assets", "show", "PRESS-3", "--json")
    assert (shown["serial"], shown["site"]) == ("SN-1", "PLANT-N")
    assert shown["resolutions"][0]["steps"] == "New seal on the main cylinder."
    human = _run(cli, "assets", "show", "PRESS-3")
    assert "New seal on the main cylinder." in human and "WO-77  Annual service" in human
    assert [
        t["number"]
        for t in _run(cli, "tickets", "list", "--asset", "PRESS-3", "--all", "--json")["tickets"]
    ] == [number]
    assert _run(cli, "tickets", "list", "--work-order", "WO-1", "--json")["total"] == 0
    ticket = _run(cli, "tickets", "show", number)
    assert "machine:" in ticket and "New seal on the main cylinder." in ticket
    assert "work order WO-77 (open): Annual service" in ticket
    refused = cli.invoke(main, ["assets", "add", "press-3"])
    assert refused.exit_code == 1 and "exists already" in refused.output


def test_the_migration_turns_free_text_references_into_linked_records(
    settings: Settings,
) -> None:
    # Given a database as it was before machines were records, with references typed by hand
    url = settings.effective_database_url
    engine = create_engine(url)
    cfg = alembic_config(url)
    command.downgrade(cfg, "0010_contact_links")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO contacts (name, created_at) VALUES ('Dana', CURRENT_TIMESTAMP)")
        )
        for n, (asset, site, order) in enumerate(
            [
                ("PRESS-3", "Plant North", "WO-1"),
                ("press-3 ", None, None),
                (None, "PLANT NORTH", None),
            ],
            start=1,
        ):
            conn.execute(
                text(
                    "INSERT INTO tickets (subject, status, priority, priority_reason, contact_id, "
                    "channel, tracking_token, escalated, asset_ref, site_ref, work_order_ref, "
                    "created_at, updated_at) VALUES (:s, 'resolved', 'P3', '', 1, 'fake', :t, "
                    ":f, :a, :site, :o, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"s": f"T{n}", "t": f"token-{n}", "f": False, "a": asset, "site": site, "o": order},
            )
        conn.execute(
            text(
                "INSERT INTO resolution_records (ticket_id, code, steps, created_at) "
                "VALUES (2, 'fixed', 'Tightened the hose.', CURRENT_TIMESTAMP)"
            )
        )
    # When it is migrated
    command.upgrade(cfg, "head")
    # Then each reference is one record, the tickets link to them, the history is kept
    with engine.connect() as conn:
        assets = conn.execute(text("SELECT id, tag, site_id FROM assets")).all()
        sites = conn.execute(text("SELECT id, code FROM sites")).all()
        orders = conn.execute(text("SELECT number, asset_id, site_id FROM work_orders")).all()
        links = conn.execute(
            text("SELECT asset_id, site_id, work_order_id FROM tickets ORDER BY id")
        ).all()
        history = conn.execute(text("SELECT ticket_id, asset_id FROM resolution_records")).all()
    # and resolutions are as unchangeable as they were
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE resolution_records SET steps = 'rewritten'"))
    engine.dispose()
    [(asset_id, tag, asset_site)] = assets
    [(site_id, code)] = sites
    assert (tag, code, asset_site) == ("PRESS-3", "Plant North", site_id)
    assert [tuple(o) for o in orders] == [("WO-1", asset_id, site_id)]
    assert [tuple(row) for row in links][:2] == [(asset_id, site_id, 1), (asset_id, None, None)]
    assert tuple(links[2]) == (None, site_id, None)
    assert [tuple(h) for h in history] == [(2, asset_id)]


def test_the_slack_card_shows_the_machines_recent_history_and_work_order(
    tmp_path: Path, database_url: str, fake_slack: Any
) -> None:
    from config.runtime import System
    from tests.harness import make_settings
    from tests.slack_support import SlackDriver, slack_options

    system = System(
        make_settings(
            tmp_path,
            database_url,
            "memory://",
            **slack_options(fake_slack),
        )
    )
    system.start_workers()
    try:
        harness = Harness(system)
        slack = SlackDriver(harness, fake_slack)
        agent, token = harness.agent("Ana")
        first = _open(harness, token, "Press 3 overheats", asset="PRESS-3")
        _resolve(harness, agent, first, "replaced", "Replaced the oil cooler fan.")
        number = _open(
            harness, token, "Press 3 overheats again", asset="PRESS-3", work_order="WO-12"
        )
        harness.settle()
        shown = json.dumps(slack.card(number).blocks)
        assert "*Machine* PRESS-3" in shown and "2 tickets, 1 open" in shown
        assert f"{first} replaced" in shown and "Replaced the oil cooler fan." in shown
        assert "*Work order* WO-12 (open)" in shown
    finally:
        system.stop()
