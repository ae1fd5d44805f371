"""Four third-party sources with designed roles (truth/sources.parquet).

- bureau (customer_id, strong for everyone): score, delinquencies and utilisation driven by
  ability and willingness, with noise;
- telco (customer_id, new_customers_only): driven by the start-up shock s, which moves the
  repayment probability only while an account is new (account age within the strategy's
  new-customer window), so it carries nothing about existing customers;
- multi_lending (customer_id, weak): counts of lenders and applications, faintly tied to ability;
- contact_repair (account_id, noise): independent of everything.
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
    # telco: only the start-up shock s
    c = cust[rng.random(len(cust)) < 0.85]
    n = len(c)
    s = pop.s[c]
    out["telco"] = dict(
        cust=c,
        telco_score=np.round(50 + 12 * (0.75 * s + 0.65 * rng.standard_normal(n)), 1),
        telco_suspended_90d=(rng.random(n) < _sigmoid(-2.2 - 0.9 * s)).astype(np.int64),
        telco_tenure_months=rng.integers(1, 180, n).astype(np.int64),
        telco_arpu=np.round(np.exp(4.0 + 0.5 * rng.standard_normal(n)), 2),
    )
    # multi_lending: weak
    c = cust[rng.random(len(cust)) < 0.7]
    n = len(c)
    a = pop.a[c]
    out["multi_lending"] = dict(
        cust=c,
        ml_lenders_90d=rng.poisson(
            np.exp(0.7 - 0.2 * a + 0.5 * rng.standard_normal(n))).astype(np.int64),
        ml_applications_30d=rng.poisson(
            np.exp(0.2 - 0.1 * a + 0.6 * rng.standard_normal(n))).astype(np.int64),
    )
    # contact_repair: noise
    x = acc[rng.random(len(acc)) < 0.6]
    n = len(x)
    out["contact_repair"] = dict(
        acc=x,
        repair_phone_found=(rng.random(n) < 0.4).astype(np.int64),
        repair_alt_contacts=rng.poisson(1.3, n).astype(np.int64),
        repair_confidence=np.round(rng.random(n), 3),
    )
    return out


