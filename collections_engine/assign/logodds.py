"""Queue effects on the log-odds by account traits: the `effects_model: logodds` strategy choice.

Why: the multiplier `min(1, p x effect[queue, stage])` says a queue adds p (e - 1) of the
collectable, so the surest payers gain most until the clamp. A queue works through contact and
promise: it moves an account's odds, and an account that pays anyway has little left to gain.
Under the multiplier a sharper probability buys worse placements (issue 19's sources
measurement: plans decided with a better probability earned less), so a source whose value is a
sharper probability shows no money. Here a queue moves the log-odds, by how much depending on
the account's traits, estimated from the bank's own randomised placement history:

    P(repay | queue q) = sigmoid(logit(p) + delta[q, stage, cell(x)])

p the no-action probability (the model's score), x the account's traits, a cell one value of
each: balance band (the history's collectable terciles, edges learned at fit), customer line
(`new`/`existing`, when the rows have `customer_line`), months delinquent (dpd: 1, 2, 3, 4-6,
7+ months). Not worked is delta = 0, i.e. p.

Estimate (`fit_logodds`), from history rows that an experiment placed (a propensity in (0, 1);
held rows, propensity 1, and rows without one are left out, as `assign.effects` leaves them):
    r[q, c]     Hajek IPW repayment rate of queue q's rows in cell c (w = 1 / propensity);
                r[0, c] the not-worked control's in the same cell
    raw[q, c]   logit r[q, c] - logit r[0, c];   var = V_q / (r_q (1 - r_q))^2 + V_0 / (r_0 (1 - r_0))^2
                (delta method, V = sum(w^2 (y - r)^2) / sum(w)^2, as `assign.effects`)
    d[q, s]     the same over all of the stage's rows (every cell pooled)
    tau2[q, s]  between-cell variance of raw around d (DerSimonian-Laird, >= 0)
    delta[q, c] = d + B (raw - d),  B = tau2 / (tau2 + var): thin or noisy cells shrink to
                the stage's effect; a cell with fewer than MIN_CELL rows in either arm (or a
                rate of 0 or 1) takes d.  Interval: delta -+ 1.96 sqrt(B var) (d's own
                uncertainty not added).
A (queue, stage) with fewer than MIN_N randomised rows in the queue or the control (the
multiplier's rule), `--effects strategy`, or no history at all: the strategy's effect e as a
constant shift ln(e) in every cell (the odds times e: for small p the same as p x e; for large
p it stays below 1 without a clamp).

What the estimate is: per cell a marginal log-odds ratio (non-collapsible: applied to an
account's own p it slightly understates the shift where p varies widely inside the cell).
Contactability is not a trait here: no table a night reads says who can be reached.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logit

from collections_engine.config.strategy import Strategy
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["LogOddsEffects", "fit_logodds", "constant_logodds", "trait_cells", "MONTH_BANDS",
           "MIN_CELL", "CELL_COLUMNS", "STAGE_COLUMNS"]

MIN_N = 200            # randomised rows in the queue and in the control before the stage's estimate is used
MIN_CELL = 30          # rows in each arm of a cell before its own estimate is weighed in
MONTH_BANDS = ("1", "2", "3", "4-6", "7+")
_MONTH_LOWS = np.array([1, 2, 3, 4, 7])
ALL_LINES = ("all",)
LINES = ("new", "existing")

CELL_COLUMNS = ["queue", "stage", "balance_band", "line", "months_band", "n", "n_control",
                "repay_rate", "control_rate", "raw", "raw_se", "shrink", "delta", "ci_low", "ci_high",
                "source"]
STAGE_COLUMNS = ["queue", "stage", "n", "n_control", "repay_rate", "control_rate", "delta", "se",
                 "ci_low", "ci_high", "tau2", "strategy_effect", "strategy_delta", "source"]


def _months_band(dpd: np.ndarray) -> np.ndarray:
    """Months delinquent band index (0..4) of each dpd: ceil(dpd / 30) in 1, 2, 3, 4-6, 7+."""
    months = np.maximum((np.asarray(dpd, dtype=np.int64) + 29) // 30, 1)
    return np.searchsorted(_MONTH_LOWS, months, side="right") - 1


def trait_cells(frame: pd.DataFrame, stages: list[str], edges: np.ndarray,
                lines: tuple[str, ...]) -> np.ndarray:
    """Cell code of each row: stage x balance band x line x months band (-1 where the stage is
    not one of `stages`). frame: stage, collectable, dpd, and customer_line when `lines` is
    (new, existing)."""
    st = pd.Index(stages).get_indexer(frame["stage"].astype("str")).astype(np.int64)
    coll = pd.to_numeric(frame["collectable"], errors="coerce").fillna(0.0).to_numpy(np.float64)
    bal = np.searchsorted(edges, coll, side="right")
    if len(lines) > 1:
        if "customer_line" not in frame.columns:
            raise ValueError("the log-odds effects were estimated by customer line: the rows need "
                             "a customer_line column (new/existing)")
        ln = pd.Index(list(lines)).get_indexer(frame["customer_line"].astype("str")).astype(np.int64)
        ln = np.where(ln < 0, 1, ln)    # an unknown line is priced as existing (the larger line)
    else:
        ln = np.zeros(len(frame), dtype=np.int64)
    mb = _months_band(frame["dpd"].to_numpy())
    code = ((st * (len(edges) + 1) + bal) * len(lines) + ln) * len(MONTH_BANDS) + mb
    return np.where(st < 0, -1, code)


@dataclass(frozen=True)
class LogOddsEffects:
    """The log-odds shift of each (queue, cell): `delta(queue, frame)` per row; the tables say
    where each figure comes from (cells: history cells; stages: per (queue, stage), source
    `history` or `strategy`)."""

    stages: tuple[str, ...]
    edges: np.ndarray                    # balance band edges (collectable), ascending
    lines: tuple[str, ...]
    shifts: dict[str, np.ndarray]        # queue -> delta per cell code (NaN: the queue does not take the stage)
    cells: pd.DataFrame                  # CELL_COLUMNS
    stage_table: pd.DataFrame            # STAGE_COLUMNS
    mode: str = "history"

    @property
    def n_cells(self) -> int:
        return len(self.stages) * (len(self.edges) + 1) * len(self.lines) * len(MONTH_BANDS)

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        return trait_cells(frame, list(self.stages), self.edges, self.lines)

    def delta(self, queue: str, frame: pd.DataFrame | None = None, *,
              codes: np.ndarray | None = None) -> np.ndarray:
        """Log-odds shift of each row in `queue` (0 where the queue does not take the row's stage
        or is unknown: not worked)."""
        c = self.codes(frame) if codes is None else codes
        table = self.shifts.get(queue)
        if table is None:
            return np.zeros(len(c))
        out = np.where(c >= 0, table[np.maximum(c, 0)], np.nan)
        return np.nan_to_num(out, nan=0.0)

    def to_frame(self) -> pd.DataFrame:
        """Every (queue, cell) shift with its cell's traits, the balance edges and the lines on
        each row: what `train` stores with the model version (`logodds_effects.parquet`) and
        `from_frame` reads back."""
        labels = pd.DataFrame(_cell_labels(list(self.stages), self.edges, self.lines))
        per = self.n_cells // max(len(self.stages), 1)
        parts = []
        for q, arr in self.shifts.items():
            code = np.flatnonzero(np.isfinite(arr))
            parts.append(pd.DataFrame({"queue": q, "stage": np.array(self.stages, dtype=object)[code // per],
                                       "cell": code % per, "delta": arr[code]}).join(labels.iloc[code].reset_index(drop=True)))
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["queue", "stage", "cell", "delta"])
        out["balance_edges"] = ";".join(repr(float(e)) for e in self.edges)
        out["lines"] = ";".join(self.lines)
        return out

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, strategy: Strategy) -> LogOddsEffects:
        """The effects `to_frame` wrote, for `strategy`'s queues and stages: a (queue, stage) the
        frame lacks takes the strategy's ln(effect) (a queue or stage added since training)."""
        if not len(frame):
            return constant_logodds(strategy, mode="history")
        text = str(frame["balance_edges"].iloc[0])
        edges = np.array([float(x) for x in text.split(";")] if text else [], dtype=np.float64)
        lines = tuple(str(frame["lines"].iloc[0]).split(";"))
        stages = tuple(strategy.stage_names())
        per = (len(edges) + 1) * len(lines) * len(MONTH_BANDS)
        base = constant_logodds(strategy)
        shifts = _queue_blocks(strategy, stages, per,
                               lambda q, s, i: base.shifts[q.name][i * len(MONTH_BANDS)])
        for q in strategy.work_queues():
            f = frame[(frame["queue"].astype("str") == q.name) & frame["stage"].astype("str").isin(q.stages)]
            if len(f):
                st = np.array([stages.index(s) for s in f["stage"].astype("str")], dtype=np.int64)
                shifts[q.name][st * per + f["cell"].to_numpy(np.int64)] = f["delta"].to_numpy(np.float64)
        return cls(stages, edges, lines, shifts, _empty_cells(), base.stage_table, "history")

    def record(self) -> dict:
        """For notes and meta: per source, the (queue, stage) pairs; the cell count used."""
        st = self.stage_table
        return {"model": "logodds", "mode": self.mode,
                "stages": {s: [f"{q} {x}" for q, x in zip(g["queue"], g["stage"])]
                           for s, g in st.groupby("source", sort=True)},
                "cells_own_estimate": int((self.cells["shrink"] > 0).sum()) if len(self.cells) else 0}


def _queue_blocks(strategy: Strategy, stages: tuple[str, ...], per: int, value) -> dict[str, np.ndarray]:
    """Per work queue, one block of `per` cells for each stage: `value(queue, stage, stage index)`
    in the stages the queue takes, NaN in the others (no effect there: not eligible)."""
    out: dict[str, np.ndarray] = {}
    for q in strategy.work_queues():
        arr = np.full(len(stages) * per, np.nan)
        for s in q.stages:
            i = stages.index(s)
            arr[i * per:(i + 1) * per] = value(q, s, i)
        out[q.name] = arr
    return out


def _strategy_shifts(strategy: Strategy, effects: dict | None = None) -> dict[tuple[str, str], float]:
    out = {(q.name, s): float(np.log(v)) for q in strategy.work_queues() for s, v in q.effect.items()}
    for k, v in (effects or {}).items():
        if isinstance(v, dict):
            for s, e in v.items():
                out[(str(k), str(s))] = float(np.log(e))
        else:
            out[(str(k[0]), str(k[1]))] = float(np.log(v))
    return out


def _empty_cells() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str" if c in ("queue", "stage", "balance_band", "line",
                                                             "months_band", "source") else "float64")
                         for c in CELL_COLUMNS})


def constant_logodds(strategy: Strategy, effects: dict | None = None, *,
                     mode: str = "strategy") -> LogOddsEffects:
    """Every cell of a (queue, stage) shifted by ln(effect): the strategy's effects (overridden by
    `effects`, (queue, stage) -> multiplier, e.g. the history's multiplier estimates)."""
    stages = tuple(strategy.stage_names())
    shifts = _strategy_shifts(strategy, effects)
    edges = np.array([], dtype=np.float64)
    per = len(MONTH_BANDS)
    out = _queue_blocks(strategy, stages, per, lambda q, s, i: shifts.get((q.name, s), 0.0))
    rows = [{"queue": q, "stage": s, "strategy_effect": float(np.exp(v)), "strategy_delta": v,
             "delta": v, "source": "strategy"} for (q, s), v in shifts.items()]
    st = pd.DataFrame(rows).reindex(columns=STAGE_COLUMNS)
    return LogOddsEffects(stages, edges, ALL_LINES, out, _empty_cells(), st, mode)


def _hajek(y: np.ndarray, w: np.ndarray, group: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """Per group: rows, IPW (Hajek) rate and its variance V = sum(w^2 (y - r)^2) / sum(w)^2."""
    n = np.bincount(group, minlength=size).astype(np.int64)
    sw = np.bincount(group, weights=w, minlength=size)
    swy = np.bincount(group, weights=w * y, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = swy / sw
        v = np.bincount(group, weights=(w * (y - r[group])) ** 2, minlength=size) / sw ** 2
    return n, r, v


def _logit_diff(rq: np.ndarray, vq: np.ndarray, r0: np.ndarray, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """logit rq - logit r0 and its delta-method standard error (NaN where a rate is 0 or 1)."""
    ok = (rq > 0) & (rq < 1) & (r0 > 0) & (r0 < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(ok, logit(np.where(ok, rq, 0.5)) - logit(np.where(ok, r0, 0.5)), np.nan)
        se = np.sqrt(vq / (rq * (1 - rq)) ** 2 + v0 / (r0 * (1 - r0)) ** 2)
    return d, np.where(ok, se, np.nan)


def _tau2(raw: np.ndarray, se: np.ndarray) -> float:
    """DerSimonian-Laird between-cell variance of the finite cell estimates (0 with fewer than 2)."""
    ok = np.isfinite(raw) & np.isfinite(se) & (se > 0)
    if ok.sum() < 2:
        return 0.0
    w = 1.0 / se[ok] ** 2
    mean = float((w * raw[ok]).sum() / w.sum())
    q = float((w * (raw[ok] - mean) ** 2).sum())
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    return max(0.0, (q - (ok.sum() - 1)) / c) if c > 0 else 0.0


def fit_logodds(rows: pd.DataFrame, strategy: Strategy, *, min_n: int = MIN_N, min_cell: int = MIN_CELL,
                effects: dict | None = None) -> LogOddsEffects:
    """The log-odds effects of `strategy`'s queues from history rows.

    rows: queue (`not_worked` the control), propensity, repaid (0/1), stage, collectable, dpd,
    optionally customer_line. effects: (queue, stage) -> multiplier the strategy's fallback is
    overridden with (as `decide(effects=...)` takes them)."""
    stages = list(strategy.stage_names())
    lines = LINES if "customer_line" in rows.columns else ALL_LINES
    prop = pd.to_numeric(rows["propensity"], errors="coerce").to_numpy(np.float64)
    use = np.isfinite(prop) & (prop > 0) & (prop < 1)
    r = rows.loc[use]
    prop = prop[use]
    coll = pd.to_numeric(r["collectable"], errors="coerce").fillna(0.0).to_numpy(np.float64)
    edges = np.unique(np.quantile(coll, [1 / 3, 2 / 3])) if len(coll) else np.array([], np.float64)
    base = constant_logodds(strategy, effects, mode="history")
    size = len(stages) * (len(edges) + 1) * len(lines) * len(MONTH_BANDS)
    code = trait_cells(r, stages, edges, lines)
    queue = r["queue"].astype("str").to_numpy(dtype=object)
    y = pd.to_numeric(r["repaid"], errors="coerce").fillna(0).to_numpy(np.float64)
    w = 1.0 / prop
    ok = code >= 0
    stage_of_code = np.repeat(np.arange(len(stages)), size // len(stages))
    ctl = ok & (queue == NOT_WORKED)
    n0, r0, v0 = _hajek(y[ctl], w[ctl], code[ctl], size)
    s0n, s0r, s0v = _hajek(y[ctl], w[ctl], stage_of_code[code[ctl]], len(stages))
    shifts: dict[str, np.ndarray] = {}
    cell_rows, stage_rows = [], []
    labels = _cell_labels(stages, edges, lines)
    for q in strategy.work_queues():
        arr = np.full((len(stages), size // len(stages)), np.nan)   # NaN: the queue does not take the stage
        mq = ok & (queue == q.name)
        nq, rq, vq = _hajek(y[mq], w[mq], code[mq], size)
        sn, sr, sv = _hajek(y[mq], w[mq], stage_of_code[code[mq]], len(stages))
        raw, se = _logit_diff(rq, vq, r0, v0)
        sd, sse = _logit_diff(sr, sv, s0r, s0v)
        for s in q.stages:
            i = stages.index(s)
            sl = slice(i * size // len(stages), (i + 1) * size // len(stages))
            fallback = float(base.shifts[q.name][i * len(MONTH_BANDS)])
            enough = sn[i] >= min_n and s0n[i] >= min_n and np.isfinite(sd[i])
            thick = (nq[sl] >= min_cell) & (n0[sl] >= min_cell) & np.isfinite(raw[sl])
            tau2 = _tau2(np.where(thick, raw[sl], np.nan), se[sl]) if enough else 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                b = np.where(thick & (tau2 > 0), tau2 / (tau2 + se[sl] ** 2), 0.0) if enough else np.zeros(sl.stop - sl.start)
            d = sd[i] + b * (np.nan_to_num(raw[sl]) - sd[i]) if enough else np.full(sl.stop - sl.start, fallback)
            arr[i] = d
            half = 1.96 * np.sqrt(b * np.nan_to_num(se[sl] ** 2))
            seen = (nq[sl] > 0) | (n0[sl] > 0)
            for k in np.flatnonzero(seen):
                cell_rows.append({"queue": q.name, "stage": s, **labels[sl.start + k], "n": int(nq[sl][k]),
                                  "n_control": int(n0[sl][k]), "repay_rate": rq[sl][k], "control_rate": r0[sl][k],
                                  "raw": raw[sl][k], "raw_se": se[sl][k], "shrink": float(b[k]),
                                  "delta": float(d[k]), "ci_low": float(d[k] - half[k]) if enough else np.nan,
                                  "ci_high": float(d[k] + half[k]) if enough else np.nan,
                                  "source": ("cell" if b[k] > 0 else "stage") if enough else "strategy"})
            strat_delta = float(base.stage_table.set_index(["queue", "stage"]).loc[(q.name, s), "delta"])
            stage_rows.append({"queue": q.name, "stage": s, "n": int(sn[i]), "n_control": int(s0n[i]),
                               "repay_rate": sr[i], "control_rate": s0r[i],
                               "delta": float(sd[i]) if enough else strat_delta, "se": sse[i],
                               "ci_low": sd[i] - 1.96 * sse[i], "ci_high": sd[i] + 1.96 * sse[i], "tau2": tau2,
                               "strategy_effect": float(q.effect.get(s, 1.0)), "strategy_delta": strat_delta,
                               "source": "history" if enough else "strategy"})
        shifts[q.name] = arr.reshape(-1)
    cells = pd.DataFrame(cell_rows).reindex(columns=CELL_COLUMNS) if cell_rows else _empty_cells()
    return LogOddsEffects(tuple(stages), edges, lines, shifts, cells,
                          pd.DataFrame(stage_rows).reindex(columns=STAGE_COLUMNS), "history")


def _cell_labels(stages: list[str], edges: np.ndarray, lines: tuple[str, ...]) -> list[dict]:
    """Readable traits of each cell code (stage order, then balance band, line, months band)."""
    bands = [f"<= {edges[0]:.0f}" if len(edges) else "all"]
    bands += [f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(edges[:-1], edges[1:])]
    if len(edges):
        bands.append(f"> {edges[-1]:.0f}")
    return [{"balance_band": b, "line": ln, "months_band": m}
            for _ in stages for b in bands for ln in lines for m in MONTH_BANDS]

