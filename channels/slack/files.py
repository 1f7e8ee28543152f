"""Downloading the files shared in Slack (``core.channel.Fetcher``): an agent's file
in a ticket's thread goes to the client with the reply; a client's file in a DM
to the bot goes on their ticket.

A ``message`` event with files (subtype ``file_share``) names each file (Slack's
file object: ``id``, ``name``, ``mimetype``, ``size``, ``mode``,
``url_private_download``); the worker downloads them before the event is decided,
outside any transaction, with the bot token (scope ``files:read``). The token goes
only to Slack's own hosts (``files.slack.com``, ``*.slack.com`` and the Web API's
host, ``SWITCHBOARD_SLACK_API_URL``). A file that cannot be had is noted with the
reason in plain words (too large, deleted, hidden by the workspace's plan, a link
to another service, Slack refused), and the handler says so to the agent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.channel import Fetched, Fetcher

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
SLACK_HOSTS = ("slack.com", "slack-edge.com")


def shared(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The files a message event shares (Slack's file objects that have an id)."""
    return [f for f in event.get("files") or [] if isinstance(f, dict) and f.get("id")]


def fetcher(token: str, api_url: str) -> Fetcher:
    """The Slack channel's fetcher, downloading with ``token`` from Slack's hosts."""
    api_host = (urlsplit(api_url).hostname or "").lower()
    http = httpx.Client(
        timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False
    )

    def ours(url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return host == api_host or any(host == h or host.endswith("." + h) for h in SLACK_HOSTS)

    def fetch(raw: bytes, meta: dict[str, Any], limit: int) -> list[Fetched]:
        if meta.get("kind", "message") != "message":
            return []
        try:
            event = json.loads(raw)
        except ValueError:
            return []
        found = []
        for item in shared(event if isinstance(event, dict) else {}):
            base = Fetched(
                str(item["id"]),
                str(item.get("name") or item.get("title") or item["id"]),
                str(item.get("mimetype") or "application/octet-stream"),
            )
            problem = _unavailable(item, limit)
            url = str(item.get("url_private_download") or item.get("url_private") or "")
            if not problem and not ours(url):
                problem = "not stored on Slack (its address is another host's): not downloaded"
            found.append(
                replace(base, problem=problem) if problem else _download(http, base, url, limit)
            )
        return found

    return fetch


def _unavailable(item: dict[str, Any], limit: int) -> str:
    """Why a file cannot be downloaded, from its object alone; empty when it can."""
    mode = str(item.get("mode") or "hosted")
    if mode == "tombstone" or item.get("is_tombstoned"):
        return "deleted in Slack"
    if mode == "hidden_by_limit":
        return "hidden by the Slack workspace's plan limits"
    if mode == "external" or item.get("is_external"):
        return "a link to another service, not a file stored in Slack"
    size = item.get("size")
    if isinstance(size, int) and size > limit:
        return f"larger than {limit} bytes: not kept"
    return ""


def _download(http: httpx.Client, base: Fetched, url: str, limit: int) -> Fetched:
    try:
        with http.stream("GET", url) as response:
            if response.status_code in (301, 302, 303, 307, 308) or (
                "text/html" in response.headers.get("content-type", "")
                and "html" not in base.content_type
            ):  # Slack's sign-in page: the token may not read files
                return replace(
                    base,
                    problem="could not be downloaded: Slack asked to sign in "
                    "(the app needs the files:read scope)",
                )
            if response.status_code >= 400:
                return replace(
                    base, problem=f"could not be downloaded: Slack answered {response.status_code}"
                )
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    return replace(base, problem=f"larger than {limit} bytes: not kept")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        log.info("slack: file %s could not be downloaded: %s", base.ref, exc)
        return replace(base, problem=f"could not be downloaded: {type(exc).__name__}")
    return replace(base, data=b"".join(chunks))
