"""Monitoring bars (issue 21) on a generated book: the drift level of each night of a book
without drift, and of the same book with a planted shift (overdue amounts and balances x1.8
from night --plant-from on; the generator plants none, so the generated nights are
transformed here), with the score PSI against the nightly reference and against the monthly
history reference (the alarm that used to ring every night).

  .venv/bin/python benchmarks/bench_monitor.py --data /tmp/b20k --accounts 20000 --seed 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "collections_engine", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def nights(data: Path) -> list[str]:
    acc = pd.read_parquet(data / "accounts.parquet", columns=["snapshot_date"])
    out = pd.read_parquet(data / "outcomes.parquet", columns=["snapshot_date"])
    d = sorted(set(pd.to_datetime(acc["snapshot_date"])) - set(pd.to_datetime(out["snapshot_date"])))
    return [x.date().isoformat() for x in d]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--nights", type=int, default=5)
    ap.add_argument("--plant-from", type=int, default=4, help="first planted night (1-based)")
    ap.add_argument("--factor", type=float, default=1.8)
    a = ap.parse_args()
    if not a.data.exists():
        cli("generate", "--out", str(a.data), "--accounts", str(a.accounts), "--seed", str(a.seed))
    strategy = ROOT / "strategies" / "default.yaml"
    graph = ROOT / "graphs" / "default.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cli("train", "--data", str(a.data), "--strategy", str(strategy), "--models", str(tmp / "models"),
            "--max-rows-per-segment", "20000")
        cli("approve", "--models", str(tmp / "models"), "--by", "bench")
        planted = tmp / "planted"
        shutil.copytree(a.data, planted)
        ns = nights(a.data)[: a.nights]
        acc = pd.read_parquet(planted / "accounts.parquet")
        m = (acc["snapshot_date"] >= pd.Timestamp(ns[a.plant_from - 1])).to_numpy()
        for c in ("overdue_amount", "balance"):
            acc.loc[m, c] = (acc.loc[m, c] * a.factor).round(2)
        acc.to_parquet(planted / "accounts.parquet", index=False)
        print(f"| book | night | level | score PSI (nightly ref.) | score PSI vs monthly history | worst feature (PSI) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, data in (("no drift", a.data), (f"planted x{a.factor} from night {a.plant_from}", planted)):
            runs = tmp / f"runs_{name[:2]}"
            for k, n in enumerate(ns, 1):
                cli("run", "--data", str(data), "--date", n, "--strategy", str(strategy), "--graph", str(graph),
                    "--models", str(tmp / "models"), "--out", str(runs))
                mon = json.loads((runs / n / "run.json").read_text())["monitor"]
                fp = mon.get("features_psi") or {}
                worst = max(fp.items(), key=lambda kv: kv[1]) if fp else ("", 0.0)
                print(f"| {name} | {k} ({n}) | {mon['level']} | {mon['score_psi']:.3f} | "
                      f"{mon['score_psi_vs_history']:.3f} | {worst[0]} ({worst[1]:.3f}) |")


if __name__ == "__main__":
    main()
