"""The fake channel: ships with the product and follows the real channels' contract.

Inbound: ``FakeChannel.receive()`` builds an ``Inbound`` and goes through the same
``core.intake.receive`` path as email or Telegram. Outbound: ``FakeSender``
appends each delivery to a JSON-lines file (``SWITCHBOARD_FAKE_OUTBOX``), once per
idempotency key, so tests and newcomers can see exactly what would have been sent.
It can be told to fail, to exercise retries and parking.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from channels.contract import Channel, Plug
from core import intake
from core.context import Context
from core.errors import DeliveryError
from core.values import AttachmentIn, Inbound, Outbound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from channels.fake.settings import FakeSettings
    from core.channel import Forget

NAME = "fake"


class FakeSender:
    """Records deliveries in a JSON-lines file; a repeated key is not written twice."""

    channel = NAME
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.fail_next: list[DeliveryError] = []

    def send(self, out: Outbound) -> str | None:
        with self._lock:
            if self.fail_next:
                raise self.fail_next.pop(0)
            for previous in read_outbox(self.path):
                if previous["key"] == out.key:
                    return str(previous["external_id"])
            external_id = f"fake-{uuid.uuid5(uuid.NAMESPACE_URL, out.key)}"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({**asdict(out), "external_id": external_id}) + "\n")
            return external_id


def forget_outbox(path: Path, keys: frozenset[str], addresses: frozenset[str]) -> int:
    """Rewrite the file without the deliveries of these keys or to these addresses (an
    erasure); how many lines went."""
    with FakeSender._lock:
        kept, gone = [], 0
        for line in read_outbox(path):
            if line["key"] in keys or line["recipient"] in addresses:
                gone += 1
            else:
                kept.append(json.dumps(line) + "\n")
        if gone:
            tmp = Path(path).with_suffix(".tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            tmp.replace(path)
        return gone


def forget(settings: FakeSettings, session: Session, what: Forget) -> None:
    """An erasure: the deliveries to the client in the JSON-lines file, once it commits."""
    from core.db import after_commit

    def remove() -> None:
        forget_outbox(settings.fake_outbox_path, what.keys, what.addresses)

    after_commit(session, remove)


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Everything the fake channel has delivered, oldest first."""
    path = Path(path)
    if not path.exists():
        return []
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


class FakeChannel:
    """Drives the whole system as a client on the fake channel would."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def receive(
        self,
        sender: str,
        text: str,
        *,
        subject: str = "",
        external_id: str | None = None,
        sender_name: str = "",
        references: tuple[str, ...] = (),
        reply_token: str | None = None,
        attachments: tuple[AttachmentIn, ...] = (),
        automatic: str = "",
        chat: str = "",
        new_ticket: bool = False,
    ) -> intake.Received:
        inbound = Inbound(
            channel=NAME,
            external_id=external_id or f"fake-in-{uuid.uuid4()}",
            sender=sender,
            sender_name=sender_name,
            subject=subject,
            text=text,
            references=references,
            reply_token=reply_token,
            attachments=attachments,
            automatic=automatic,
            chat=chat,
            new_ticket=new_ticket,
            received_at=self.ctx.now(),
        )
        return intake.receive(
            self.ctx,
            channel=NAME,
            external_id=inbound.external_id,
            raw=intake.inbound_to_json(inbound),
            transport="fake",
        )


def plug(ctx: Context, settings: FakeSettings) -> Plug:
    return Plug(sender=FakeSender(settings.fake_outbox_path))


CHANNEL = Channel.of(__name__, "Fake (JSON lines file)")
