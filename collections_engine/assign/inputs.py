"""Decision inputs: one row per account delinquent tonight with everything `decide` needs.

Written by the nightly run as decision_inputs.parquet, so `whatif` re-decides from it alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.frames import isin
from collections_engine.segments import stage_of

__all__ = ["build_decision_inputs", "INPUT_COLUMNS"]

INPUT_COLUMNS = [
    "snapshot_date", "account_id", "customer_id", "stage", "dpd", "p_repay", "points", "band",
    "overdue_amount", "balance", "collectable", "hold", "ring_id", "ring_score", "fraud_confirmed",
    "open_vendor", "placed_on", "ends_on",
]


def build_decision_inputs(tonight: pd.DataFrame, scores: pd.DataFrame, strategy: Strategy, date, *,
                          holds: pd.DataFrame | None = None, fraud: pd.DataFrame | None = None,
                          open_placements: pd.DataFrame | None = None,
                          effects: dict | None = None) -> pd.DataFrame:
    """Join tonight's delinquent accounts with scores, collectable amount, holds, fraud and
    last night's open placements.

    tonight: accounts rows of `date` (rows with dpd 0 are dropped here).
    scores: account_id, p_repay (required); stage, points, band (optional).
    holds: account_id, hold, start, end (NaT = open); the hold open on `date` (start <= date,
      end empty or after date); several: the first by CONTRACT order legal, bankruptcy,
      deceased, dispute, do_not_contact... (legal wins so the account reaches the legal queue).
    fraud: customer_id, ring_id, ring_score, confirmed (bool): ring members and confirmed fraud.
    open_placements: account_id, vendor, placed_on, ends_on.
    effects: unused here (kept for symmetry with `decide`); effects are applied when deciding.
    """
    date = pd.Timestamp(date)
    t = tonight[tonight["dpd"] > 0].copy()
    if "snapshot_date" in t.columns:
        t = t[pd.to_datetime(t["snapshot_date"]) == date]
    t = t.drop_duplicates("account_id").sort_values("account_id", kind="mergesort").reset_index(drop=True)
    out = pd.DataFrame({
        "snapshot_date": np.full(len(t), date.to_datetime64()).astype("datetime64[ns]"),
        "account_id": t["account_id"].astype("str"),
        "customer_id": t["customer_id"].astype("str"),
        "dpd": t["dpd"].astype("int64"),
        "overdue_amount": t["overdue_amount"].astype("float64"),
        "balance": t["balance"].astype("float64"),
    })
    s = scores.drop_duplicates("account_id").set_index("account_id")
    ids = out["account_id"]
    out["p_repay"] = ids.map(s["p_repay"]).astype("float64").to_numpy()
    if "stage" in s.columns:
        st = ids.map(s["stage"]).astype("str")
        fallback = stage_of(out["dpd"], strategy)
        out["stage"] = st.where(isin(ids, s.index) & (st != "").to_numpy(), fallback).astype("str").to_numpy()
    else:
        out["stage"] = stage_of(out["dpd"], strategy).to_numpy()
    out["points"] = ids.map(s["points"]).astype("float64").to_numpy() if "points" in s.columns else np.nan
    out["band"] = (ids.map(s["band"]).fillna("").astype("str").to_numpy() if "band" in s.columns
                   else pd.Series([""] * len(out), dtype="str"))
    out["collectable"] = out[strategy.outcome.amount].fillna(0.0).clip(lower=0.0)

    hold = pd.Series([""] * len(out), dtype="str")
    if holds is not None and len(holds):
        h = holds.copy()
        start = pd.to_datetime(h["start"])
        end = pd.to_datetime(h["end"]) if "end" in h.columns else pd.Series(pd.NaT, index=h.index)
        h = h[(start <= date) & (end.isna() | (end > date))]
        rank = {"legal": 0, "bankruptcy": 1, "deceased": 2, "dispute": 3, "do_not_contact": 4}
        h = h.assign(_r=h["hold"].map(rank).fillna(9)).sort_values(["account_id", "_r", "hold"], kind="mergesort")
        first = h.drop_duplicates("account_id").set_index("account_id")["hold"].astype("str")
        hold = ids.map(first).fillna("").astype("str")
    out["hold"] = hold.to_numpy()

    out["ring_id"] = ""
    out["ring_score"] = np.nan
    out["fraud_confirmed"] = False
    if fraud is not None and len(fraud):
        fr = fraud.copy()
        fr["confirmed"] = fr["confirmed"].fillna(False).astype(bool) if "confirmed" in fr.columns else False
        fr = fr.sort_values(["customer_id", "confirmed"], ascending=[True, False], kind="mergesort")
        fr = fr.drop_duplicates("customer_id").set_index("customer_id")
        cid = out["customer_id"]
        if "ring_id" in fr.columns:
            out["ring_id"] = cid.map(fr["ring_id"]).fillna("").astype("str").to_numpy()
        if "ring_score" in fr.columns:
            out["ring_score"] = cid.map(fr["ring_score"]).astype("float64").to_numpy()
        out["fraud_confirmed"] = cid.map(fr["confirmed"]).fillna(False).astype(bool).to_numpy()
    out["ring_id"] = out["ring_id"].astype("str")

    out["open_vendor"] = ""
    out["placed_on"] = pd.NaT
    out["ends_on"] = pd.NaT
    if open_placements is not None and len(open_placements):
        op = open_placements.drop_duplicates("account_id", keep="last").set_index("account_id")
        out["open_vendor"] = ids.map(op["vendor"]).fillna("").astype("str").to_numpy()
        out["placed_on"] = ids.map(pd.to_datetime(op["placed_on"])).to_numpy()
        out["ends_on"] = ids.map(pd.to_datetime(op["ends_on"])).to_numpy()
    out["open_vendor"] = out["open_vendor"].astype("str")
    for c in ("placed_on", "ends_on"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    return out[INPUT_COLUMNS]
