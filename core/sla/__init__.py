"""SLA: business calendars, policies, running clocks per ticket, the clock's checkpoints, reports."""
