"""The Graph API calls the WhatsApp channel makes, over httpx.

    POST /{version}/{phone-number-id}/messages     send a text, buttons, a template or a file
    POST /{version}/{phone-number-id}/media        upload a file (multipart): its media id
    GET  /{version}/{media-id}                     a media file's short-lived URL
    GET  <that URL>                                the file, with the same token

A Graph error becomes a ``GraphError`` with WhatsApp's code and title (its
``message``, and ``error_data.details`` when given); a call that never got an answer
is an ``OSError``-like ``httpx`` transport error, left to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class GraphError(Exception):
    """WhatsApp answered with an error: ``code`` is its error code (131047, 130429...)."""

    def __init__(self, status: int, code: int, title: str, details: str = "") -> None:
        self.status, self.code, self.title, self.details = status, code, title, details
        super().__init__(f"WhatsApp error {code}: {title}" + (f" ({details})" if details else ""))


@dataclass(frozen=True)
class Media:
    url: str
    mime_type: str
    size: int | None


class Graph:
    """One phone number's Graph API client (one connection pool, safe across threads)."""

    def __init__(self, base_url: str, version: str, token: str, phone_number_id: str) -> None:
        self.base = f"{base_url.rstrip('/')}/{version}"
        self.phone_number_id = phone_number_id
        self.http = httpx.Client(
            timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"}, follow_redirects=True
        )

    def close(self) -> None:
        self.http.close()

    def send(self, body: dict[str, Any]) -> str:
        """POST a message; its wamid."""
        response = self.http.post(f"{self.base}/{self.phone_number_id}/messages", json=body)
        data = _checked(response)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise GraphError(
                response.status_code, 0, f"no message id in the answer: {data}"
            ) from None

    def upload(self, data: bytes, filename: str, mime_type: str) -> str:
        """Upload a file to send (WhatsApp keeps it for 30 days); its media id."""
        response = self.http.post(
            f"{self.base}/{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, data, mime_type)},
        )
        answer = _checked(response)
        if not answer.get("id"):
            raise GraphError(response.status_code, 0, f"no media id in the answer: {answer}")
        return str(answer["id"])

    def media(self, media_id: str) -> Media:
        response = self.http.get(
            f"{self.base}/{media_id}", params={"phone_number_id": self.phone_number_id}
        )
        data = _checked(response)
        size = str(data.get("file_size") or "")
        return Media(
            url=str(data["url"]),
            mime_type=str(data.get("mime_type") or "application/octet-stream"),
            size=int(size) if size.isdigit() else None,
        )

    def download(self, url: str, limit: int) -> bytes | None:
        """The file's bytes, or None once it grows past ``limit``."""
        with self.http.stream("GET", url) as response:
            if response.status_code >= 400:
                response.read()
                _checked(response)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)


def _checked(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code < 400 and isinstance(data, dict):
        return data
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        raise GraphError(response.status_code, 0, f"HTTP {response.status_code}")
    details = (error.get("error_data") or {}).get("details") or ""
    return _raise(response.status_code, error, str(details))


def _raise(status: int, error: dict[str, Any], details: str) -> dict[str, Any]:
    code = str(error.get("code") or "")
    raise GraphError(
        status,
        int(code) if code.isdigit() else 0,
        str(error.get("message") or error.get("title") or f"HTTP {status}"),
        details,
    )
