"""The simulated site's fixed facts: greyd's timing parameters, our MX, users, spamtraps, process ids.

Timing defaults are greyd's code defaults (spec/greyd-compat.md 1.11), in seconds. Addresses come from the
documentation ranges (RFC 5737, RFC 3849) and the benchmarking range 198.18.0.0/15 (RFC 2544): nothing is
ever sent anywhere, these are only log text. Our own domain is the reserved example.org.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

SCAN_INTERVAL = 60  # greyd's GREY_DB_SCAN_INTERVAL, seconds
SCAN_PHASE = 10  # greyd's scans run at start + 60 k + 10 s: its clock is not aligned with the ledger's
POLL_INTERVAL = 20  # the ledger poller's period, seconds
DEFAULT_START = pd.Timestamp("2026-11-16T00:00:00Z")  # a Monday: the demo covers ISO week 2026-W47
DEFAULT_CONNECTIONS = 10_000

HOSTNAME = "mx1"
MX_IPV4 = "198.51.100.10"
MX_IPV6 = "2001:db8:1::10"
OUR_DOMAIN = "example.org"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
         "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "wendy", "info",
         "sales", "support", "billing", "jobs", "press", "office", "admin")
SPAMTRAPS = ("old-info@example.org", "sales2009@example.org", "trap@example.org")
BLACKLISTS = ("nixspam", "uatraps", "nixspam uatraps")
TRAPLIST_NAME = "greyd-greytrap"  # greyd's grey.traplist_name default (spec 3.4)

# One PID per greyd role (spec 5.2): scanner, firewall child, SMTP process, reader child; then greylogd.
PID_SCANNER, PID_FIREWALL, PID_SMTP, PID_READER, PID_GREYLOGD = 4077, 4078, 4079, 4080, 4093
BOOT_OFFSET_S = 412_233  # kernel uptime at the period's start, for the `[ uptime]` stamp


@dataclass(frozen=True, slots=True)
class GreyParams:
    """greyd's timing keys of section `grey`, in seconds (code defaults: 25 min, 4 h, 36 days, 1 day)."""

    pass_time: int = 1500
    grey_expiry: int = 14400
    white_expiry: int = 3110400
    trap_expiry: int = 86400

    def __post_init__(self) -> None:
        for name in ("pass_time", "grey_expiry", "white_expiry", "trap_expiry"):
            if getattr(self, name) <= 0:
                raise ValueError(f"GreyParams.{name} must be a positive number of seconds")


def our_addresses() -> tuple[str, ...]:
    """Every recipient address of our site that exists (users), lower-cased as greyd stores them."""
    return tuple(f"{user}@{OUR_DOMAIN}" for user in USERS)
