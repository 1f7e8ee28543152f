"""Bounce, auto-reply and list-mail detection, end to end through intake, per kind.

Every message of tests/fixtures/detection/ (and the people's replies of
tests/fixtures/email/) goes through the real intake (parse, rules, ticket change,
outbox) of a throwaway embedded Switchboard, oldest corpus order, one database. Per
kind (and per MTA family for bounces) it prints how many opened a ticket (or joined
one), were acknowledged, were parked, were recognised as a bounce or delay notice,
and how often the failed recipients matched the labels; then the same for flufl.bounce
alone, and how many list conversations stayed one ticket.

Run: .venv/bin/python bench/email_detection.py [--held-out-only] [--misses]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flufl.bounce import all_failures  # noqa: E402
from sqlalchemy import select  # noqa: E402

from channels.email import ids  # noqa: E402
from channels.email.parse import external_id_of, parse  # noqa: E402
from config.runtime import System, migrate  # noqa: E402
from config.settings import load_settings  # noqa: E402
from core import intake  # noqa: E402
from core.dispatch import NullDispatcher  # noqa: E402
from core.models import InboundRecord, OutboxDelivery  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DETECTION = ROOT / "tests" / "fixtures" / "detection"
REPLIES = ROOT / "tests" / "fixtures" / "email"
ROBOTS = ("dsn", "bounce", "delay", "autoreply", "report")
PEOPLE = ("list", "person")


def corpus() -> list[tuple[str, bytes, dict[str, Any]]]:
    items = []
    for name, label in sorted(json.loads((DETECTION / "expected.json").read_text()).items()):
        items.append((name, (DETECTION / f"{name}.eml").read_bytes(), label))
    for name, label in sorted(json.loads((REPLIES / "expected.json").read_text()).items()):
        if label.get("automatic") or name.startswith(("bounce", "dsn", "ooo", "noreply")):
            continue  # the reply corpus's own robots are labelled for its own benchmark
        kind = "list" if label.get("no_auto_reply") else "person"
        raw = (REPLIES / f"{name}.eml").read_bytes()
        items.append(
            (
                f"email/{name}",
                raw,
                {"kind": kind, "family": "reply corpus", "held_out": bool(label.get("held_out"))},
            )
        )
    return items


def run(items: list[tuple[str, bytes, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each message through intake; what happened to it."""
    data = Path(tempfile.mkdtemp(prefix="sb-detect-"))
    settings = load_settings(data_dir=data, secret_key="bench-secret")
    migrate(settings)
    system = System(settings)
    ctx = system.ctx
    ctx.dispatcher = NullDispatcher()
    results: dict[str, dict[str, Any]] = {}
    for name, raw, _ in items:
        meta = {"rcpt": ["support@localhost"]}
        received = intake.receive(
            ctx,
            channel="email",
            external_id=f"{name}:{external_id_of(raw)}",
            raw=raw,
            meta=meta,
            transport="bench",
        )
        record = intake.process(ctx, received.record_id)
        with ctx.db.reading() as session:
            row = session.get(InboundRecord, record.id)
            assert row is not None
            acked = False
            if row.outcome == "open" and row.ticket_id:
                acked = (
                    session.execute(
                        select(OutboxDelivery.id).where(
                            OutboxDelivery.kind == "ack", OutboxDelivery.ticket_id == row.ticket_id
                        )
                    ).first()
                    is not None
                )
            results[name] = {
                "outcome": row.outcome,
                "rule": (row.rules_fired or ["?"])[0],
                "reason": row.reason or "",
                "ticket": row.ticket_id,
                "acked": acked,
            }
    system.stop()
    return results


def recipients(raw: bytes) -> tuple[set[str], str]:
    try:
        inbound = parse(raw, {})
    except Exception:
        return set(), "-"
    report = inbound.report
    return ({f.address for f in report.failed} if report else set()), (
        report.kind if report else "-"
    )


def flufl(raw: bytes) -> set[str]:
    try:
        temporary, permanent = all_failures(message_from_bytes(raw, policy=policy.compat32))
    except Exception:
        return set()
    return {(a.decode() if isinstance(a, bytes) else a).lower() for a in temporary | permanent}


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def report(
    items: list[tuple[str, bytes, dict[str, Any]]], results: dict[str, dict[str, Any]], misses: bool
) -> None:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    wrong: list[str] = []
    for name, raw, label in items:
        kind = label["kind"]
        key = f"bounce ({label['family']})" if kind == "bounce" else kind
        got = results[name]
        count = groups[key]
        count["n"] += 1
        count["opened"] += got["outcome"] in ("open", "append")
        count["acked"] += bool(got["acked"])
        count["parked"] += got["outcome"] == "park"
        count["bounce"] += got["rule"] == "bounce"
        if "recipients" in label:
            found, _ = recipients(raw)
            count["rcpt_n"] += 1
            count["rcpt_ok"] += found == set(label["recipients"])
            count["flufl_ok"] += flufl(raw) == set(label["recipients"])
        bad = (
            (kind in ROBOTS and (got["outcome"] in ("open", "append") or got["acked"]))
            or (kind in PEOPLE and got["outcome"] == "park")
            or (kind == "list" and got["acked"])
            or (kind in ("dsn", "bounce", "delay") and got["rule"] != "bounce")
        )
        if bad:
            wrong.append(
                f"  {name} [{kind}]: {got['outcome']} by {got['rule']}: {got['reason'][:90]}"
            )
    rows = [
        [
            "kind",
            "messages",
            "opened/joined",
            "acknowledged",
            "parked",
            "bounce/delay",
            "failed rcpt ok",
            "flufl alone",
        ]
    ]
    order = sorted(groups, key=lambda k: (not k.startswith(("dsn", "bounce", "delay")), k))
    for key in order:
        c = groups[key]
        rcpt = f"{c['rcpt_ok']}/{c['rcpt_n']}" if c["rcpt_n"] else "-"
        fl = f"{c['flufl_ok']}/{c['rcpt_n']}" if c["rcpt_n"] else "-"
        rows.append(
            [
                key,
                str(c["n"]),
                str(c["opened"]),
                str(c["acked"]),
                str(c["parked"]),
                str(c["bounce"]),
                rcpt,
                fl,
            ]
        )
    print(table(rows))
    robots = [n for n, _, lab in items if lab["kind"] in ROBOTS]
    people = [n for n, _, lab in items if lab["kind"] in PEOPLE]
    answered = sum(
        1 for n in robots if results[n]["outcome"] in ("open", "append") or results[n]["acked"]
    )
    ignored = sum(1 for n in people if results[n]["outcome"] == "park")
    print(f"\nrobots that opened a ticket or were acknowledged: {answered} of {len(robots)}")
    print(f"people parked (no ticket): {ignored} of {len(people)}")
    lists = [n for n, _, lab in items if lab["kind"] == "list"]
    print(
        f"list/bulk mail acknowledged: {sum(1 for n in lists if results[n]['acked'])} of {len(lists)}"
    )
    if misses and wrong:
        print("\nmisses:\n" + "\n".join(wrong))


def conversations(
    items: list[tuple[str, bytes, dict[str, Any]]], results: dict[str, dict[str, Any]]
) -> None:
    """How many tickets each list conversation (a References root) became."""
    threads: dict[str, set[int]] = defaultdict(set)
    for name, raw, label in items:
        if label["kind"] != "list" or not name.startswith("notmuch/"):
            continue
        msg = message_from_bytes(raw, policy=policy.compat32)
        refs = ids.normalize_ids(str(msg.get("References", "") or "")) or ids.normalize_ids(
            str(msg.get("In-Reply-To", "") or "")
        )
        root = refs[0] if refs else (ids.normalize_ids(str(msg.get("Message-ID", ""))) or [name])[0]
        if results[name]["ticket"]:
            threads[root].add(int(results[name]["ticket"]))
    multi = [t for t in threads.values() if len(t) > 1]
    one = len(threads) - len(multi)
    print(
        f"\nlist conversations (notmuch corpus): {len(threads)}; in one ticket: {one}; "
        f"split over several: {len(multi)} (strangers to a thread get a linked ticket by design)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out-only", action="store_true", help="only the held-out share")
    parser.add_argument("--misses", action="store_true", help="list every message handled wrongly")
    args = parser.parse_args()
    items = corpus()
    results = run(items)
    for title, flag in (("all", None), ("developed on", False), ("held out", True)):
        if args.held_out_only and flag is not True:
            continue
        chosen = [i for i in items if flag is None or bool(i[2].get("held_out")) == flag]
        print(f"\n== {title}: {len(chosen)} messages")
        report(chosen, results, args.misses and flag is None)
    conversations(items, results)


if __name__ == "__main__":
    main()
