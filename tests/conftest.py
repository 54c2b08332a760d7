"""Test-wide policy: root-marked tests skip on a laptop but fail under CI=true when root is missing."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    for item in items:
        if "root" not in item.keywords:
            continue
        if _in_ci():
            item.add_marker(pytest.mark.usefixtures("_require_root"))
        else:
            item.add_marker(pytest.mark.skip(reason="needs root (network namespaces, netfilter)"))


@pytest.fixture
def _require_root() -> None:
    pytest.fail("root-marked test run without root under CI=true: CI must run as root")


@pytest.fixture
def sync_peer() -> Iterator[socket.socket]:
    """A sync peer: a UDP socket on 127.0.0.1 with a 5 s timeout (its port goes into the sync settings)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()
