"""Escalation: the chains from the policy (``config``), started (``starting``), stepped
(``stepping``, ``targets``) and acknowledged (``acknowledging``); on-call rotations and
staff notifications."""
