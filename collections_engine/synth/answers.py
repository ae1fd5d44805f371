"""The world v2 answer key beyond the row-level truth: effects per account trait and each
source's true monthly value per customer line.

Effects per trait: for every (queue, stage) a queue takes, the ratio of the mean true repayment
probability under the queue to the mean no-action probability, over the history rows of that
stage, overall and per level of each trait the world's response depends on (collectable size,
line, months delinquent, contactability). Treatment-free: every row counts, whatever queue it
was drawn into, so the figure is the world's, not the history's.

Source value: on the first night's book, each account is put in the queue (or none) with the
best expected net under what the bank would believe with the source and without it, ignoring
capacities; the value is the difference of the true expected net of the two choices, summed
over the accounts the source covers, per line. What the source tells is its planted signal:
telco the start-up shock's part of the log-odds (correlation 0.89 with its score), bureau the
willingness-and-ability part (about 0.8), multi-lending nothing; contact_repair changes the world itself (repaired numbers are reachable), so its value
is the best net with the repaired reachability minus without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.synth.world import SEGMENT_COEF, logit_no_action, queue_response

__all__ = ["effects_by_trait", "source_values", "round_source_values", "TRAITS"]

TRAITS = ("balance", "line", "months_delinquent", "contact")
_BAL_CUTS = (1000.0, 5000.0)


def _levels(od: np.ndarray, new: np.ndarray, dpd: np.ndarray, reach: np.ndarray
            ) -> dict[str, np.ndarray]:
    bal = np.array(["small", "medium", "large"])[np.searchsorted(_BAL_CUTS, od, side="right")]
    months = np.ceil(dpd / 30.0).astype(np.int64)
    mlev = np.array(["1", "2", "3", "4-6", "4-6", "4-6", "7+"])[np.clip(months, 1, 7) - 1]
    return {"balance": bal, "line": np.where(new, "new", "existing"),
            "months_delinquent": mlev, "contact": np.where(reach, "reachable", "lost")}


def effects_by_trait(names: list[str], stage_names: list[str], elig: np.ndarray,
                     lift: np.ndarray, kind: np.ndarray, stage: np.ndarray, p0: np.ndarray,
                     od: np.ndarray, new: np.ndarray, dpd: np.ndarray, reach: np.ndarray,
                     w: np.ndarray, ring: np.ndarray) -> pd.DataFrame:
    """truth/effects: queue, stage, trait, level, effect (mean p under the queue / mean p0), rows."""
    logit = np.log(p0 / (1 - p0))
    levels = _levels(od, new, dpd, reach)
    out = []
    for k, st in enumerate(stage_names):
        m = stage == k
        if not m.any():
            continue
        for j, q in enumerate(names[:-1]):
            if not elig[k, j]:
                continue
            resp = queue_response(kind[j], lift[k, j], od[m], new[m], dpd[m], reach[m], w[m],
                                  ring[m])
            pq = resp.probability(logit[m])
            frame = pd.DataFrame({"pq": pq, "p0": p0[m], "all": "all",
                                  **{t: v[m] for t, v in levels.items()}})
            for trait in ("all",) + TRAITS:
                g = frame.groupby(trait, sort=True)[["pq", "p0"]].agg(["sum", "count"])
                for level, r in g.iterrows():
                    out.append((q, st, trait, str(level), float(r[("pq", "sum")] / r[("p0", "sum")]),
                                int(r[("pq", "count")])))
    df = pd.DataFrame(out, columns=["queue", "stage", "trait", "level", "effect", "rows"])
    for c in ("queue", "stage", "trait", "level"):
        df[c] = df[c].astype("str")
    df["effect"] = df["effect"].round(4)
    return df.sort_values(["queue", "stage", "trait", "level"], kind="stable").reset_index(drop=True)


def _best_net(strategy: Strategy, names: list[str], elig: np.ndarray, lift: np.ndarray,
              kind: np.ndarray, stage: np.ndarray, believed: np.ndarray, true: np.ndarray,
              od: np.ndarray, new: np.ndarray, dpd: np.ndarray, reach_b: np.ndarray,
              reach_t: np.ndarray, w: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """True expected net of the queue chosen per account under the believed log-odds."""
    from collections_engine.synth.world import p_observable

    queues = {q.name: q for q in strategy.work_queues()}
    best_b = p_observable(believed) * od          # not worked: no cost, no commission
    best_t = p_observable(true) * od
    for j, name in enumerate(names[:-1]):
        q = queues[name]
        ok = elig[stage, j]
        if not ok.any():
            continue
        comm = 1 - float(getattr(q, "commission", 0.0) or 0.0)
        cost = float(getattr(q, "cost_per_account", 0.0) or 0.0)
        rb = queue_response(kind[j], lift[stage, j], od, new, dpd, reach_b, w, ring)
        rt = queue_response(kind[j], lift[stage, j], od, new, dpd, reach_t, w, ring)
        # the response's probability with the shock integrated out, like p_observable
        net_b = rb.probability(_shrink(believed)) * od * comm - cost
        net_t = rt.probability(_shrink(true)) * od * comm - cost
        take = ok & (net_b > best_b)
        best_b = np.where(take, net_b, best_b)
        best_t = np.where(take, net_t, best_t)
    return best_t


def _shrink(logit: np.ndarray) -> np.ndarray:
    from collections_engine.synth.world import SHOCK_SD

    return logit / np.sqrt(1 + np.pi * SHOCK_SD ** 2 / 8)


def source_values(strategy: Strategy, names: list[str], elig: np.ndarray, lift: np.ndarray,
                  kind: np.ndarray, roles: dict[str, str], covered: dict[str, np.ndarray],
                  stage: np.ndarray, new: np.ndarray, dpd: np.ndarray, od: np.ndarray,
                  latent: dict[str, np.ndarray], reach: np.ndarray, reach_without: np.ndarray,
                  hold: np.ndarray, rng: np.random.Generator, rounded: bool = True
                  ) -> pd.DataFrame:
    """truth/sources: source, role, segment, price_per_record, records, monthly_value,
    monthly_cost, net_monthly_value (first night, no capacities). `rounded` False: value and
    cost unrounded (a book of several parts adds its parts' sums, then `round_source_values`)."""
    w, a, s, cures, u, fpd, ring = (latent[k] for k in ("w", "a", "s", "cures", "u", "fpd", "ring"))
    true = logit_no_action(dpd, new, w, a, s, cures, u, new & fpd, ring, hold)
    prices = {src.name: float(src.price_per_record) for src in strategy.sources}
    cn, ce = SEGMENT_COEF["new"], SEGMENT_COEF["existing"]
    cs = np.where(new, cn["startup_shock"], ce["startup_shock"])
    cw = np.where(new, cn["willingness"], ce["willingness"])
    ca = np.where(new, cn["ability"], ce["ability"])
    # the part of the log-odds each source measures, and its correlation with the source's
    # signal: telco 0.9 s + 0.45 e; bureau 0.55 a + 0.45 w + 0.55 e (corr(w, a) = 0.3)
    part = {"telco": cs * s, "bureau": cw * w + ca * a}
    sd = {"telco": np.abs(cs), "bureau": np.sqrt(cw ** 2 + ca ** 2 + 0.6 * cw * ca)}
    cov_b = 0.55 * (ca + 0.3 * cw) + 0.45 * (cw + 0.3 * ca)
    rho = {"telco": np.full(len(s), 0.894),
           "bureau": cov_b / np.sqrt(0.956 * (cw ** 2 + ca ** 2 + 0.6 * cw * ca))}
    args = (strategy, names, elig, lift, kind, stage)
    rows = []
    for src, role in roles.items():
        cov = covered.get(src, np.zeros(len(dpd), dtype=bool))
        if src in part:
            x, r = part[src], rho[src]
            # what the bank believes of that part with the source: E[x | signal]
            x_hat = r ** 2 * x + r * np.sqrt(1 - r ** 2) * sd[src] * rng.standard_normal(len(x))
            with_b = true - x + x_hat
            without_b = true - x
            gain = (_best_net(*args, with_b, true, od, new, dpd, reach, reach, w, ring)
                    - _best_net(*args, without_b, true, od, new, dpd, reach, reach, w, ring))
        elif role == "lost_contact_repair":
            gain = (_best_net(*args, true, true, od, new, dpd, reach, reach, w, ring)
                    - _best_net(*args, true, true, od, new, dpd, reach_without, reach_without, w,
                                ring))
        else:
            gain = np.zeros(len(dpd))
        for seg, m in (("new", new), ("existing", ~new)):
            mm = m & cov
            recs = int(mm.sum())
            val = float(gain[mm].sum())
            cost = recs * prices.get(src, 0.0)
            rows.append((src, role, seg, prices.get(src, 0.0), recs, val, cost, val - cost))
    return _source_frame(rows, rounded)


_SOURCE_COLUMNS = ["source", "role", "segment", "price_per_record", "records", "monthly_value",
                   "monthly_cost", "net_monthly_value"]


def _source_frame(rows: list[tuple], rounded: bool) -> pd.DataFrame:
    if rounded:
        rows = [(*r[:5], round(r[5], 2), round(r[6], 2), round(r[5] - r[6], 2)) for r in rows]
    df = pd.DataFrame(rows, columns=_SOURCE_COLUMNS)
    for c in ("source", "role", "segment"):
        df[c] = df[c].astype("str")
    return df


def round_source_values(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """truth/sources of a book of several parts: the parts' unrounded records, values and costs
    added per (source, role, segment), in the first part's row order, then rounded as one part's."""
    key = ["source", "role", "segment", "price_per_record"]
    total = pd.concat(parts, ignore_index=True).groupby(key, sort=False)[
        ["records", "monthly_value", "monthly_cost"]].sum().reset_index()
    rows = [(r.source, r.role, r.segment, float(r.price_per_record), int(r.records),
             float(r.monthly_value), float(r.monthly_cost), 0.0) for r in total.itertuples()]
    return _source_frame(rows, True)
