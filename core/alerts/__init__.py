"""Alerts from monitoring: each alert of a notification opens, updates or resolves a ticket.

A monitoring system (Prometheus Alertmanager, or anything speaking the generic
JSON format) is not a person: its channel is never written to. Its notifications
are stored like any message (``channels/alerts``), then a worker hands each group
to ``apply``: per alert, by fingerprint, the outcome follows from what is already
known of it (the ``alerts`` table):

- a firing alert never seen opens a ticket (priority, category, queue and machine
  from the policy's ``[alerts]`` mapping), carrying labels, annotations and links;
- the same alert again appends to its ticket only when something changed (its
  annotations, labels or link, or it fired again after clearing): never a second
  ticket while the first is open; a closed one gets a new, linked ticket;
- a resolved alert adds a note, and resolves the ticket where the policy says so.

Parts: ``values`` (the neutral alert values), ``policy`` (the mapping),
``text`` (what agents read), ``apply`` (the decisions).
"""
