"""Settings, default policies, logging and the command line."""
