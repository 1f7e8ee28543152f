"""Unguessable tokens: signed reply tokens and random tracking tokens.

Reply tokens go into addresses (``support+TOKEN@``) and Message-IDs, where case
may be folded, so they are lowercase: ``<ticket id in base 36>-<16 hex of HMAC>``.
Acknowledgement links in escalation pings, and the links that prove a client's
other address, carry an itsdangerous timed signature.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

_DIGITS = string.digits + string.ascii_lowercase


def _b36(number: int) -> str:
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = _DIGITS[rem] + out
        if not number:
            return out


def _mac(key: bytes, purpose: str, body: str) -> str:
    return hmac.new(key, f"{purpose}:{body}".encode(), hashlib.sha256).hexdigest()[:16]


def reply_token(key: bytes, ticket_id: int) -> str:
    body = _b36(ticket_id)
    return f"{body}-{_mac(key, 'reply', body)}"


def parse_reply_token(key: bytes, token: str) -> int | None:
    """The ticket id a reply token names, or None if it is forged or malformed."""
    token = token.strip().lower()
    body, _, mac = token.partition("-")
    if not body or len(mac) != 16 or any(c not in _DIGITS for c in body):
        return None
    if not hmac.compare_digest(mac, _mac(key, "reply", body)):
        return None
    return int(body, 36)


def satisfaction_token(key: bytes, resolution_id: int) -> str:
    """The signed token in a satisfaction question's links and buttons: it names one
    resolution record. Short (``<id in base 36>-<16 hex>``) so a chat button's id
    holds it (Telegram allows 64 bytes of callback data)."""
    body = _b36(resolution_id)
    return f"{body}-{_mac(key, 'satisfaction', body)}"


def parse_satisfaction_token(key: bytes, token: str) -> int | None:
    """The resolution id a satisfaction token names, or None if it is forged or malformed."""
    body, _, mac = token.strip().lower().partition("-")
    if not body or len(body) > 13 or len(mac) != 16 or any(c not in _DIGITS for c in body):
        return None
    if not hmac.compare_digest(mac, _mac(key, "satisfaction", body)):
        return None
    return int(body, 36)


ACK_LINK_HOURS = 24  # how long an escalation ping's acknowledgement link works


def _ack_serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="switchboard-escalation-ack")


def ack_token(key: bytes, escalation_id: int, agent_id: int) -> str:
    """A signed, expiring token naming one escalation and the agent it was sent to:
    the acknowledgement link in an escalation ping (email, Telegram)."""
    return _ack_serializer(key).dumps([escalation_id, agent_id])


def parse_ack_token(key: bytes, token: str) -> tuple[int, int] | None:
    """(escalation id, agent id) from an acknowledgement token, or None if it is
    forged, malformed or older than ``ACK_LINK_HOURS``."""
    try:
        value = _ack_serializer(key).loads(token, max_age=ACK_LINK_HOURS * 3600)
    except BadData:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        return None
    return value[0], value[1]


LINK_CODE_MINUTES = 15  # how long a code sent to a client's other address works


def _link_serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="switchboard-contact-link")


def link_token(key: bytes, code_id: int, code: str) -> str:
    """The signed token in the link sent with a one-time link code (to the address
    being proved): it names the code row and carries the code itself."""
    return _link_serializer(key).dumps([code_id, code])


def parse_link_token(key: bytes, token: str) -> tuple[int, str] | None:
    """(code id, code) from a link token, or None if it is forged, malformed or older
    than ``LINK_CODE_MINUTES``."""
    try:
        value = _link_serializer(key).loads(token, max_age=LINK_CODE_MINUTES * 60)
    except BadData:
        return None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and isinstance(value[1], str)
    ):
        return None
    return value[0], value[1]


LOGIN_LINK_MINUTES = 15  # how long a lead's login link (``agents login-link``) works
SIGN_IN_HOURS = 12  # how long a sign-in to the lead pages lasts


def _staff_serializer(key: bytes, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=f"switchboard-staff-{purpose}")


def staff_token(key: bytes, purpose: str, agent_id: int) -> str:
    """A signed, expiring token naming an agent: ``login`` (a login link) or
    ``session`` (the sign-in cookie of the lead pages)."""
    return _staff_serializer(key, purpose).dumps(agent_id)


def parse_staff_token(key: bytes, purpose: str, token: str, max_age_seconds: int) -> int | None:
    """The agent id a staff token names, or None if it is forged, malformed or too old."""
    try:
        value = _staff_serializer(key, purpose).loads(token, max_age=max_age_seconds)
    except BadData:
        return None
    return value if type(value) is int else None


def tracking_token() -> str:
    """A ticket's tracking nonce (stored on the ticket; replaced when its link is revoked)."""
    return secrets.token_urlsafe(18)


TRACKING_LINK_DAYS = 180  # how long a tracking link works after it was sent (default)


def _tracking_signer(key: bytes) -> TimestampSigner:
    return TimestampSigner(key, salt="switchboard-tracking")


def tracking_link_token(key: bytes, nonce: str) -> str:
    """The token in a tracking link: the ticket's nonce, when the link was made, and
    an HMAC over both. Revoking the link replaces the nonce, so every token made
    from the old one names nothing."""
    return _tracking_signer(key).sign(nonce).decode()


def parse_tracking_token(key: bytes, token: str, max_days: int) -> str | None:
    """The nonce a tracking token carries, or None if it is forged, malformed or
    older than ``max_days``."""
    if len(token) > 200:
        return None
    try:
        nonce = _tracking_signer(key).unsign(token, max_age=max_days * 86400).decode()
    except (BadData, UnicodeDecodeError):
        return None
    return nonce if len(nonce) >= 16 else None


def form_token(key: bytes, purpose: str, scope: str) -> str:
    """A form's anti-forgery token: an HMAC of the page it was served on (``scope``)."""
    return _mac(key, f"form:{purpose}", scope)


def check_form_token(key: bytes, purpose: str, scope: str, token: str) -> bool:
    return hmac.compare_digest(token.encode(), form_token(key, purpose, scope).encode())


def api_token() -> str:
    return "sbt_" + secrets.token_urlsafe(30)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def redact(token: str | None) -> str:
    """For logs: never print a token whole."""
    if not token:
        return ""
    return token[:4] + "…" if len(token) > 8 else "…"


RECEIPT_HOURS = 24  # how long the portal's confirmation page can be opened again


def _receipt_serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="switchboard-portal-receipt")


def receipt_token(key: bytes, ticket_id: int) -> str:
    """The signed token of the portal's confirmation page for one ticket."""
    return _receipt_serializer(key).dumps(ticket_id)


def parse_receipt_token(key: bytes, token: str) -> int | None:
    try:
        value = _receipt_serializer(key).loads(token, max_age=RECEIPT_HOURS * 3600)
    except BadData:
        return None
    return value if type(value) is int else None
