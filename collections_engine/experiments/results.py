"""Results per champion/challenger arm once outcomes arrive: recovery, cost and net per account,
with intervals and a test against the champion; and queue effects re-estimated from the
engine's own history, restricted to where it explored.

The unit randomised is the customer (assign/experiments.py), so intervals are clustered by
customer: for an arm, with customer c's summed value v_c over its n_c account-nights,
    mean = sum v_c / sum n_c
    se   = sqrt(G / (G - 1) * sum (v_c - mean * n_c)^2) / sum n_c        (G customers)
(the linearised ratio estimator). The test of arm a against the champion compares like with like: an
arm takes a share of some stages, the champion holds all of them, so per stratum s (the stage
that randomised the customer: its most advanced one that night) the difference of the means is
weighted by the arm's share w_s of its rows in s, se^2 = sum w_s^2 (se_a,s^2 +
se_champion,s^2) (the arms hold different customers: independent); a two-sided normal p-value.

Realised money of an account-night: recovery = the outcome's recovered_amount; cost = the arm's
cost_per_account for the queue it was in + the queue's commission on that recovery (run.json
`arms` records both per arm); net = recovery - cost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign.effects import CONTROL, estimate_effects
from collections_engine.config.experiments import never_explored
from collections_engine.config.strategy import Strategy
from collections_engine.experiments.estimate import mark_estimable
from collections_engine.stats import two_sided_p, z_of

__all__ = ["realised_rows", "arm_results", "explored_effects", "RESULT_COLUMNS"]

RESULT_COLUMNS = ["arm", "nights", "account_nights", "customers", "explorers",
                  "recovery_per_account", "recovery_lo", "recovery_hi",
                  "cost_per_account", "cost_lo", "cost_hi", "net_per_account", "net_lo", "net_hi",
                  "net_vs_champion", "diff_lo", "diff_hi", "p_value", "significant", "compared_on"]


def realised_rows(assignments: pd.DataFrame, outcomes: pd.DataFrame, terms: dict) -> pd.DataFrame:
    """One night's account rows that have an outcome, with realised recovery, cost and net.

    assignments: the night's (account_id, customer_id, queue, arm, reason); outcomes: rows of
    that snapshot date (account_id, recovered_amount); terms: run.json's `arms`."""
    a = assignments[["account_id", "customer_id", "stage", "queue", "arm", "reason"]].copy()
    a["account_id"] = a["account_id"].astype("str")
    a["stratum"] = _strata(assignments)
    o = outcomes[["account_id", "recovered_amount"]].copy()
    o["account_id"] = o["account_id"].astype("str")
    o = o.drop_duplicates("account_id", keep="last")
    d = a.merge(o, on="account_id", how="inner", sort=False)
    rec = pd.to_numeric(d["recovered_amount"], errors="coerce").fillna(0.0).clip(lower=0).to_numpy(float)
    q = d["queue"].astype("str").to_numpy(dtype=object)
    arm = d["arm"].astype("str").to_numpy(dtype=object)
    cost = np.zeros(len(d))
    comm = np.zeros(len(d))
    for name, t in (terms.get("arms") or {}).items():
        m_arm = arm == name
        for qn, qt in t["queues"].items():
            m = m_arm & (q == qn)
            cost[m] = float(qt.get("cost_per_account") or 0.0)
            comm[m] = float(qt.get("commission") or 0.0)
    d["recovery"] = rec
    d["cost"] = cost + comm * rec
    d["net"] = d["recovery"] - d["cost"]
    d["explorer"] = d["reason"].astype("str").str.startswith("explore")
    return d


def _strata(assignments: pd.DataFrame) -> np.ndarray:
    """The stage that randomised each account's customer: its most advanced stage tonight (the
    stage of its account with the most days past due; `assign_arms`). Without `dpd` (older
    callers) the account's own stage."""
    stage = assignments["stage"].astype("str").to_numpy(dtype=object)
    if "dpd" not in assignments.columns:
        return stage
    dpd = pd.to_numeric(assignments["dpd"], errors="coerce").fillna(-1).to_numpy(float)
    cust = assignments["customer_id"].astype("str").to_numpy(dtype=object)
    order = np.lexsort((-dpd, cust))              # per customer, its most advanced account first
    first = pd.Series(stage[order]).groupby(cust[order], sort=False).transform("first").to_numpy(dtype=object)
    out = np.empty(len(stage), dtype=object)
    out[order] = first
    return out


def _clustered(values: np.ndarray, cluster: np.ndarray) -> tuple[float, float]:
    codes, _ = pd.factorize(cluster)
    g = codes.max() + 1 if len(codes) else 0
    n = np.bincount(codes, minlength=g).astype(float)
    v = np.bincount(codes, weights=values, minlength=g)
    total = n.sum()
    if total == 0:
        return float("nan"), float("nan")
    mean = v.sum() / total
    se = float(np.sqrt(g / (g - 1) * np.sum((v - mean * n) ** 2)) / total) if g > 1 else float("nan")
    return float(mean), se


def _stratified(arm: pd.DataFrame, champ: pd.DataFrame) -> tuple[float, float, list[str]]:
    """Net per account of the arm minus the champion's within the same strata (an arm takes a
    share of some stages only; the champion holds every stage): per stratum s the difference of
    the means, weighted by the arm's share of its rows in s; se^2 = sum w_s^2 (se_a,s^2 + se_c,s^2).

    The stratum is the stage that randomised the customer (`stratum`: its most advanced stage),
    so an arm's M1 account of a customer who is also M4+ is compared with the champion's accounts
    of M4+ customers, not with its M1 customers (another population); `stage` where absent."""
    diff, var, on = 0.0, 0.0, []
    col = "stratum" if "stratum" in arm.columns and "stratum" in champ.columns else "stage"
    st_a = arm[col].astype("str").to_numpy(dtype=object)
    st_c = champ[col].astype("str").to_numpy(dtype=object)
    stages = [s for s in pd.unique(st_a) if (st_c == s).sum() > 1 and (st_a == s).sum() > 1]
    n = sum(int((st_a == s).sum()) for s in stages)
    for s in sorted(stages):
        a, c = arm[st_a == s], champ[st_c == s]
        ma, sa = _clustered(a["net"].to_numpy(float), a["customer_id"].astype("str").to_numpy(dtype=object))
        mc, sc = _clustered(c["net"].to_numpy(float), c["customer_id"].astype("str").to_numpy(dtype=object))
        w = len(a) / n
        diff += w * (ma - mc)
        var += w * w * (sa * sa + sc * sc)
        on.append(str(s))
    return (diff, float(np.sqrt(var)), on) if on else (float("nan"), float("nan"), on)


def arm_results(rows: pd.DataFrame, level: float = 0.95, champion: str = "champion") -> pd.DataFrame:
    """Per arm over every night in `rows` (`realised_rows` of each night, with a `night`
    column): per-account recovery, cost and net with customer-clustered intervals, and the
    net's difference from the champion within the same stages (`_stratified`) with its
    interval and p-value."""
    z = z_of(level)
    out = []
    base = None
    for arm in sorted(rows["arm"].astype("str").unique(), key=lambda a: (a != champion, a)):
        r = rows[rows["arm"].astype("str") == arm]
        cl = r["customer_id"].astype("str").to_numpy(dtype=object)
        row = {"arm": arm, "nights": int(r["night"].nunique()), "account_nights": int(len(r)),
               "customers": int(pd.Series(cl).nunique()), "explorers": int(r["explorer"].sum())}
        for k, col in (("recovery", "recovery"), ("cost", "cost"), ("net", "net")):
            m, se = _clustered(r[col].to_numpy(float), cl)
            name = f"{k}_per_account"
            row[name], row[f"{k}_lo"], row[f"{k}_hi"] = m, m - z * se, m + z * se
            if k == "net":
                row["_se"] = se
        if arm == champion:
            base = row
        out.append(row)
    champ_rows = rows[rows["arm"].astype("str") == champion]
    for row in out:
        if base is None or row is base:
            row.update({"net_vs_champion": np.nan, "diff_lo": np.nan, "diff_hi": np.nan, "p_value": np.nan,
                        "significant": False, "compared_on": ""})
            continue
        diff, se, on = _stratified(rows[rows["arm"].astype("str") == row["arm"]], champ_rows)
        p = two_sided_p(diff, se) if se > 0 else float("nan")
        row.update({"net_vs_champion": diff, "diff_lo": diff - z * se, "diff_hi": diff + z * se,
                    "p_value": p, "significant": bool(se > 0 and abs(diff) > z * se),
                    "compared_on": ",".join(on)})
    frame = pd.DataFrame(out)
    return frame.reindex(columns=RESULT_COLUMNS) if len(frame) else pd.DataFrame(columns=RESULT_COLUMNS)


def explored_effects(placement_history: pd.DataFrame, outcomes: pd.DataFrame, stages: pd.DataFrame,
                     strategy: Strategy, min_explored: int = 30) -> pd.DataFrame:
    """Queue x stage effects re-estimated (inverse-propensity, Hajek) from the engine's own
    history, on the rows its decisions randomised (propensity below 1: the explorable
    accounts), with `explored` (rows the queue got by exploration's chance, propensity < 0.5)
    and `estimable` (at least `min_explored` such rows in the queue and in the control cell;
    otherwise the cell has too little exploration and its interval should not be read) with the
    `reason` where not; a queue exploration never draws has no estimate (`mark_estimable`)."""
    h = placement_history
    if "propensity" not in h.columns:
        raise ValueError("placement_history has no propensity column: not the engine's own logged history")
    prop = pd.to_numeric(h["propensity"], errors="coerce")
    rand = h[(prop < 1) & (prop > 0)]
    est = estimate_effects(rand, outcomes, stages, strategy)
    keys = ["account_id", "snapshot_date"]
    st = stages[keys + [c for c in ("stage", "dpd") if c in stages.columns]].drop_duplicates(keys)
    if "stage" not in st.columns:
        from collections_engine.segments import stage_of
        st = st.assign(stage=stage_of(st["dpd"], strategy).to_numpy())
    low = rand[pd.to_numeric(rand["propensity"]) < 0.5].merge(st[keys + ["stage"]], on=keys, how="inner")
    low = low.merge(outcomes[keys], on=keys, how="inner")
    cnt = low.groupby(["queue", "stage"], observed=True).size()
    est["explored"] = [int(cnt.get((q, s), 0)) for q, s in zip(est["queue"], est["stage"])]
    est["explored_control"] = [int(cnt.get((CONTROL, s), 0)) for s in est["stage"]]
    return mark_estimable(est, min_explored, never_explored(strategy))
