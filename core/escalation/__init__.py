"""Escalation: frozen chains of steps, on-call rotations, staff notifications."""
