"""100,000+ generated and mutated webhook bodies: Telegram updates, WhatsApp webhooks,
Alertmanager notifications and generic alerts. Each is refused with a reason (the
edge's 400), or read; a stored one is then decided or parked with a reason; nothing
else ever escapes (no 5xx, no crash, no traceback).

The seeds are what the platforms send (built from their specs by the tests' builders);
the mutations are what breaks in transit and in odd senders: a node of another type
(numbers as strings and back, huge and negative integers, floats, NaN, null, empty
containers), keys lost or added, strings with NULs, line breaks, lone surrogates or
100,000 characters, deep nesting, the body cut short or its bytes flipped, invalid
UTF-8, a BOM, another top-level type. Seeded, so a failure names the format, the
mutation and the seed to replay it.

The 100,000 go through the edge's and the decision's own readers in-process (both
cores); a smaller sample of each format goes through the real web app over HTTP, with
the database and the workers behind it.
"""

from __future__ import annotations

import copy
import functools
import json
import multiprocessing
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from channels.alerts.parse import FORMATS
from channels.alerts.parse import parse as alerts_parse
from channels.telegram import edge as telegram_edge
from channels.telegram import updates
from channels.telegram.parse import parse as telegram_parse
from channels.whatsapp.parse import MESSAGE, split
from channels.whatsapp.parse import parse as whatsapp_parse
from config.runtime import System
from config.settings import Settings
from core.errors import IntakeError
from core.models import InboundRecord, InboundStatus
from core.values import Inbound, cleaned
from tests.fakealertmanager import TOKEN as ALERTS_TOKEN
from tests.fakealertmanager import FakeAlertmanager
from tests.faketelegram import TOKEN as TELEGRAM_TOKEN
from tests.faketelegram import Updates
from tests.fakewhatsapp import PHONE_NUMBER_ID
from tests.fakewhatsapp import TOKEN as WHATSAPP_TOKEN
from tests.harness import Harness, make_settings
from tests.telegram_support import SECRET as TELEGRAM_SECRET
from tests.whatsapp_support import (
    APP_SECRET,
    EXAMPLES,
    MEDIA_SCHEMAS,
    VERIFY_TOKEN,
    message,
    sign,
    status,
    webhook,
)

TOTAL = 104_000
HTTP_SAMPLE = 400  # per format, over HTTP with the database and workers behind
REFUSED, READ, PARKED = "refused", "read", "parked"


# The seeds ---------------------------------------------------------------------------------


def _telegram_seeds() -> list[Any]:
    u = Updates()
    return [
        u.message(4201, "The printer on floor 2 is jammed."),
        u.message(4201, "/new Scanner broken"),
        u.message(4202, "The gate", photo=u.photo()),
        u.message(4203, "Invoice", document={**u.file(), "file_name": "inv.pdf"}),
        u.message(4204, None, location={"latitude": 52.1, "longitude": 4.3}),
        u.message(4205, "fixed typo", edit_date=1_764_000_000),
        u.message(-100777, "In the group", chat_type="group"),
        u.callback(4201, "ack:42"),
        u.callback(4201, "sat:5"),
    ]


def _whatsapp_seeds() -> list[Any]:
    seeds = [webhook([message(kind)]) for kind in (*EXAMPLES, *MEDIA_SCHEMAS)]
    seeds.append(webhook(statuses=[status("wamid.x1", "delivered")]))
    seeds.append(webhook([message("text"), message("image")], [status("wamid.x2", "read")]))
    return seeds


def _alertmanager_seeds() -> list[Any]:
    am = FakeAlertmanager(client=None)
    am.fire({"alertname": "HighTemperature", "asset": "PRESS-3", "severity": "warning"},
            {"summary": "Press 3 is running hot"})  # fmt: skip
    first = am.message()
    am.fire({"alertname": "DiskFull", "host": "db-1", "severity": "critical"})
    second = am.message()
    am.resolve({"alertname": "DiskFull", "host": "db-1", "severity": "critical"})
    return [first, second, am.message("resolved")]


def _generic_seeds() -> list[Any]:
    press = {"alertname": "HighTemperature", "asset": "PRESS-3", "site": "PLANT-N"}
    return [
        {"source": "scada-2", "alerts": [{"status": "firing", "labels": press}]},
        {
            "source": "scada-2",
            "alerts": [
                {
                    "status": "resolved",
                    "labels": press,
                    "annotations": {"summary": "Back to normal"},
                    "startsAt": "2026-11-23T14:00:00Z",
                    "endsAt": "2026-11-23T14:30:00Z",
                    "fingerprint": "abc123",
                }
            ],
        },
    ]


# Reading, as the edge and the decision do --------------------------------------------------


def _checked(inbound: Inbound, where: str) -> str:
    inbound = cleaned(inbound)  # as the core takes it
    assert "\r" not in inbound.sender and "\n" not in inbound.sender, where
    assert "\x00" not in inbound.subject + inbound.text + inbound.sender_name, where
    for item in inbound.attachments:
        assert "/" not in item.filename and "\\" not in item.filename, where
    json.dumps(inbound.extras)  # stored with the message
    return READ


def _telegram(body: bytes, where: str) -> str:
    try:  # the edge: 400 when this refuses
        update = updates.load(body)
        record = telegram_edge.incoming(update, body, "webhook")
    except IntakeError:
        return REFUSED
    json.dumps(record.meta)
    telegram_edge.callback_answer(update)
    msg = updates.message(update)
    if msg is not None:
        updates.files(msg), updates.command(msg), updates.private(msg)
    try:
        inbound = telegram_parse(body, record.meta)  # the decision: parked when this refuses
    except IntakeError:
        return PARKED
    return _checked(inbound, where)


def _whatsapp(body: bytes, where: str) -> str:
    try:
        items = split(body)
    except IntakeError:
        return REFUSED
    outcome = READ
    for item in items:
        if item.kind != MESSAGE:
            continue
        try:
            _checked(whatsapp_parse(item.raw, {"kind": item.kind}), where)
        except IntakeError:
            outcome = PARKED
    return outcome


def _alerts(kind: str) -> Callable[[bytes, str], str]:
    def read(body: bytes, where: str) -> str:
        try:
            group = FORMATS[kind](body)
        except IntakeError:
            return REFUSED
        assert group.alerts, where
        alerts_parse(body, {"format": kind})  # what the decision reads again
        return READ

    return read


FORMATS_UNDER_TEST: dict[str, tuple[Callable[[], list[Any]], Callable[[bytes, str], str]]] = {
    "telegram": (functools.cache(_telegram_seeds), _telegram),
    "whatsapp": (functools.cache(_whatsapp_seeds), _whatsapp),
    "alertmanager": (functools.cache(_alertmanager_seeds), _alerts("alertmanager")),
    "generic": (functools.cache(_generic_seeds), _alerts("generic")),
}


# The mutations -----------------------------------------------------------------------------

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**31, 2**63, 10**30, -(10**30), "", " ", "0", "-1",
    "99999999999999999999", "a\x00b", "line\r\nBcc: x@y", "\u202eevil", "💥" * 10, "x" * 100_000,
    [], {}, [None], {"": None}, "\ud800", "../../etc/passwd", "<script>alert(1)</script>",
]  # fmt: skip


def _odd(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(ODD_VALUES))


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


def _odd_node(seed: Any, rng: random.Random) -> Any:
    path = rng.choice(list(_paths(seed)))
    return _set(seed, path, _odd(rng))


def _retype(seed: Any, rng: random.Random) -> Any:
    """A number becomes a string and a string a number, as loosely typed senders do."""
    path = rng.choice(list(_paths(seed)))
    value = _get(seed, path)
    if isinstance(value, bool):
        new: Any = str(value).lower()
    elif isinstance(value, (int, float)):
        new = str(value)
    elif isinstance(value, str):
        new = int(value) if value.lstrip("-").isdigit() else rng.choice([0, 1, -5, 3.25, None])
    else:
        new = rng.choice([json.dumps(value), None, 0])
    return _set(seed, path, new)


def _drop_key(seed: Any, rng: random.Random) -> Any:
    dicts = [p for p in _paths(seed) if isinstance(_get(seed, p), dict) and _get(seed, p)]
    if dicts:
        node = _get(seed, rng.choice(dicts))
        del node[rng.choice(list(node))]
    return seed


def _add_key(seed: Any, rng: random.Random) -> Any:
    dicts = [p for p in _paths(seed) if isinstance(_get(seed, p), dict)]
    node = _get(seed, rng.choice(dicts)) if dicts else {}
    node[rng.choice(["message", "entry", "alerts", "from", "x" * 300, "", "__proto__"])] = _odd(rng)
    return seed


def _grow_list(seed: Any, rng: random.Random) -> Any:
    lists = [p for p in _paths(seed) if isinstance(_get(seed, p), list) and _get(seed, p)]
    if lists:
        node = _get(seed, rng.choice(lists))
        node.extend([node[0]] * rng.choice([1, 2, 10, 50, 300]))  # the same item again
    return seed


def _nest(seed: Any, rng: random.Random) -> Any:
    path = rng.choice(list(_paths(seed)))
    value: Any = _get(seed, path)
    for _ in range(rng.randint(50, 400)):
        value = rng.choice([[value], {"a": value}])
    return _set(seed, path, value)


def _top_level(seed: Any, rng: random.Random) -> Any:
    return rng.choice([[seed], json.dumps(seed), None, 42, [], "ok"])


JSON_MUTATIONS = [_odd_node, _retype, _drop_key, _add_key, _grow_list, _nest, _top_level]


def _cut(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def _flip(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 10)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _encoding(raw: bytes, rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"\xef\xbb\xbf" + raw,
            raw.decode().encode("utf-16"),
            raw.replace(b'"', b"\xff", 1),
            raw + b"\x00",
            raw.replace(b":", b":\x00", 1),
        ]
    )


def _tokens(raw: bytes, rng: random.Random) -> bytes:
    """What Python's JSON reads but JSON does not have, and a key given twice."""
    token = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-0", b"1" * 5000])
    at = raw.find(b":", rng.randrange(len(raw)))
    if at < 0:
        return raw
    end = at + 1
    while end < len(raw) and raw[end : end + 1] not in (b",", b"}", b"]"):
        end += 1
    doubled = raw[:at] + b":" + token + raw[end:]
    return doubled.replace(b"{", b'{"update_id": 1, "update_id": "x", ', 1) if rng.random() < 0.2 else doubled  # fmt: skip


def _deep(raw: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([1_000, 10_000, 100_000])
    return b"[" * depth + b"]" * depth if rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth  # fmt: skip


BYTE_MUTATIONS = [_cut, _flip, _encoding, _tokens, _deep]


def mutated(name: str, seed: Any, n: int, rng: random.Random) -> tuple[bytes, str]:
    """The n-th mutation of ``seed`` (its JSON) and the mutation's name."""
    mutations: list[Any] = [*JSON_MUTATIONS, *BYTE_MUTATIONS]
    mutate = mutations[n % len(mutations)]
    if mutate in JSON_MUTATIONS:
        value = mutate(json.loads(_text(seed)), rng)  # a fresh copy, faster than deepcopy
        if rng.random() < 0.3:  # two mutations at once, now and then
            value = rng.choice(JSON_MUTATIONS)(value, rng) if value is not None else value
        raw = json.dumps(value).encode()
    else:
        raw = mutate(_text(seed).encode(), rng)
    return raw, mutate.__name__


_TEXTS: dict[int, str] = {}


def _text(seed: Any) -> str:
    """The seed's JSON, made once (the seeds live as long as the test)."""
    found = _TEXTS.get(id(seed))
    if found is None:
        found = _TEXTS[id(seed)] = json.dumps(seed)
    return found


def _attack(job: tuple[str, int, int]) -> dict[str, int]:
    """``count`` mutations of one format from ``seed``: counts of what became of them."""
    name, seed_number, count = job
    seeds_of, read = FORMATS_UNDER_TEST[name]
    seeds = seeds_of()
    rng = random.Random(f"{name}-{seed_number}")
    outcomes = {REFUSED: 0, READ: 0, PARKED: 0}
    for n in range(count):
        seed = seeds[n % len(seeds)]
        raw, how = mutated(name, seed, n, rng)
        where = f"{name}: mutation {how} #{n} of seed {n % len(seeds)} (rng {name}-{seed_number})"
        try:
            outcomes[read(raw, where)] += 1
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - what this test exists to find
            raise AssertionError(f"{where}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    return outcomes


def test_over_100000_mutated_webhook_bodies_are_refused_or_read_never_a_crash() -> None:
    per_format = TOTAL // len(FORMATS_UNDER_TEST)
    for seeds_of, _ in FORMATS_UNDER_TEST.values():
        for seed in seeds_of():  # made once, before the fork: both workers share them
            _text(seed)
    jobs = [(name, part, per_format // 8) for name in FORMATS_UNDER_TEST for part in range(8)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_attack, jobs, chunksize=1)
    totals: dict[str, dict[str, int]] = {}
    for (name, _, _), outcome in zip(jobs, results, strict=True):
        for key, count in outcome.items():
            totals.setdefault(name, {}).setdefault(key, 0)
            totals[name][key] += count
    seen = sum(sum(o.values()) for o in totals.values())
    assert seen >= 100_000, totals
    for name, outcome in totals.items():  # the mutations are not all refused at the door
        assert outcome[READ] > sum(outcome.values()) * 0.2, (name, outcome)
        assert outcome[REFUSED] > 0, (name, outcome)


# A sample over HTTP, with the database and the workers behind ---------------------------------


@pytest.fixture
def settings(tmp_path: Path, database_url: str, broker_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        broker_url,
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_api_url="http://127.0.0.1:9",  # nothing listens: acknowledgements wait
        telegram_mode="webhook",
        telegram_webhook_secret=TELEGRAM_SECRET,
        public_url="https://support.example",
        whatsapp_token=WHATSAPP_TOKEN,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        whatsapp_api_url="http://127.0.0.1:9",
        whatsapp_template="ticket_update",
        alerts_token=ALERTS_TOKEN,
        delivery_max_attempts=1,
        delivery_outage_hours=1e-6,  # the platforms stay down: park at once, as an old outage
    )


def _post(client: TestClient, name: str, raw: bytes) -> Any:
    if name == "telegram":
        headers = {"Content-Type": "application/json", telegram_edge.SECRET_HEADER: TELEGRAM_SECRET}
        return client.post(telegram_edge.PATH, content=raw, headers=headers)
    if name == "whatsapp":
        return client.post("/whatsapp/webhook", content=raw, headers=sign(raw))
    headers = {"Authorization": f"Bearer {ALERTS_TOKEN}", "Content-Type": "application/json"}
    return client.post(f"/alerts/{name}", content=raw, headers=headers)


def test_a_sample_of_mutated_webhook_bodies_over_http_is_answered_4xx_or_stored_and_decided(
    harness: Harness, system: System, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(system.web_app(), raise_server_exceptions=False)
    answered: dict[str, dict[int, int]] = {}
    for name, (seeds_of, _) in FORMATS_UNDER_TEST.items():
        seeds, rng = seeds_of(), random.Random(f"http-{name}")
        for n in range(HTTP_SAMPLE):
            raw, how = mutated(name, seeds[n % len(seeds)], n, rng)
            response = _post(client, name, raw)
            where = f"{name}: {how} #{n}: {response.status_code} {response.text[:300]}"
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert response.json()["error"]["code"], where
            counts = answered.setdefault(name, {})
            counts[response.status_code] = counts.get(response.status_code, 0) + 1
    harness.settle(timeout=120)
    with harness.ctx.db.reading() as session:
        records = list(session.execute(select(InboundRecord)).scalars())
    assert records, answered
    assert not [r.id for r in records if r.status == InboundStatus.PENDING], "left undecided"
    crashed = [(r.channel, r.id, r.reason) for r in records if "error" in (r.rules_fired or [])]
    assert not crashed, crashed[:5]
    for name, counts in answered.items():
        assert any(200 <= code < 300 for code in counts), (name, counts)
        assert any(400 <= code < 500 for code in counts), (name, counts)
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelname in ("ERROR", "CRITICAL")]
    assert not tracebacks, [r.getMessage() for r in tracebacks[:5]]
