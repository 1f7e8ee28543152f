"""The desk's workflow rules, run by the clock beside the SLA.

- ``config``: the policy's ``[desk]`` section (limits per priority and queue, the
  queues' leads), checked at start.
- ``rules``: per ticket, since when it is unassigned or on hold and when the next
  rule is due (``Ticket.rule_due_at``, kept by every change).
- ``watch``: the clock's tick and checkpoint: an unassigned ticket past its limit
  escalates to the queue's lead, a hold past its limit is flagged for review and
  its owner reminded; each once per condition.
- ``followups``: what those rules (and a low satisfaction score) open for a person:
  follow-ups, listed, done by hand or when the condition ends.
"""
