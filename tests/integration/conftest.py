"""Fixtures shared by the daemon's integration tests (test_nflog and test_nfqueue define their own `pair`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.daemon_harness import install_rules
from tests.integration.netns import Pair, netns_pair


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A sender/gateway namespace pair with the daemon tests' counted NFLOG rules (daemon_harness.RULES)."""
    with netns_pair() as p:
        install_rules(p.gateway)
        yield p
