"""The ticket core: models, intake rules, lifecycle, actions, audit and outbox.

Nothing here imports a channel library (aiosmtpd, slack_bolt, telegram, imapclient).
"""
