"""Placement speed at scale: decide() on a synthetic book of N delinquent accounts x 8 queues.

    .venv/bin/python benchmarks/bench_assign.py [--accounts 1000000] [--scenario counts|default|both]

Scenarios (each in its own process, so peak memory is its own):
- counts: the default strategy without max_balance, min_share, keep_customer_together (only
  counts bind: min-cost flow);
- default: the default strategy as shipped (balance cap, min shares, grouping);
- shares3: the default strategy with three binding min shares (north 0.4, south 0.3, east 0.25: east can
  hold 15k of the vendors' 85k slots, so its share caps the vendor total).
decide() runs with the check off; the independent `check_plan` is timed on its own after it.
The book: stages 45/20/15/20 % M1..M4+, p_repay ~ Beta(2, 3), overdue ~ lognormal(8, 1),
1.25 accounts per customer, 0.3 % fraud-ring members, 0.5 % holds, 5 % of accounts with an
open placement (a fifth of them expired). Prints wall time per phase, solver, gap and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.assign import check_plan, decide  # noqa: E402
from collections_engine.assign.greedy import greedy_plan  # noqa: E402
from collections_engine.config import load_strategy  # noqa: E402

DATE = pd.Timestamp("2024-03-01")


def synthetic_inputs(n: int, strategy, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stage = rng.choice(np.array(["M1", "M2", "M3", "M4+"]), n, p=[0.45, 0.2, 0.15, 0.2])
    amount = np.round(rng.lognormal(8.0, 1.0, n), 2)
    ring = np.where(rng.uniform(size=n) < 0.003, "R" + (rng.integers(0, 300, n)).astype(str), "")
    hold = np.where(rng.uniform(size=n) < 0.005, rng.choice(np.array(["dispute", "legal", "deceased"]), n), "")
    vendors = np.array([q.name for q in strategy.vendors()])
    has = (rng.uniform(size=n) < 0.05) & (stage != "M1")
    ov = np.where(has, rng.choice(vendors, n), "")
    ends = DATE + pd.to_timedelta(rng.integers(-15, 80, n), unit="D")
    return pd.DataFrame({
        "snapshot_date": DATE, "account_id": pd.Series(np.char.add("A", np.char.zfill(np.arange(n).astype(str), 8)), dtype="str"),
        "customer_id": pd.Series(np.char.add("C", rng.integers(0, int(n * 0.8), n).astype(str)), dtype="str"),
        "stage": stage, "dpd": 10, "p_repay": rng.beta(2, 3, n), "points": 600.0, "band": "B",
        "overdue_amount": amount, "balance": amount * 3, "collectable": amount,
        "hold": hold, "ring_id": ring, "ring_score": np.where(ring != "", rng.uniform(0.5, 1, n), np.nan),
        "fraud_confirmed": False, "open_vendor": ov,
        "placed_on": pd.Series(DATE - pd.Timedelta(days=30), index=range(n)).where(has),
        "ends_on": pd.Series(ends).where(has),
    })


def counts_only(strategy):
    qs = [q.model_copy(update={"max_balance": None, "min_share": 0.0, "keep_customer_together": False})
          if q.kind == "vendor" else q for q in strategy.queues]
    return strategy.model_copy(update={"queues": qs})


def three_shares(strategy):
    share = {"agency_north": 0.4, "agency_south": 0.3, "agency_east": 0.25}  # east (15k of 85k slots) binds
    qs = [q.model_copy(update={"min_share": share[q.name]}) if q.name in share else q for q in strategy.queues]
    return strategy.model_copy(update={"queues": qs})


def run_one(n: int, scenario: str) -> dict:
    s = load_strategy(ROOT / "strategies" / "default.yaml")
    if scenario == "counts":
        s = counts_only(s)
    elif scenario == "shares3":
        s = three_shares(s)
    t = time.perf_counter()
    inp = synthetic_inputs(n, s)
    t_gen = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    d = decide(inp, s, DATE, check=False)
    t_dec, c_dec = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    broken = check_plan(inp, d.assignments, s, DATE, placements=d.placements, min_share_applied=d.min_share_applied)
    t_check, c_check = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    g = greedy_plan(inp, s, DATE)
    t_greedy = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"scenario": scenario, "accounts": n, "generate_s": round(t_gen, 2), "decide_s": round(t_dec, 2),
            "solver_s": round(d.solver["time_s"], 2), "method": d.solver["method"], "status": d.solver["status"],
            "gap": d.solver["gap"], "gap_total": d.solver["gap_total"], "check_s": round(t_check, 2),
            "decide_cpu_s": round(c_dec, 2), "check_cpu_s": round(c_check, 2),
            "load_1min": round(os.getloadavg()[0], 1),
            "broken": broken, "movable": d.solver["movable_value"], "objective": d.solver["objective"], "bound": d.solver["bound"],
            "greedy_objective": g.solver["objective"], "greedy_s": round(t_greedy, 2),
            "peak_rss_mib": round(peak), "notes": d.solver["notes"], "warnings": d.warnings}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--scenario", default="both", choices=["counts", "default", "shares3", "both"])
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_one(a.accounts, a.scenario)))
        return
    for sc in (["counts", "default", "shares3"] if a.scenario == "both" else [a.scenario]):
        out = subprocess.run([sys.executable, __file__, "--child", "--accounts", str(a.accounts), "--scenario", sc],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{sc:8s} {r['accounts']:>9,d} accounts: decide + check {r['decide_s'] + r['check_s']:.2f} s wall, "
              f"{r['decide_cpu_s'] + r['check_cpu_s']:.2f} s CPU (load {r['load_1min']}); "
              f"decide {r['decide_s']:6.2f} s (solver {r['solver_s']:.2f} s, "
              f"{r['method']}, {r['status']}, gap {r['gap']:.4%} of movable {r['movable']:,.0f}, {r['gap_total']:.5%} "
              f"of total); check {r['check_s']:.2f} s, broken: {r['broken'] or 'none'}; peak RSS {r['peak_rss_mib']} MiB; "
              f"expected net {r['objective']:,.0f} vs greedy {r['greedy_objective']:,.0f} "
              f"(+{r['objective'] - r['greedy_objective']:,.0f}); bound {r['bound']:,.0f}")
        for line in r["notes"] + r["warnings"]:
            print(f"    {line}")


if __name__ == "__main__":
    main()
