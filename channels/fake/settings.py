"""Settings of the fake channel (``SWITCHBOARD_FAKE_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from config.core_settings import CoreSettings


class FakeSettings(CoreSettings):
    """The core's settings and the fake channel's: what its code is given."""

    fake_outbox: Path | None = Field(
        None,
        description="File the fake channel appends deliveries to; empty: DATA_DIR/fake-outbox.jsonl.",
    )

    @property
    def fake_outbox_path(self) -> Path:
        return self.fake_outbox or self.data_dir / "fake-outbox.jsonl"
