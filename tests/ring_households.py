"""Honest households with one confirmed label, planted into a generated book (issue 17).

Used by the ring tests and by `benchmarks/bench_rings.py households`: it adds rows to a book the
generator made (identifiers and one fraud label per household), so it does not depend on how the
generator builds its own households.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from collections_engine.book import Book

__all__ = ["plant_households", "households_flagged"]


def plant_households(book: Book, date: pd.Timestamp, ring_customers: set[str], *, n: int = 10,
                     size: int = 3, seed: int = 0) -> tuple[Book, pd.DataFrame]:
    """`n` households of `size` honest customers (delinquent on `date`, account opened over a
    year before it, in no planted ring, not labelled) that share a new address and a landline
    (as the generator's households do); the first member of each gets a confirmed fraud label
    30 days before `date`. Returns the book and the households (customer_id, household,
    confirmed)."""
    date = pd.Timestamp(date)
    acc = book.accounts[book.accounts["snapshot_date"] == date]
    old = acc.groupby("customer_id", observed=True)["open_date"].min() <= date - pd.Timedelta(days=365)
    labelled = set(book.fraud_labels["customer_id"]) if book.fraud_labels is not None else set()
    cand = np.array(sorted(c for c in old.index[old.to_numpy()] if c not in ring_customers and c not in labelled),
                    dtype=object)
    rng = np.random.default_rng(seed)
    pick = rng.choice(cand, size=n * size, replace=False)
    hh = pd.DataFrame({"customer_id": pick, "household": np.repeat(np.arange(n), size),
                       "confirmed": np.tile(np.arange(size) == 0, n)})
    seen = date - pd.Timedelta(days=400)
    rows = pd.concat([
        pd.DataFrame({"customer_id": hh["customer_id"], "kind": "address",
                      "value": "hh_address_" + hh["household"].astype(str), "first_seen": seen}),
        pd.DataFrame({"customer_id": hh["customer_id"], "kind": "phone",
                      "value": "hh_landline_" + hh["household"].astype(str), "first_seen": seen}),
    ], ignore_index=True)
    ident = book.identifiers
    kinds = sorted(set(ident["kind"].astype(str)) | {"address", "phone"})
    new_ident = pd.concat([ident.astype({"kind": "str"}), rows.astype({"customer_id": "str", "kind": "str", "value": "str"})],
                          ignore_index=True)
    new_ident["kind"] = pd.Categorical(new_ident["kind"], categories=kinds)
    labels = pd.DataFrame({"customer_id": pd.array(hh.loc[hh["confirmed"], "customer_id"], dtype="str"),
                           "confirmed_on": date - pd.Timedelta(days=30)})
    new_labels = labels if book.fraud_labels is None else pd.concat([book.fraud_labels, labels], ignore_index=True)
    return replace(book, identifiers=new_ident, fraud_labels=new_labels), hh


def households_flagged(households: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Per household: how many of its unconfirmed members are ring members (0: not flagged)."""
    rel = households[~households["confirmed"]]
    hit = rel["customer_id"].isin(set(members["customer_id"]))
    return rel.assign(flagged=hit).groupby("household")["flagged"].sum().rename("relatives_in_rings").reset_index()
