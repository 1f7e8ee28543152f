"""Machines, sites and work orders: ``switchboard assets|sites|workorders list|show|add|update``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from config.cli.base import JSON, context, emit, handle_errors, load, main
from core.rendering import plural

ACTOR = "cli"


def _save(kind: str, ref: str, fields: dict[str, Any], *, create: bool) -> dict[str, Any]:
    from core.assets import history, records

    given = {k: v for k, v in fields.items() if v is not None}
    return history.save_and_view(
        context(load()), f"system:{ACTOR}", records.KINDS[kind], ref, given, create=create
    )


def _show(kind: str, ref: str, limit: int) -> dict[str, Any]:
    from core.assets import history, records

    ctx = context(load())
    with ctx.db.reading() as session:
        row = records.get(session, records.KINDS[kind].model, ref)
        return history.view(session, kind, row, limit=limit)


def _list(kind: str, **filters: Any) -> dict[str, Any]:
    from core.assets import history, records

    ctx = context(load())
    with ctx.db.reading() as session:
        return history.listing(session, records.KINDS[kind].model, **filters)


def _print_list(
    kind: str, as_json: bool, line: Callable[[dict[str, Any]], str], **filters: Any
) -> None:
    """The records of ``kind`` that match ``filters``, a ``line`` each, then the count."""

    def human(d: dict[str, Any]) -> None:
        for item in d["items"]:
            click.echo(line(item))
        click.echo(f"({d['total']} in all)")

    emit(_list(kind, **filters), as_json, human)


def machine_lines(a: dict[str, Any], *, indent: str = "") -> list[str]:
    """A machine's story as lines (``assets show`` and the machine part of ``tickets show``)."""
    head = f"{indent}{a['tag']}" + (f"  {a['name']}" if a["name"] else "")
    lines = [head]
    where = ", ".join(x for x in (a["site"] and f"site {a['site']}", a["location"]) if x)
    details = ", ".join(
        x
        for x in (a["model"] and f"model {a['model']}", a["serial"] and f"serial {a['serial']}")
        if x
    )
    for text in (where, details):
        if text:
            lines.append(f"{indent}  {text}")
    lines.append(f"{indent}  tickets: {a['tickets_total']} in all, {a['tickets_open']} open")
    for t in a["tickets"]:
        lines.append(
            f"{indent}    {t['number']}  {t['priority']}  {t['status']:<12} {t['created_at'][:10]}  {t['subject'][:60]}"
        )
    lines.append(f"{indent}  resolutions:" + ("" if a["resolutions"] else " none"))
    for r in a["resolutions"]:
        lines.append(
            f"{indent}    {r['at'][:10]} {r['ticket']} {r['code']}: {' '.join(r['steps'].split())[:100]}"
        )
    lines.append(f"{indent}  open work orders:" + ("" if a["work_orders"] else " none"))
    for w in a["work_orders"]:
        lines.append(f"{indent}    {w['number']}  {w['title']}")
    lines.append(f"{indent}  alerts firing:" + ("" if a["alerts"] else " none"))
    for alert in a["alerts"]:
        lines.append(
            f"{indent}    {alert['name']} since {(alert['starts_at'] or '?')[:16]} ({alert['ticket'] or 'no ticket'})"
        )
    return lines


def context_lines(t: dict[str, Any]) -> list[str]:
    """What ``tickets show`` adds to a ticket: its escalation, alerts, site, work order,
    and the machine with its recent history."""
    lines = []
    esc = t["sla"].get("escalation")
    if esc:
        lines.append(
            f"  escalation {esc['status']} ({esc['chain']}), {plural(esc['pings'], 'ping')}"
            + (f", acknowledged by {esc['acknowledged_by']}" if esc["acknowledged_by"] else "")
        )
    for alert in t.get("alerts") or []:
        lines.append(
            f"  alert {alert['name']} {alert['status']} since {(alert['starts_at'] or '?')[:16]}"
            + (f" ({alert['generator_url']})" if alert["generator_url"] else "")
        )
    if t.get("site"):
        lines.append(
            f"  site {t['site']['code']}" + (f" {t['site']['name']}" if t["site"]["name"] else "")
        )
    if t["links"].get("location"):
        lines.append(f"  location {t['links']['location']}")
    if t.get("work_order"):
        w = t["work_order"]
        lines.append(
            f"  work order {w['number']} ({w['status']}){': ' + w['title'] if w['title'] else ''}"
        )
    if t.get("asset"):
        lines.append("machine:")
        lines += machine_lines(t["asset"], indent="  ")
    return lines


def _echo(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


# Assets ---------------------------------------------------------------------------------

ASSET_OPTIONS = [
    click.option("--name"),
    click.option("--model"),
    click.option("--serial"),
    click.option("--site", help="Site code (created if new); '' clears it."),
    click.option("--location"),
    JSON,
]


def _options(options: list[Any]) -> Any:
    def wrap(fn: Any) -> Any:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return wrap


def _show_add_update(
    group: click.Group,
    kind: str,
    ref: str,
    lines: Callable[[dict[str, Any]], list[str]],
    options: list[Any],
    *,
    show_help: str | None = None,
    limit_help: str | None = None,
    add_help: str | None = None,
    update_help: str | None = None,
) -> None:
    """The ``show``, ``add`` and ``update`` commands of one kind of record, named by
    its ``ref`` argument (tag, code, number), printed as ``lines`` or JSON."""

    def show(limit: int, as_json: bool, **given: str) -> None:
        emit(_show(kind, given[ref], limit), as_json, lambda r: _echo(lines(r)))

    def saving(create: bool) -> Callable[..., None]:
        def save(as_json: bool, **fields: Any) -> None:
            row = _save(kind, fields.pop(ref), fields, create=create)
            emit(row, as_json, lambda r: _echo(lines(r)))

        return save

    limit = click.option("--limit", default=50, show_default=True, help=limit_help)
    group.command("show", help=show_help)(click.argument(ref)(limit(JSON(handle_errors(show)))))
    for name, create, help in (("add", True, add_help), ("update", False, update_help)):
        group.command(name, help=help)(
            click.argument(ref)(_options(options)(handle_errors(saving(create))))
        )


@main.group()
def assets() -> None:
    """Machines: their tickets, resolutions, work orders and alerts."""


@assets.command("list")
@click.option("--site", help="Only this site's machines.")
@click.option("-q", "--query", help="Search tag and name.")
@click.option("--limit", default=50, show_default=True)
@JSON
@handle_errors
def assets_list(site: str | None, query: str | None, limit: int, as_json: bool) -> None:
    _print_list(
        "asset",
        as_json,
        lambda a: f"{a['tag']:<20} {a['site'] or '-':<12} {a['name']}",
        site=site,
        query=query,
        limit=limit,
    )


_show_add_update(
    assets,
    "asset",
    "tag",
    machine_lines,
    ASSET_OPTIONS,
    show_help="A machine's tickets, resolutions (code and steps), open work orders and firing alerts.",
    limit_help="Latest tickets and resolutions shown.",
    add_help="Add a machine by its tag.",
    update_help="Change a machine's fields (only those given).",
)


# Sites ----------------------------------------------------------------------------------

SITE_OPTIONS = [
    click.option("--name"),
    click.option("--address"),
    JSON,
]


def _site_lines(s: dict[str, Any]) -> list[str]:
    lines = [f"{s['code']}  {s['name']}", f"  {s['address']}" if s["address"] else ""]
    lines.append(f"  machines: {s['assets']['total']}")
    lines += [f"    {a['tag']:<20} {a['name']}" for a in s["assets"]["items"]]
    lines.append("  latest tickets:" + ("" if s["tickets"] else " none"))
    lines += [f"    {t['number']}  {t['status']:<12} {t['subject'][:60]}" for t in s["tickets"]]
    return [line for line in lines if line]


@main.group()
def sites() -> None:
    """Sites: where machines stand."""


@sites.command("list")
@click.option("-q", "--query", help="Search code and name.")
@click.option("--limit", default=50, show_default=True)
@JSON
@handle_errors
def sites_list(query: str | None, limit: int, as_json: bool) -> None:
    _print_list("site", as_json, lambda s: f"{s['code']:<20} {s['name']}", query=query, limit=limit)


_show_add_update(sites, "site", "code", _site_lines, SITE_OPTIONS)


# Work orders ----------------------------------------------------------------------------

ORDER_OPTIONS = [
    click.option("--title"),
    click.option("--status", type=click.Choice(["open", "closed"])),
    click.option("--asset", help="Asset tag (created if new); '' clears it."),
    click.option("--site", help="Site code (created if new); '' clears it."),
    JSON,
]


def _order_lines(w: dict[str, Any]) -> list[str]:
    lines = [f"{w['number']}  {w['status']}  {w['title']}"]
    lines.append(f"  asset {w['asset'] or '-'}, site {w['site'] or '-'}")
    lines.append("  tickets:" + ("" if w["tickets"] else " none"))
    lines += [f"    {t['number']}  {t['status']:<12} {t['subject'][:60]}" for t in w["tickets"]]
    return lines


@main.group()
def workorders() -> None:
    """Work orders: planned work on machines, open until closed."""


@workorders.command("list")
@click.option("--status", type=click.Choice(["open", "closed"]))
@click.option("--asset")
@click.option("--site")
@click.option("--limit", default=50, show_default=True)
@JSON
@handle_errors
def workorders_list(
    status: str | None, asset: str | None, site: str | None, limit: int, as_json: bool
) -> None:
    _print_list(
        "work_order",
        as_json,
        lambda w: f"{w['number']:<16} {w['status']:<7} {w['asset'] or '-':<16} {w['title']}",
        status=status,
        asset=asset,
        site=site,
        limit=limit,
    )


_show_add_update(workorders, "work_order", "number", _order_lines, ORDER_OPTIONS)
