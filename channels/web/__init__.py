"""The web app: JSON API, health check, and the pages and webhooks of the channels."""
