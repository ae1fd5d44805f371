"""What leaves the bank: vendor placement/recall frames (only `file_fields`) and worklists."""

from __future__ import annotations

import pandas as pd

from collections_engine.assign.decide import Decision
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
    """
    warn = warnings if warnings is not None else decision.warnings
    a = decision.assignments
    out: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    acc = accounts_tonight.drop_duplicates("account_id").set_index("account_id")
    cus = customers.drop_duplicates("customer_id").set_index("customer_id") if customers is not None else None
    inp = inputs.drop_duplicates("account_id").set_index("account_id")
    sc = scores.drop_duplicates("account_id").set_index("account_id") if scores is not None else None
    pl = decision.placements.set_index("account_id")
    for v in strategy.vendors():
        rows = a[(a["queue"] == v.name) & (a["decision"] == "placed")].sort_values("account_id", kind="mergesort")
        ids = rows["account_id"].astype("str")
        cols: dict[str, pd.Series] = {}
        for f in v.file_fields:
            s = None
            if f in ("placed_on", "ends_on"):
                s = ids.map(pl[f])
            elif f in ("stage", "band", "points"):
                src = inp if f in inp.columns else sc
                s = ids.map(src[f]) if src is not None and f in src.columns else None
            elif f == "account_id":
                s = ids
            elif f == "customer_id":
                s = rows["customer_id"].astype("str")
            elif f in acc.columns:
                s = ids.map(acc[f])
            elif cus is not None and f in cus.columns:
                s = rows["customer_id"].astype("str").map(cus[f])
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
