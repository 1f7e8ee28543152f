"""The JSON API's request bodies: what each endpoint accepts, validated before any action."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field


class Requester(BaseModel):
    channel: str = Field("email", description="email, telegram, whatsapp, slack, web or fake")
    address: str = Field(min_length=1, max_length=320)
    name: str = ""


class OpenBody(BaseModel):
    subject: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1)
    requester: Requester
    priority: Literal["P1", "P2", "P3", "P4"] | None = None
    category: str | None = None
    queue: str | None = None
    asset: str | None = None
    site: str | None = None
    work_order: str | None = None
    location: str | None = None
    send_ack: bool = True


class Override(BaseModel):
    override_reason: str | None = Field(
        None, description="A lead's written reason to override a rule."
    )


class AssignBody(Override):
    agent: str = Field(description="'me', an agent id, or an agent's email")


def _base64(value: object) -> bytes:
    """Standard base64 (line breaks allowed), strictly: a stray character is an error,
    never skipped."""
    if not isinstance(value, str):
        raise ValueError("must be a string of base64")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"is not base64 ({exc})") from None


class FileBody(BaseModel):
    """A file sent in a JSON body: its name, its type, and its bytes in base64."""

    filename: str = Field(min_length=1, max_length=300)
    content_type: str = Field("", max_length=200, description="guessed from the name when empty")
    content_base64: Annotated[bytes, BeforeValidator(_base64)]


class MessageBody(Override):
    """A reply or a note: its text and files (at least one of the two)."""

    text: str = ""
    attachments: list[FileBody] = Field(default_factory=list)


class HoldBody(Override):
    reason: Literal["waiting_on_client", "pending_parts", "other"]
    parts_ref: str | None = None
    hold_note: str | None = Field(None, alias="note")  # the request says "note"
    until: AwareDatetime | None = None  # when it will be looked at again (told to the client)


class DoneBody(BaseModel):
    note: str = Field("", max_length=2000)


class RevokeBody(BaseModel):
    reason: str = ""


class ResolveBody(Override):
    code: str
    steps: str


class CloseBody(Override):
    code: str | None = None
    steps: str | None = None


class ReopenBody(Override):
    reason: str = ""


class PriorityBody(Override):
    priority: Literal["P1", "P2", "P3", "P4"]
    reason: str = ""


class CategoryBody(Override):
    category: str


class QueueBody(Override):
    queue: str


class LinkBody(Override):
    asset: str | None = None
    site: str | None = None
    work_order: str | None = None
    location: str | None = None


class MergeBody(Override):
    into: str


class EscalateBody(Override):
    reason: str = Field(min_length=1)


# Machines, sites and work orders (channels/web/assets.py) ---------------------------


class SiteBody(BaseModel):
    name: str | None = Field(None, max_length=200)
    address: str | None = None


class NewSite(SiteBody):
    code: str = Field(min_length=1, max_length=120, description="The site's code, e.g. PLANT-N")


class AssetBody(BaseModel):
    name: str | None = Field(None, max_length=200)
    model: str | None = Field(None, max_length=200)
    serial: str | None = Field(None, max_length=120)
    location: str | None = Field(None, max_length=300)
    site: str | None = Field(None, description="A site code (created if new); empty: no site")
    attributes: dict[str, Any] | None = Field(
        None, description="Merged into the asset's attributes; a null value removes a key"
    )


class NewAsset(AssetBody):
    tag: str = Field(min_length=1, max_length=120, description="The asset's tag, e.g. PRESS-3")


class WorkOrderBody(BaseModel):
    title: str | None = Field(None, max_length=300)
    status: Literal["open", "closed"] | None = None
    asset: str | None = Field(None, description="An asset tag (created if new); empty: none")
    site: str | None = Field(None, description="A site code (created if new); empty: none")


class NewWorkOrder(WorkOrderBody):
    number: str = Field(min_length=1, max_length=120, description="The work order's number")
