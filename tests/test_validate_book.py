"""Input validation: hand-made broken folders and hypothesis mutations of a small valid book."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collections_engine.config import load_strategy
from collections_engine.errors import DataError
from collections_engine.io.load import load_book
from collections_engine.schema import TABLES

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "data" / "fixtures" / "tiny"
BROKEN = ROOT / "data" / "fixtures" / "broken"
STRATEGY = load_strategy(ROOT / "strategies" / "default.yaml")


def test_tiny_book_loads_typed() -> None:
    book, warnings = load_book(TINY, STRATEGY)
    a = book.accounts
    assert str(a["account_id"].dtype) == "str"
    assert str(a["snapshot_date"].dtype) == "datetime64[ns]"
    assert a["dpd"].dtype == "int64"
    assert book.holds is not None and book.holds["end"].isna().all()
    assert set(book.sources) == {"bureau"}
    assert any("telco" in w for w in warnings)  # a missing source is a warning, not an error


def test_many_problems_reported_at_once() -> None:
    with pytest.raises(DataError) as info:
        load_book(BROKEN / "many_problems", STRATEGY)
    msg = str(info.value)
    for expected in [
        "accounts.csv: column 'snapshot_date': 1 rows that are not dates",
        "accounts.csv: column 'dpd': 1 rows that are not numbers",
        "accounts.csv: column 'overdue_amount': 1 rows with a negative value",
        "repeat the key (snapshot_date, account_id)",
        "rows whose customer is not in customers.csv",
        "outcomes.csv: column 'account_id': 1 rows for accounts not in accounts.csv",
        "outcomes.csv: column 'repaid'",
        "holds.csv: column 'hold'",
        "ending before they start",
        "opened after their snapshot_date",
    ]:
        assert expected in msg, expected
    # personal fields never appear in messages
    assert "Li Wei" not in msg and "13800000001" not in msg


def test_missing_required_table() -> None:
    with pytest.raises(DataError, match="accounts: table missing"):
        load_book(BROKEN / "missing_accounts", STRATEGY)


def test_unreadable_csv() -> None:
    with pytest.raises(DataError, match="payments.csv: cannot be read"):
        load_book(BROKEN / "bad_csv", STRATEGY)


def test_dpd_in_no_stage(tmp_path: Path) -> None:
    shutil.copytree(TINY, tmp_path / "d")
    strategy = STRATEGY.model_copy(
        update={"stages": [*STRATEGY.stages[:3], STRATEGY.stages[3].model_copy(update={"dpd_max": 92})]}
    )
    a = pd.read_csv(tmp_path / "d" / "accounts.csv")
    a.loc[5, "dpd"] = 93
    a.to_csv(tmp_path / "d" / "accounts.csv", index=False)
    with pytest.raises(DataError, match="DPD inside no stage"):
        load_book(tmp_path / "d", strategy)


def test_source_missing_key_is_a_warning(tmp_path: Path) -> None:
    shutil.copytree(TINY, tmp_path / "d")
    b = pd.read_csv(tmp_path / "d" / "sources" / "bureau.csv").rename(columns={"customer_id": "cust"})
    b.to_csv(tmp_path / "d" / "sources" / "bureau.csv", index=False)
    book, warnings = load_book(tmp_path / "d", STRATEGY)
    assert "bureau" not in book.sources
    assert any("missing its declared key column 'customer_id'" in w for w in warnings)


TABLE_FILES = sorted(p.stem for p in TINY.glob("*.csv"))


@st.composite
def book_mutations(draw: st.DrawFn) -> tuple[str, str, str, int]:
    table = draw(st.sampled_from(TABLE_FILES))
    cols = list(pd.read_csv(TINY / f"{table}.csv", nrows=0).columns)
    col = draw(st.sampled_from(cols))
    kind = draw(st.sampled_from(["drop_column", "duplicate_row", "text", "negative", "null", "empty"]))
    row = draw(st.integers(0, 2))
    return table, col, kind, row


@given(book_mutations())
def test_mutated_book_is_accepted_or_named(tmp_path_factory, mutation) -> None:
    table, col, kind, row = mutation
    d = tmp_path_factory.mktemp("book") / "d"
    shutil.copytree(TINY, d)
    path = d / f"{table}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = min(row, len(df) - 1)
    if kind == "drop_column":
        df = df.drop(columns=[col])
    elif kind == "duplicate_row":
        df = pd.concat([df, df.iloc[[row]]])
    elif kind == "text":
        df.loc[df.index[row], col] = "x?"
    elif kind == "negative":
        df.loc[df.index[row], col] = "-7"
    elif kind == "null":
        df.loc[df.index[row], col] = ""
    else:
        df = df.iloc[0:0]
    df.to_csv(path, index=False)
    try:
        load_book(d, STRATEGY)
    except DataError as exc:
        msg = str(exc)
        assert f"{table}.csv" in msg or f"{table}:" in msg, msg
        spec = TABLES[table]
        if kind in ("drop_column", "text", "negative", "null") and col in {**spec.columns, **spec.optional_columns}:
            assert col in msg, msg


@given(st.lists(st.one_of(st.none(), st.datetimes(min_value=datetime(1850, 1, 1),
                                                  max_value=datetime(2250, 1, 1))),
                max_size=12), st.booleans())
def test_date_columns_fast_path_matches_the_general_one(values, midnight):
    """Typed date columns of midnights in range skip the conversion; the answer is the same as
    the general path on the same values given as text."""
    from collections_engine.validate.columns import _to_date
    if midnight:
        values = [v.replace(hour=0, minute=0, second=0, microsecond=0) if v else v for v in values]
    typed = pd.Series(pd.to_datetime(pd.Series(values, dtype=object)), dtype="datetime64[ns]")
    text = pd.Series([v.strftime("%Y-%m-%d") if v else None for v in values], dtype=object)
    out, bad = _to_date(typed)
    ref, ref_bad = _to_date(text)
    assert np.array_equal(out.to_numpy().view(np.int64), ref.to_numpy().view(np.int64))
    assert np.array_equal(bad, ref_bad)
