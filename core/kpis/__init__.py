"""Figures for leads: a ticket's history folded into one row of facts (``facts``), the
KPIs read from those rows over a period (``report``), and the counts ``/metrics``
exposes (``metrics``)."""
