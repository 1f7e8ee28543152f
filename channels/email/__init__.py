"""The email channel: SMTP and IMAP intake, the parser, and outbound mail.

Importing this package registers the ``email`` parser with ``core.intake``.
"""

from __future__ import annotations

from channels.email.parse import parse
from core import intake

intake.register_parser("email", parse)

__all__ = ["parse"]
