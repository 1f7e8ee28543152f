"""The one entry point for inbound messages: store raw, then decide, then change.

1. ``receive`` commits the raw payload (unique per channel and external id) and
   hands the record to a worker. A channel answers its caller only after this.
2. ``process`` parses the raw payload with the channel's parser into an
   ``Inbound``, runs the rule chain and applies the decision in one transaction.
   Anything that fails is parked with its reason: listed, and retryable.

The package's parts, along the route: ``records`` (store what arrived),
``frontdoor`` (store many at once, then hand over), ``decide`` (parse, rules,
apply or park), ``rules`` (the chain), ``recovery`` (re-send lost hand-overs).
The names channels use are handed on here.
"""

from __future__ import annotations

from core.intake.decide import process, process_many, retry
from core.intake.records import (
    BATCH,
    EVENT,
    Incoming,
    Received,
    hand_over_records,
    inbound_from_json,
    inbound_to_json,
    receive,
    receive_many,
)

__all__ = [
    "BATCH",
    "EVENT",
    "Incoming",
    "Received",
    "hand_over_records",
    "inbound_from_json",
    "inbound_to_json",
    "process",
    "process_many",
    "receive",
    "receive_many",
    "retry",
]
