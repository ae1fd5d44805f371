"""Four third-party sources with designed roles (truth/sources.parquet).

- bureau (customer_id, strong for everyone): score, delinquencies and utilisation driven by
  ability and willingness, with noise;
- telco (customer_id, new_customers_only): driven by the start-up shock s, which moves the
  repayment probability only while an account is new (account age within the strategy's
  new-customer window), so it carries nothing about existing customers;
- multi_lending (customer_id, noise): counts independent of everything (world v2);
- contact_repair (account_id, lost_contact_repair): flags lost contacts and, for 60 % of the lost
  ones it covers, a working number that makes phone queues reach the customer again.
Each covers part of the book (hit rates below 100 %), as bought data does. No snapshot_date:
the latent state they describe does not change over the window.
"""

from __future__ import annotations

import numpy as np

from collections_engine.synth.population import Population

__all__ = ["make_sources"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_sources(pop: Population, rng: np.random.Generator, cust: np.ndarray,
                 acc: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per source: the index array of its key ('cust' or 'acc') and feature arrays."""
    out: dict[str, dict[str, np.ndarray]] = {}
    # bureau
    c = cust[rng.random(len(cust)) < 0.93]
    n = len(c)
    w, a = pop.w[c], pop.a[c]
    ring = pop.ring[c] >= 0
    # fraud rings use fresh identities: unremarkable scores, thinnish files (as many honest have)
    w_seen = np.where(ring, 0.3 * rng.standard_normal(n), w)
    z = 0.55 * a + 0.45 * w_seen + 0.55 * rng.standard_normal(n)
    out["bureau"] = dict(
        cust=c,
        bureau_score=np.clip(np.round(620 + 60 * z), 300, 900).astype(np.int64),
        bureau_delinquencies_24m=rng.poisson(
            np.exp(0.1 - 0.55 * w_seen - 0.3 * a)).astype(np.int64),
        bureau_utilisation=np.round(_sigmoid(0.3 - 0.7 * a + 0.6 * rng.standard_normal(n)), 3),
        bureau_trades=rng.poisson(
            np.where(ring, 1.6, np.exp(0.9 + 0.3 * a + 0.6 * rng.standard_normal(n)))
        ).astype(np.int64),
    )
    # telco: mostly the start-up shock s (which matters only while an account is new)
    c = cust[rng.random(len(cust)) < 0.85]
    n = len(c)
    s = pop.s[c]
    out["telco"] = dict(
        cust=c,
        telco_score=np.round(50 + 12 * (0.9 * s + 0.45 * rng.standard_normal(n)), 1),
        telco_suspended_90d=(rng.random(n) < _sigmoid(-2.2 - 1.1 * s)).astype(np.int64),
        telco_tenure_months=rng.integers(1, 180, n).astype(np.int64),
        telco_arpu=np.round(np.exp(4.0 + 0.5 * rng.standard_normal(n)), 2),
    )
    # multi_lending: noise (world v2: its counts are independent of everything)
    c = cust[rng.random(len(cust)) < 0.7]
    n = len(c)
    out["multi_lending"] = dict(
        cust=c,
        ml_lenders_90d=rng.poisson(np.exp(0.7 + 0.5 * rng.standard_normal(n))).astype(np.int64),
        ml_applications_30d=rng.poisson(
            np.exp(0.2 + 0.6 * rng.standard_normal(n))).astype(np.int64),
    )
    # contact_repair: the accounts it covers (pop.repair_covered); a working number found for a
    # lost contact restores reachability in the world (pop.repaired)
    x = acc[pop.repair_covered[acc]]
    n = len(x)
    lost = pop.lost[pop.cust[x]]
    found = pop.repaired[x] | (~lost & (rng.random(n) < 0.15))
    out["contact_repair"] = dict(
        acc=x,
        repair_phone_found=found.astype(np.int64),
        repair_alt_contacts=rng.poisson(1.0 + 1.2 * lost).astype(np.int64),
        repair_confidence=np.round(np.where(found, 0.5 + 0.5 * rng.random(n), rng.random(n)), 3),
    )
    return out
