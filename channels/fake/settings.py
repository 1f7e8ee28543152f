"""Settings of the fake channel (``SWITCHBOARD_FAKE_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings


class FakeSettings(BaseSettings):
    if TYPE_CHECKING:
        data_dir: Path  # the core's setting (config.settings)

    fake_outbox: Path | None = Field(
        None,
        description="File the fake channel appends deliveries to; empty: DATA_DIR/fake-outbox.jsonl.",
    )

    @property
    def fake_outbox_path(self) -> Path:
        return self.fake_outbox or self.data_dir / "fake-outbox.jsonl"
