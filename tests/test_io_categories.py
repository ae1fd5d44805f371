"""Text columns read as categoricals from parquet dictionary pages equal the strings they replace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.config import load_strategy
from collections_engine.errors import DataError
from collections_engine.codes import sorted_levels
from collections_engine.io.load import load_book
from collections_engine.io.tables import read_table

TEXT = st.one_of(st.none(), st.sampled_from(["call", "sms", "visit", "letter", "Call", "é", ""]))


@settings(max_examples=40, deadline=None)
@given(st.lists(TEXT, max_size=40), st.integers(1, 7))
def test_dictionary_read_equals_string_read(tmp_path_factory, values, row_group):
    path = tmp_path_factory.mktemp("cat") / "t.parquet"
    table = pa.table({"channel": pa.array(values, type=pa.large_string()), "n": pa.array(range(len(values)))})
    pq.write_table(table, path, row_group_size=row_group)  # several dictionary pages
    as_text = read_table(path)
    as_cat = read_table(path, categories=("channel", "missing_column", "n"))
    assert isinstance(as_cat["channel"].dtype, pd.CategoricalDtype)
    assert as_cat["n"].dtype == as_text["n"].dtype  # not a text column: read as it is
    got, want = sorted_levels(as_cat["channel"]), sorted_levels(as_text["channel"])
    assert list(got.cat.categories) == list(want.cat.categories)
    assert got.cat.codes.tolist() == want.cat.codes.tolist()
    assert got.astype(object).where(got.notna(), None).tolist() == values


ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "data" / "fixtures" / "tiny"


@pytest.mark.parametrize("broken", ["all_empty", "unknown_value"])
def test_parquet_contacts_with_bad_channel_are_named(tmp_path: Path, broken: str) -> None:
    """The categorical read path reports bad text like the string path: a clear DataError."""
    d = tmp_path / "d"
    shutil.copytree(TINY, d)
    con = read_table(d / "contacts.csv")
    if broken == "all_empty":
        con["channel"] = pd.Series([None] * len(con), dtype="str")
    else:
        con.loc[con.index[0], "channel"] = "carrier_pigeon"
    (d / "contacts.csv").unlink()
    con.to_parquet(d / "contacts.parquet", index=False)
    with pytest.raises(DataError, match="contacts.parquet: column 'channel'"):
        load_book(d, load_strategy(ROOT / "strategies" / "default.yaml"))


def test_parquet_with_a_repeated_column_name_is_named(tmp_path: Path) -> None:
    d = tmp_path / "d"
    shutil.copytree(TINY, d)
    con = read_table(d / "contacts.csv")
    table = pa.Table.from_pandas(con, preserve_index=False)
    table = table.append_column("channel", table.column("channel"))  # two 'channel' columns
    (d / "contacts.csv").unlink()
    pq.write_table(table, d / "contacts.parquet")
    with pytest.raises(DataError, match="contacts.parquet: cannot be read"):
        load_book(d, load_strategy(ROOT / "strategies" / "default.yaml"))


def test_other_categorical_text_columns_become_strings(tmp_path: Path) -> None:
    """Only the known few-valued columns stay categoricals; a product column written as a
    pandas categorical reaches the rest of the night (and the vendor files) as strings."""
    d = tmp_path / "d"
    shutil.copytree(TINY, d)
    acc = read_table(d / "accounts.csv")
    acc["product"] = acc["product"].astype("category")
    (d / "accounts.csv").unlink()
    acc.to_parquet(d / "accounts.parquet", index=False)
    book, _ = load_book(d, load_strategy(ROOT / "strategies" / "default.yaml"))
    assert str(book.accounts["product"].dtype) == "str"
