"""100,000+ mutated real-world messages through the email parser: each is read, or
refused with a clear reason (IntakeError, the record then parked with its bytes);
nothing else ever escapes, and what is read is safe to use.

The mutations are the ways mail breaks in transit and in bad clients: cut short,
bytes flipped, a boundary lost, headers doubled or folded badly, a charset that
does not exist, base64 that is not, NULs, a line of 100,000 bytes, CR without LF.
Seeded, so a failure names the fixture, the mutation and the seed to replay it.
"""

from __future__ import annotations

import multiprocessing
import random
import re
from collections.abc import Callable
from pathlib import Path

from channels.email.parse import external_id_of, parse
from core.errors import IntakeError
from core.values import cleaned

FIXTURES = sorted((Path(__file__).parent / "fixtures").rglob("*.eml"))
PER_FIXTURE = max(1, 105_000 // max(1, len(FIXTURES)))


def _cut(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def _flip(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 20)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _lose_boundary(raw: bytes, rng: random.Random) -> bytes:
    return re.sub(rb"\n--[^\r\n]+", b"\n--", raw, count=rng.randint(1, 3))


def _double_headers(raw: bytes, rng: random.Random) -> bytes:
    head, _, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    for _ in range(rng.randint(1, 5)):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
    return b"\n".join(lines) + b"\n\n" + body


def _bad_fold(raw: bytes, rng: random.Random) -> bytes:
    return raw.replace(b"\n", b"\n \t", rng.randint(1, 4))


def _bad_charset(raw: bytes, rng: random.Random) -> bytes:
    name = rng.choice([b"x-unknown-8", b"utf-7", b"", b'"', b"utf-8\x00", b"iso-8859-99"])
    return re.sub(rb"charset=\"?[\w-]+\"?", b"charset=" + name, raw, flags=re.IGNORECASE)


def _bad_base64(raw: bytes, rng: random.Random) -> bytes:
    return re.sub(rb"(base64\r?\n\r?\n)", rb"\1!!!*not base64*===\n", raw, count=2)


def _nul(raw: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + b"\x00" * rng.randint(1, 50) + raw[at:]


def _long_line(raw: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + b"x" * 100_000 + raw[at:]


def _bare_cr(raw: bytes, rng: random.Random) -> bytes:
    return raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r")


def _odd_addresses(raw: bytes, rng: random.Random) -> bytes:
    value = rng.choice(
        [b"<>", b"a@b@c", b'"x\r\ny" <z@w>', b"=?utf-8?b?!!!?= <a@b>", b"@", b"undisclosed:;"]
    )
    return re.sub(rb"(?im)^from:.*$", b"From: " + value, raw, count=1)


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    _cut, _flip, _lose_boundary, _double_headers, _bad_fold, _bad_charset, _bad_base64,
    _nul, _long_line, _bare_cr, _odd_addresses,
]  # fmt: skip


def _attack(index: int) -> tuple[int, int, int]:
    """One fixture's mutations: (seen, read, refused); raises naming the first failure."""
    path = FIXTURES[index]
    original = path.read_bytes()
    rng = random.Random(index)
    seen = read = refused = 0
    for n in range(PER_FIXTURE):
        mutate = MUTATIONS[n % len(MUTATIONS)]
        raw = mutate(original, rng)
        where = f"{path.name}, mutation {mutate.__name__} #{n} (seed {index})"
        seen += 1
        assert external_id_of(raw), where
        try:
            inbound = cleaned(parse(raw, {}))  # as the core takes it
        except IntakeError as exc:
            refused += 1
            assert str(exc), where
            continue
        except Exception as exc:  # noqa: BLE001 - what this test exists to find
            raise AssertionError(f"{where}: {type(exc).__name__}: {exc}") from exc
        read += 1
        assert "\r" not in inbound.sender and "\n" not in inbound.sender, where
        assert "\x00" not in inbound.subject + inbound.text + inbound.sender_name, where
        for item in inbound.attachments:
            assert "/" not in item.filename and "\\" not in item.filename, where
    return seen, read, refused


def test_over_100000_mutated_real_world_messages_are_read_or_refused_never_a_crash() -> None:
    assert len(FIXTURES) >= 500, "the real-world-shaped corpus is missing"
    # Both cores: the corpus is large and each fixture's run is independent.
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_attack, range(len(FIXTURES)), chunksize=8)
    seen, read, refused = (sum(r[i] for r in results) for i in range(3))
    assert seen >= 100_000
    assert read > seen * 0.5, f"only {read} of {seen} read; {refused} refused"
