"""How much of the book's ceiling AUC any model could reach: the answer key without the monthly shock.

The generator's true no-action probability is sigmoid(L + shock): L holds every planted trait
(willingness, ability, the per-account term u, the start-up shock, first-payment default, ring
membership, holds, dpd) and `shock` is a fresh N(0, 0.55^2) draw per account and snapshot that
no table records and nothing before the snapshot depends on. Issue 4's ceiling scores the
held-out rows with min(1, sigmoid(L + shock) x effect); the best possible predictor from
information dated on or before the snapshot is E_shock[min(1, sigmoid(L + shock) x effect)].
This script reruns the generator's population and lifecycle (same seed, same streams as
`generate`), then prints, on the held-out snapshots that `train` uses (the latest two of
twelve), the AUC of

- the ceiling (issue 4's definition);
- an oracle knowing every latent trait but not the shock;
- an oracle knowing neither the shock nor the per-account term u.

  .venv/bin/python benchmarks/bench_ceiling.py --accounts 100000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.config import load_strategy  # noqa: E402
from collections_engine.synth import lifecycle as lc_mod  # noqa: E402
from collections_engine.synth.behaviour import make_holds  # noqa: E402
from collections_engine.synth.params import SynthParams  # noqa: E402
from collections_engine.synth.population import make_population  # noqa: E402

SHOCK_SD = 0.55
U_SD = 0.35
DRAWS = 64


def expected(logit: np.ndarray, effect: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """E over a N(0, sd^2) term of min(1, sigmoid(logit + term) x effect), by Monte Carlo."""
    acc = np.zeros(len(logit))
    for _ in range(DRAWS):
        acc += np.minimum(1.0, lc_mod._sigmoid(logit + sd * rng.standard_normal(len(logit))) * effect)
    return acc / DRAWS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--history-months", type=int, default=12)
    ap.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "default.yaml")
    a = ap.parse_args()
    strategy = load_strategy(a.strategy)
    p = SynthParams(accounts=a.accounts, seed=a.seed, days=2, history_months=a.history_months)
    streams = [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(p.seed).spawn(8)]
    pop = make_population(p, streams[0])
    holds = make_holds(pop, p, streams[1])
    lc = lc_mod.run_lifecycle(pop, holds, p, strategy, streams[2])
    _, _, eff = lc_mod.queue_table(strategy, p)

    hist = ~lc.night
    dates = np.unique(lc.date[hist])
    held_out = max(1, round(0.15 * len(dates)))
    rows = hist & (lc.date >= dates[-held_out])
    acc, dpd, new = lc.acc[rows], lc.dpd[rows], lc.new[rows]
    hold = np.empty(len(acc), dtype=np.int64)
    for day in np.unique(lc.date[rows]):
        on = lc.date[rows] == day
        hold[on] = lc_mod._active_hold(holds, pop.n_accounts, day)[acc[on]]
    y = lc.repaid[rows]
    effect = eff[lc.stage[rows], lc.queue[rows]]
    rng = np.random.default_rng(0)

    ceiling = np.minimum(1.0, lc.p0[rows] * effect)
    p_traits = lc_mod.p_no_action(pop, acc, dpd, new, np.zeros(len(acc)), hold)
    u = pop.u.copy()
    pop.u[:] = 0.0
    p_no_u = lc_mod.p_no_action(pop, acc, dpd, new, np.zeros(len(acc)), hold)
    pop.u[:] = u
    logit = np.log(p_traits / (1 - p_traits))
    logit_no_u = np.log(p_no_u / (1 - p_no_u))
    figures = {
        "ceiling (issue 4: true probability under the queue)": ceiling,
        "oracle: every trait, not the monthly shock": expected(logit, effect, SHOCK_SD, rng),
        "oracle: every trait but u, not the shock": expected(logit_no_u, effect, np.hypot(SHOCK_SD, U_SD), rng),
    }
    print(f"accounts {a.accounts}, seed {a.seed}: {len(y):,} held-out rows "
          f"({held_out} latest of {len(dates)} snapshots), repaid share {y.mean():.3f}")
    top = roc_auc_score(y, ceiling)
    for name, score in figures.items():
        auc = roc_auc_score(y, score)
        print(f"  {name:<55} AUC {auc:.4f}  (ceiling - {top - auc:.4f})")


if __name__ == "__main__":
    main()
