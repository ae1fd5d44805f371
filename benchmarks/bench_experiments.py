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
  .venv/bin/python benchmarks/bench_experiments.py reestimate --keep DIR --seeds 1 2 3
      the estimators again on the history rows a `coverage --keep DIR` run kept (no new cycles).
  .venv/bin/python benchmarks/bench_experiments.py control --keep DIR --seeds 1 2 3
      each stage's control (the not-worked rate its cells share) on kept rows: its error, its
      share of the cells' variance, what a better outcome model could take off, and what
      calibrated intervals give per seed with cells that share a control.
  .venv/bin/python benchmarks/bench_experiments.py challenger --accounts 20000 --cycles 6 --seed 1
      a planted better challenger (see cmd_challenger): the cycle it is found and the realised net.
Timings on the shared 2-core development box are contended; say so when quoting them.
"""

from __future__ import annotations

import argparse
import copy
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


def true_probabilities(night, queues: list[str]) -> pd.DataFrame:
    """The world's true repayment probability of each account of the night under every queue
    (p_QUEUE columns, p_not_worked too), as `simulate` draws it (world v2's response)."""
    from collections_engine.loop.simulate import _age_months, _stage_names
    from collections_engine.synth.world import queue_response

    world, t = night.world, night.tonight.sort_values("account_id", kind="stable").reset_index(drop=True)
    st = world.state.frame
    pos = pd.Index(st["account_id"].astype("str")).get_indexer(t["account_id"].astype("str"))
    w, ring = st["w"].to_numpy()[pos], st["ring"].to_numpy()[pos]
    reach = ~st["lost"].to_numpy(bool)[pos] | st["repaired"].to_numpy(bool)[pos]
    dpd = t["dpd"].to_numpy(np.int64)
    od = t["overdue_amount"].to_numpy(np.float64)
    date = pd.Timestamp(t["snapshot_date"].iloc[0]) if len(t) else pd.Timestamp(world.state_date)
    new = _age_months(t["open_date"].to_numpy(), date) <= int(world.book["new_customer_max_age_months"])
    stage = _stage_names(world.book, dpd)
    p0 = np.clip(t["p_repay"].to_numpy(np.float64), 1e-4, 1 - 1e-4)
    logit = np.log(p0 / (1 - p0))
    out = {"account_id": t["account_id"].astype("str"), "true_stage": stage}
    for q in queues + ["not_worked"]:
        kind, lift = world.queue_kind_lift(np.full(len(t), q, dtype=object), stage)
        out[f"p_{q}"] = queue_response(kind, lift, od, new, dpd, reach, w, ring).probability(logit)
    return pd.DataFrame(out)


def one_cycle(data: Path, runs: Path, strategy: Path, models: Path, date, costs: dict, queues: list[str],
              placement=None) -> tuple[dict, pd.DataFrame, pd.Timestamp]:
    """run then simulate one night; (money, the night's rows for the estimators, next date)."""
    from collections_engine.loop.simulate import draw_month
    from collections_engine.loop.store import append_month, read_night
    from collections_engine.pipeline import RunRequest, run_night

    t0 = time.perf_counter()
    day = str(pd.Timestamp(date).date())
    run_night(RunRequest(data=data, date=day, strategy=strategy, graph=GRAPH, models=models, runs=runs,
                         placement=placement))
    night = read_night(data, runs, day)
    truth_p = true_probabilities(night, queues)
    month = draw_month(night.world, night.tonight, night.decisions, night.holds, pd.Timestamp(date), 30, 0, costs)
    append_month(data, night.world, month)
    r = month.realised
    rec = float(r["recovered"].sum())
    cost = float(r["cost"].sum() + r["commission"].sum())
    a = pd.read_parquet(runs / day / "assignments.parquet", columns=["account_id", "customer_id", "stage", "arm"])
    di = pd.read_parquet(runs / day / "decision_inputs.parquet", columns=["account_id", "p_repay", "collectable"])
    h = month.placement_history[["account_id", "queue", "propensity"]]
    o = month.outcomes[["account_id", "repaid"]] if len(month.outcomes) else None
    rows = (a.assign(account_id=a["account_id"].astype("str"))
            .merge(h.assign(account_id=h["account_id"].astype("str")), on="account_id", how="inner")
            .merge(di.assign(account_id=di["account_id"].astype("str")).rename(
                columns={"p_repay": "score", "collectable": "amount"}), on="account_id", how="left")
            .merge(truth_p, on="account_id", how="left"))
    if o is not None:
        rows = rows.merge(o.assign(account_id=o["account_id"].astype("str")), on="account_id", how="inner")
    rows.insert(1, "snapshot_date", pd.Timestamp(day))
    money = {"date": day, "net": rec - cost, "recovery": rec, "cost": cost,
             "seconds": round(time.perf_counter() - t0, 1)}
    return money, rows, month.next_date


def cycles(data: Path, runs: Path, strategy: Path, models: Path, n: int) -> tuple[list[dict], pd.DataFrame]:
    """n monthly cycles of run then simulate on DATA; (realised money per cycle, history rows)."""
    from collections_engine.config import load_strategy
    from collections_engine.loop.backtest import costs_of
    from collections_engine.loop.world import read_world

    s = load_strategy(strategy)
    costs = costs_of(s)
    queues = [q.name for q in s.work_queues()]
    date = read_world(data).state_date
    out, parts = [], []
    for c in range(1, n + 1):
        money, rows, date = one_cycle(data, runs, strategy, models, date, costs, queues)
        out.append({"cycle": c, **money})
        parts.append(rows.assign(cycle=c))
        print(f"    cycle {c} {money['date']}: net {money['net']:,.0f} ({money['seconds']:.0f} s)", flush=True)
    return out, pd.concat(parts, ignore_index=True)


def truth(data: Path) -> pd.DataFrame:
    t = pd.read_parquet(data / "truth" / "effects.parquet")
    if "trait" in t.columns:
        t = t[t["trait"] == "all"]
    return t[["queue", "stage", "effect"]].rename(columns={"effect": "true_effect"})


def rows_truth(rows: pd.DataFrame, queues: list[str]) -> pd.DataFrame:
    """True effects on given rows: per stage, mean p under the queue / mean p not worked."""
    out = []
    for s, g in rows.groupby("stage", observed=True):
        for q in queues:
            if f"p_{q}" in g.columns:
                out.append({"queue": q, "stage": s, "rows_effect": float(g[f"p_{q}"].mean() / g["p_not_worked"].mean())})
    return pd.DataFrame(out)


def estimators(rows: pd.DataFrame, strategy) -> dict[str, pd.DataFrame]:
    """Every estimate compared: the existing explored IPW (unclustered), IPW and DR clustered
    by customer (experiments.estimate), and the engine's own rows weighted 1. The queues
    exploration never draws (legal by default) are marked "excluded from exploration" by the
    explored estimators (no estimate) and counted apart by `coverage_rows`."""
    from collections_engine.assign.effects import estimate_effects
    from collections_engine.config.experiments import never_explored
    from collections_engine.experiments import explored_effects
    from collections_engine.experiments.estimate import logged_effects

    h = rows[["account_id", "snapshot_date", "queue", "propensity"]]
    o = rows[["account_id", "snapshot_date", "repaid"]]
    st = rows[["account_id", "snapshot_date", "stage"]]
    # weight 1 for every row: one constant propensity (estimate_effects leaves rows without a
    # propensity out, as no experiment)
    out = {"weight_1": estimate_effects(h.assign(propensity=0.5), o, st, strategy)}
    if (rows["propensity"] < 1).any():
        out["ipw_unclustered"] = explored_effects(h, o, st, strategy)
        le = logged_effects(rows, excluded=never_explored(strategy))
        for m in ("ipw", "dr"):
            out[m] = le[le["method"] == m].drop(columns="method")
    return out


def coverage_rows(seed: int, explore: float, ests: dict, tr: pd.DataFrame, rt: pd.DataFrame, show: bool) -> list[dict]:
    """Per estimator: the cells whose 95% interval covers the book's truth (and the truth on the
    estimator's own rows), among all cells with an estimate and among the estimable ones; cells
    of a queue excluded from exploration are neither covered nor missed: counted apart."""
    from collections_engine.experiments.estimate import EXCLUDED

    out = []
    for kind, est in ests.items():
        e = est.merge(tr, on=["queue", "stage"], how="inner").merge(rt, on=["queue", "stage"], how="left")
        off = e["reason"] == EXCLUDED if "reason" in e.columns else pd.Series(False, index=e.index)
        excluded = sorted(f"{q} {s_}" for q, s_ in zip(e.loc[off, "queue"], e.loc[off, "stage"]))
        e = e[~off & np.isfinite(e["effect"]) & (e["effect"] > 0)]
        cover = (e["ci_low"] <= e["true_effect"]) & (e["true_effect"] <= e["ci_high"])
        cover_rows = (e["ci_low"] <= e["rows_effect"]) & (e["rows_effect"] <= e["ci_high"])
        est_ok = e["estimable"] if "estimable" in e.columns else pd.Series(True, index=e.index)
        drift = np.abs(np.log(e["effect"] / e["true_effect"]))
        width = np.log(e["ci_high"] / e["ci_low"])
        out.append({"seed": seed, "explore": explore, "estimate": kind, "cells": len(e),
                    "covered": int(cover.sum()), "covered_rows_truth": int(cover_rows.sum()),
                    "estimable": int(est_ok.sum()), "covered_estimable": int((cover & est_ok).sum()),
                    "median_abs_log_ratio": float(drift.median()) if len(e) else np.nan,
                    "max_abs_log_ratio": float(drift.max()) if len(e) else np.nan,
                    "median_log_width": float(width.median()) if len(e) else np.nan,
                    "excluded": len(excluded), "excluded_cells": ", ".join(excluded)})
        r = out[-1]
        print(f"    {kind}: {r['covered']}/{r['cells']} cells cover the book's truth, {r['covered_rows_truth']} the "
              f"truth on the estimator's rows; estimable {r['covered_estimable']}/{r['estimable']}; median "
              f"|log ratio| {r['median_abs_log_ratio']:.3f}, median log width {r['median_log_width']:.3f}"
              + (f"; not estimable, excluded from exploration: {r['excluded_cells']}" if excluded else ""), flush=True)
        if show:
            cols = ["queue", "stage", "n", "effect", "ci_low", "ci_high", "true_effect", "rows_effect"]
            cols += [c for c in ("explored", "estimable") if c in e.columns]
            print(e.assign(covered=cover)[cols + ["covered"]].round(3).to_string(index=False))
    return out


def approved_effects(models: Path, strategy) -> dict:
    """The effects the loop's nights used: the approved version's history estimates where
    `Effects` accepts them (the strategy's figure elsewhere is decide's default)."""
    from collections_engine.assign.effects import Effects

    est = sorted(models.glob("*/effect_estimates.parquet"))
    return Effects.resolve(strategy, pd.read_parquet(est[0])).values if est else {}


def decide_with(effects: dict):
    """A placement that decides the whole night (no arms, no exploration) with these effects."""
    from collections_engine.assign import decide

    def place(inputs, strategy, date, *, effects_=None, **_):
        return decide(inputs, strategy, date, effects=effects)
    return place


def drift_cycle(tmp: Path, seed: int, found: dict, models: Path, plain, tr: pd.DataFrame, queues: list[str],
                cycles_run: int) -> list[dict]:
    """What the drift costs: from the no-exploration history's last state, one more cycle
    decided with each set of effects, on the same world draws."""
    from collections_engine.assign.effects import effects_dict
    from collections_engine.loop.backtest import costs_of
    from collections_engine.loop.world import read_world

    data0, ests0 = found[0.0]
    other = [x for x in found if x != 0.0][0]
    dr = found[other][1]["dr"]
    approved = approved_effects(models, plain)
    sets = {"approved (the loop's)": None,
            "re-estimated, no exploration (weight 1)": {**approved, **effects_dict(ests0["weight_1"])},
            f"DR from {other:.0%} exploration (estimable cells)": {**approved, **{
                (q, s): float(v) for q, s, v, ok in zip(dr["queue"], dr["stage"], dr["effect"], dr["estimable"]) if ok}},
            "the world's truth": {(q, s_): float(v) for q, s_, v in zip(tr["queue"], tr["stage"], tr["true_effect"])}}
    costs = costs_of(plain)
    date = read_world(data0).state_date
    out = []
    for k, (name, eff) in enumerate(sets.items()):
        d = tmp / f"drift_{k}"
        shutil.copytree(data0, d)
        mon, _, _ = one_cycle(d, tmp / f"runs_drift_{k}", tmp / "strategy_0.0.yaml", models, date, costs, queues,
                              placement=None if eff is None else decide_with(eff))
        out.append({"seed": seed, "effects": name, "net": mon["net"]})
        print(f"  cycle {cycles_run + 1} from the no-exploration state, effects {name}: net "
              f"{mon['net']:,.0f} ({mon['seconds']:.0f} s)", flush=True)
        shutil.rmtree(d)
    return out


def seed_coverage(a: argparse.Namespace, seed: int, keep: Path | None) -> tuple[list[dict], list[dict], list[dict]]:
    """One seed: book, model, the cycles per exploration rate; (coverage rows, money, drift)."""
    from collections_engine.config import load_strategy

    rows, money, drift_cost = [], [], []
    with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
        tmp = Path(tmp)
        base, models = tmp / "data", tmp / "models"
        t0 = time.perf_counter()
        sh("generate", "--out", str(base), "--accounts", str(a.accounts), "--days", "1", "--seed", str(seed))
        sh("train", "--data", str(base), "--strategy", str(STRATEGY), "--models", str(models))
        sh("approve", "--models", str(models), "--by", "bench_experiments")
        print(f"seed {seed}: book and model in {time.perf_counter() - t0:.0f} s", flush=True)
        tr = truth(base)
        plain = load_strategy(STRATEGY)
        queues = [q.name for q in plain.work_queues()]
        found = {}
        for explore in a.explore:
            doc = yaml.safe_load(STRATEGY.read_text())
            if explore > 0:
                doc["experiments"] = {"explore": explore, "seed": seed, "arms": []}
            strat = tmp / f"strategy_{explore}.yaml"
            strat.write_text(yaml.safe_dump(doc, sort_keys=False))
            data = tmp / f"data_{explore}"
            shutil.copytree(base, data)
            print(f"  explore {explore}:", flush=True)
            m, hist = cycles(data, tmp / f"runs_{explore}", strat, models, a.cycles)
            money += [{"seed": seed, "explore": explore, **x} for x in m]
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                hist.to_parquet(keep / f"rows_{a.accounts}_{seed}_{explore}.parquet")
                tr.to_parquet(keep / f"truth_{a.accounts}_{seed}.parquet")
            ests = estimators(hist, plain)
            rows += coverage_rows(seed, explore, ests, tr, rows_truth_of(hist, queues), a.show)
            found[explore] = (data, ests)
        if a.drift and 0.0 in found and len(found) == 2:
            drift_cost = drift_cycle(tmp, seed, found, models, plain, tr, queues, a.cycles)
    return rows, money, drift_cost


def rows_truth_of(hist: pd.DataFrame, queues: list[str]) -> pd.DataFrame:
    """The true effects on the rows the explored estimators use (the randomised ones)."""
    explorable = hist[(hist["propensity"] > 0) & (hist["propensity"] < 1)]
    return rows_truth(explorable if len(explorable) else hist, queues)


def print_coverage(r: pd.DataFrame) -> None:
    """Per seed and pooled: cells covered by each estimator; excluded cells listed apart."""
    cols = ["cells", "covered", "covered_rows_truth", "estimable", "covered_estimable", "excluded"]
    print("\ncoverage per seed:")
    print(r[["seed", "explore", "estimate", *cols]].to_string(index=False))
    print("\ncoverage over seeds:")
    pooled = r.groupby(["explore", "estimate"])[cols].sum()
    pooled["rate"] = (pooled["covered"] / pooled["cells"]).round(3)
    print(pooled)
    for (seed, explore), g in r[r["excluded"] > 0].groupby(["seed", "explore"]):
        print(f"seed {seed}, explore {explore}: not estimable, excluded from exploration (neither covered nor "
              f"missed): {g['excluded_cells'].iloc[0]}")


def cmd_coverage(a: argparse.Namespace) -> None:
    keep = Path(a.keep) if a.keep else None
    rows, money, drift_cost = [], [], []
    for seed in a.seeds:
        r_, m_, d_ = seed_coverage(a, seed, keep)
        rows, money, drift_cost = rows + r_, money + m_, drift_cost + d_
    r = pd.DataFrame(rows)
    print_coverage(r)
    m = pd.DataFrame(money)
    tot = m.groupby(["seed", "explore"])["net"].sum().unstack("explore")
    print("\nrealised net of the cycles per seed (explore columns):")
    print(tot.round(0))
    if 0.0 in tot.columns and len(tot.columns) == 2:
        other = [c for c in tot.columns if c != 0.0][0]
        d = tot[0.0] - tot[other]
        print(f"cost of exploration (net without minus net with, explore {other}), per seed: "
              f"{d.round(0).tolist()}; as a share of the net without: {(d / tot[0.0]).round(4).tolist()}")
    if drift_cost:
        dc = pd.DataFrame(drift_cost).pivot(index="seed", columns="effects", values="net")
        print("\nrealised net of one more cycle from the no-exploration state, by the effects that decide:")
        print(dc.round(0).to_string())
    if keep is not None:
        tag = f"{a.accounts}_{'_'.join(map(str, a.seeds))}"
        r.to_csv(keep / f"coverage_{tag}.csv", index=False)
        m.to_csv(keep / f"money_{tag}.csv", index=False)
        if drift_cost:
            pd.DataFrame(drift_cost).to_csv(keep / f"drift_{tag}.csv", index=False)


def cmd_reestimate(a: argparse.Namespace) -> None:
    """The estimators again on the history rows a `coverage --keep DIR` run kept (no new
    cycles): rows_ACCOUNTS_SEED_EXPLORE.parquet and truth_ACCOUNTS_SEED.parquet."""
    from collections_engine.config import load_strategy

    plain = load_strategy(STRATEGY)
    queues = [q.name for q in plain.work_queues()]
    rows = []
    for seed in a.seeds:
        for explore in a.explore:
            f = Path(a.keep) / f"rows_{a.accounts}_{seed}_{explore}.parquet"
            if not f.exists():
                print(f"seed {seed}, explore {explore}: no {f.name}; skipped", flush=True)
                continue
            hist = pd.read_parquet(f)
            tr = pd.read_parquet(Path(a.keep) / f"truth_{a.accounts}_{seed}.parquet")
            print(f"seed {seed}, explore {explore}: {len(hist):,d} history rows", flush=True)
            rows += coverage_rows(seed, explore, estimators(hist, plain), tr, rows_truth_of(hist, queues), a.show)
    if rows:
        print_coverage(pd.DataFrame(rows))


def stage_controls(hist: pd.DataFrame) -> pd.DataFrame:
    """Per stage, the control (the not-worked rate of the explorable rows) three ways, against
    the truth on the same rows (the world's p not worked): IPW (what `logged_effects` uses), DR
    with a control model pooled over the stages' not-worked rows, and DR with the world's own p
    (no outcome model can do better: what is left is the outcomes' Bernoulli noise); and the
    control's share of the variance of log(effect) of the stage's cells (with an estimate)."""
    from sklearn.linear_model import LogisticRegression

    from collections_engine.experiments.estimate import influence, outcome_features

    r = hist[(hist["propensity"] > 0) & (hist["propensity"] < 1)].reset_index(drop=True)
    q = r["queue"].astype("str").replace({"": "not_worked", "nan": "not_worked"}).to_numpy(dtype=object)
    y, w = r["repaid"].to_numpy(float), 1 / r["propensity"].to_numpy(float)
    c0 = q == "not_worked"
    st = pd.get_dummies(r["stage"]).to_numpy(float)
    x = np.column_stack([outcome_features(r), st])
    mu_pool = LogisticRegression(max_iter=500).fit(x[c0], y[c0], sample_weight=w[c0]).predict_proba(x)[:, 1]
    out = []
    for s in sorted(r["stage"].unique()):
        m = (r["stage"] == s).to_numpy()
        truth = float(r.loc[m, "p_not_worked"].mean())
        row = {"stage": s, "control_rows": int((c0 & m).sum()), "truth": round(truth, 4)}
        for name, mu in (("ipw", None), ("dr_pooled", mu_pool[m]), ("dr_true_p", r.loc[m, "p_not_worked"].to_numpy())):
            t, psi = influence(y[m], w[m], c0[m], mu)
            se = float(np.sqrt((psi ** 2).sum()) / m.sum())
            row[f"{name}_log_err"] = round(float(np.log(t / truth)), 3)
            row[f"{name}_z"] = round((t - truth) / se, 2)
            row[f"{name}_se_log"] = round(se / t, 4)
        out.append(row)
    return pd.DataFrame(out)


def cmd_control(a: argparse.Namespace) -> None:
    """The shared control of a stage's cells, on kept rows: how far off, how much of each
    cell's variance it carries, and whether a better outcome model could help."""
    from collections_engine.config import load_strategy
    from collections_engine.config.experiments import never_explored
    from collections_engine.experiments.estimate import logged_effects

    plain = load_strategy(STRATEGY)
    parts = []
    for seed in a.seeds:
        f = Path(a.keep) / f"rows_{a.accounts}_{seed}_{a.explore}.parquet"
        if not f.exists():
            continue
        hist = pd.read_parquet(f)
        c = stage_controls(hist).assign(seed=seed)
        le = logged_effects(hist, methods=("ipw",), excluded=never_explored(plain))
        le = le[np.isfinite(le["effect"])]          # every cell with an estimate (the bar's cells)
        v = (np.log(le["ci_high"] / le["effect"]) / 1.959964) ** 2
        share = (le.assign(v=v).merge(c[["stage", "ipw_se_log"]], on="stage")
                 .assign(share=lambda d: d["ipw_se_log"] ** 2 / d["v"]).groupby("stage")["share"].median())
        cells = le.groupby("stage").size()
        parts.append(c.assign(control_var_share=c["stage"].map(share).round(3),
                              cells=c["stage"].map(cells).fillna(0).astype(int)))
    d = pd.concat(parts, ignore_index=True)
    print(d.to_string(index=False))
    print("\nmean over seeds:")
    print(d.groupby("stage")[["ipw_z", "control_var_share", "ipw_se_log", "dr_pooled_se_log", "dr_true_p_se_log"]]
          .mean().round(3).to_string())
    per = d.groupby("stage").agg(cells=("cells", "median"), share=("control_var_share", "mean"))
    print("\nwhat perfectly calibrated 95% intervals give per seed, with these cells per stage and the "
          "control's share of their variance (the errors of a stage's cells correlated by that share):")
    for label, k in (("shared control (measured)", 1.0), ("independent cells", 0.0)):
        c = seed_counts({s: (int(n), k * v) for s, n, v in per.itertuples()})
        n = int(per["cells"].sum())
        print(f"  {label}: {n} cells; mean rate {c.mean() / n:.3f}, sd of a seed's rate {c.std() / n:.3f}; "
              f"P(a seed >= 90%) {np.mean(c >= 0.9 * n):.3f}; P(3 seeds pooled >= 90%) "
              f"{np.mean(c.reshape(-1, 3).sum(1) >= 0.9 * 3 * n):.3f}; P(6 seeds pooled >= 90%) "
              f"{np.mean(c.reshape(-1, 6).sum(1) >= 0.9 * 6 * n):.3f}")


def seed_counts(stages: dict[str, tuple[int, float]], draws: int = 240_000, seed: int = 0) -> np.ndarray:
    """Cells covered per simulated seed when every interval is exactly a 95% normal interval:
    stage s has n cells whose standardised errors share a common part with variance `share`
    (the control) and an own part with 1 - share."""
    rng = np.random.default_rng(seed)
    hit = np.zeros(draws, np.int64)
    for n, share in stages.values():
        e = rng.normal(size=(draws, 1)) * np.sqrt(share) + rng.normal(size=(draws, n)) * np.sqrt(1 - share)
        hit += (np.abs(e) < 1.959964).sum(axis=1)
    return hit


def plant_challenger(data: Path, tmp: Path, a: argparse.Namespace) -> dict:
    """The planted test's strategy files: the vendor x stage cell with the largest true effect,
    which the champion assumes is worth 1.0 and the challenger arm states truly (on `share` of
    the stage); also the champion alone and the challenger alone (no arms, no exploration)."""
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
    alone = tmp / "champion_alone.yaml"
    alone.write_text(yaml.safe_dump(doc, sort_keys=False))
    challenger = copy.deepcopy(doc)
    for qq in challenger["queues"]:
        if qq["name"] == q:
            qq["effect"][st] = round(true, 3)
    promoted = tmp / "challenger_alone.yaml"
    promoted.write_text(yaml.safe_dump(challenger, sort_keys=False))
    doc["experiments"] = {"explore": a.explore, "seed": a.seed, "arms": [
        {"name": "planted", "overrides": {q: {"effect": {st: round(true, 3)}}}, "share": {st: a.share}}]}
    strat = tmp / "champion.yaml"
    strat.write_text(yaml.safe_dump(doc, sort_keys=False))
    return {"champion_alone": alone, "challenger_alone": promoted, "test": strat}


def run_test(data: Path, runs: Path, files: dict, models: Path, start, costs: dict, queues: list[str],
             n: int) -> tuple[float, list[float]]:
    """The test's cycles; after each, `experiments` on what has arrived: the first cycle whose
    interval of the arm's net per account against the champion (same stage) excludes 0."""
    from collections_engine.experiments.collect import collect, summarise

    date, found, total, per = start, None, 0.0, []
    for c in range(1, n + 1):
        money, _, date = one_cycle(data, runs, files["test"], models, date, costs, queues)
        total += money["net"]
        per.append(money["net"])
        rows, _, _ = collect(runs, data)
        res, _ = summarise(rows)
        arm = res[res["arm"] == "planted"]
        if len(arm):
            x = arm.iloc[0]
            print(f"  cycle {c} {money['date']}: realised net {money['net']:,.0f}; planted vs champion on "
                  f"{x['compared_on']}: {x['net_vs_champion']:+,.2f} [{x['diff_lo']:+,.2f}, {x['diff_hi']:+,.2f}] "
                  f"per account, p={x['p_value']:.3g} ({x['account_nights']:,d} account-nights; "
                  f"{money['seconds']:.0f} s)", flush=True)
            if found is None and x["diff_lo"] > 0:
                found = c
    print(f"found at cycle {found}; realised net of all arms over {n} cycles: {total:,.0f}", flush=True)
    return total, per


def run_alone(name: str, d: Path, tmp: Path, files: dict, models: Path, start, costs: dict, queues: list[str],
              n: int) -> tuple[float, list[float]]:
    """The same start and world draws under one policy: the oracle, the champion alone or the
    challenger alone."""
    from collections_engine.loop.backtest import read_night_truth
    from collections_engine.loop.policies import policy_placement

    date, tot, per = start, 0.0, []
    for c in range(1, n + 1):
        place = None
        if name == "oracle":
            day = pd.Timestamp(date)
            place = policy_placement("oracle", world_of=lambda d=d, day=day: read_night_truth(d, day))
        path = files["challenger_alone"] if name == "challenger_alone" else files["champion_alone"]
        money, _, date = one_cycle(d, tmp / f"runs_{name}", path, models, date, costs, queues, placement=place)
        tot += money["net"]
        per.append(money["net"])
        print(f"  {name} cycle {c}: realised net {money['net']:,.0f} ({money['seconds']:.0f} s)", flush=True)
    return tot, per


def print_nets(nets: dict, a: argparse.Namespace) -> None:
    print(f"\nrealised net over {a.cycles} cycles, same start and world draws ({a.accounts:,d} accounts, "
          f"seed {a.seed}):")
    for name, (tot, per) in nets.items():
        print(f"  {name:45s} {tot:16,.0f}   per cycle: {', '.join(f'{x:,.0f}' for x in per)}")
    t = nets["test (champion + planted arm + exploration)"][0]
    if "oracle" in nets:
        o = nets["oracle"][0]
        print(f"test / oracle {t / o:.4f} (the oracle earns {o - t:+,.0f} more)" + "".join(
            f"; {k} / oracle {v[0] / o:.4f}" for k, v in nets.items() if k in ("champion_alone", "challenger_alone")))
    if "champion_alone" in nets:
        c_ = nets["champion_alone"][0]
        print(f"cost of the test (champion alone - test): {c_ - t:+,.0f} ({(c_ - t) / c_:+.2%} of the champion alone)")


def cmd_challenger(a: argparse.Namespace) -> None:
    """A planted better challenger: the champion assumes a vendor is no better than not working
    on one stage (effect 1.0) where the world's true effect is the largest of any vendor cell;
    the challenger arm takes `share` of that stage with the true figure. The nights decide with
    the strategy's effects (the approved version's history estimates are removed, as
    `--effects strategy` would do), so the champion's assumption is what it acts on. After each
    cycle, `experiments` on what has arrived: the first cycle whose interval of the arm's net
    per account against the champion (same stage) excludes 0.

    With --compare, the same start and the same world draws (common random numbers) under the
    champion alone (no arms, no exploration), the challenger's strategy alone (what promoting it
    on day one would give) and the oracle (the world's true expected net decides): the cost of
    the test is the champion alone minus the test's realised net of all arms."""
    from collections_engine.config import load_strategy
    from collections_engine.loop.backtest import costs_of
    from collections_engine.loop.world import read_world

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
        files = plant_challenger(data, tmp, a)
        plain = load_strategy(files["champion_alone"])
        costs = costs_of(plain)
        queues = [x.name for x in plain.work_queues()]
        start = read_world(data).state_date
        starts = {}
        for name in a.compare:
            starts[name] = tmp / f"data_{name}"
            shutil.copytree(data, starts[name])
        nets = {"test (champion + planted arm + exploration)":
                run_test(data, tmp / "runs", files, models, start, costs, queues, a.cycles)}
        for name, d in starts.items():
            nets[name] = run_alone(name, d, tmp, files, models, start, costs, queues, a.cycles)
        print_nets(nets, a)


def main() -> None:
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("coverage")
    c.add_argument("--accounts", type=int, default=20000)
    c.add_argument("--cycles", type=int, default=6)
    c.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    c.add_argument("--explore", type=float, nargs="+", default=[0.05, 0.0])
    c.add_argument("--tmp", default=None)
    c.add_argument("--show", action="store_true")
    c.add_argument("--keep", default=None, help="folder for the history rows and tables (re-analysis)")
    c.add_argument("--drift", action="store_true", help="one more cycle per set of effects (cost of drift)")
    e = sub.add_parser("reestimate", help="the estimators on the rows a coverage --keep run kept")
    e.add_argument("--keep", required=True)
    e.add_argument("--accounts", type=int, default=20000)
    e.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    e.add_argument("--explore", type=float, nargs="+", default=[0.05])
    e.add_argument("--show", action="store_true")
    k = sub.add_parser("control", help="the stages' shared control on kept rows (see stage_controls)")
    k.add_argument("--keep", required=True)
    k.add_argument("--accounts", type=int, default=20000)
    k.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    k.add_argument("--explore", type=float, default=0.05)
    h = sub.add_parser("challenger")
    h.add_argument("--accounts", type=int, default=20000)
    h.add_argument("--cycles", type=int, default=6)
    h.add_argument("--seed", type=int, default=1)
    h.add_argument("--share", type=float, default=0.5)
    h.add_argument("--explore", type=float, default=0.05)
    h.add_argument("--tmp", default=None)
    h.add_argument("--compare", nargs="*", default=[], choices=["oracle", "champion_alone", "challenger_alone"],
                   help="also these on the same start and draws (oracle: the cost of the test)")
    a = ap.parse_args()
    {"coverage": cmd_coverage, "reestimate": cmd_reestimate, "control": cmd_control,
     "challenger": cmd_challenger}[a.cmd](a)


if __name__ == "__main__":
    main()
