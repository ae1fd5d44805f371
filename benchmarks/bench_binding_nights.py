"""Nights built to bind, on generated books: every plan through the independent check.

    .venv/bin/python benchmarks/bench_binding_nights.py [--accounts 20000] [--seeds 1 2 3]
        [--capacity-scale S] [--shares 0.35 0.25 0.15]

Per book (collections_engine.synth, default strategy): three vendors with min shares, agency_north's
balance cap, keep_customer_together on north and south, capacities x S (default accounts / 200,000 x
0.6, so that they bind harder than on a 200k night). Two consecutive nights: the second reads the
first's open placements. The score is a stand-in (logit(true p) + N(0, 0.6)). Every plan is
decided with the check off and then given to `check_plan`; the script prints, per night, the
solver's status and gap (movable and total), the min shares asked and met, every relaxation named,
and the number of broken plans (the bar is 0).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_value import scaled  # noqa: E402
from collections_engine.assign import build_decision_inputs, check_plan, decide  # noqa: E402
from collections_engine.config import load_strategy  # noqa: E402
from collections_engine.synth import SynthParams, generate_book  # noqa: E402


def binding(strategy, f: float, shares: tuple[float, float, float]):
    s = scaled(strategy, f)
    upd = {"agency_north": {"min_share": shares[0], "keep_customer_together": True},
           "agency_south": {"min_share": shares[1], "keep_customer_together": True},
           "agency_east": {"min_share": shares[2]}}
    qs = [q.model_copy(update=upd.get(q.name, {})) for q in s.queues]
    return s.model_copy(update={"queues": qs})


def nights(book: dict, k: int = 2) -> list[pd.Timestamp]:
    acc = book["accounts"]
    first = pd.Timestamp(SynthParams().first_night)
    return [pd.Timestamp(d) for d in sorted(acc["snapshot_date"].unique()) if d >= first][:k]


def one_book(seed: int, args, strategy) -> list[dict]:
    book = generate_book(SynthParams(accounts=args.accounts, seed=seed), strategy)
    acc, truth = book["accounts"], book["truth/accounts"]
    rng = np.random.default_rng(1000 + seed)
    fl = book.get("fraud_labels")
    fraud = (pd.DataFrame({"customer_id": fl["customer_id"], "ring_id": "", "ring_score": 1.0, "confirmed": True})
             if fl is not None and len(fl) else None)
    open_pl, out = None, []
    for date in nights(book):
        tonight = acc[acc["snapshot_date"] == date]
        tp = truth[truth["snapshot_date"] == date].set_index("account_id")["p_repay"]
        p = np.clip(tonight["account_id"].map(tp).to_numpy(float), 1e-6, 1 - 1e-6)
        p_hat = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, 0.6, len(p)))))
        scores = pd.DataFrame({"account_id": tonight["account_id"].to_numpy(), "p_repay": p_hat})
        inp = build_decision_inputs(tonight, scores, strategy, date, holds=book.get("holds"), fraud=fraud,
                                    open_placements=open_pl)
        t = time.perf_counter()
        d = decide(inp, strategy, date, shadow=False, check=False)
        secs = time.perf_counter() - t
        broken = check_plan(inp, d.assignments, strategy, date, placements=d.placements,
                            min_share_applied=d.min_share_applied)
        out.append({"seed": seed, "date": str(date.date()), "accounts": len(inp), "secs": secs,
                    "solver": d.solver, "broken": broken, "relaxed": d.min_share_applied,
                    "kept": int((d.assignments["decision"] == "kept").sum())})
        open_pl = d.placements
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=20000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--capacity-scale", type=float, default=None)
    ap.add_argument("--shares", type=float, nargs=3, default=[0.35, 0.25, 0.15])
    args = ap.parse_args()
    f = args.capacity_scale if args.capacity_scale is not None else args.accounts / 200_000 * 0.6
    strategy = binding(load_strategy(ROOT / "strategies" / "default.yaml"), f, tuple(args.shares))
    print(f"capacities x {f:g}; min shares north/south/east {args.shares}; grouping north+south")
    total_broken = 0
    rows = []
    for seed in args.seeds:
        for r in one_book(seed, args, strategy):
            s = r["solver"]
            shares = ", ".join(f"{m['vendor']} {m['asked']:g}->{m['met']:.3f}" for m in s["min_shares"])
            print(f"seed {r['seed']} {r['date']}: {r['accounts']} accounts ({r['kept']} kept), {s['method']} "
                  f"{s['status']} gap {s['gap']:.3%} of movable ({s['gap_total']:.4%} of total), "
                  f"{r['secs']:.1f} s; shares {shares}; relaxed {r['relaxed'] or 'none'}; "
                  f"broken: {r['broken'] or 'none'}")
            total_broken += bool(r["broken"])
            rows.append(r)
    print(f"{len(rows)} nights, {total_broken} broken plans")


if __name__ == "__main__":
    main()
