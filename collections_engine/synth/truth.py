"""The answer key's derived figures: planted effects as a table and the ceiling AUCs.

The ceiling AUC of a segment is the AUC of the true repayment probability under the queue each
account was in (truth `p_queue` in world v2; min(1, p_repay * effect) for a v1 book) against the drawn outcomes of the history snapshots:
no model can do better on average. It is set beside the AUC of the best model on days past due
alone (the repayment rate of each DPD value, in sample).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.segments import customer_line_of, stage_of

__all__ = ["effects_frame", "ceiling_aucs", "auc"]


def effects_frame(queue_names: list[str], stage_names: list[str], elig: np.ndarray,
                  eff: np.ndarray) -> pd.DataFrame:
    k, q = np.nonzero(elig)
    return pd.DataFrame({
        "queue": pd.Series(np.asarray(queue_names, dtype=object)[q], dtype="str"),
        "stage": pd.Series(np.asarray(stage_names, dtype=object)[k], dtype="str"),
        "effect": eff[k, q].astype(np.float64),
    }).sort_values(["queue", "stage"], kind="stable").reset_index(drop=True)


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half; NaN when one class is missing."""
    y = np.asarray(y).astype(bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(score, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ceiling_aucs(accounts: pd.DataFrame, truth_accounts: pd.DataFrame, outcomes: pd.DataFrame,
                 placement_history: pd.DataFrame, effects: pd.DataFrame,
                 strategy: Strategy) -> pd.DataFrame:
    """Per segment (customer line x stage) and overall: rows, repay rate, ceiling AUC and the
    AUC of a model on DPD alone."""
    key = ["account_id", "snapshot_date"]
    df = outcomes[key + ["repaid"]].merge(placement_history[key + ["queue"]], on=key, how="left")
    has_pq = "p_queue" in truth_accounts.columns
    df = df.merge(truth_accounts[key + ["p_repay"] + (["p_queue"] if has_pq else [])], on=key,
                  how="left")
    df = df.merge(accounts[key + ["dpd", "open_date"]], on=key, how="left")
    df["stage"] = stage_of(df["dpd"], strategy).to_numpy()
    df["line"] = customer_line_of(df["open_date"], df["snapshot_date"], strategy).to_numpy()
    if has_pq:      # world v2: the true probability under the queue each account was in
        df["p_true"] = df["p_queue"]
    else:
        if "trait" in effects.columns:
            effects = effects[effects["trait"] == "all"][["queue", "stage", "effect"]]
        df = df.merge(effects, on=["queue", "stage"], how="left")
        df["effect"] = df["effect"].fillna(1.0)
        df["p_true"] = np.minimum(1.0, df["p_repay"] * df["effect"])
    df["p_dpd"] = df.groupby("dpd")["repaid"].transform("mean")
    rows = []
    groups = [("all", df)] + [(f"{ln}/{st}", g) for (ln, st), g in
                               df.groupby(["line", "stage"], sort=True)]
    for name, g in groups:
        rows.append({
            "segment": name, "rows": len(g), "repay_rate": float(g["repaid"].mean()),
            "auc_ceiling": auc(g["repaid"].to_numpy(), g["p_true"].to_numpy()),
            "auc_dpd": auc(g["repaid"].to_numpy(), g["p_dpd"].to_numpy()),
        })
    out = pd.DataFrame(rows)
    out["gap"] = out["auc_ceiling"] - out["auc_dpd"]
    return out
