"""Where the tests find real servers, and what happens when one is absent.

Locally a missing server skips the tests that need it, with a message naming it.
With ``REQUIRE_SERVICES=1`` (CI) a missing server fails those tests instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import NoReturn
from urllib.parse import urlparse

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

POSTGRES_URL = os.environ.get(
    "SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP_URL = os.environ.get("SWITCHBOARD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1.0
        ):
            return True
    except OSError:
        return False


def need(name: str, url: str, default_port: int) -> None:
    """Skip (locally) or fail (CI) when the server at ``url`` cannot be reached."""
    if reachable(url, default_port):
        return
    message = (
        f"{name} is not reachable at {urlparse(url).hostname}:{urlparse(url).port or default_port}"
    )
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and REQUIRE_SERVICES=1: start it (see .ci/run)")
    pytest.skip(f"{message}; set REQUIRE_SERVICES=1 to make this a failure")


def postgres_database(name: str, template: str | None = None) -> tuple[str, Callable[[], None]]:
    """Create the database ``name`` on the test server (a copy of ``template`` if given):
    its URL, and the function that drops it."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def missing(what: str) -> NoReturn:
    """Skip (locally) or fail (CI) for a program the tests need that is not installed."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is not installed and REQUIRE_SERVICES=1 (see .ci/run)")
    pytest.skip(f"{what} is not installed; set REQUIRE_SERVICES=1 to make this a failure")


def chromium() -> str:
    """The path of a Chromium binary, or skip/fail like a missing server."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    missing("Chromium (apt-get install chromium)")
