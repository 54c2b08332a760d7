"""greylogd's ledger: the history of greyd's GREY tuples (see history.py for the contract)."""

from greylogd.ledger.history import Ledger, PollResult
from greylogd.ledger.model import Outcome

__all__ = ["Ledger", "Outcome", "PollResult"]
