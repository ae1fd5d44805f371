"""Decision inputs: one row per account delinquent tonight with everything `decide` needs.

Written by the nightly run as decision_inputs.parquet, so `whatif` re-decides from it alone.

The joins are pandas' `keys.map(frame.drop_duplicates(key).set_index(key)[col])`, done by
`FirstRows`: the key look-up runs once per joined table in Arrow (pandas hashes a million
Arrow strings per `map`, about a second at a million accounts) and is skipped where the table
is already row for row the accounts (scores). Same values and dtypes as the pandas joins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.config.strategy import Strategy
from collections_engine.frames import duplicated, isin
from collections_engine.segments import stage_of
from collections_engine.vocabulary import HOLD_KINDS

__all__ = ["build_decision_inputs", "INPUT_COLUMNS", "FirstRows", "base_frame", "open_holds", "fraud_by_customer"]

INPUT_COLUMNS = [
    "snapshot_date", "account_id", "customer_id", "stage", "dpd", "p_repay", "points", "band",
    "overdue_amount", "balance", "collectable", "hold", "ring_id", "ring_score", "fraud_confirmed",
    "open_vendor", "placed_on", "ends_on",
]


def _strings(s: pd.Series | pd.Index) -> pa.Array | None:
    """The values as one Arrow large_string array, when they are pandas' default "str" strings
    (missing = NaN) without nulls (the fast look-up's domain; anything else goes through pandas:
    `map` types its result differently for the pd.NA "string" dtype)."""
    if not isinstance(s.dtype, pd.StringDtype) or s.dtype.na_value is not np.nan:
        return None
    arr = pa.array(s.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr.cast(pa.large_string()) if pa.types.is_string(arr.type) else arr


def _same_strings(a: pa.Array, b: pa.Array) -> bool:
    return len(a) == len(b) and (len(a) == 0 or pc.all(pc.equal(a, b)).as_py())


class FirstRows:
    """`keys.map(frame.drop_duplicates(key, keep=keep).set_index(key)[col])` for any `col`
    of `frame`, the look-up of the keys done once (keep=None: no drop_duplicates, pandas
    refuses a repeated key).

    `pos` holds, for each key, the row of `frame` that pandas would take (the first, or the
    last with keep="last", of the rows with that key) or -1; the values are then taken as
    pandas' `map` takes them (`pandas.api.extensions.take` with a missing value where a key is
    missing: the same dtype promotion as `map`; a numpy result is typed again as `map` types it,
    by `infer_objects`). Nulls, keys other than pandas' default "str" (NaN-missing) strings, no
    keys or an empty frame: pandas does it all (`pos` is None).
    """

    def __init__(self, keys: pd.Series, frame: pd.DataFrame, key: str, keep: str | None = "first") -> None:
        self.keys, self.frame, self.key, self.keep = keys, frame, key, keep
        self._pos: np.ndarray | None | bool = False  # False: not looked up yet
        self._row_for_row = False
        self._mapper: pd.DataFrame | None = None

    @property
    def pos(self) -> np.ndarray | None:
        if self._pos is False:
            # nothing to look up, or nothing to find: pandas (its dtypes for these cases)
            self._pos = self._positions() if len(self.frame) and len(self.keys) else None
        return self._pos

    def _positions(self) -> np.ndarray | None:
        k = _strings(self.keys)
        p = _strings(self.frame[self.key]) if k is not None else None
        if k is None or p is None:
            return None
        if self.keep is None and duplicated(self.frame, [self.key]).any():
            return None  # pandas raises
        n = len(p)
        if self.keep != "last" and _same_strings(k, p) and not duplicated(self.keys.to_frame()).any():
            self._row_for_row = True  # scores of tonight's accounts: the columns as they are
            return np.arange(n, dtype=np.int64)
        rows = None
        if n > 4 * len(k) + 1024:  # a large table: hash the keys, keep only the rows they hit
            rows = np.flatnonzero(pc.is_in(p, value_set=k).to_numpy(zero_copy_only=False))
            p = p.take(pa.array(rows))
        m = len(p)
        pool = p.take(pa.array(np.arange(m - 1, -1, -1))) if self.keep == "last" else p
        pos = pc.index_in(k, value_set=pool).to_numpy(zero_copy_only=False)
        pos = np.where(np.isnan(pos), -1, pos).astype(np.int64) if pos.dtype.kind == "f" else pos.astype(np.int64)
        hit = pos >= 0
        if self.keep == "last":
            pos = np.where(hit, m - 1 - pos, -1)
        if rows is not None:
            pos = np.where(hit, rows[np.where(hit, pos, 0)] if len(rows) else -1, -1)
        return pos

    def found(self) -> np.ndarray:
        """Keys with a row (pandas: `isin(keys, mapper.index)`)."""
        if self.pos is None:
            return isin(self.keys, self._pandas().index)
        return self.pos >= 0

    def _pandas(self) -> pd.DataFrame:
        if self._mapper is None:
            f = self.frame if self.keep is None else self.frame.drop_duplicates(self.key, keep=self.keep)
            self._mapper = f.set_index(self.key)
        return self._mapper

    def __call__(self, col: str, sel: np.ndarray | None = None, *, like_map: bool = True) -> pd.Series:
        """The mapped column; `sel`: only the keys at these positions (what mapping
        `keys.iloc[sel]` gives).

        like_map=False leaves out the last step of pandas' `map` on text keys: a numpy result
        typed again (`infer_objects` here; a tenth of a second per million floats). Same
        values; the dtype can differ (object text instead of str), so only for callers that
        cast the result themselves.
        """
        keys = self.keys if sel is None else self.keys.iloc[sel]
        if self.pos is None or not len(keys):
            return keys.map(self._pandas()[col])  # no keys: pandas' dtype
        pos = self.pos if sel is None else self.pos[sel]
        column = self.frame[col].array
        if isinstance(column, pd.arrays.NumpyExtensionArray):
            column = column.to_numpy()
        if self._row_for_row and sel is None:
            values = column.copy()
        else:  # -1: missing, as `map` fills it (NaN for numpy columns, the array's own NA else)
            values = pd.api.extensions.take(column, pos, allow_fill=True,
                                            fill_value=np.nan if isinstance(column, np.ndarray) else None)
        out = pd.Series(values, index=keys.index, name=keys.name)
        if like_map and isinstance(values, np.ndarray) and values.dtype == object:
            out = out.infer_objects()  # what `map` on "str" keys does with an object result
        return out


def _filled(s: pd.Series) -> pd.Series:
    """`s.fillna("")`, skipped (a copy of a million strings) when nothing is missing."""
    return s.fillna("") if s.isna().any() else s


def _text(s: pd.Series) -> pd.Series | np.ndarray:
    """A text column for the inputs frame: `s.to_numpy()` as the pandas version set it, or,
    when not empty, the Series itself (same values and str dtype, without the round trip
    through a million Python strings; its index is the frame's). Empty: the numpy array,
    whose dtype pandas infers differently."""
    return s if len(s) else s.to_numpy()


def _tonight(tonight: pd.DataFrame, date: pd.Timestamp, cols: list[str]) -> pd.DataFrame:
    """Tonight's delinquent rows of `date`, the first per account, in account order: pandas'
    filter, `drop_duplicates("account_id")` and stable sort, on `cols` only. The rows usually
    come one per account and sorted (the nightly run's): checked by comparing neighbours."""
    snap = "snapshot_date" in tonight.columns
    t = tonight.loc[(tonight["dpd"] > 0).to_numpy(), cols + (["snapshot_date"] if snap else [])]
    if snap:
        t = t[(pd.to_datetime(t["snapshot_date"]) == date).to_numpy()]
    t = t[cols].reset_index(drop=True)
    dup = duplicated(t, ["account_id"])
    if dup.any():
        t = t[~dup].reset_index(drop=True)
    ids = _strings(t["account_id"])
    if ids is None or len(ids) < 2 or not pc.all(pc.less_equal(ids.slice(0, len(ids) - 1), ids.slice(1))).as_py():
        t = t.sort_values("account_id", kind="mergesort").reset_index(drop=True)
    return t


def build_decision_inputs(tonight: pd.DataFrame, scores: pd.DataFrame, strategy: Strategy, date, *,
                          holds: pd.DataFrame | None = None, fraud: pd.DataFrame | None = None,
                          open_placements: pd.DataFrame | None = None,
                          effects: dict | None = None) -> pd.DataFrame:
    """Join tonight's delinquent accounts with scores, collectable amount, holds, fraud and
    last night's open placements.

    tonight: accounts rows of `date` (rows with dpd 0 are dropped here).
    scores: account_id, p_repay (required); stage, points, band (optional).
    holds: account_id, hold, start, end (NaT = open); the hold open on `date` (`open_holds`).
    fraud: customer_id, ring_id, ring_score, confirmed (bool): ring members and confirmed fraud.
    open_placements: account_id, vendor, placed_on, ends_on.
    effects: unused here (kept for symmetry with `decide`); effects are applied when deciding.
    """
    date = pd.Timestamp(date)
    t = _tonight(tonight, date, ["account_id", "customer_id", "dpd", "overdue_amount", "balance"])
    out = base_frame(t, date)
    _score_columns(out, scores, strategy)
    out["collectable"] = out[strategy.outcome.amount].fillna(0.0).clip(lower=0.0)
    hold = pd.Series([""] * len(out), dtype="str")
    if holds is not None and len(holds):
        first = open_holds(holds, date).reset_index()
        hold = _filled(FirstRows(out["account_id"], first, "account_id")("hold")).astype("str")
    out["hold"] = _text(hold)
    _fraud_columns(out, fraud)
    _open_placement_columns(out, open_placements)
    return out[INPUT_COLUMNS]


def base_frame(t: pd.DataFrame, date: pd.Timestamp) -> pd.DataFrame:
    """The inputs' columns taken from tonight's rows as they are (`t`: one row per account)."""
    return pd.DataFrame({
        "snapshot_date": np.full(len(t), date.to_datetime64()).astype("datetime64[ns]"),
        "account_id": t["account_id"].astype("str"),
        "customer_id": t["customer_id"].astype("str"),
        "dpd": t["dpd"].astype("int64"),
        "overdue_amount": t["overdue_amount"].astype("float64"),
        "balance": t["balance"].astype("float64"),
    })


def open_holds(holds: pd.DataFrame, date: pd.Timestamp) -> pd.Series:
    """account_id -> the hold open on `date` (start <= date, end empty or after date); several:
    the first by `vocabulary.HOLD_KINDS` order (legal, bankruptcy, deceased, dispute,
    do_not_contact), then others by name (legal wins so the account reaches the legal queue)."""
    h = holds.copy()
    start = pd.to_datetime(h["start"])
    end = pd.to_datetime(h["end"]) if "end" in h.columns else pd.Series(pd.NaT, index=h.index)
    h = h[(start <= date) & (end.isna() | (end > date))]
    rank = {k: i for i, k in enumerate(HOLD_KINDS)}  # precedence: the first open kind wins
    h = h.assign(_r=h["hold"].map(rank).fillna(9)).sort_values(["account_id", "_r", "hold"], kind="mergesort")
    return h.drop_duplicates("account_id").set_index("account_id")["hold"].astype("str")


def fraud_by_customer(fraud: pd.DataFrame) -> pd.DataFrame:
    """The fraud rows, each customer's confirmed row first (`confirmed` missing = False)."""
    fr = fraud.copy()
    fr["confirmed"] = fr["confirmed"].fillna(False).astype(bool) if "confirmed" in fr.columns else False
    return fr.sort_values(["customer_id", "confirmed"], ascending=[True, False], kind="mergesort")


def _score_columns(out: pd.DataFrame, scores: pd.DataFrame, strategy: Strategy) -> None:
    """p_repay, stage (the scores', else the strategy's stage for the dpd), points and band."""
    s = FirstRows(out["account_id"], scores, "account_id")
    s_cols = [c for c in scores.columns if c != "account_id"]
    out["p_repay"] = s("p_repay", like_map=False).astype("float64").to_numpy()
    if "stage" in s_cols:
        st = s("stage").astype("str")
        fallback = stage_of(out["dpd"], strategy)
        out["stage"] = _text(st.where(s.found() & (st != "").to_numpy(), fallback).astype("str"))
    else:
        out["stage"] = stage_of(out["dpd"], strategy).to_numpy()
    out["points"] = s("points", like_map=False).astype("float64").to_numpy() if "points" in s_cols else np.nan
    out["band"] = (_text(_filled(s("band")).astype("str")) if "band" in s_cols
                   else pd.Series([""] * len(out), dtype="str"))


def _fraud_columns(out: pd.DataFrame, fraud: pd.DataFrame | None) -> None:
    """ring_id, ring_score, fraud_confirmed by customer ("", NaN, False where none)."""
    out["ring_id"] = ""
    out["ring_score"] = np.nan
    out["fraud_confirmed"] = False
    if fraud is not None and len(fraud):
        fr = fraud_by_customer(fraud)
        f = FirstRows(out["customer_id"], fr, "customer_id")
        if "ring_id" in fr.columns:
            out["ring_id"] = _text(_filled(f("ring_id")).astype("str"))
        if "ring_score" in fr.columns:
            out["ring_score"] = f("ring_score", like_map=False).astype("float64").to_numpy()
        out["fraud_confirmed"] = f("confirmed", like_map=False).fillna(False).astype(bool).to_numpy()
    out["ring_id"] = out["ring_id"].astype("str")


def _open_placement_columns(out: pd.DataFrame, open_placements: pd.DataFrame | None) -> None:
    """open_vendor, placed_on, ends_on of last night's open placement ("", NaT where none)."""
    out["open_vendor"] = ""
    out["placed_on"] = pd.NaT
    out["ends_on"] = pd.NaT
    if open_placements is not None and len(open_placements):
        op = open_placements
        if not all(pd.api.types.is_datetime64_dtype(op[c]) for c in ("placed_on", "ends_on")):
            # to_datetime of text may read a value by its neighbours: on the rows pandas keeps
            op = op.drop_duplicates("account_id", keep="last")
            op = op.assign(placed_on=pd.to_datetime(op["placed_on"]), ends_on=pd.to_datetime(op["ends_on"]))
        o = FirstRows(out["account_id"], op, "account_id", keep="last")  # datetime columns: to_datetime is a no-op
        out["open_vendor"] = _text(_filled(o("vendor")).astype("str"))
        out["placed_on"] = o("placed_on", like_map=False).to_numpy()
        out["ends_on"] = o("ends_on", like_map=False).to_numpy()
    out["open_vendor"] = out["open_vendor"].astype("str")
    for c in ("placed_on", "ends_on"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
