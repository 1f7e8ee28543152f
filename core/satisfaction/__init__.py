"""After a resolution the client is asked "Is it fixed?" and for a 1-5 rating, with
an optional comment, on their own channel.

- ``config``: the policy's ``[satisfaction]`` section, checked at start.
- ``asking``: the question, queued with the resolution (outbox kind ``satisfaction``).
  Email carries links; every channel gets ``extras["buttons"]``, a list of
  ``(id, title)`` a chat sender can show as buttons (``BUTTONS`` below).
- ``answering``: one answer per resolution; answering again changes it (audited
  with what it was). "Not fixed" reopens the ticket; a low rating notifies the leads.

A button id is ``sat:TOKEN:CHOICE``: TOKEN is the signed resolution token of the
links (``core.tokens.satisfaction_token``), CHOICE is ``fixed``, ``notfixed`` or a
rating ``1``..``5``. A chat channel hands a pressed button's id to
``answering.press``.
"""

from __future__ import annotations

BUTTON_PREFIX = "sat"
# (choice, title), in the order a sender shows them; one that can show only a few
# (WhatsApp reply buttons: 3) shows the first ones, and the message's link has the rest.
BUTTONS: tuple[tuple[str, str], ...] = (
    ("fixed", "Yes, it is fixed"),
    ("notfixed", "Not fixed"),
    ("5", "5 - excellent"),
    ("4", "4 - good"),
    ("3", "3 - fair"),
    ("2", "2 - poor"),
    ("1", "1 - very poor"),
)


def button_id(token: str, choice: str) -> str:
    return f"{BUTTON_PREFIX}:{token}:{choice}"
