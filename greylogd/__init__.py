"""greylogd: keeps greyd's whitelisted senders white and reports what greylisting does."""

__version__ = "0.1.0"
