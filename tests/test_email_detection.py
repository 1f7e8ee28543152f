"""Detection on the public corpus (tests/fixtures/detection/): robots are never taken for
people, people never for robots, bounces name who failed. See bench/email_detection.py
for the figures per kind; expected.json's labels come from the sources, not from us."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NotRequired, TypedDict

import pytest

from channels.email.parse import parse


class Label(TypedDict):
    """What expected.json says of one message, from its source."""

    family: str
    kind: str
    held_out: bool
    permanent: NotRequired[bool]
    recipients: NotRequired[list[str]]


HERE = Path(__file__).parent / "fixtures" / "detection"
LABELS: dict[str, Label] = json.loads((HERE / "expected.json").read_text())
ROBOTS = {"dsn", "bounce", "delay", "autoreply", "report"}


def inbound(name: str):
    return parse((HERE / f"{name}.eml").read_bytes(), {})


def test_the_corpus_is_hundreds_of_messages_from_several_licensed_sources() -> None:
    sources = {name.split("/")[0] for name in LABELS}
    assert len(LABELS) >= 500 and len(sources) >= 5
    for source in sources:
        assert (HERE / source / "LICENSE").exists() or source == "composed"


@pytest.mark.parametrize("name", sorted(n for n, e in LABELS.items() if e["kind"] not in ROBOTS))
def test_a_person_is_never_taken_for_a_robot(name: str) -> None:
    got = inbound(name)
    assert not got.automatic, got.automatic
    if LABELS[name]["kind"] == "list":
        assert got.no_auto_reply, "list mail is answered by no automatic message"


def test_robots_are_recognised_on_the_messages_rules_were_developed_on_and_held_out() -> None:
    for held_out in (False, True):
        names = [
            n for n, e in LABELS.items() if e["kind"] in ROBOTS and bool(e["held_out"]) == held_out
        ]
        missed = [n for n in names if not inbound(n).automatic]
        assert len(missed) <= len(names) // 100, missed


def test_bounces_and_delays_are_told_apart_and_a_delay_is_never_a_bounce() -> None:
    names = [n for n, e in LABELS.items() if e["kind"] in ("dsn", "bounce", "delay")]
    wrong = []
    for name in names:
        report = inbound(name).report
        want = "delay" if LABELS[name]["kind"] == "delay" else "bounce"
        if report is None or report.kind != want:
            wrong.append((name, report.kind if report else None))
    assert len(wrong) <= len(names) * 3 // 100, wrong
    assert not [
        w
        for w in wrong
        if w[1] == "bounce" and LABELS[w[0]]["kind"] == "delay" and not LABELS[w[0]]["held_out"]
    ]


def test_failed_recipients_match_the_sources_labels() -> None:
    labelled = [n for n, e in LABELS.items() if "recipients" in e]
    right = 0
    for name in labelled:
        report = inbound(name).report
        got = {f.address for f in report.failed} if report else set()
        right += got == set(LABELS[name]["recipients"])
    assert len(labelled) >= 100 and right / len(labelled) >= 0.95


def test_a_5xx_failure_is_permanent_and_a_4xx_one_temporary_with_the_status_kept() -> None:
    checked = 0
    for name, label in LABELS.items():
        report = inbound(name).report
        if label["kind"] != "dsn" or report is None:
            continue
        for failure in report.failed:
            if failure.status[:1] in ("4", "5"):
                assert failure.permanent == (failure.status[0] == "5"), (name, failure)
                checked += 1
    assert checked >= 50
