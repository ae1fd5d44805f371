"""A planted ring hiding behind one inflated shared value (issue 17, hub handling).

Used by `benchmarks/bench_rings.py hiding`: for some planted rings of a generated book, the
shared value most of the ring's members hold gets 60 honest customers more, so more customers
hold it than `hub_max_customers` (50): under the hard cut it links nobody.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

__all__ = ["plant_hiding", "ring_found"]


def plant_hiding(book, date: pd.Timestamp, truth: pd.DataFrame, *, rings: int = 30, fillers: int = 60,
                 seed: int = 0) -> tuple[object, pd.DataFrame]:
    """Inflate one shared value of `rings` planted rings: the value most of the ring's members
    hold (ties: kind order) gets `fillers` honest customers more (delinquent on the date), so it
    is held by more than hub_max_customers. Returns the book and the rings chosen."""
    rng = np.random.default_rng(seed)
    ident = book.identifiers
    t = truth.set_index("customer_id")["ring_id"]
    rows = ident[ident["customer_id"].isin(t.index)].copy()
    rows["ring"] = rows["customer_id"].map(t).to_numpy()
    rows["kind"] = rows["kind"].astype(str)
    held = rows.groupby(["ring", "kind", "value"], observed=True)["customer_id"].nunique().rename("n").reset_index()
    held = held[held["n"] >= 2].sort_values(["ring", "n", "kind", "value"], ascending=[True, False, True, True])
    best = held.drop_duplicates("ring")
    chosen = best.iloc[rng.permutation(len(best))[:rings]].sort_values("ring")
    acc = book.accounts[book.accounts["snapshot_date"] == pd.Timestamp(date)]
    honest = np.array(sorted(set(acc["customer_id"]) - set(t.index)), dtype=object)
    new = []
    for r in chosen.itertuples(index=False):
        pick = rng.choice(honest, size=fillers, replace=False)
        new.append(pd.DataFrame({"customer_id": pick, "kind": r.kind, "value": r.value, "first_seen": pd.NaT}))
    add = pd.concat(new, ignore_index=True)
    kinds = list(ident["kind"].cat.categories)
    out = pd.concat([ident.astype({"kind": "str"}), add.astype({"customer_id": "str", "kind": "str", "value": "str"})], ignore_index=True)
    out["kind"] = pd.Categorical(out["kind"], categories=kinds)
    return replace(book, identifiers=out), chosen


def ring_found(members: pd.DataFrame, truth: pd.DataFrame, rings: pd.Series) -> pd.Series:
    """Per chosen ring: True when at least half its planted members are in flagged rings."""
    flagged = set(members["customer_id"])
    t = truth[truth["ring_id"].isin(rings)]
    return t["customer_id"].isin(flagged).groupby(t["ring_id"]).mean() >= 0.5
