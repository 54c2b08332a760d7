"""Exception hierarchy: every error greylogd reports to a user derives from GreylogdError.

Each error renders as one line naming what is wrong (file, line, column, field or address), because
admins read these in journald and cron mail, not in tracebacks.
"""

from __future__ import annotations


class GreylogdError(Exception):
    """Base of all errors a user should see as a one-line message."""


class ConfigError(GreylogdError):
    """A greyd.conf or command-line problem, located by file, line and column where known."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 col: int | None = None) -> None:
        self.message, self.file, self.line, self.col = message, file, line, col
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.col) if p is not None)
        return f"{where}: {self.message}" if where else self.message


class CaptureError(GreylogdError):
    """The netlink/NFLOG/NFQUEUE side failed in a way the daemon cannot recover from by itself."""


class StoreError(GreylogdError):
    """greyd's database could not be read or written; writes are kept and retried by the caller."""


class SchemaError(StoreError):
    """greyd's database exists but does not have greyd's schema: refuse to touch it."""


class InputError(GreylogdError):
    """An analysis input (log file, journal export, database file) is missing or unreadable."""
