"""The KPI dashboard in a real headless Chromium: a lead sees figures and charts, an
agent gets the 403 page; sign-in by token form or login link; the CSV export."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from config.cli import main
from core.models import Agent
from core.tickets import conversation, lookup, workflow
from tests.browser import render, serve
from tests.harness import Harness

HOSTILE = '<img src=x onerror="document.title=1">Mallory'


def some_history(harness: Harness) -> None:
    agent, _ = harness.agent(HOSTILE)
    for i, subject in enumerate(["Printer down", "VPN slow", "Invoice wrong"]):
        harness.fake.receive(f"client-{i}", "Please help", subject=subject)
    harness.settle()
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, 1, lock=True)
        workflow.acknowledge(harness.ctx, s, agent, t)
        workflow.assign(harness.ctx, s, agent, t, assignee=s.get_one(Agent, agent.agent_id))
        conversation.reply(harness.ctx, s, agent, t, text="Restart it.")
        workflow.resolve(harness.ctx, s, agent, t, code="fixed", steps="Restarted.")


def login_link(harness: Harness, email: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr("config.cli.admin.context", lambda _settings: harness.ctx)
    monkeypatch.setattr("config.cli.admin.load", lambda: harness.settings)
    done = CliRunner().invoke(main, ["agents", "login-link", email])
    assert done.exit_code == 0, done.output
    link = done.output.strip().splitlines()[0]
    return link[link.index("/leads/login/") :]


def test_a_lead_opens_the_dashboard_from_a_login_link_and_sees_figures_and_charts(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_history(harness)
    harness.agent("Lena", ("lead",), email="lena@support.example")
    path = login_link(harness, "lena@support.example", monkeypatch)
    with serve(harness.ctx) as base:
        dom = render(base + path, screenshot=tmp_path / "dashboard.png")
    assert "Support KPIs" in dom and "Signed in as Lena" in dom
    assert dom.count("<svg") == 7, "one chart per KPI"
    assert "First response, average minutes by priority" in dom
    total = dom[dom.index('id="total"') :]
    assert ">3</td>" in total.split("</tr>")[0], "three tickets in the period"
    assert "&lt;img src=x" in dom and "<img src" not in dom, "names are text, never markup"
    assert (tmp_path / "dashboard.png").stat().st_size > 1000


def test_an_agent_who_is_not_a_lead_gets_the_403_page(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    some_history(harness)
    harness.agent("Ari", email="ari@support.example")
    path = login_link(harness, "ari@support.example", monkeypatch)
    with serve(harness.ctx) as base:
        dom = render(base + path)
        with httpx.Client(base_url=base) as web:
            signed_in = web.get(path, follow_redirects=True)
            csv_export = web.get("/leads/kpis.csv")
    assert "This page is for leads" in dom and "Support KPIs" not in dom
    assert signed_in.status_code == 403 and "Ari" in signed_in.text
    assert csv_export.status_code == 403


def test_sign_in_with_the_token_form_the_csv_export_and_wrong_or_missing_credentials(
    harness: Harness,
) -> None:
    some_history(harness)
    _, token = harness.agent("Lena", ("lead",))
    formula, _ = harness.agent("=1+2")
    with harness.ctx.db.transaction() as s:
        t = lookup.get_ticket(s, 2, lock=True)
        workflow.assign(harness.ctx, s, formula, t, assignee=s.get_one(Agent, formula.agent_id))
    web: Any = harness.client
    assert web.get("/leads/kpis", follow_redirects=False).headers["location"] == "/leads/login"
    wrong = web.post("/leads/login", data={"token": "sbt_not-a-token"}, follow_redirects=False)
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    forged = web.get("/leads/login/forged.token.here", follow_redirects=False)
    assert forged.status_code == 401 and "not valid" in forged.text
    ok = web.post("/leads/login", data={"token": token}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/leads/kpis"
    assert "httponly" in ok.headers["set-cookie"].lower()
    page = web.get("/leads/kpis?by=agent")
    assert page.status_code == 200 and "Satisfaction, average rating (1-5) by agent" in page.text
    bad = web.get("/leads/kpis?since=last+week")
    assert bad.status_code == 422 and "is not an ISO date" in bad.text
    export = web.get("/leads/kpis.csv")
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    from_api = harness.api("GET", "/api/reports/kpis", token).json()
    assert rows[1][:3] == ["total", "all", str(from_api["total"]["tickets"])]
    by_priority = {r[1]: r for r in rows if r[0] == "priority"}
    assert set(by_priority) == set(from_api["by_priority"])
    assert "None" not in export.text
    agents = {r[1] for r in rows if r[0] == "agent"}
    assert "'=1+2" in agents and "=1+2" not in agents, "a name is never a formula"
    web.post("/leads/logout")
    assert web.get("/leads/kpis", follow_redirects=False).status_code == 303
