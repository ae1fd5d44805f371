"""The training window, one home for scoring and sources: history snapshots with outcomes
(`training_rows`), their segment and the queue they were in; the out-of-time split
(`oot_split`, with `holdout_dates` choosing how many of the latest snapshots to hold out); the
seeded per-account draw (`account_draw`) and the seeded samples (`cap_rows`, `sample_rows`,
`sample_per_segment`).

`train` and `value_sources` both take their rows, split and samples from here, so a model
version and a source valuation on the same book see the same window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.errors import DataError
from collections_engine.segments import customer_line_of, segment_name, stage_of
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["NO_ACTION", "segment_columns", "training_rows", "holdout_dates", "oot_split",
           "account_draw", "cap_rows", "sample_rows", "sample_per_segment", "all_segments"]

NO_ACTION = NOT_WORKED


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


def holdout_dates(dates: np.ndarray, min_share: float, max_share: float, train_rows_wanted: int
                  ) -> int:
    """How many of the latest history snapshots to hold out.

    At least round(min_share * dates) (1 or more, leaving one to train on); more, up to
    round(max_share * dates), while the dates left before them still hold `train_rows_wanted`
    rows: a model trained on a sample of that many rows gains nothing from a month beyond it,
    which is worth more as out-of-time evidence. `dates`: each row's snapshot date. 0 when
    history has a single snapshot (no time split).
    """
    u, n = np.unique(dates, return_counts=True)
    if len(u) < 2:
        return 0
    lo = min(max(1, int(round(min_share * len(u)))), len(u) - 1)
    hi = min(max(lo, int(round(max_share * len(u)))), len(u) - 1)
    before = np.cumsum(n)                  # rows on the first j + 1 dates
    k = lo
    while k < hi and before[len(u) - k - 2] >= train_rows_wanted:
        k += 1
    return k


def oot_split(rows: pd.DataFrame, seed: int, holdout_share: float = 0.15,
              max_share: float | None = None, train_rows_wanted: int = 0) -> tuple[np.ndarray, str]:
    """Boolean mask of held-out rows: the latest snapshot dates (`holdout_dates`; a fixed
    `holdout_share` unless `max_share` lets it grow), or a seeded random 20% of accounts when
    history has a single snapshot. Returns the mask and a sentence saying which (where the count
    may grow, the sentence also says how many dates train)."""
    dates = rows["snapshot_date"].to_numpy()
    grows = max_share is not None
    k = holdout_dates(dates, holdout_share, max_share if grows else holdout_share, train_rows_wanted)
    if k:
        u = np.unique(dates)
        held = u[-k:]
        names = ", ".join(pd.Timestamp(d).strftime("%Y-%m-%d") for d in held)
        how = f"out of time: the latest {k} history snapshot(s) held out ({names})"
        return np.isin(dates, held), how + (f"; the {len(u) - k} before them train" if grows else "")
    mask = account_draw(rows["account_id"], seed, salt=11) < 0.2
    return mask, (f"single history snapshot: a seeded random 20% of accounts held out (seed {seed}); "
                  "this is not an out-of-time test")


def account_draw(ids: pd.Series, seed: int, salt: int) -> np.ndarray:
    """A uniform [0, 1) number per account id, fixed by id, seed and salt (chunk-independent)."""
    h = pd.util.hash_pandas_object(ids.astype("str").reset_index(drop=True), index=False,
                                   hash_key=f"ce{seed % 10**7:07d}{salt % 10**7:07d}").to_numpy()
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def cap_rows(pos: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """`pos` itself, or a sorted draw of `cap` of them (without replacement) when it holds more."""
    if len(pos) > cap:
        return np.sort(rng.choice(pos, cap, replace=False))
    return pos


def sample_rows(mask: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Positions of at most `cap` rows among the true entries of `mask`, seeded, sorted."""
    return cap_rows(np.flatnonzero(mask), cap, np.random.default_rng(seed))


def sample_per_segment(rows: pd.DataFrame, mask: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Positions of at most `cap` rows per segment among rows[mask], seeded, sorted."""
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(mask)
    seg = rows["segment"].to_numpy()[pos]
    keep = [cap_rows(pos[seg == s], cap, rng) for s in sorted(pd.unique(seg))]
    return np.sort(np.concatenate(keep)) if keep else np.array([], dtype=np.int64)
