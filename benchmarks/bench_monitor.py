"""Monitoring bars (issue 21) on a generated book: the drift level of each night of a stable
book, of the same book with a planted shift, and of the generator's own nights.

- stable: `generate --days 1` (history and one night), then each night `run` and `simulate
  --days 1`: the nights after the first carry the contacts, payments and snapshot the world
  draws under the previous night's decisions, as a bank's nights do;
- planted: the same loop copied before night --plant-from, and from that night on every
  snapshot's overdue amounts and balances x --factor before `run` (the generator has no switch
  for a shift; what a new product line or a price change does to a book);
- --warmup W: the loop's first W nights run into another RUNS folder, so the measured first
  night (the nightly reference) already has a daily contact log behind it (the generator's
  history logs contacts by month: an account that fell delinquent during a month has none);
- generator nights: `generate --days N`: nights after the first carry no contacts (a contact
  log that stopped: the monitor should say so).

Each row: the level, the score PSI against the nightly reference and against the monthly
history reference (the alarm that used to ring every night), and the most drifted feature among
those the night's record keeps (the version's top features and tonight's worst when not stable).

  .venv/bin/python benchmarks/bench_monitor.py --out /tmp/bm --accounts 20000 --seed 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.io import write_parquet  # noqa: E402
from collections_engine.loop import read_world  # noqa: E402

STRATEGY = ROOT / "strategies" / "default.yaml"
GRAPH = ROOT / "graphs" / "default.yaml"


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "collections_engine", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def plant(data: Path, night: str, factor: float) -> None:
    path = data / "accounts.parquet"
    acc = pd.read_parquet(path)
    m = (acc["snapshot_date"] == pd.Timestamp(night)).to_numpy()
    for c in ("overdue_amount", "balance"):
        acc.loc[m, c] = (acc.loc[m, c] * factor).round(2)
    write_parquet(acc, path)


def run(data: Path, runs: Path, models: Path, night: str) -> dict:
    cli("run", "--data", str(data), "--date", night, "--strategy", str(STRATEGY), "--graph", str(GRAPH),
        "--models", str(models), "--out", str(runs))
    return json.loads((runs / night / "run.json").read_text())["monitor"]


def row(book: str, k: int, night: str, mon: dict) -> str:
    fp = mon.get("features_psi") or {}
    worst = max(fp.items(), key=lambda kv: kv[1]) if fp else ("", 0.0)
    hist = mon.get("score_psi_vs_history")
    return (f"| {book} | {k} ({night}) | {mon['accounts']:,d} | {mon['level']} | {mon['score_psi']:.3f} | "
            f"{'' if hist is None else f'{hist:.3f}'} | {worst[0]} ({worst[1]:.3f}) |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True, help="a new folder for the books and runs")
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--nights", type=int, default=5)
    ap.add_argument("--plant-from", type=int, default=4, help="first planted night (1-based)")
    ap.add_argument("--factor", type=float, default=1.8)
    ap.add_argument("--generator-nights", action="store_true", help="also the generator's own nights")
    ap.add_argument("--warmup", type=int, default=0,
                    help="loop nights run (into another RUNS) before the measured nights, so the "
                         "reference night's contact log is already a daily one")
    a = ap.parse_args()
    out = a.out
    out.mkdir(parents=True, exist_ok=False)
    data, models = out / "loop_data", out / "models"
    cli("generate", "--out", str(data), "--accounts", str(a.accounts), "--seed", str(a.seed), "--days", "1")
    cli("train", "--data", str(data), "--strategy", str(STRATEGY), "--models", str(models),
        "--max-rows-per-segment", "20000")
    cli("approve", "--models", str(models), "--by", "bench")
    print("| book | night | accounts | level | score PSI (nightly ref.) | score PSI vs monthly history | "
          "most drifted kept feature (PSI) |")
    print("| --- | --- | ---: | --- | ---: | ---: | --- |")
    runs, p_data, p_runs = out / "loop_runs", out / "planted_data", out / "planted_runs"
    night = str(read_world(data).state_date.date())
    for _ in range(a.warmup):
        run(data, out / "warmup_runs", models, night)
        cli("simulate", "--data", str(data), "--runs", str(out / "warmup_runs"), "--date", night, "--days", "1")
        night = str(read_world(data).state_date.date())
    planted: list[str] = []
    for k in range(1, a.nights + 1):
        if k == a.plant_from:
            shutil.copytree(data, p_data)
            shutil.copytree(runs, p_runs)
        print(row("stable (loop)", k, night, run(data, runs, models, night)), flush=True)
        if k >= a.plant_from:
            plant(p_data, night, a.factor)
            planted.append(row(f"planted x{a.factor} from night {a.plant_from}", k, night,
                               run(p_data, p_runs, models, night)))
            cli("simulate", "--data", str(p_data), "--runs", str(p_runs), "--date", night, "--days", "1")
        cli("simulate", "--data", str(data), "--runs", str(runs), "--date", night, "--days", "1")
        night = str(read_world(data).state_date.date())
    print("\n".join(planted))
    if a.generator_nights:
        g = out / "generator_data"
        cli("generate", "--out", str(g), "--accounts", str(a.accounts), "--seed", str(a.seed),
            "--days", str(a.nights))
        acc = pd.read_parquet(g / "accounts.parquet", columns=["snapshot_date"])
        out_ = pd.read_parquet(g / "outcomes.parquet", columns=["snapshot_date"])
        ns = sorted(set(pd.to_datetime(acc["snapshot_date"])) - set(pd.to_datetime(out_["snapshot_date"])))
        for k, n in enumerate(ns[: a.nights], 1):
            d = n.date().isoformat()
            print(row("generator nights", k, d, run(g, out / "generator_runs", models, d)), flush=True)


if __name__ == "__main__":
    main()
