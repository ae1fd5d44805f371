"""Small identifier books for the ring tests: customers who share phones, devices, addresses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from collections_engine.book import Book
from collections_engine.config import load_graph, load_strategy
from collections_engine.config.graph import GraphConfig
from collections_engine.synth import SynthParams, generate_book

__all__ = ["DATE", "KINDS", "book_of", "clique", "generated_ring_book"]

ROOT = Path(__file__).resolve().parents[1]
RING_TABLES = ("accounts", "payments", "contacts", "identifiers", "fraud_labels")

DATE = pd.Timestamp("2026-01-31")
KINDS = {"phone": 1.0, "device": 1.0, "address": 0.5}


def book_of(rows: list[tuple], labels: list[str] = (), never_paid: bool = True) -> Book:
    ident = pd.DataFrame(rows, columns=["customer_id", "kind", "value"]).astype("str")
    custs = sorted(set(ident["customer_id"]))
    acc = pd.DataFrame({"snapshot_date": DATE, "account_id": [f"A{c}" for c in custs],
                        "customer_id": custs, "open_date": DATE - pd.Timedelta(days=60),
                        "dpd": 30}).astype({"account_id": "str", "customer_id": "str"})
    pay = pd.DataFrame({"account_id": pd.Series([] if never_paid else acc["account_id"], dtype="str"),
                        "paid_on": pd.Series([] if never_paid else [DATE] * len(acc), dtype="datetime64[ns]"),
                        "amount": pd.Series([] if never_paid else [1.0] * len(acc), dtype=float)})
    lab = pd.DataFrame({"customer_id": pd.Series(list(labels), dtype="str"),
                        "confirmed_on": pd.Series([pd.NaT] * len(labels), dtype="datetime64[ns]")})
    return Book(accounts=acc, payments=pay, identifiers=ident, fraud_labels=lab)


def clique(prefix: str, n: int, kind: str = "device") -> list[tuple]:
    return [(f"{prefix}{i}", kind, f"{prefix}-{kind}") for i in range(n)]


def generated_ring_book(accounts: int, days: int, seed: int) -> tuple[Book, GraphConfig]:
    """A generated book with only the tables the ring step reads, and the default graph file:
    the production path's shape (a giant component, hubs, new customers every night)."""
    strategy = load_strategy(ROOT / "strategies" / "default.yaml")
    tables = generate_book(SynthParams(accounts=accounts, days=days, seed=seed), strategy)
    book = Book(**{k: tables[k] for k in RING_TABLES})
    return book, load_graph(ROOT / "graphs" / "default.yaml")
