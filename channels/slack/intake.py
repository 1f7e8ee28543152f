"""Slack as an intake channel: a stored message event becomes an ``Inbound``.

A message from someone who is not an agent, in a DM with the bot or in a
configured intake channel, goes through ``core.intake.receive`` like an email.
Its external id is ``CHANNEL:TS``; a message in a thread references
``CHANNEL:THREAD_TS``, so the references rule finds the ticket, and replies go
back into the same thread (``SlackSender`` reads the conversation from them).
The files the client shared are on the ticket as downloaded beforehand
(``channels.slack.files``); one that could not be had is listed with its link.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.errors import IntakeError
from core.intake.fetch import attached
from core.values import AttachmentIn, Inbound

CHANNEL = "slack"


def external_id_of(event: dict[str, Any]) -> str:
    return f"{event['channel']}:{event['ts']}"


def parse(raw: bytes, meta: dict[str, Any]) -> Inbound:
    try:
        event = json.loads(raw)
        channel, ts, user = event["channel"], event["ts"], event["user"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntakeError(f"not a Slack message event: {exc}") from exc
    from channels.slack.work import plain

    text = plain(event.get("text") or "")
    attachments: list[AttachmentIn] = []
    unfetched = []
    for item in [f for f in event.get("files") or [] if isinstance(f, dict)]:
        got = attached(meta, str(item.get("id") or ""), str(item.get("name") or ""))
        if isinstance(got, AttachmentIn):
            attachments.append(got)
        else:  # not downloaded (too large, deleted...): the agent gets its link
            unfetched.append(item)
    if unfetched:
        text += "\n\nFiles shared in Slack:\n" + "\n".join(
            f"- {f.get('name', 'file')}: {f.get('permalink') or f.get('url_private', '')}"
            for f in unfetched
        )
    thread_ts = event.get("thread_ts")
    references = (f"{channel}:{thread_ts}",) if thread_ts and thread_ts != ts else ()
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    return Inbound(
        channel=CHANNEL,
        external_id=f"{channel}:{ts}",
        sender=user,
        sender_name=str(event.get("user_name") or ""),
        subject=first_line[:120],
        text=text,
        references=references,
        attachments=tuple(attachments),
        received_at=datetime.fromtimestamp(float(ts), UTC),
        extras={"channel": channel, "thread_ts": thread_ts or ts},
    )
