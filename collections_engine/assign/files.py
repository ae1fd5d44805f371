"""What leaves the bank: vendor placement/recall frames (only `file_fields`) and worklists."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign.decide import Decision
from collections_engine.assign.inputs import FirstRows
from collections_engine.config.strategy import Strategy

__all__ = ["vendor_files", "worklists"]

WORKLIST_COLUMNS = ["priority", "account_id", "customer_id", "stage", "expected_recovery",
                    "expected_cost", "expected_net"]


def vendor_files(decision: Decision, inputs: pd.DataFrame, accounts_tonight: pd.DataFrame,
                 customers: pd.DataFrame | None, scores: pd.DataFrame | None, strategy: Strategy,
                 date, *, warnings: list[str] | None = None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """vendor -> (placements, recalls) frames for tonight.

    placements: tonight's new placements with exactly the vendor's `file_fields` that exist
    (in that order; a field missing from tonight's data is left out with a warning).
    recalls: account_id, reason. Each field is taken from the one source that owns it:
    accounts (tonight's columns), customers (by customer_id), outputs (stage, band,
    points from the decision inputs/scores; placed_on, ends_on from the placements book).

    A source row is the first with the key (pandas' drop_duplicates); the keys are looked up
    once for all of tonight's placed accounts, and only among the source rows they hit (a
    few ten thousand placed against millions of customers).
    """
    warn = warnings if warnings is not None else decision.warnings
    a = decision.assignments
    out: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    placed = a[(a["decision"] == "placed").to_numpy()]
    ids_all = placed["account_id"].astype("str")
    cids_all = placed["customer_id"].astype("str")
    acc = FirstRows(ids_all, accounts_tonight, "account_id")
    cus = FirstRows(cids_all, customers, "customer_id") if customers is not None else None
    inp = FirstRows(ids_all, inputs, "account_id")
    sc = FirstRows(ids_all, scores, "account_id") if scores is not None else None
    pl = FirstRows(ids_all, decision.placements, "account_id", keep=None)
    acc_cols = set(accounts_tonight.columns) - {"account_id"}
    cus_cols = set(customers.columns) - {"customer_id"} if customers is not None else set()
    inp_cols = set(inputs.columns) - {"account_id"}
    sc_cols = set(scores.columns) - {"account_id"} if scores is not None else set()
    queue = placed["queue"].to_numpy()
    for v in strategy.vendors():
        mine = np.flatnonzero(queue == v.name)
        # a[(queue == v) & placed].sort_values("account_id", kind="mergesort"), as positions
        sel = mine[placed["account_id"].iloc[mine].reset_index(drop=True).sort_values(kind="mergesort").index]
        rows = placed.iloc[sel]
        ids = rows["account_id"].astype("str")
        cols: dict[str, pd.Series] = {}
        for f in v.file_fields:
            s = None
            if f in ("placed_on", "ends_on"):
                s = pl(f, sel)
            elif f in ("stage", "band", "points"):
                src, src_cols = (inp, inp_cols) if f in inp_cols else (sc, sc_cols)
                s = src(f, sel) if src is not None and f in src_cols else None
            elif f == "account_id":
                s = ids
            elif f == "customer_id":
                s = rows["customer_id"].astype("str")
            elif f in acc_cols:
                s = acc(f, sel)
            elif cus is not None and f in cus_cols:
                s = cus(f, sel)
            if s is None:
                warn.append(f"vendor {v.name!r}: file field {f!r} is not in tonight's data; left out")
                continue
            cols[f] = s.reset_index(drop=True)
        placements = pd.DataFrame(cols, index=range(len(rows)))
        r = decision.recalls
        recalls = r[r["vendor"] == v.name][["account_id", "reason"]].sort_values("account_id", kind="mergesort")
        out[v.name] = (placements.reset_index(drop=True), recalls.reset_index(drop=True))
    return out


def worklists(decision: Decision) -> dict[str, pd.DataFrame]:
    """In-house team -> its accounts in priority order (1 = work first)."""
    s = decision.queue_summary
    teams = s.loc[s["kind"] == "inhouse", "queue"].tolist()
    a = decision.assignments
    return {t: a[a["queue"] == t].sort_values("priority", kind="mergesort")[WORKLIST_COLUMNS].reset_index(drop=True)
            for t in teams}
