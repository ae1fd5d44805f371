"""Issue 20's bars on the closed loop: effects re-estimated from the engine's own history, with
and without exploration, against the world's true average effects.

  .venv/bin/python benchmarks/bench_experiments.py coverage --accounts 20000 --cycles 6 --seeds 1 2 3
      per seed: generate, train, approve; then for explore 0.05 and 0: six monthly cycles of the
      real night (run) and simulate. From the placement_history the cycles appended (the
      engine's own decisions with their propensities), the queue x stage effects are re-estimated
      (inverse-propensity, explored rows; `experiments.explored_effects`) and compared with
      truth/effects (trait 'all'): the share of cells whose 95% interval covers the true effect,
      among the cells marked estimable and among all; without exploration, the estimate from
      the same rows weighted 1 (what the engine would learn from its own decisions) and how far
      it drifts (median |log(estimate / truth)|); the realised net of the cycles of both runs.
  .venv/bin/python benchmarks/bench_experiments.py challenger --accounts 20000 --cycles 6 --seed 1
      a planted better challenger (see cmd_challenger): the cycle it is found and the realised net.
Timings on the shared 2-core development box are contended; say so when quoting them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CE = [sys.executable, "-m", "collections_engine"]
STRATEGY = ROOT / "strategies" / "default.yaml"
GRAPH = ROOT / "graphs" / "default.yaml"


try:  # the closed loop (issue 19): simulate what follows each night
    import collections_engine.loop  # noqa: F401
except ImportError:  # pragma: no cover - before issue 19's simulate is on main
    raise SystemExit("bench_experiments needs collections_engine.loop (issue 19's simulate)") from None


def sh(*args: str) -> str:
    r = subprocess.run([*CE, *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{args[0]} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def cycles(data: Path, runs: Path, strategy: Path, models: Path, n: int) -> tuple[pd.Timestamp, list[dict]]:
    """n monthly cycles of run then simulate on DATA; (first night, realised money per cycle)."""
    from collections_engine.config import load_strategy
    from collections_engine.loop.backtest import costs_of
    from collections_engine.loop.simulate import draw_month
    from collections_engine.loop.store import append_month, read_night
    from collections_engine.loop.world import read_world
    from collections_engine.pipeline import RunRequest, run_night

    costs = costs_of(load_strategy(strategy))
    date = read_world(data).state_date
    start = date
    out = []
    for c in range(1, n + 1):
        t0 = time.perf_counter()
        day = str(pd.Timestamp(date).date())
        run_night(RunRequest(data=data, date=day, strategy=strategy, graph=GRAPH, models=models, runs=runs))
        night = read_night(data, runs, day)
        month = draw_month(night.world, night.tonight, night.decisions, night.holds, pd.Timestamp(date),
                           30, 0, costs)
        append_month(data, night.world, month)
        r = month.realised
        rec = float(r["recovered"].sum())
        cost = float(r["cost"].sum() + r["commission"].sum())
        out.append({"cycle": c, "date": day, "net": rec - cost, "recovery": rec, "cost": cost,
                    "seconds": round(time.perf_counter() - t0, 1)})
        print(f"    cycle {c} {day}: net {rec - cost:,.0f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        date = month.next_date
    return pd.Timestamp(start), out


def estimates(data: Path, strategy: Path, start: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(explored IPW estimate, the all-rows weight-1 estimate) from the cycles' history rows."""
    from collections_engine.assign.effects import estimate_effects
    from collections_engine.config import load_strategy
    from collections_engine.experiments import explored_effects

    s = load_strategy(strategy)
    ph = pd.read_parquet(data / "placement_history.parquet")
    oc = pd.read_parquet(data / "outcomes.parquet")
    acc = pd.read_parquet(data / "accounts.parquet", columns=["account_id", "snapshot_date", "dpd"])
    for f in (ph, oc, acc):
        f["snapshot_date"] = pd.to_datetime(f["snapshot_date"])
        f["account_id"] = f["account_id"].astype("str")
    ph = ph[ph["snapshot_date"] >= start]
    if "propensity" not in ph.columns:
        ph["propensity"] = np.nan
    ph["propensity"] = pd.to_numeric(ph["propensity"], errors="coerce").fillna(1.0)
    naive = estimate_effects(ph.assign(propensity=np.nan), oc, acc, s)
    explored = explored_effects(ph, oc, acc, s) if (ph["propensity"] < 1).any() else None
    return explored, naive


def truth(data: Path) -> pd.DataFrame:
    t = pd.read_parquet(data / "truth" / "effects.parquet")
    if "trait" in t.columns:
        t = t[t["trait"] == "all"]
    return t[["queue", "stage", "effect"]].rename(columns={"effect": "true_effect"})


def cmd_coverage(a: argparse.Namespace) -> None:
    rows, money = [], []
    for seed in a.seeds:
        with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
            tmp = Path(tmp)
            base, models = tmp / "data", tmp / "models"
            t0 = time.perf_counter()
            sh("generate", "--out", str(base), "--accounts", str(a.accounts), "--days", "1", "--seed", str(seed))
            sh("train", "--data", str(base), "--strategy", str(STRATEGY), "--models", str(models))
            sh("approve", "--models", str(models), "--by", "bench_experiments")
            print(f"seed {seed}: book and model in {time.perf_counter() - t0:.0f} s", flush=True)
            for explore in a.explore:
                doc = yaml.safe_load(STRATEGY.read_text())
                if explore > 0:
                    doc["experiments"] = {"explore": explore, "seed": seed, "arms": []}
                strat = tmp / f"strategy_{explore}.yaml"
                strat.write_text(yaml.safe_dump(doc, sort_keys=False))
                data = tmp / f"data_{explore}"
                shutil.copytree(base, data)
                print(f"  explore {explore}:", flush=True)
                start, m = cycles(data, tmp / f"runs_{explore}", strat, models, a.cycles)
                money += [{"seed": seed, "explore": explore, **x} for x in m]
                explored, naive = estimates(data, strat, start)
                tr = truth(data)
                for kind, est in (("explored_ipw", explored), ("engine_rows_weight_1", naive)):
                    if est is None:
                        continue
                    e = est.merge(tr, on=["queue", "stage"], how="inner")
                    e = e[np.isfinite(e["effect"]) & (e["effect"] > 0)]
                    cover = (e["ci_low"] <= e["true_effect"]) & (e["true_effect"] <= e["ci_high"])
                    est_ok = e["estimable"] if "estimable" in e.columns else pd.Series(True, index=e.index)
                    drift = np.abs(np.log(e["effect"] / e["true_effect"]))
                    rows.append({"seed": seed, "explore": explore, "estimate": kind, "cells": len(e),
                                 "covered": int(cover.sum()),
                                 "estimable": int(est_ok.sum()), "covered_estimable": int((cover & est_ok).sum()),
                                 "median_abs_log_ratio": float(drift.median()) if len(e) else np.nan,
                                 "max_abs_log_ratio": float(drift.max()) if len(e) else np.nan})
                    print(f"    {kind}: {int(cover.sum())}/{len(e)} cells covered; estimable "
                          f"{int((cover & est_ok).sum())}/{int(est_ok.sum())}; median |log ratio| "
                          f"{rows[-1]['median_abs_log_ratio']:.3f}", flush=True)
                    if a.show:
                        print(e.assign(covered=cover)[["queue", "stage", "n", "effect", "ci_low", "ci_high",
                                                       "true_effect", "covered"] + (["explored", "estimable"]
                                                       if "estimable" in e.columns else [])].to_string(index=False))
    r = pd.DataFrame(rows)
    print("\ncoverage over seeds:")
    print(r.groupby(["explore", "estimate"])[["cells", "covered", "estimable", "covered_estimable"]].sum())
    m = pd.DataFrame(money)
    tot = m.groupby(["seed", "explore"])["net"].sum().unstack("explore")
    print("\nrealised net of the cycles per seed (explore columns):")
    print(tot.round(0))
    if 0.0 in tot.columns and len(tot.columns) == 2:
        other = [c for c in tot.columns if c != 0.0][0]
        d = tot[0.0] - tot[other]
        print(f"cost of exploration (net without minus net with, explore {other}), per seed: "
              f"{d.round(0).tolist()}; as a share of the net without: {(d / tot[0.0]).round(4).tolist()}")


def cmd_challenger(a: argparse.Namespace) -> None:
    """A planted better challenger: the champion assumes a vendor is no better than not working
    on one stage (effect 1.0) where the world's true effect is the largest of any vendor cell;
    the challenger arm takes `share` of that stage with the true figure. The nights decide with
    the strategy's effects (the approved version's history estimates are removed, as
    `--effects strategy` would do), so the champion's assumption is what it acts on. After each
    cycle, `experiments` on what has arrived: the first cycle whose interval of the arm's net
    per account against the champion (same stage) excludes 0."""
    from collections_engine.experiments.collect import collect, summarise

    with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
        tmp = Path(tmp)
        data, models = tmp / "data", tmp / "models"
        t0 = time.perf_counter()
        sh("generate", "--out", str(data), "--accounts", str(a.accounts), "--days", "1", "--seed", str(a.seed))
        sh("train", "--data", str(data), "--strategy", str(STRATEGY), "--models", str(models))
        sh("approve", "--models", str(models), "--by", "bench_experiments")
        for f in models.glob("*/effect_estimates.parquet"):
            f.unlink()
        print(f"book and model in {time.perf_counter() - t0:.0f} s", flush=True)
        doc = yaml.safe_load(STRATEGY.read_text())
        tr = truth(data)
        vendors = {q["name"]: q for q in doc["queues"] if q["kind"] == "vendor"}
        cells = tr[tr["queue"].isin(list(vendors))].sort_values("true_effect", ascending=False)
        cells = cells[[s in vendors[q]["stages"] for q, s in zip(cells["queue"], cells["stage"])]]
        q, st, true = cells.iloc[0]["queue"], cells.iloc[0]["stage"], float(cells.iloc[0]["true_effect"])
        assumed = vendors[q]["effect"][st]
        print(f"planted: {q} on {st}: true effect {true:.3f}, the strategy's {assumed}, the champion "
              f"assumes 1.0; the challenger {true:.3f} on {a.share:.0%} of {st}", flush=True)
        for qq in doc["queues"]:
            if qq["name"] == q:
                qq["effect"][st] = 1.0
        doc["experiments"] = {"explore": a.explore, "seed": a.seed, "arms": [
            {"name": "planted", "overrides": {q: {"effect": {st: round(true, 3)}}}, "share": {st: a.share}}]}
        strat = tmp / "champion.yaml"
        strat.write_text(yaml.safe_dump(doc, sort_keys=False))
        runs = tmp / "runs"
        from collections_engine.config import load_strategy
        from collections_engine.loop.backtest import costs_of
        from collections_engine.loop.simulate import draw_month
        from collections_engine.loop.store import append_month, read_night
        from collections_engine.loop.world import read_world
        from collections_engine.pipeline import RunRequest, run_night

        costs = costs_of(load_strategy(strat))
        date = read_world(data).state_date
        found = None
        total = 0.0
        for c in range(1, a.cycles + 1):
            t1 = time.perf_counter()
            day = str(pd.Timestamp(date).date())
            run_night(RunRequest(data=data, date=day, strategy=strat, graph=GRAPH, models=models, runs=runs))
            night = read_night(data, runs, day)
            month = draw_month(night.world, night.tonight, night.decisions, night.holds, pd.Timestamp(date),
                               30, 0, costs)
            append_month(data, night.world, month)
            r = month.realised
            net = float(r["recovered"].sum() - r["cost"].sum() - r["commission"].sum())
            total += net
            rows, _, _ = collect(runs, data)
            res, _ = summarise(rows)
            arm = res[res["arm"] == "planted"]
            if len(arm):
                x = arm.iloc[0]
                print(f"  cycle {c} {day}: realised net {net:,.0f}; planted vs champion on {x['compared_on']}: "
                      f"{x['net_vs_champion']:+,.2f} [{x['diff_lo']:+,.2f}, {x['diff_hi']:+,.2f}] per account, "
                      f"p={x['p_value']:.3g} ({x['account_nights']:,d} account-nights; "
                      f"{time.perf_counter() - t1:.0f} s)", flush=True)
                if found is None and x["diff_lo"] > 0:
                    found = c
            date = month.next_date
        print(f"found at cycle {found}; realised net of all arms over {a.cycles} cycles: {total:,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("coverage")
    c.add_argument("--accounts", type=int, default=20000)
    c.add_argument("--cycles", type=int, default=6)
    c.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    c.add_argument("--explore", type=float, nargs="+", default=[0.05, 0.0])
    c.add_argument("--tmp", default=None)
    c.add_argument("--show", action="store_true")
    h = sub.add_parser("challenger")
    h.add_argument("--accounts", type=int, default=20000)
    h.add_argument("--cycles", type=int, default=6)
    h.add_argument("--seed", type=int, default=1)
    h.add_argument("--share", type=float, default=0.5)
    h.add_argument("--explore", type=float, default=0.05)
    h.add_argument("--tmp", default=None)
    a = ap.parse_args()
    {"coverage": cmd_coverage, "challenger": cmd_challenger}[a.cmd](a)


if __name__ == "__main__":
    main()
