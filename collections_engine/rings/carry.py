"""What one night of the ring step carries to the next: the identifier graph's inputs, so that
a second night applies only tonight's identifier rows instead of rebuilding from 19.5M rows.

The tables the ring step reads are histories: an identifier row is known from its
`first_seen`, an account row from its `snapshot_date`. Rows dated on or before last night
(`Carry.date`; an identifier without `first_seen` counts as always known) are the past;
rows dated after it and on or before tonight are tonight's. When the past is what it was last
night, tonight's graph follows from last night's and tonight's rows alone:

- the customers known (`customers`: every customer id of a past identifier or account row,
  sorted, whether it is a customer of the step (`used`), and its earliest identifier
  `first_seen`);
- the identifier rows whose (kind, value) is held by two or more usable past rows (`links`:
  customer_id, kind, value): only those can link anybody. Tonight's candidate rows are these,
  tonight's usable rows, and the past rows whose value fingerprint equals one of tonight's
  rows' (a value a single customer held until tonight). Every row of any value among them is
  among them (a value of two past rows is in `links` whole; a value of one past row and a new
  row is found by the fingerprint), so `graph.value_groups` and `graph.link_codes` on them give
  the graph of a full recompute exactly (`link_codes` does not depend on row order or value
  numbering).

Whether the past is what it was is checked, not assumed: `digests` holds, per table, an
order-free digest (row count and the sum of a 64-bit mixed hash of every row's columns the step
reads) of the past rows; tonight's past rows must give the same. A history rewritten, a row
added to the past, a column changed, another graph file (`key`): the carry is refused and the
night is a full recompute with the reason (never a silent skip). A reordered extract is fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.frames import per_run
from collections_engine.codes import category_codes, to_arrow
from collections_engine.rings.codes import BLOCK, fingerprints, mix64

__all__ = ["ACCOUNT_COLUMNS", "CARRY_TABLES", "DIGEST_COLUMNS", "IDENT_COUNTS", "Carry", "check_carry", "digest", "past_mask", "row_hashes",
           "table_hashes"]

# Columns of each table the ring step reads, hashed into the digests.
DIGEST_COLUMNS = {
    "identifiers": ["customer_id", "kind", "value", "first_seen"],
    "accounts": ["snapshot_date", "account_id", "customer_id", "open_date", "dpd"],
    "payments": ["account_id", "paid_on"],
    "contacts": ["account_id", "contacted_on", "outcome"],
}
DATE_COLUMN = {"identifiers": "first_seen", "accounts": "snapshot_date", "payments": "paid_on",
               "contacts": "contacted_on"}
CARRY_TABLES = ("meta", "customers", "links", "accounts")
# `graph.usable_rows`' counts of the identifier rows dated on or before the night (meta: ids_<count>)
IDENT_COUNTS = ("rows", "unknown_kind", "empty", "used")
# the per-account aggregates (rings.accounts.FIELDS) besides account_id; cust_pos: the row of
# the account's customer in `customers` (-1: none)
ACCOUNT_COLUMNS = ["account_id", "cust_pos", "sel", "open_min", "latest", "dpd_l", "open_l", "default_start",
                   "early", "last_paid", "n_con", "n_wrong", "n_noans"]

_P = [np.uint64(x) for x in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                             0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)]
_NAT = np.iinfo(np.int64).min


@dataclass
class Carry:
    """Last night's carried inputs (see the module doc); `frames()` / `from_frames` are the
    run folder's form (one parquet file per frame)."""

    date: pd.Timestamp
    key: str
    digests: dict[str, str]
    customers: pd.DataFrame   # customer_id (sorted, unique), used (bool), first_seen (int64 ns, NaT min), id_hash (propensity.id_hash)
    links: pd.DataFrame       # cust_pos (row of `customers`), kind, value: usable past rows of a value held twice or more
    accounts: pd.DataFrame | None = None   # ACCOUNT_COLUMNS (rings.accounts); None: see accounts_problem
    accounts_problem: str = "not built"
    stats: dict[str, int] = field(default_factory=dict)
    # what `graph.usable_rows` counts among the identifier rows dated on or before the night
    # (IDENT_COUNTS): tonight checks only the rows dated after it and adds these
    ident_counts: dict[str, int] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        meta = pd.DataFrame({"date": [self.date.strftime("%Y-%m-%d")], "key": [self.key],
                             "accounts_problem": [self.accounts_problem],
                             **{f"ids_{k}": [int(self.ident_counts.get(k, -1))] for k in IDENT_COUNTS},
                             **{f"digest_{t}": [self.digests.get(t, "")] for t in sorted(DIGEST_COLUMNS)}})
        accounts = self.accounts if self.accounts is not None else pd.DataFrame(
            {c: pd.Series([], dtype="str" if c == "account_id" else "int64") for c in ACCOUNT_COLUMNS})
        # the links in one order whatever order the book's rows came in (a database returns them in
        # another order than the files), so the same night writes the same bytes
        links = _canonical(self.links)
        return {"meta": meta, "customers": self.customers, "links": links, "accounts": accounts}


def check_carry(frames: dict[str, pd.DataFrame] | None, key: str) -> tuple[Carry | None, str]:
    """The carry from its frames if it is usable, else None and why."""
    if not frames:
        return None, "no carried identifier graph from the previous night"
    missing = [t for t in CARRY_TABLES if t not in frames or frames[t] is None]
    if missing:
        return None, f"carried identifier graph lacks {', '.join(missing)}"
    meta, cust, links = frames["meta"], frames["customers"], frames["links"]
    need = {"meta": ["date", "key", "accounts_problem"] + [f"digest_{t}" for t in sorted(DIGEST_COLUMNS)]
            + [f"ids_{k}" for k in IDENT_COUNTS],
            "customers": ["customer_id", "used", "first_seen", "id_hash"], "links": ["cust_pos", "kind", "value"],
            "accounts": ACCOUNT_COLUMNS}
    for name, cols in need.items():
        absent = [c for c in cols if c not in frames[name].columns]
        if absent:
            return None, f"carried {name} lacks column(s) {', '.join(absent)}"
    if len(meta) != 1 or str(meta["key"].iloc[0]) != key:
        return None, "carried identifier graph was made with other graph keys"
    try:
        date = pd.Timestamp(str(meta["date"].iloc[0]))
        ids = to_arrow(cust["customer_id"])
        first_seen = cust["first_seen"].to_numpy(np.int64)
        used = cust["used"].to_numpy(bool)
        counts = {k: int(meta[f"ids_{k}"].iloc[0]) for k in IDENT_COUNTS}
    except (TypeError, ValueError, OverflowError) as exc:
        return None, f"carried identifier graph has a column of the wrong type ({exc})"
    if ids.null_count or len(ids) > 1 and not pc.all(pc.greater(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py():
        return None, "carried customers are not sorted and unique"
    digests = {t: str(meta[f"digest_{t}"].iloc[0]) for t in DIGEST_COLUMNS}
    customers = pd.DataFrame({"customer_id": pd.array(ids, dtype="str") if len(ids) else pd.Series([], dtype="str"),
                              "used": used, "first_seen": first_seen,
                              "id_hash": cust["id_hash"].to_numpy(np.uint64)})
    problem = str(meta["accounts_problem"].iloc[0])
    accounts = frames["accounts"][ACCOUNT_COLUMNS] if not problem else None
    if accounts is not None:
        pos = accounts["cust_pos"].to_numpy(np.int64)
        if len(pos) and (pos.max() >= len(customers) or pos.min() < -1):
            return None, "carried accounts name customers that are not carried"
    lpos = links["cust_pos"].to_numpy(np.int64)
    if len(lpos) and (lpos.max() >= len(customers) or lpos.min() < 0):
        return None, "carried links name customers that are not carried"
    if min(counts.values()) < 0:
        return None, "carried identifier counts are missing"
    return Carry(date, key, digests, customers, links[["cust_pos", "kind", "value"]], accounts, problem,
                 ident_counts=counts), ""


# Columns extracts keep grouped (rows of one customer or account together): fingerprinted once
# per run of equal neighbours (`frames.per_run`; 2.7x faster on the identifiers' customer ids).
GROUPED = {"identifiers": {"customer_id"}, "payments": {"account_id"}, "contacts": {"account_id"}}


def column_hash(col: pd.Series, grouped: bool = False) -> np.ndarray:
    """A 64-bit hash per row of one column: strings by `codes.fingerprints` (a category by its
    level's), dates and numbers by their bits (a missing date: the smallest int64)."""
    cat = category_codes(col)
    if cat is not None:
        codes, levels = cat
        lv = np.r_[fingerprints(pa.array(levels, pa.large_string())), _P[5]]
        return lv[np.where(codes < 0, len(levels), codes)]
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col.to_numpy("datetime64[ns]").view(np.uint64)  # the bits (NaT: the smallest int64)
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        x = col.to_numpy(np.float64, na_value=np.nan)
        return np.ascontiguousarray(x).view(np.uint64)
    return per_run(to_arrow(col), fingerprints) if grouped else fingerprints(col)


def row_hashes(table: pd.DataFrame, name: str, known: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """A mixed 64-bit hash per row of the columns of table `name` in DIGEST_COLUMNS (each missing
    column hashes as a constant); `known`: column hashes the caller has already computed."""
    cols = [known[c] if known and c in known else
            column_hash(table[c], c in GROUPED.get(name, ())) if c in table.columns else None
            for c in DIGEST_COLUMNS[name]]
    h = np.zeros(len(table), np.uint64)
    for lo in range(0, len(h), BLOCK):  # block by block: the temporaries stay in the cache
        b = h[lo:lo + BLOCK]
        for i, x in enumerate(cols):
            if x is not None:
                b += x[lo:lo + BLOCK]
            b *= _P[i % len(_P)]
            b ^= b >> np.uint64(29)
        mix64(b)
    return h


def table_hashes(table: pd.DataFrame | None, name: str) -> np.ndarray:
    """`row_hashes` of a table that may be missing (none: no rows)."""
    return row_hashes(table, name) if table is not None else np.zeros(0, np.uint64)


def past_mask(table: pd.DataFrame, name: str, date: pd.Timestamp) -> np.ndarray:
    """Rows dated on or before `date`: an identifier without first_seen is always known; a
    payment or contact without a date never counts, and is kept with the past so that a date
    given to it later shows in the digest."""
    col = DATE_COLUMN[name]
    if col not in table.columns:
        return np.ones(len(table), bool)
    d = table[col].to_numpy("datetime64[ns]").view(np.int64)
    known = d <= pd.Timestamp(date).value  # a missing date (the smallest int64) included
    return known & (d != _NAT) if name == "accounts" else known


def _canonical(links: pd.DataFrame) -> pd.DataFrame:
    """The links sorted by customer row, kind (its category code) and value: Arrow's sort, about
    2.5x faster than pandas' multi-key sort on the 1M book's 3M rows."""
    kind = links["kind"]
    codes = kind.cat.codes.to_numpy() if isinstance(kind.dtype, pd.CategoricalDtype) else pa.array(kind)
    keys = pa.table({"c": links["cust_pos"].to_numpy(), "k": codes, "v": pa.array(links["value"])})
    idx = pc.sort_indices(keys, sort_keys=[("c", "ascending"), ("k", "ascending"), ("v", "ascending")])
    return links.take(idx.to_numpy()).reset_index(drop=True)


def digest(hashes: np.ndarray, mask: np.ndarray) -> str:
    """Order-free digest of the rows in `mask`: their count and the sum of their hashes."""
    return f"{int(np.count_nonzero(mask))}:{int(np.sum(hashes, where=mask, dtype=np.uint64))}"
