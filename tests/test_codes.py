"""The one id coder (collections_engine.codes) against the obvious pandas versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from collections_engine.codes import is_sorted, lookup, sorted_codes, sorted_levels
from collections_engine.features.events import Entities

IDS = st.text(alphabet="ab1é€_", min_size=0, max_size=4)


def _chunked(values: list[str | None], cut: int) -> pd.Series:
    """A pandas str column backed by two Arrow chunks (as a parquet read gives)."""
    a = pa.array(values, pa.large_string())
    cut = min(cut, len(values))
    arr = pa.chunked_array([a.slice(0, cut), a.slice(cut)], pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(arr)).astype("str")


@given(st.lists(st.one_of(IDS, st.none()), max_size=30), st.integers(0, 30))
def test_sorted_codes_is_factorize_sorted(values, cut):
    s = _chunked(values, cut)
    assert (sorted_codes(s) == pd.factorize(s, sort=True)[0]).all()


@given(st.lists(IDS, max_size=20), st.lists(st.one_of(IDS, st.none()), max_size=40), st.booleans())
def test_entities_number_by_first_appearance_and_look_up(rows, events, sort_events):
    events = sorted(events, key=lambda v: (v is None, v or "")) if sort_events else events
    row_s, ev_s = pd.Series(rows, dtype="str"), pd.Series(events, dtype="str")
    e = Entities(row_s)
    first = list(dict.fromkeys(rows))
    assert e.codes.tolist() == [first.index(r) for r in rows]
    assert e.of(ev_s).tolist() == [first.index(v) if v in first else -1 for v in events]
    assert lookup(ev_s, e.uniq).tolist() == e.of(ev_s).tolist()


@given(st.lists(st.one_of(st.sampled_from(["sms", "call", "email", "letter"]), st.none()), max_size=30),
       st.booleans())
def test_sorted_levels_keeps_values_and_sorts_present_levels(values, categorical):
    s = pd.Series(values, dtype="category" if categorical else "str")
    out = sorted_levels(s)
    assert list(out.cat.categories) == sorted({v for v in values if v is not None})
    assert out.astype(object).where(out.notna(), None).tolist() == values


@given(st.lists(st.one_of(IDS, st.none()), max_size=12), st.booleans())
def test_is_sorted_text_and_codes(values, sort):
    if sort:
        values = sorted((v for v in values if v is not None))
    s = pd.Series(values, dtype="str")
    obvious = s.notna().all() and all(a <= b for a, b in zip(values, values[1:]))
    assert is_sorted(s) == (obvious or len(values) < 2)
    codes = np.array([len(v or "") for v in values], np.int64)
    assert is_sorted(codes) == bool(np.all(np.diff(codes) >= 0))


@given(st.lists(st.sampled_from(["sms", "call", "email", "letter"]), min_size=1, max_size=30),
       st.lists(st.sampled_from(["sms", "call", "email", "letter", "fax"]), min_size=5, max_size=5, unique=True),
       st.booleans(), st.booleans())
def test_sorted_levels_of_file_categories_without_missing_values(values, categories, with_missing, unused):
    """A column read as categories from the file's dictionary (levels in file order, some unused):
    the same values, the present levels sorted, and codes that can be written to."""
    if with_missing:
        values = values + [None]
    levels = [c for c in categories if c in values] + (["zz"] if unused else [])
    s = pd.Series(pd.Categorical(values, categories=sorted(levels) if len(set(values)) < 3 else levels))
    out = sorted_levels(s)
    assert list(out.cat.categories) == sorted({v for v in values if v is not None})
    assert out.astype(object).where(out.notna(), None).tolist() == values
    out.iloc[0] = out.cat.categories[0]  # its codes are its own
    assert s.iloc[0] == values[0]
