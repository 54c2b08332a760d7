"""Headline figures with their week-over-week change, and the glossary every view prints.

Each headline figure is computed for the period and for the period before it by the same function, so
the change is comparable. A figure whose source is missing is NA in both columns, never 0.
"""

from __future__ import annotations

import pandas as pd

from greylogd.analysis import weekly_domains as domains
from greylogd.analysis.period import Period
from greylogd.analysis.weekly_tuples import classify, status_counts

# name -> (label, unit)
FIGURES = {
    "connections": ("Inbound SMTP connections", "count"),
    "trusted_connections": ("Trusted connections (whitelisted hosts)", "count"),
    "greylisted_connections": ("Greylisted connections (sent to greyd)", "count"),
    "firewall_warnings": ("Firewall warnings (FAILED or port 8025)", "count"),
    "greylisted_tuples": ("Greylisted tuples", "count"),
    "promoted": ("Promoted tuples (passed)", "count"),
    "abandoned": ("Abandoned tuples (never came back)", "count"),
    "pending": ("Pending tuples (may still pass)", "count"),
    "trapped": ("Trapped tuples", "count"),
    "delay_p50_min": ("Delay p50", "minutes"),
    "delay_p90_min": ("Delay p90", "minutes"),
    "deferred_domains": ("Deferred domains", "count"),
    "trusted_domains": ("Trusted domains", "count"),
}
HEADLINE_COLUMNS = ["figure", "label", "value", "previous", "change", "unit"]

GLOSSARY = [
    ("period", "[start, end) in the report's time zone; by default the last full ISO week (Monday 00:00)."),
    ("greylisted tuple", "an (ip, helo, from, to) tuple whose first sighting falls in the period."),
    ("promoted", "a greylisted tuple whose IP became WHITE from it (pass <= promotion time)."),
    ("delay", "pass - first of a promoted tuple: the time greylisting cost that message."),
    ("abandoned", "a greylisted tuple that expired without promotion (deferred, never came back)."),
    ("pending", "a tuple first seen less than grey_expiry before the period's end, neither promoted nor "
                "trapped: it may still pass, so it is not counted as abandoned."),
    ("sender domain", "the lower-cased domain of the envelope from, grouped by registrable domain (public "
                      "suffix list, offline snapshot); <> is the null sender. rcpt domain likewise from to."),
    ("deferred domains", "sender domains with abandoned tuples; never retried = every tuple abandoned."),
    ("trusted domains", "sender domains with promoted tuples; trusted connections are connections of "
                        "category trusted from the domain's promoted IPs."),
    ("pool rotation", "the same (from, to) pair abandoned from one IP and later seen from another IP."),
    ("whitelist suggestions", "domains with pool rotation or delay p90 above the threshold, with at least "
                              "N promoted tuples and no trapped host."),
    ("spam sources", "/24 (IPv4) or /64 (IPv6) networks with greylisted connections and no promoted tuple; "
                     "tarpit time = sum of greyd's 'disconnected after N seconds' for connections that "
                     "carried blacklist names; helos = the HELO names their tuples used most."),
    ("whitelist health", "WHITE entries alive at the period's end, new in the period, refreshed by a "
                         "trusted connection in the period, and expiring within 7 days without a refresh."),
    ("connection categories", "trusted [GREYD WHITED]; greylisted [GREYD 25 DNAT]/[GREYD 25 REDIRECTED]; "
                              "fallthrough [GREYD FAILED]; jailed [GREYD 8025 JAILED]; other; outbound."),
    ("week-over-week change", "value minus the value of the period of equal length just before."),
]


def _connection_figures(connections: pd.DataFrame, period: Period) -> dict[str, float]:
    picked = connections.loc[period.contains(connections["ts"]), "category"]
    counts = picked.value_counts()
    return {"connections": float((picked != "outbound").sum()),
            "trusted_connections": float(counts.get("trusted", 0)),
            "greylisted_connections": float(counts.get("greylisted", 0)),
            "firewall_warnings": float(counts.get("fallthrough", 0) + counts.get("jailed", 0))}


def _tuple_figures(classified: pd.DataFrame) -> dict[str, float]:
    counts = status_counts(classified)
    delays = classified["delay_s"].dropna() / 60
    abandoned = classified["status"].eq("abandoned")
    return {"greylisted_tuples": float(len(classified)), **{k: float(v) for k, v in counts.items()},
            "delay_p50_min": delays.quantile(0.5) if len(delays) else float("nan"),
            "delay_p90_min": delays.quantile(0.9) if len(delays) else float("nan"),
            "deferred_domains": float(classified.loc[abandoned, "domain"].nunique()),
            "trusted_domains": float(len(domains.trusted_domains(classified, None, None)))}


def _reaches(times: pd.Series, period: Period) -> bool:
    """Whether a source has anything before the period's end: if not, it did not cover the period (NA),
    which is different from covering it and counting nothing (0)."""
    return bool((times < period.end).any())


def figures(connections: pd.DataFrame | None, tuples: pd.DataFrame | None, period: Period,
            grey_expiry_s: int, classified: pd.DataFrame | None = None) -> pd.Series:
    """Every headline figure for one period (Float64, NA where the source is missing or starts later).
    classified: classify(tuples, period, grey_expiry_s) when the caller already has it."""
    values: dict[str, float] = {}
    if connections is not None and _reaches(connections["ts"], period):
        values.update(_connection_figures(connections, period))
    if tuples is not None and _reaches(tuples["first"], period):
        values.update(_tuple_figures(classify(tuples, period, grey_expiry_s) if classified is None
                                     else classified))
    return pd.Series(values, dtype="Float64").reindex(list(FIGURES))


def headline(connections: pd.DataFrame | None, tuples: pd.DataFrame | None, period: Period,
             grey_expiry_s: int, classified: pd.DataFrame | None = None) -> pd.DataFrame:
    """HEADLINE_COLUMNS, one row per FIGURES entry: value, previous period's value, change = difference.
    classified: the period's classify() output, when the caller has it (saves classifying twice)."""
    now = figures(connections, tuples, period, grey_expiry_s, classified)
    before = figures(connections, tuples, period.previous(), grey_expiry_s)
    table = pd.DataFrame({"figure": list(FIGURES), "label": [v[0] for v in FIGURES.values()],
                          "value": now.to_numpy(), "previous": before.to_numpy(),
                          "unit": [v[1] for v in FIGURES.values()]})
    table["value"] = table["value"].astype("Float64")
    table["previous"] = table["previous"].astype("Float64")
    table["change"] = table["value"] - table["previous"]
    return table.astype({"figure": "str", "label": "str", "unit": "str"})[HEADLINE_COLUMNS]
