"""Tickets: the lifecycle table, the actions that change a ticket, and its views."""
