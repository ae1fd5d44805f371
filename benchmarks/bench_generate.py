"""Benchmark `collections-engine generate`: time and peak memory at 100k and 1M accounts.

Each size runs the real command in a fresh process (history 12 months + 7 nights), so the peak
resident memory is that process's alone; then the book is read back and its figures printed:
rows per table, ceiling AUCs per segment, confounder rates and the segment mix.

    .venv/bin/python benchmarks/bench_generate.py                 # 100k then 1M
    .venv/bin/python benchmarks/bench_generate.py --sizes 100000  # one size
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.config import load_strategy  # noqa: E402
from collections_engine.io import read_table  # noqa: E402
from collections_engine.synth import ceiling_aucs  # noqa: E402
from collections_engine.synth.stats import (  # noqa: E402
    confounder_rates, first_payment_defaulters, nightly_events, segment_mix)


def run_one(n: int, days: int, seed: int, workdir: Path) -> tuple[float, float, Path]:
    out = workdir / f"book_{n}"
    cmd = [sys.executable, "-m", "collections_engine", "generate", "--out", str(out),
           "--accounts", str(n), "--days", str(days), "--seed", str(seed), "--force"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited children: sizes run in ascending order
    return wall, max(peak_kib, before) / 1024 / 1024, out


def figures(out: Path, strategy_path: Path, with_stats: bool) -> None:
    strategy = load_strategy(strategy_path)
    files = sorted(out.rglob("*.parquet"))
    size = sum(p.stat().st_size for p in files)
    print(f"  files: {len(files)}, {size / 2**20:.1f} MiB on disk")
    need = ["accounts", "truth/accounts", "outcomes", "placement_history", "truth/effects"]
    t = {k: read_table(out / f"{k}.parquet") for k in need}
    print(f"  accounts rows: {len(t['accounts']):,}; outcomes rows: {len(t['outcomes']):,}")
    aucs = ceiling_aucs(t["accounts"], t["truth/accounts"], t["outcomes"],
                        t["placement_history"], t["truth/effects"], strategy)
    print("  ceiling AUC (true p under the queue vs outcomes) and a model on DPD alone:")
    print(aucs.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    mix = segment_mix(t["accounts"], strategy)
    print("  segment mix over all snapshots:")
    print(mix.to_string(float_format=lambda x: f"{x:.3f}"))
    nights = sorted(t["accounts"]["snapshot_date"].unique())[-7:]
    per_night = t["accounts"][t["accounts"]["snapshot_date"].isin(nights)].groupby("snapshot_date").size()
    print("  delinquent accounts per night:", ", ".join(f"{v:,}" for v in per_night))
    if with_stats:
        t.update({k: read_table(out / f"{k}.parquet") for k in
                  ["identifiers", "truth/rings", "fraud_labels", "customers", "holds"]})
        print("  first-payment defaulters:", first_payment_defaulters(t["accounts"], t["truth/rings"]))
        print("  events between nights (rolled_31_61_91: crossings of 31, 61, 91 DPD):")
        print(nightly_events(t).to_string(index=False))
        r = confounder_rates(t)
        print("  confounders:", ", ".join(f"{k}={v:.4g}" for k, v in r.items()))
    del t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="write the books here and keep them")
    ap.add_argument("--no-stats", action="store_true", help="skip the identifier figures")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"pandas {pd.__version__}")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_generate_"))
    try:
        for n in sorted(args.sizes):
            wall, peak_gib, out = run_one(n, args.days, args.seed, workdir)
            print(f"generate --accounts {n} --days {args.days}: {wall:.1f} s, "
                  f"peak RSS {peak_gib:.2f} GiB")
            figures(out, ROOT / "strategies" / "default.yaml", not args.no_stats)
            sys.stdout.flush()
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
