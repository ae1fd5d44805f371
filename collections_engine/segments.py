"""Stages and customer lines: the segment of each account on a snapshot date.

Shared by every step (generator, models, placement, report), so the bucket edges and the
new-customer rule come from the strategy in exactly one place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy

__all__ = ["stage_of", "stage_index", "customer_line_of", "segment_name", "account_age_months", "NOT_DELINQUENT"]

NOT_DELINQUENT = ""


def stage_index(dpd: pd.Series | np.ndarray, strategy: Strategy) -> np.ndarray:
    """Position of each DPD's stage in the strategy's stages, counted from 1; 0 for dpd 0 or a
    DPD inside no stage. Searchsorted over the stage lower edges (stages are contiguous)."""
    d = np.asarray(dpd, dtype=np.int64)
    lows = np.array([s.dpd_min for s in strategy.stages], dtype=np.int64)
    last_max = strategy.stages[-1].dpd_max
    idx = np.searchsorted(lows, d, side="right")  # 0 = below the first stage
    if last_max is not None:
        idx = np.where(d > last_max, 0, idx)
    return idx


def stage_of(dpd: pd.Series | np.ndarray, strategy: Strategy) -> pd.Series:
    """Stage name per DPD value; "" for dpd 0 or a DPD inside no stage (validation forbids it)."""
    names = np.array([NOT_DELINQUENT, *strategy.stage_names()], dtype=object)
    out = names[stage_index(dpd, strategy)]
    index = dpd.index if isinstance(dpd, pd.Series) else None
    return pd.Series(out, index=index, dtype="str")


def account_age_months(open_date: pd.Series, snapshot_date: pd.Series | pd.Timestamp) -> np.ndarray:
    """Whole months between opening and the snapshot date (calendar months, floor)."""
    o = pd.DatetimeIndex(open_date)
    s = pd.DatetimeIndex(snapshot_date) if isinstance(snapshot_date, pd.Series) else None
    if s is None:
        snap = pd.Timestamp(snapshot_date)
        sy, sm, sd = snap.year, snap.month, snap.day
    else:
        sy, sm, sd = s.year.to_numpy(), s.month.to_numpy(), s.day.to_numpy()
    months = (sy - o.year.to_numpy()) * 12 + (sm - o.month.to_numpy())
    months = months - (sd < o.day.to_numpy())
    return np.asarray(months, dtype=np.int64)


def customer_line_of(open_date: pd.Series, snapshot_date: pd.Series | pd.Timestamp,
                     strategy: Strategy) -> pd.Series:
    """'new' when the account is at most `new_customer.max_account_age_months` old, else 'existing'."""
    age = account_age_months(open_date, snapshot_date)
    line = np.where(age <= strategy.new_customer.max_account_age_months, "new", "existing")
    return pd.Series(line, index=open_date.index, dtype="str")


def segment_name(customer_line: pd.Series, stage: pd.Series) -> pd.Series:
    """'new/M1', 'existing/M4+', ..."""
    return customer_line.astype("str") + "/" + stage.astype("str")
