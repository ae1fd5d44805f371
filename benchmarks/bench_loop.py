"""The closed loop's bars: backtest money, models and speed on world v2.

  .venv/bin/python benchmarks/bench_loop.py backtest --accounts 20000 --cycles 6 --seeds 1 2 3
      per book seed: generate, train, approve, backtest (engine and its peers, common random
      numbers); prints each seed's cumulated net per policy and, over seeds, the engine's paired
      difference to each peer with a 95 % t interval and the share of the oracle's gain over
      the better peer the engine captures. One seed a process, then the summary over all:
      ... backtest --seeds 1 --csv bt1.csv; ... backtest --summarise bt1.csv bt2.csv bt3.csv
  .venv/bin/python benchmarks/bench_loop.py models --accounts 20000 --seeds 1 2 3
      per seed: train; per segment the held-out AUC of the chosen model, of the pooled model,
      of truth p_observable on the same rows, and which kind was chosen (own, line, pooled)
      against the answer the world plants (`truth_model_kinds`, read from truth/world.json).
  .venv/bin/python benchmarks/bench_loop.py simulate-speed --data DATA
      one simulate cycle on DATA's latest night (every account not worked: the cost of the
      draw and the appends does not depend on the decisions): wall time and peak RSS.
Timings on the shared 2-core development box are contended; say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CE = [sys.executable, "-m", "collections_engine"]
STRATEGY = ROOT / "strategies" / "default.yaml"
GRAPH = ROOT / "graphs" / "default.yaml"


def sh(*args: str) -> str:
    r = subprocess.run([*CE, *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(args[:1])} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def book_and_model(root: Path, accounts: int, seed: int, days: int = 1,
                   strategy: Path = STRATEGY) -> tuple[Path, Path]:
    data, models = root / "data", root / "models"
    t0 = time.perf_counter()
    sh("generate", "--out", str(data), "--accounts", str(accounts), "--days", str(days),
       "--seed", str(seed))
    t1 = time.perf_counter()
    sh("train", "--data", str(data), "--strategy", str(strategy), "--models", str(models))
    sh("approve", "--models", str(models), "--by", "bench_loop")
    print(f"  seed {seed}: generate {t1 - t0:.1f} s, train+approve {time.perf_counter() - t1:.1f} s",
          flush=True)
    return data, models


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    from scipy import stats

    x = np.asarray(x, float)
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(x.mean() - h), float(x.mean() + h)


def cmd_backtest(a: argparse.Namespace) -> None:
    from collections_engine.loop.backtest import BacktestRequest, run_backtest

    if a.summarise:
        summarise_backtest(pd.concat([pd.read_csv(f) for f in a.summarise], ignore_index=True))
        return
    frames = []
    for seed in a.seeds:
        with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
            data, models = book_and_model(Path(tmp), a.accounts, seed,
                                          strategy=Path(a.train_strategy or STRATEGY))
            t0 = time.perf_counter()
            df = run_backtest(BacktestRequest(
                data=data, strategy=Path(a.strategy), graph=GRAPH, models=models,
                out=Path(tmp) / "bt",
                cycles=a.cycles, policies=tuple(a.policies.split(",")), draws=a.draws))
            secs = time.perf_counter() - t0
        df["seed"] = seed
        frames.append(df)
        tot = df.groupby("policy")["realised_net"].sum()
        print(f"  seed {seed}: backtest {secs:.0f} s ({len(df)} cycles run, "
              f"{df['seconds'].mean():.1f} s per cycle); cumulated net: "
              + ", ".join(f"{p} {v:,.0f}" for p, v in tot.items()), flush=True)
        if a.csv:
            pd.concat(frames).to_csv(a.csv, index=False)
    summarise_backtest(pd.concat(frames))


def summarise_backtest(df: pd.DataFrame) -> None:
    """Cumulated net per seed and draw; the engine's paired difference to each policy with a
    95 % t interval; the share of the oracle's gain over the better greedy peer captured."""
    tot = df.groupby(["seed", "draw", "policy"])["realised_net"].sum().unstack("policy")
    print("\ncumulated realised net per seed and draw:\n" + tot.round(0).to_string())
    peers = [p for p in ("greedy", "greedy_net") if p in tot]
    for p in [c for c in tot.columns if c != "engine"]:
        m, lo, hi = t_interval((tot["engine"] - tot[p]).to_numpy())
        print(f"engine - {p}: {m:,.0f} [{lo:,.0f}, {hi:,.0f}] (95 % t interval over "
              f"{len(tot)} seed x draw pairs)")
    if peers and "oracle" in tot:
        best = tot[peers].max(axis=1)
        share = (tot["engine"] - best) / (tot["oracle"] - best)
        print("better peer per seed and draw: " + ", ".join(tot[peers].idxmax(axis=1)))
        print("share of the oracle's gain over the better peer captured by the engine: "
              + ", ".join(f"{s:.2f}" for s in share)
              + f"; pooled {(tot['engine'] - best).sum() / (tot['oracle'] - best).sum():.2f}")


def truth_model_kinds(world: dict, segments: list[str]) -> dict[str, str]:
    """The model kind each segment ('line/stage') should get by the relationship the world
    plants (truth/world.json `no_action`): 'line' where its line's coefficients
    (`coef_by_line`) differ from another line's, else 'pooled'. Never 'own': the world has
    no coefficients per stage (a line's stages share them; the dpd intercept `alpha_dpd` is
    common to every segment, and every model has dpd). A world without `coef_by_line` is
    refused (no hand label to fall back on)."""
    by_line = world.get("no_action", {}).get("coef_by_line")
    if not by_line:
        raise SystemExit("truth/world.json has no no_action.coef_by_line: not a world v2 book, "
                         "no answer key for the model structure")
    out = {}
    for seg in segments:
        line = seg.split("/")[0]
        if line not in by_line:
            raise SystemExit(f"truth/world.json: no_action.coef_by_line has no line {line!r} "
                             f"(segment {seg}); lines found: {sorted(by_line)}")
        differs = any(c != by_line[line] for ln, c in by_line.items() if ln != line)
        out[seg] = "line" if differs else "pooled"
    return out


def cmd_models(a: argparse.Namespace) -> None:
    from collections_engine.config import load_strategy
    from collections_engine.io.load import load_book
    from collections_engine.scoring import TrainConfig, train
    from collections_engine.synth import auc

    strategy = load_strategy(STRATEGY)
    rows = []
    for seed in a.seeds:
        with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
            data = Path(tmp) / "data"
            sh("generate", "--out", str(data), "--accounts", str(a.accounts), "--days", "1",
               "--seed", str(seed))
            book, _ = load_book(data, strategy)
            truth = pd.read_parquet(data / "truth" / "accounts.parquet")
            world = json.loads((data / "truth" / "world.json").read_text())
            t0 = time.perf_counter()
            trained = train(book, strategy, TrainConfig(seed=1))
            secs = time.perf_counter() - t0
        v = trained.validation.merge(truth[["account_id", "snapshot_date", "p_observable"]],
                                     on=["account_id", "snapshot_date"], how="left")
        kinds = truth_model_kinds(world, sorted(trained.meta["segments"]))
        for seg, info in sorted(trained.meta["segments"].items()):
            g = v[v["segment"] == seg]
            if len(g) == 0 or g["y"].nunique() < 2:
                continue
            y = g["y"].to_numpy()
            dec = info["decision"]
            own = g["p_own"].to_numpy() if "p_own" in g.columns else np.full(len(g), np.nan)
            rows.append({"seed": seed, "segment": seg, "rows": len(g),
                         "train_rows": info["history_rows_train_window"],
                         "decided_on": dec.get("rows_compared", 0),
                         "dec_diff": round(dec.get("diff", np.nan), 4),
                         "dec_se": round(dec.get("diff_se", np.nan), 4),
                         "auc_chosen": round(auc(y, g["p_final"].to_numpy()), 4),
                         "auc_own": (round(auc(y, own), 4) if np.isfinite(own).all()
                                     else float("nan")),
                         "auc_line": (round(auc(y, g["p_line"].to_numpy()), 4)
                                      if "p_line" in g.columns and g["p_line"].notna().all()
                                      else float("nan")),
                         "auc_pooled": round(auc(y, g["p_pooled"].to_numpy()), 4),
                         "auc_p_observable": round(auc(y, g["p_observable"].to_numpy()), 4),
                         "model": dec["model"], "truth": kinds[seg],
                         "chosen": "separate" if info["model"] != "pooled" else "pooled",
                         "truth_split": "separate" if kinds[seg] != "pooled" else "pooled",
                         "train_s": round(secs, 1)})
        for ln, d in trained.meta.get("lines", {}).items():
            print(f"  seed {seed}: line {ln}: {d['model']} (line - pooled within segments "
                  f"{d.get('diff', float('nan')):+.4f} se {d.get('diff_se', float('nan')):.4f} on "
                  f"{d.get('rows_compared', 0)} rows)", flush=True)
        print(f"  seed {seed}: trained in {secs:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    print(df.to_string(index=False))
    print("\nconfusion, model kind (rows: the kind the world plants, from truth/world.json; "
          "columns: the kind chosen; own: the segment's model, line: its line's, pooled):")
    print(pd.crosstab(df["truth"], df["model"]))
    right = int((df["truth"] == df["model"]).sum())
    print(f"right kind in {right} of {len(df)} segment choices")
    for ln, g in df.groupby(df["segment"].str.split("/").str[0]):
        print(f"  {ln}: {int((g['truth'] == g['model']).sum())} of {len(g)}")
    print("\nconfusion, separate or pooled (separate: own or line model):")
    print(pd.crosstab(df["truth_split"], df["chosen"]))
    if a.csv:
        df.to_csv(a.csv, index=False)


def cmd_simulate_speed(a: argparse.Namespace) -> None:
    from collections_engine.loop import read_world
    from collections_engine.loop.simulate import draw_month
    from collections_engine.loop.store import append_month, read_at, read_night

    data = Path(a.data)
    world = read_world(data)
    day = world.state_date
    runs = Path(a.tmp or tempfile.gettempdir()) / "bench_loop_runs"
    (runs / str(day.date())).mkdir(parents=True, exist_ok=True)
    acc = read_at(data / "accounts.parquet", day)
    pd.DataFrame({"account_id": acc["account_id"], "queue": ""}).to_parquet(
        runs / str(day.date()) / "assignments.parquet", index=False)
    laps = []
    clock = [time.perf_counter(), time.process_time()]

    def lap(what: str) -> None:
        now = [time.perf_counter(), time.process_time()]
        laps.append(f"{what} {now[0] - clock[0]:.1f} s ({now[1] - clock[1]:.1f} s CPU)")
        clock[:] = now

    # simulate_night's three steps, timed apart
    t0 = time.perf_counter()
    night = read_night(data, runs, str(day.date()))
    lap("read")
    m = draw_month(night.world, night.tonight, night.decisions, night.holds, day, 30,
                   int(night.world.params.get("draw", 0)))
    lap("draw")
    append_month(data, night.world, m)
    lap("append")
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"simulate {day.date()} -> {m.next_date.date()}: {len(acc):,d} accounts, next snapshot "
          f"{len(m.accounts):,d}, {m.opened:,d} accounts opened; {secs:.1f} s ("
          + ", ".join(laps) + f"), peak RSS {peak:.2f} GiB")
    shutil.rmtree(runs, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backtest")
    b.add_argument("--accounts", type=int, default=20_000)
    b.add_argument("--cycles", type=int, default=6)
    b.add_argument("--draws", type=int, default=1)
    b.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    b.add_argument("--policies", default="engine,greedy,random,oracle")
    b.add_argument("--csv", default="")
    b.add_argument("--tmp", default=None)
    b.add_argument("--summarise", nargs="+", default=[], metavar="CSV",
                   help="only summarise the --csv files of earlier runs (e.g. one seed each)")
    b.add_argument("--strategy", default=str(STRATEGY),
                   help="strategy for every policy (e.g. without min_share while the engine's "
                        "large-night path breaks it)")
    b.add_argument("--train-strategy", default="",
                   help="strategy `train` is run with (default the default strategy; e.g. one with "
                        "`effects_model: logodds`, whose shifts train fits and the version carries)")
    m = sub.add_parser("models")
    m.add_argument("--accounts", type=int, default=20_000)
    m.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    m.add_argument("--csv", default="")
    m.add_argument("--tmp", default=None)
    s = sub.add_parser("simulate-speed")
    s.add_argument("--data", required=True)
    s.add_argument("--tmp", default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    {"backtest": cmd_backtest, "models": cmd_models, "simulate-speed": cmd_simulate_speed}[a.cmd](a)


if __name__ == "__main__":
    main()
