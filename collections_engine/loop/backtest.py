"""`backtest`: from one starting book, N cycles of run -> simulate per policy on common random
numbers, repeated over K draws.

Each (policy, draw) gets its own copy of DATA (world.json `draw` = the draw) and its own RUNS
under OUT/work/; its cycles are the real nightly run (`pipeline.run_night`, the approved model
and strategy; only the placement callable differs by policy) followed by `simulate` with the
strategy's costs. The world's luck for an account on a date is a fixed function of (seed, draw,
account, date, purpose) (`loop.world.uniforms`), so within a draw every policy meets the same
shocks, contacts and dice: the differences between policies are paired.

Realised money per cycle: recovery = everything the night's delinquent accounts paid within the
window; cost = cost_per_account of every worked account plus vendors' commission on what their
accounts paid; net = recovery - cost. The model is not retrained between cycles (the approved
version of --models is used throughout).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from collections_engine.config import load_strategy
from collections_engine.config.strategy import Strategy
from collections_engine.loop.policies import POLICIES, policy_placement
from collections_engine.loop.simulate import draw_month
from collections_engine.loop.store import append_month, read_night
from collections_engine.loop.world import read_world
from collections_engine.synth.state import json_bytes
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["BacktestRequest", "run_backtest", "costs_of", "BACKTEST_COLUMNS", "summarise"]

log = logging.getLogger("collections_engine")
BACKTEST_COLUMNS = ["policy", "draw", "cycle", "date", "realised_net", "realised_recovery",
                    "cost", "accounts", "worked", "seconds"]


@dataclass(frozen=True)
class BacktestRequest:
    data: Path
    strategy: Path
    graph: Path
    models: Path
    out: Path
    cycles: int = 6
    policies: tuple[str, ...] = POLICIES
    draws: int = 1
    days: int = 30
    keep_work: bool = False
    progress: list = field(default_factory=list)     # rows so far (for callers that watch)


def costs_of(strategy: Strategy) -> dict[str, tuple[float, float]]:
    """queue -> (cost_per_account, commission) of the strategy's work queues."""
    return {q.name: (float(getattr(q, "cost_per_account", 0.0) or 0.0),
                     float(getattr(q, "commission", 0.0) or 0.0))
            for q in strategy.work_queues()}


def _prepare(data: Path, work: Path, draw: int) -> None:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(data, work / "data")
    params = read_world(work / "data").params
    params["draw"] = draw
    (work / "data" / "truth" / "world.json").write_bytes(json_bytes(params))


def _one_cycle(req: BacktestRequest, work: Path, policy: str, draw: int, date: pd.Timestamp,
               strategy: Strategy, costs: dict) -> tuple[dict, pd.Timestamp]:
    from collections_engine.pipeline import RunRequest, run_night

    data, runs = work / "data", work / "runs"
    t0 = time.perf_counter()
    day = str(date.date())

    def world_of():  # the oracle's view: the world and tonight's truth
        n = read_night_truth(data, date)
        return n

    placement = policy_placement(policy, seed=int(read_world(data).seed), draw=draw,
                                 world_of=world_of)
    run_night(RunRequest(data=data, date=day, strategy=req.strategy, graph=req.graph,
                         models=req.models, runs=runs, placement=placement))
    night = read_night(data, runs, day)
    month = draw_month(night.world, night.tonight, night.decisions, night.holds, date,
                       req.days, draw, costs)
    append_month(data, night.world, month)
    r = month.realised
    recovery = float(r["recovered"].sum())
    cost = float(r["cost"].sum() + r["commission"].sum())
    row = {"policy": policy, "draw": draw, "cycle": 0, "date": day,
           "realised_net": round(recovery - cost, 2), "realised_recovery": round(recovery, 2),
           "cost": round(cost, 2), "accounts": len(r),
           "worked": int((r["queue"] != NOT_WORKED).sum()),
           "seconds": round(time.perf_counter() - t0, 2)}
    return row, month.next_date


def read_night_truth(data: Path, date: pd.Timestamp):  # noqa: ANN201 - (World, Series, frame)
    """The world, truth p_repay by account and the accounts of night `date` (the oracle's)."""
    from collections_engine.loop.store import read_at

    world = read_world(data)
    tonight = read_at(data / "accounts.parquet", date)
    truth = read_at(data / "truth" / "accounts.parquet", date)
    p = truth.assign(account_id=truth["account_id"].astype("str")).set_index("account_id")["p_repay"]
    return world, p, tonight[tonight["dpd"] > 0]


def run_backtest(req: BacktestRequest) -> pd.DataFrame:
    """Every (policy, draw, cycle) row of backtest.csv."""
    strategy = load_strategy(req.strategy)
    costs = costs_of(strategy)
    start = read_world(req.data).state_date
    rows = []
    for draw in range(req.draws):
        for policy in req.policies:
            work = Path(req.out) / "work" / f"{policy}-{draw}"
            _prepare(Path(req.data), work, draw)
            date = start
            for cycle in range(1, req.cycles + 1):
                row, date = _one_cycle(req, work, policy, draw, date, strategy, costs)
                row["cycle"] = cycle
                rows.append(row)
                req.progress.append(row)
                log.info("backtest %s draw %d cycle %d (%s): net %.0f in %.1f s", policy, draw,
                         cycle, row["date"], row["realised_net"], row["seconds"])
            if not req.keep_work:
                shutil.rmtree(work)
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)


def summarise(df: pd.DataFrame, reference: str = "engine") -> pd.DataFrame:
    """Per policy: cumulated net per draw, its mean and a 95 % interval; the paired difference
    to `reference` (same draw) with a t interval over draws (normal when one draw: no interval).
    """
    tot = df.groupby(["policy", "draw"])["realised_net"].sum().unstack("policy")
    out = []
    for pol in tot.columns:
        x = tot[pol].to_numpy(float)
        d = (tot[reference] - tot[pol]).to_numpy(float) if reference in tot else np.full(len(x), np.nan)
        out.append({"policy": pol, "draws": len(x), "net_total_mean": x.mean(),
                    "net_total_lo": _ci(x)[0], "net_total_hi": _ci(x)[1],
                    f"{reference}_minus_policy": d.mean(), "diff_lo": _ci(d)[0],
                    "diff_hi": _ci(d)[1]})
    return pd.DataFrame(out)


def _ci(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return float("nan"), float("nan")
    from scipy import stats

    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - h), float(x.mean() + h)
