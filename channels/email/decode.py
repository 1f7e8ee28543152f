"""Header values and text bytes to ``str``, forgiving the charsets mail really carries.

Mailers declare one charset and write in another (UTF-8 bytes labelled Latin-1 or
US-ASCII, Latin-1 bytes labelled UTF-8), name charsets Python does not know, send
raw 8-bit headers, or break RFC 2047 encoded words (spaces inside, no space after).
Nothing here raises and nothing leaves a raw ``=?...?=`` behind when it can be read.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from email.header import decode_header, make_header
from email.message import Message

# Charsets that mailers put on UTF-8 text by mistake: a valid multi-byte UTF-8
# sequence is almost never genuine text in these.
_SINGLE_BYTE = {
    "us-ascii",
    "ascii",
    "iso-8859-1",
    "iso8859-1",
    "latin-1",
    "latin1",
    "cp1252",
    "windows-1252",
    "iso-8859-15",
    "iso-8859-2",
    "windows-1250",
    "koi8-r",
    "windows-1251",
}
ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?(.*?)\?=", re.DOTALL)


def text_of(data: bytes, declared: str | None) -> str:
    """Bytes in a declared charset to text: the declared one if it fits, else UTF-8, else cp1252."""
    charset = (declared or "").strip().strip('"').lower()
    if charset in ("utf8", "utf-8") or not charset:
        return _utf8_else_cp1252(data)
    if charset in _SINGLE_BYTE and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError, ValueError):
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode(charset, errors="replace")
        except (LookupError, ValueError):
            return data.decode("cp1252", errors="replace")


def fix_8bit(value: str) -> str:
    """Undo surrogate-escaped raw 8-bit header bytes: UTF-8 first, then cp1252."""
    if not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    return _utf8_else_cp1252(value.encode("utf-8", "surrogateescape"))


def _utf8_else_cp1252(data: bytes) -> str:
    """The bytes as UTF-8 if they are that, else as cp1252 (what it lacks replaced)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _word(match: re.Match[str]) -> str:
    charset, kind, payload = match.group(1), match.group(2).upper(), match.group(3)
    charset = charset.split("*")[0]  # RFC 2231 language suffix
    try:
        if kind == "B":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = quopri.decodestring(payload.replace("_", " ").encode("latin-1", "replace"))
    except (binascii.Error, ValueError):
        return match.group(0)
    return text_of(data, charset)


def decode_words(value: str) -> str:
    """RFC 2047 encoded words to text, trying other charsets when the declared one is wrong."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
        recoded = [
            (text_of(data, charset).encode("utf-8"), "utf-8")
            if isinstance(data, bytes) and charset
            else (data, charset)
            for data, charset in chunks
        ]
        text = str(make_header(recoded))
    except Exception:  # a header the stdlib cannot split: decode word by word below
        text = value
    if "=?" in text:  # words the stdlib left alone (spaces inside, glued to text)
        text = ENCODED_WORD.sub(_word, text)
    return text


def _raw_headers(msg: Message, name: str) -> list[str]:
    lowered = name.lower()
    return [
        v if isinstance(v, str) else str(v)
        for k, v in getattr(msg, "_headers", [])
        if k.lower() == lowered
    ]


def decode_value(value: str) -> str:
    return " ".join(decode_words(fix_8bit(value)).split())


def header(msg: Message, name: str) -> str:
    """One header, decoded (RFC 2047, raw 8-bit); '' when absent or unreadable."""
    values = _raw_headers(msg, name)
    return decode_value(values[0]) if values else ""


def headers(msg: Message, name: str) -> list[str]:
    return [decode_value(v) for v in _raw_headers(msg, name)]
