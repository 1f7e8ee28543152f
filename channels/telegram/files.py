"""Downloading the files an update names (``core.channel.Fetcher``): getFile, then the
file itself, before the message is decided and outside any transaction.

A file larger than Telegram hands to bots (20 MB through getFile) or than this
deployment keeps is not asked for: its note says so plainly, the message is still
recorded, and the client is told (``events``).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.telegram import updates
from channels.telegram.api import BotApi
from core.channel import Fetched

log = logging.getLogger(__name__)

TOO_LARGE = "larger than the 20 MB Telegram lets bots download, so it was not received"


def fetcher(api: BotApi) -> Any:
    def fetch(raw: bytes, meta: dict[str, Any], limit: int) -> list[Fetched]:
        msg = updates.message(updates.load(raw))
        if msg is None:
            return []
        found: list[Fetched] = []
        for ref in updates.files(msg):
            base = Fetched(ref.file_id, ref.filename, ref.content_type)
            if ref.size is not None and ref.size > updates.MAX_FILE_BYTES:
                found.append(_with(base, problem=TOO_LARGE))
            elif ref.size is not None and ref.size > limit:
                found.append(_with(base, problem=f"larger than {limit} bytes: not kept"))
            else:
                found.append(_download(api, base))
        return found

    return fetch


def _download(api: BotApi, base: Fetched) -> Fetched:
    from telegram.error import BadRequest

    async def get(bot: Any) -> bytes:
        remote = await bot.get_file(base.ref)
        if remote.file_size is not None and remote.file_size > updates.MAX_FILE_BYTES:
            raise _TooLarge
        return bytes(await remote.download_as_bytearray())

    try:
        return _with(base, data=api.call(get))
    except _TooLarge:
        return _with(base, problem=TOO_LARGE)
    except BadRequest as exc:  # "file is too big", an expired or unknown id: say which
        if "too big" in str(exc).lower():
            return _with(base, problem=TOO_LARGE)
        log.info("telegram: file %s could not be fetched: %s", base.ref[:16], exc)
        return _with(base, problem=f"could not be fetched: {exc}")


class _TooLarge(Exception):
    pass


def _with(base: Fetched, *, data: bytes | None = None, problem: str = "") -> Fetched:
    return Fetched(base.ref, base.filename, base.content_type, data, problem)
