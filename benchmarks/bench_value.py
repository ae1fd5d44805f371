"""Real value, not value by construction: engine vs the greedy bank rule vs an oracle.

    .venv/bin/python benchmarks/bench_value.py [--accounts 20000] [--seeds 1 2 3] [--draws 300]
        [--score noisy|truth] [--noise 0.6] [--capacity-scale S] [--exact SECONDS]

On each generated book (collections_engine.synth, default strategy), tonight = the first night.
Outcomes are drawn from the truth (true no-action probability x true effect of the queue the
plan chose; not worked, held and fraud accounts get effect 1), with common random numbers so
the plans are compared paired. Realised net = repaid x collectable x (1 - commission) - cost.
Plans:
  engine      decide() on the engine's score and the strategy's effects (`--effects strategy`);
  engine+est  decide() with the effects the nightly run takes by default (`--effects history`):
              estimate_effects on placement_history with the holds table (rows an experiment
              placed; held accounts out of the control), resolved by assign.Effects;
  engine+held the same estimate with held accounts kept in the not-worked control (how the
              effects were estimated before issue 16's provenance work);
  engine+naive the same history with its propensities ignored (plain worked / not-worked ratios):
              what `--effects history` refuses to do with a history that has no propensity;
  greedy      greedy_plan() on the same score;
  greedy_net  greedy_net_plan(): the stronger peer, expected net per unit of scarce capacity;
  oracle      decide() fed the true p_repay and the true effects (truth/effects, trait 'all');
  --exact S   adds engine/mip, engine+est/mip, oracle/mip: the same decisions as one HiGHS MIP
              (decide(method='mip', time_limit=S)), the reference for the large-night path.
Each decided plan prints its solver's method, status, gap of the movable value and its number of
new vendor placements.
The engine's score:
  --score model: the engine's own models, trained on the book's history (train, approve, score);
  --score noisy (default) logit(true p) + N(0, noise) noise, i.e. an imperfect model;
  --score truth: the true probability itself (then only effects differ from the oracle).
Capacities (and max_balance) of the default strategy are scaled by --capacity-scale (default
accounts / 200,000) so that they bind on a small book as they would on a 200k-account night.
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

from collections_engine.assign import (Effects, build_decision_inputs, decide, effects_dict,  # noqa: E402
                                       estimate_effects, greedy_plan)
from collections_engine.assign.greedy import greedy_net_plan  # noqa: E402
from collections_engine.config import load_strategy  # noqa: E402
from collections_engine.sources.money import scaled_strategy  # noqa: E402
from collections_engine.synth import SynthParams, generate_book  # noqa: E402


def truth_value(a: pd.DataFrame, inp: pd.DataFrame, strategy, eff: dict, u: np.ndarray) -> tuple[float, np.ndarray]:
    """Expected realised net under truth, and realised net per draw (u: draws x accounts)."""
    x = a.merge(inp[["account_id", "p_true", "collectable"]], on="account_id")
    comm = {q.name: getattr(q, "commission", 0.0) for q in strategy.queues}
    cost = {q.name: getattr(q, "cost_per_account", 0.0) for q in strategy.queues}
    e = np.array([eff.get((q, s), 1.0) for q, s in zip(x["queue"], x["stage"])])
    c = x["queue"].map(comm).fillna(0.0).to_numpy()
    k = x["queue"].map(cost).fillna(0.0).to_numpy()
    pr = np.minimum(1.0, x["p_true"].to_numpy() * e)
    amt = x["collectable"].to_numpy() * (1 - c)
    expected = float((pr * amt - k).sum())
    draws = ((u < pr[None, :]) * amt[None, :]).sum(axis=1) - k.sum()
    return expected, draws


def model_scores(book: dict, strategy, tonight: pd.DataFrame, date, seed: int) -> np.ndarray:
    """The engine's own willingness: write the book, train and approve a version, score tonight."""
    import tempfile

    from collections_engine.features import build_features
    from collections_engine.io import write_parquet
    from collections_engine.io.load import load_book
    from collections_engine.scoring import TrainConfig, approve, load_version, score, train
    from collections_engine.scoring.store import write_version

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        for name, frame in book.items():
            path = data / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_parquet(frame, path)
        loaded, _ = load_book(data, strategy)
        trained = train(loaded, strategy, TrainConfig(seed=1))
        write_version(trained, Path(tmp) / "models", f"mbench{seed}", {}, "")
        approve(Path(tmp) / "models", f"mbench{seed}", by="bench")
        version = load_version(Path(tmp) / "models", strategy=strategy)
        rows = loaded.on(date)
        rows = rows[rows["dpd"] > 0].reset_index(drop=True)
        sc = score(version, build_features(loaded, rows, strategy), rows, strategy)
    p = sc.set_index("account_id")["p_repay"]
    return tonight["account_id"].astype(str).map(p).to_numpy(float)


def one_seed(seed: int, args, strategy) -> dict:
    t = time.perf_counter()
    book = generate_book(SynthParams(accounts=args.accounts, seed=seed), strategy)
    acc = book["accounts"]
    nights = sorted(acc["snapshot_date"].unique())
    first = pd.Timestamp(SynthParams().first_night)
    date = pd.Timestamp([d for d in nights if d >= first][0])
    tonight = acc[acc["snapshot_date"] == date]
    truth = book["truth/accounts"]
    tp = truth[truth["snapshot_date"] == date].set_index("account_id")["p_repay"]
    rng = np.random.default_rng(1000 + seed)
    p_true = tonight["account_id"].map(tp).to_numpy(float)
    if args.score == "truth":
        p_hat = p_true
    elif args.score == "model":
        p_hat = model_scores(book, strategy, tonight, date, seed)
    else:
        lg = np.log(np.clip(p_true, 1e-6, 1 - 1e-6) / (1 - np.clip(p_true, 1e-6, 1 - 1e-6)))
        p_hat = 1 / (1 + np.exp(-(lg + rng.normal(0, args.noise, len(lg)))))
    scores = pd.DataFrame({"account_id": tonight["account_id"].to_numpy(), "p_repay": p_hat})
    holds = book.get("holds")
    fl = book.get("fraud_labels")
    fraud = None
    if fl is not None and len(fl):
        fraud = pd.DataFrame({"customer_id": fl["customer_id"], "ring_id": "", "ring_score": 1.0, "confirmed": True})
    inp = build_decision_inputs(tonight, scores, strategy, date, holds=holds, fraud=fraud)
    inp_true = inp.assign(p_repay=inp["account_id"].map(tp).to_numpy(float))
    te = book["truth/effects"]
    if "trait" in te.columns:   # world v2: one row per trait level; the whole cell is trait 'all'
        te = te[te["trait"] == "all"]
    true_eff = {(q, s): float(e) for q, s, e in zip(te["queue"], te["stage"], te["effect"])}
    hist_stage = acc[["account_id", "snapshot_date", "dpd"]]
    ph = book["placement_history"]
    est = estimate_effects(ph, book["outcomes"], hist_stage, strategy, holds=holds)
    # held rows (propensity 1) kept in the control with weight ~1, as the estimate was before
    held_in = estimate_effects(ph.assign(propensity=ph["propensity"].where(ph["propensity"] < 1, 0.999999)),
                               book["outcomes"], hist_stage, strategy)
    naive = estimate_effects(ph.assign(propensity=0.5), book["outcomes"], hist_stage, strategy)
    plans = {
        "engine": decide(inp, strategy, date, effects=Effects.resolve(strategy, est, mode="strategy").values,
                         shadow=False),
        "engine+est": decide(inp, strategy, date, effects=Effects.resolve(strategy, est).values, shadow=False),
        "engine+held": decide(inp, strategy, date, effects=effects_dict(held_in), shadow=False),
        "engine+naive": decide(inp, strategy, date, effects=effects_dict(naive), shadow=False),
        "greedy": greedy_plan(inp, strategy, date),
        "greedy_net": greedy_net_plan(inp, strategy, date),
        "oracle": decide(inp_true, strategy, date, effects=true_eff, shadow=False),
    }
    if args.exact:   # the same three decisions solved as one exact MIP (HiGHS), for reference
        for name, (frame, eff) in {"engine/mip": (inp, Effects.resolve(strategy, est, mode="strategy").values),
                                   "engine+est/mip": (inp, Effects.resolve(strategy, est).values),
                                   "oracle/mip": (inp_true, true_eff)}.items():
            plans[name] = decide(frame, strategy, date, effects=eff, shadow=False, method="mip",
                                 time_limit=args.exact)
    ev = inp_true.rename(columns={"p_repay": "p_true"})
    u = rng.uniform(size=(args.draws, len(ev)))
    out = {"seed": seed, "date": str(date.date()), "accounts": len(inp), "secs": time.perf_counter() - t,
           "effects": est, "true_eff": true_eff}
    out["solver"] = {name: d.solver for name, d in plans.items() if "status" in d.solver}
    out["vendor_placed"] = {name: int((d.assignments["decision"] == "placed").sum()) for name, d in plans.items()}
    for name, d in plans.items():
        a = d.assignments.sort_values("account_id", kind="mergesort")
        exp_, dr = truth_value(a, ev.sort_values("account_id", kind="mergesort"), strategy, true_eff, u)
        out[name] = (exp_, dr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=20000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--score", choices=["model", "noisy", "truth"], default="noisy")
    ap.add_argument("--noise", type=float, default=0.6)
    ap.add_argument("--capacity-scale", type=float, default=None)
    ap.add_argument("--exact", type=float, default=0.0,
                    help="also solve engine, engine+est and oracle as one HiGHS MIP with this time limit (s)")
    args = ap.parse_args()
    f = args.capacity_scale if args.capacity_scale is not None else args.accounts / 200_000
    strategy = scaled_strategy(load_strategy(ROOT / "strategies" / "default.yaml"), f)
    print(f"score stand-in: {args.score} (noise {args.noise}); capacities x {f:g}; {args.draws} draws per seed")
    names = ("greedy_net", "engine", "engine+est", "engine+held", "engine+naive", "oracle") + \
        (("engine/mip", "engine+est/mip", "oracle/mip") if args.exact else ())
    pooled = {k: [] for k in names}
    gains = {k: [] for k in names}
    vs_net = {k: [] for k in names if k.startswith("engine")}
    for seed in args.seeds:
        r = one_seed(seed, args, strategy)
        g_exp, g_dr = r["greedy"]
        print(f"seed {seed} ({r['date']}, {r['accounts']} delinquent, {r['secs']:.1f} s): "
              f"greedy expected realised net {g_exp:,.0f}")
        for k in pooled:
            e_exp, e_dr = r[k]
            diff = e_dr - g_dr
            pooled[k].append(diff)
            gains[k].append(e_exp - g_exp)
            if k in vs_net:
                vs_net[k].append(e_dr - r["greedy_net"][1])
            lo, hi = np.percentile(diff, [2.5, 97.5])
            print(f"    {k:14s} expected {e_exp:,.0f}  vs greedy {e_exp - g_exp:+,.0f}  "
                  f"paired draws mean {diff.mean():+,.0f} [{lo:+,.0f}, {hi:+,.0f}]")
            sv = r["solver"].get(k, {})
            if sv:
                print(f"    {'':14s} solver {sv.get('method')} {sv.get('status')} gap {sv.get('gap', 0):.2%} of movable; "
                      f"{r['vendor_placed'][k]:,d} new vendor placements")
        est = r["effects"]
        print("    effects estimated from placement_history (IPW) vs strategy:")
        for row in est[est["n"] > 0].itertuples():
            print(f"      {row.queue:13s} {row.stage:4s} est {row.effect:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}] "
                  f"strategy {row.strategy_effect:.2f} {'agrees' if row.agrees else 'DIFFERS'} (n={row.n}, "
                  f"control {row.n_control}, held out {row.n_held}+{row.n_control_held}) "
                  f"true {r['true_eff'].get((row.queue, row.stage), float('nan')):.3f}")
    print("pooled over seeds and draws (paired difference vs greedy):")
    for k in pooled:
        d = np.concatenate(pooled[k])
        se = d.std(ddof=1) / np.sqrt(len(d))
        print(f"    {k:14s} mean {d.mean():+,.0f}  95% CI [{d.mean() - 1.96 * se:+,.0f}, {d.mean() + 1.96 * se:+,.0f}]"
              f"  2.5-97.5% of draws [{np.percentile(d, 2.5):+,.0f}, {np.percentile(d, 97.5):+,.0f}]")
    print("pooled paired difference vs the stronger peer (greedy_net):")
    for k, v in vs_net.items():
        d = np.concatenate(v)
        se = d.std(ddof=1) / np.sqrt(len(d))
        print(f"    {k:14s} mean {d.mean():+,.0f}  95% CI [{d.mean() - 1.96 * se:+,.0f}, {d.mean() + 1.96 * se:+,.0f}]")
    ref = "oracle/mip" if args.exact else "oracle"
    og = sum(gains[ref])
    print(f"    share of the {ref} plan's expected gain over greedy:")
    for k in names:
        if k == ref:
            continue
        print(f"    {k:14s} captures {sum(gains[k]) / og:.1%} of the oracle's expected gain over greedy")


if __name__ == "__main__":
    main()
