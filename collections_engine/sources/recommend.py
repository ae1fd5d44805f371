"""The recommendation per source and segment, with why.

keep:         a significant AUC gain when the source is removed from the full model (Holm-
              adjusted p < alpha, gain > 0) and a monthly money value above its monthly price;
drop:         the money value's interval lies below the price, or no significant gain and the
              AUC change's interval lies below `tight_auc` (no gain, tightly measured);
inconclusive: anything else (the data cannot tell yet).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["recommend", "KEEP", "DROP", "INCONCLUSIVE", "NOT_VALUED"]

KEEP, DROP, INCONCLUSIVE, NOT_VALUED = "keep", "drop", "inconclusive", "not valued"


def _f(x: float, money: bool = False) -> str:
    if x != x:
        return "n/a"
    return f"{x:,.0f}" if money else f"{x:+.4f}"


def recommend(t: pd.DataFrame, alpha: float = 0.01, tight_auc: float = 0.005) -> pd.DataFrame:
    """Add `recommendation` and `why` to a frame with the columns auc_diff, auc_diff_hi,
    p_holm, value_month, value_lo, value_hi and cost_month (one row per source x segment)."""
    d = t["auc_diff"].to_numpy(float)
    hi = t["auc_diff_hi"].to_numpy(float)
    ph = t["p_holm"].to_numpy(float)
    v, vlo, vhi = (t[c].to_numpy(float) for c in ("value_month", "value_lo", "value_hi"))
    cost = t["cost_month"].to_numpy(float)
    sig = (ph < alpha) & (d > 0)
    pays = v > cost
    keep = sig & pays
    below = vhi < cost
    flat = ~sig & (hi < tight_auc)
    drop = ~keep & (below | flat)
    rec = np.where(keep, KEEP, np.where(drop, DROP, INCONCLUSIVE)).astype(object)
    why = []
    for i in range(len(t)):
        auc = f"AUC {_f(d[i])} (CI to {_f(hi[i])}, Holm p {ph[i]:.3g})" if ph[i] == ph[i] else \
            "AUC change not testable (too few rows or one outcome class)"
        money = (f"value {_f(v[i], True)}/month [{_f(vlo[i], True)}, {_f(vhi[i], True)}] "
                 f"vs price {_f(cost[i], True)}/month")
        if keep[i]:
            w = f"significant gain: {auc}; pays: {money}"
        elif drop[i] and below[i]:
            w = f"costs more than it brings: {money} (interval below price); {auc}"
        elif drop[i]:
            w = f"no gain, tightly measured: {auc} below {tight_auc}; {money}"
        elif sig[i]:
            w = f"significant gain but the money does not clearly pay: {money}; {auc}"
        else:
            w = f"gain not significant at {alpha} after Holm and not ruled out: {auc}; {money}"
        why.append(w)
    out = t.copy()
    out["recommendation"] = pd.Series(rec, index=t.index, dtype="str")
    out["why"] = pd.Series(why, index=t.index, dtype="str")
    return out
