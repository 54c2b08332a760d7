"""Whitelist suggestions: domains greylisting hurts, with the evidence and a line to paste into greyd.

A domain is suggested when it shows pool rotation or its delay p90 exceeds `delay_threshold_s`, it has at
least `min_promoted` promoted tuples, and none of its hosts was trapped (by the ledger, greyd's database
or greyd's log); bounces (null sender) are never suggested. The greyd line is the block to append to a
greyd `whitelist` file (spamd format, one network per line, a comment line first): the /24 and /64
networks the domain's tuples came from.
"""

from __future__ import annotations

import pandas as pd

from greylogd.analysis.weekly_tuples import NULL_SENDER, top_helos

COMMENT_MAX = 64
SUGGESTION_COLUMNS = ["domain", "reason", "promoted", "abandoned", "rotated_pairs", "delay_p50",
                      "delay_p90", "nets", "helos", "greyd_line"]


def _reason(rotated: int, p90: float, threshold_s: int) -> str:
    parts = [f"pool rotation ({rotated} pair{'' if rotated == 1 else 's'})"] if rotated else []
    if p90 > threshold_s:
        parts.append(f"delay p90 {p90 / 60:.0f} min > {threshold_s / 60:.0f} min")
    return "; ".join(parts)


def greyd_line(domain: str, nets: list[str], reason: str) -> str:
    """The whitelist-file block for one domain: a comment naming it, then one network per line.

    `domain` is text from the network (a sender's from): line breaks are removed so that it cannot add
    lines of its own to a file greyd reads, and it is cut to COMMENT_MAX characters.
    """
    safe = " ".join(domain.split())
    safe = safe if len(safe) <= COMMENT_MAX else safe[: COMMENT_MAX - 3] + "..."
    return "\n".join([f"# {safe}: {reason}", *nets])


def suggestions(classified: pd.DataFrame, trusted: pd.DataFrame, rotation: pd.DataFrame,
                trapped_ips: pd.Series, delay_threshold_s: int = 1800,
                min_promoted: int = 3) -> pd.DataFrame:
    """Rows of SUGGESTION_COLUMNS, by promoted tuples (descending) then domain; nets space-separated;
    helos: the HELO names the domain's tuples used most (do they look like the domain's mail servers?).
    HELO never goes into greyd_line: it is evidence for the reader, not something greyd should trust."""
    table = trusted[["domain", "promoted", "delay_p50", "delay_p90"]].merge(
        rotation[["domain", "rotated_pairs"]], on="domain", how="left")
    table["rotated_pairs"] = table["rotated_pairs"].fillna(0).astype("int64")
    abandoned = classified.loc[classified["status"].eq("abandoned"), "domain"].value_counts()
    table["abandoned"] = table["domain"].map(abandoned).fillna(0).astype("int64")
    trapped = classified["status"].eq("trapped") | classified["ip"].isin(trapped_ips)
    tainted = set(classified.loc[trapped, "domain"])
    keep = ((table["rotated_pairs"] > 0) | (table["delay_p90"] > delay_threshold_s)) \
        & (table["promoted"] >= min_promoted) & ~table["domain"].isin(tainted | {NULL_SENDER})
    table = table.loc[keep].reset_index(drop=True)
    seen = classified.loc[classified["domain"].isin(table["domain"]), ["domain", "net"]].drop_duplicates()
    nets = seen.groupby("domain")["net"].agg(sorted)
    table["reason"] = [_reason(r, p, delay_threshold_s)
                       for r, p in zip(table["rotated_pairs"], table["delay_p90"], strict=True)]
    table["nets"] = [" ".join(nets[d]) for d in table["domain"]]
    table["helos"] = top_helos(classified, "domain", table["domain"])
    table["greyd_line"] = [greyd_line(d, nets[d], r)
                           for d, r in zip(table["domain"], table["reason"], strict=True)]
    table = table.astype(dict.fromkeys(["domain", "reason", "nets", "helos", "greyd_line"], "str"))
    return table[SUGGESTION_COLUMNS].sort_values(["promoted", "domain"], ascending=[False, True],
                                                 kind="stable", ignore_index=True)
