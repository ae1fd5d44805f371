"""Training rows: history snapshots with outcomes, their segment, the queue they were in,
an out-of-time split and a seeded per-segment sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.errors import DataError
from collections_engine.segments import customer_line_of, segment_name, stage_of

__all__ = ["NO_ACTION", "segment_columns", "training_rows", "oot_split", "sample_per_segment",
           "all_segments"]

NO_ACTION = "not_worked"


def all_segments(strategy: Strategy) -> list[str]:
    return [f"{line}/{s}" for line in ("new", "existing") for s in strategy.stage_names()]


def segment_columns(rows: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    """stage, customer_line and segment of account snapshot rows (same index)."""
    stage = stage_of(rows["dpd"], strategy)
    stage.index = rows.index
    line = customer_line_of(rows["open_date"], rows["snapshot_date"], strategy)
    return pd.DataFrame({"stage": stage, "customer_line": line,
                         "segment": segment_name(line, stage)}, index=rows.index)


def training_rows(book: Book, strategy: Strategy) -> pd.DataFrame:
    """Delinquent account snapshot rows that have an outcome, with y, segment and queue."""
    if book.outcomes is None or len(book.outcomes) == 0:
        raise DataError("outcomes", ["training needs the outcomes table (account_id, snapshot_date, "
                                     "repaid); it is missing or empty"])
    out = book.outcomes[["account_id", "snapshot_date", "repaid"]].drop_duplicates(
        ["account_id", "snapshot_date"], keep="last")
    acc = book.accounts[book.accounts["dpd"].to_numpy() > 0]
    rows = acc.merge(out, on=["account_id", "snapshot_date"], how="inner", sort=False)
    del acc
    if len(rows) == 0:
        raise DataError("outcomes", ["no delinquent accounts row (dpd > 0) has an outcome: nothing to "
                                     "train on"])
    rows = rows.reset_index(drop=True)  # accounts' order (the merge keeps it): deterministic
    rows["y"] = rows.pop("repaid").astype(np.int8)
    seg = segment_columns(rows, strategy)
    for c in seg.columns:  # categories: ten million rows of repeated short strings
        rows[c] = pd.Categorical(seg[c].to_numpy())
    del seg
    if book.placement_history is not None:
        ph = book.placement_history[["account_id", "snapshot_date", "queue"]].drop_duplicates(
            ["account_id", "snapshot_date"], keep="last")
        q = rows[["account_id", "snapshot_date"]].merge(ph, on=["account_id", "snapshot_date"], how="left")
        rows["queue"] = pd.Categorical(q["queue"].fillna(NO_ACTION).astype("str"))
    return rows


def oot_split(rows: pd.DataFrame, seed: int, holdout_share: float = 0.15) -> tuple[np.ndarray, str]:
    """Boolean mask of held-out rows: the latest snapshot dates, or a seeded random split by
    account when history has a single snapshot. Returns the mask and a sentence saying which."""
    dates = np.sort(rows["snapshot_date"].unique())
    if len(dates) >= 2:
        k = max(1, int(round(holdout_share * len(dates))))
        k = min(k, len(dates) - 1)
        held = dates[-k:]
        mask = rows["snapshot_date"].isin(held).to_numpy()
        names = ", ".join(pd.Timestamp(d).strftime("%Y-%m-%d") for d in held)
        return mask, f"out of time: the latest {k} history snapshot(s) held out ({names})"
    mask = account_draw(rows["account_id"], seed, salt=11) < 0.2
    return mask, (f"single history snapshot: a seeded random 20% of accounts held out (seed {seed}); "
                  "this is not an out-of-time test")


def account_draw(ids: pd.Series, seed: int, salt: int) -> np.ndarray:
    """A uniform [0, 1) number per account id, fixed by id, seed and salt (chunk-independent)."""
    h = pd.util.hash_pandas_object(ids.astype("str").reset_index(drop=True), index=False,
                                   hash_key=f"ce{seed % 10**7:07d}{salt % 10**7:07d}").to_numpy()
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def sample_per_segment(rows: pd.DataFrame, mask: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Positions of at most `cap` rows per segment among rows[mask], seeded, sorted."""
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(mask)
    seg = rows["segment"].to_numpy()[pos]
    keep = []
    for s in sorted(pd.unique(seg)):
        p = pos[seg == s]
        if len(p) > cap:
            p = np.sort(rng.choice(p, cap, replace=False))
        keep.append(p)
    return np.sort(np.concatenate(keep)) if keep else np.array([], dtype=np.int64)
