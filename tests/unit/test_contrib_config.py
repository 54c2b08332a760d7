"""contrib/greylogd.conf, the example `section greylogd`, parses with greyd's grammar without a warning and
sets every one of greylogd's own keys, once, to its default: the example cannot drift from the code."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from greylogd import config
from greylogd.daemon_settings import OwnSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "contrib" / "greylogd.conf"


def test_example_sets_every_own_key_to_its_default():
    cfg = config.load(EXAMPLE)
    assert cfg.warnings == []
    section = cfg.section("greylogd")
    assert list(section) == [f.name for f in fields(OwnSettings)]
    assert {key: cfg.get("greylogd", key, f.metadata["kind"], None)
            for key, f in ((f.name, f) for f in fields(OwnSettings))} == {
        f.name: f.default for f in fields(OwnSettings)}
