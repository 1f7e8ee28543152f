"""The Bot API through python-telegram-bot, for threads that are not on an event loop.

python-telegram-bot is asynchronous; the workers, the poller and the fetcher are
threads. ``BotApi`` runs one event loop on a thread of its own and hands each
call to it, waiting for the answer. The bot talks to ``api_url`` (Telegram, a
local Bot API server, or a loopback fake in tests).
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from telegram import Bot

T = TypeVar("T")


class BotApi:
    """One ``telegram.Bot`` and the event loop it runs on.

    Parameters:
      token: the bot token from BotFather.
      api_url: the Bot API's base URL, without ``/bot``.
    """

    def __init__(self, token: str, api_url: str, *, timeout: float = 30.0) -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: Bot | None = None

    @property
    def bot_id(self) -> str:
        """The bot's numeric id: the part of the token before the colon."""
        return self.token.split(":", 1)[0]

    def _start(self) -> tuple[asyncio.AbstractEventLoop, Bot]:
        with self._lock:
            if self._loop is None or self._bot is None:
                from telegram import Bot
                from telegram.request import HTTPXRequest

                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="telegram-api", daemon=True).start()
                request = HTTPXRequest(
                    connection_pool_size=16,
                    read_timeout=self.timeout,
                    write_timeout=self.timeout,
                    connect_timeout=10.0,
                    media_write_timeout=self.timeout * 2,
                )
                polling = HTTPXRequest(read_timeout=self.timeout + 60, connect_timeout=10.0)
                self._bot = Bot(
                    self.token,
                    base_url=f"{self.api_url}/bot",
                    base_file_url=f"{self.api_url}/file/bot",
                    request=request,
                    get_updates_request=polling,
                )
                self._loop = loop
            return self._loop, self._bot

    def call(self, work: Callable[[Bot], Awaitable[T]], timeout: float | None = None) -> T:
        """Run ``work(bot)`` on the bot's loop and return its result (or raise its error)."""
        loop, bot = self._start()

        async def run() -> T:
            return await work(bot)

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), loop)
        return future.result(timeout if timeout is not None else self.timeout + 90)

    def raw(self, method: str, read_timeout: float | None = None, **params: Any) -> Any:
        """A Bot API method with plain JSON parameters, its result as plain JSON (getUpdates
        keeps each update exactly as Telegram sent it, not as the library's objects)."""

        async def run(bot: Bot) -> Any:
            with warnings.catch_warnings():  # "use Bot.get_updates": we want the JSON itself
                warnings.simplefilter("ignore")
                return await bot.do_api_request(
                    method, api_kwargs=params, read_timeout=read_timeout or self.timeout
                )

        return self.call(run, timeout=(read_timeout or self.timeout) + 30)

    def close(self) -> None:
        with self._lock:
            loop, bot = self._loop, self._bot
            self._loop = self._bot = None
        if loop is None or bot is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(bot.shutdown(), loop).result(5)
        except Exception:  # shutting down: nothing more to do about it
            pass
        loop.call_soon_threadsafe(loop.stop)
