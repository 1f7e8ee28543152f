"""Message-IDs and reply addresses: the formats Switchboard writes and recognises.

Outbound Message-IDs look like ``<sb.{digest}.{token}@{domain}>``: ``digest`` comes
from the outbox row's key (a retry carries the same id), ``token`` is the ticket's
signed reply token, so a reply whose References keep only our id still threads.
Reply addresses look like ``support+{token}@{domain}``.
"""

from __future__ import annotations

import hashlib
import re
from email.utils import getaddresses

TOKEN_RE = re.compile(r"^[0-9a-z]{1,13}-[0-9a-f]{16}$")
OUR_ID_RE = re.compile(r"<?sb\.[0-9a-f]{20}\.([0-9a-z]{1,13}-[0-9a-f]{16})@", re.IGNORECASE)
ANGLE_RE = re.compile(r"<([^<>\s]+)>")


def message_id_for(key: str, token: str | None, domain: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return f"<sb.{digest}.{token or 'x-0000000000000000'}@{domain}>"


def token_in_message_id(value: str) -> str | None:
    match = OUR_ID_RE.search(value or "")
    if not match:
        return None
    token = match.group(1).lower()
    return None if token.startswith("x-") else token


def reply_address(support: str, token: str) -> str:
    local, _, domain = support.partition("@")
    return f"{local}+{token}@{domain}"


def split_plus(address: str) -> tuple[str, str | None]:
    """``support+tok@x`` -> (``support@x``, ``tok``); no plus part -> (address, None)."""
    address = address.strip().strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address, None
    base, plus, tag = local.partition("+")
    return f"{base}@{domain}", (tag if plus else None)


def token_in_address(address: str) -> str | None:
    _, tag = split_plus(address)
    return tag if tag and TOKEN_RE.match(tag) else None


def normalize_ids(value: str | None) -> list[str]:
    """Every ``<id>`` in a header value, in order; a bare id is taken whole."""
    if not value:
        return []
    found = ANGLE_RE.findall(value)
    if found:
        return [f"<{i}>" for i in found]
    bare = value.strip()
    return [f"<{bare}>"] if bare and " " not in bare and len(bare) < 900 else []


def domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def split_address(value: str) -> tuple[str, str]:
    """(local part, domain) of one email address, bare or as ``Name <addr>``.

    Raises ``ValueError`` naming the problem for anything else: no address, more
    than one, a group, control characters (a CR/LF would inject headers).
    """
    value = value.strip()
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError("it contains a line break or a control character")
    pairs = getaddresses([value]) if value else []
    addr = pairs[0][1] if len(pairs) == 1 else ""
    name_part = value[: -len(addr) - 2] if addr and value.endswith(f"<{addr}>") else None
    if not addr or (value != addr and name_part is None):
        raise ValueError("it is not one address")
    if name_part is not None and any(c in name_part for c in "<>@:;,"):
        raise ValueError("its name hides another address")
    local, at, domain = addr.rpartition("@")
    if not (local and at and domain) or any(c.isspace() or c in '<>,;:"()[]\\' for c in addr):
        raise ValueError("it is not of the form name@domain")
    return local, domain


def check_address(value: str) -> None:
    """The email channel's address check (raises ``ValueError`` naming the problem)."""
    split_address(value)
