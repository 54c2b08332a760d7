"""greylogd-report on a small demo world: its figures and tables match the demo's ground truth.

The world (seed 1, about 2000 connections, ISO week 2026-W47) is simulated by greylogd.demo, read back
through the real readers (kernel log, greyd log, greyd's SQLite file, the ledger) and checked against
truth.json,
which the simulator writes from what it did, not from greylogd's code.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from greylogd.cli import report as cli
from greylogd.demo import build_world

PREFIXES = {"[GREYD 25 DNAT]": "greylisted_connections", "[GREYD WHITED]": "trusted_connections"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("demo")
    world = build_world(root / "world", seed=1, connections=2000)
    argv = ["--kernel-log", str(world.kern_log), "--greyd-log", str(world.greyd_log), "--db",
            str(world.greyd_db), "--ledger", str(world.ledger), "--log-tz", "UTC", "--period", "2026-W47",
            "--out", str(root / "out")]
    assert cli.main(argv) == 0
    return root / "out" / "2026-W47", json.loads(world.truth.read_text()), world.truth_tuples


def test_headline_matches_truth(demo) -> None:
    out, truth, _ = demo
    figures = json.loads((out / "summary.json").read_text())["figures"]
    by_prefix = truth["connections_by_prefix"]
    assert figures["connections"]["value"] == sum(by_prefix.values())
    for prefix, name in PREFIXES.items():
        assert figures[name]["value"] == by_prefix[prefix]
    assert figures["firewall_warnings"]["value"] == by_prefix.get("[GREYD FAILED]", 0) + by_prefix.get(
        "[GREYD 8025 JAILED]", 0)
    for status, count in truth["tuples_by_status"].items():
        assert figures[status]["value"] == count, status
    assert figures["greylisted_tuples"]["value"] == sum(truth["tuples_by_status"].values())


def test_domain_tables_match_truth(demo) -> None:
    out, truth, _ = demo
    domains = pd.DataFrame(truth["domains"]).set_index("domain")
    deferred = pd.read_csv(out / "deferred.csv").set_index("domain")
    expected = domains.loc[domains["abandoned"] > 0, "abandoned"].sort_values(ascending=False)
    assert deferred["abandoned"].tolist() == expected.head(20).tolist()  # the top 20, ties in any order
    for domain, row in deferred.iterrows():
        assert (row["abandoned"], row["promoted"], row["distinct_ips"]) == tuple(
            domains.loc[domain, ["abandoned", "promoted", "distinct_ips"]]), domain
    trusted = pd.read_csv(out / "trusted.csv").set_index("domain")
    for domain, row in trusted.iterrows():
        want = domains.loc[domain]
        assert row["promoted"] == want["promoted"], domain
        assert row[["delay_p50", "delay_p90", "delay_max"]].tolist() == pytest.approx(
            [want["delay_p50_s"], want["delay_p90_s"], want["delay_max_s"]]), domain


def test_pool_rotation_matches_truth(demo) -> None:
    out, truth, _ = demo
    domains = pd.DataFrame(truth["domains"]).set_index("domain")
    rotation = pd.read_csv(out / "rotation.csv")
    rotating = set(domains.index[domains["pool_rotation"]])
    assert set(rotation["domain"]) <= rotating
    assert len(rotation) == min(20, len(rotating))


def test_spam_networks_match_truth(demo) -> None:
    out, truth, _ = demo
    spam = pd.read_csv(out / "spam_sources.csv")
    expected = {n["network"]: n["connections"] for n in truth["spam_networks"]}
    for row in spam.itertuples():
        assert row.connections == expected[row.net], row.net
    assert spam["tarpit_s"].notna().all() and spam["tarpit_s"].sum() > 0  # from greyd's disconnect lines


def test_pdf_text_has_the_headline_figures(demo) -> None:
    out, truth, _ = demo
    text = subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "Greylisting report 2026-W47" in text
    by_status = truth["tuples_by_status"]

    def value(label: str) -> str:
        return re.search(re.escape(label) + r"\s+(\S+)", text)[1]  # type: ignore[index]

    assert value("Greylisted tuples") == str(sum(by_status.values()))
    assert value("Abandoned tuples (never came back)") == str(by_status["abandoned"])
    assert value("Pending tuples (may still pass)") == str(by_status["pending"])
    assert value("Inbound SMTP connections") == str(sum(truth["connections_by_prefix"].values()))
    assert "Glossary" in text and "pool rotation:" in text
