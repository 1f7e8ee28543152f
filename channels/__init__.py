"""Channel adapters: each translates native payloads to and from core values.

A channel package registers its inbound parser with ``core.intake`` and offers a
``Sender`` for outbound deliveries. ``senders(settings)`` builds the senders the
workers use, by channel name.
"""
