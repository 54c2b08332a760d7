"""Test-wide policy: root-marked tests skip on a laptop but fail under CI=true when root is missing."""

from __future__ import annotations

import os

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
