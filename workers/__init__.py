"""Dramatiq workers: deliver outbox rows, process inbound records, run the clock."""
