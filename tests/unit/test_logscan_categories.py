"""logscan.categorise, which both the scanner's and the Python path's rows go through (so comparing the
paths cannot check it): its categories are what astype("category") makes of the category of each row,
with prefixes looked up case-insensitively and outbound rows (empty IN=) outbound whatever the prefix."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from greylogd.analysis import frames, logscan

PREFIXES = ["[GREYD WHITED]", "[greyd whited]", "[GREYD 25 DNAT]", "[GREYD FAILED]", "[X]", "", "outbound"]
CATEGORIES = {" [greyd whited] ": "trusted", "[GREYD 25 DNAT]": "greylisted", "outbound": "outbound",
              "[GREYD FAILED]": "fallthrough"}


def expected(rows: list[tuple[str, bool]]) -> pd.Categorical:
    mapping = {key.strip().upper(): value for key, value in CATEGORIES.items()}
    names = [frames.OUTBOUND_CATEGORY if out else mapping.get(p.upper(), frames.OTHER_CATEGORY)
             for p, out in rows]
    return pd.Series(names, dtype="str").astype("category").array


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(PREFIXES), st.booleans()), max_size=30),
       unused=st.lists(st.sampled_from(["[unused]", "[GREYD 8025 JAILED]"]), unique=True))
def test_categories_are_what_astype_category_makes(rows: list[tuple[str, bool]], unused: list[str]) -> None:
    prefixes = [p for p, _ in rows]
    prefix = pd.Categorical(prefixes, categories=sorted({*prefixes, *unused}))
    got = logscan.categorise(prefix, np.array([out for _, out in rows], bool), CATEGORIES)
    want = expected(rows)
    assert list(got.categories) == list(want.categories)
    assert got.codes.tolist() == want.codes.tolist()
    assert got.codes.dtype == want.codes.dtype


def test_a_category_whose_rows_are_all_outbound_is_dropped() -> None:
    prefix = pd.Categorical(["[GREYD WHITED]", "[X]", "[X]"])
    got = logscan.categorise(prefix, np.array([True, False, True]))
    assert list(got.categories) == [frames.OTHER_CATEGORY, frames.OUTBOUND_CATEGORY]
    assert got.codes.tolist() == [1, 0, 1]
