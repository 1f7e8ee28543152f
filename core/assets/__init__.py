"""Machines, sites and work orders as records, and what a ticket knows of them.

- ``records``: find or create a record by its reference (tag, code, number), and
  create or update one from the API or the command line (audited)
- ``links``: tie a ticket to the records its fields name, creating them on the fly
- ``history``: a machine's story: its tickets, resolutions, open work orders and
  the alerts firing on it now
"""
