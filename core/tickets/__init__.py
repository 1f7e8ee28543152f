"""Tickets: the lifecycle table, the one path every change takes (``change``), the
actions around it (``opening``, ``conversation``, ``workflow``, ``fields``), and the
read models (``views``, ``lists``)."""
