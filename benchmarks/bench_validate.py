"""Validation speed: load_book on a flat synthetic DATA folder (or a given one).

Usage: .venv/bin/python benchmarks/bench_validate.py [--accounts 1000000] [--data DATA]
Prints rows per table, wall time and peak memory (ru_maxrss) of load_book.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from collections_engine.config import load_strategy
from collections_engine.io import write_parquet
from collections_engine.io.load import load_book

ROOT = Path(__file__).resolve().parents[1]


def make_flat_book(out: Path, n: int, seed: int = 0) -> None:
    """One night of n delinquent accounts with payments and contacts, typed as on disk."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("A", np.char.zfill(np.arange(n).astype(str), 8))
    cids = np.char.add("C", np.char.zfill((np.arange(n) // 1.3).astype(int).astype(str), 8))
    date = pd.Timestamp("2026-11-20")
    acc = pd.DataFrame({
        "snapshot_date": np.repeat(date.date(), n),
        "account_id": ids, "customer_id": cids,
        "product": rng.choice(["card", "loan"], n),
        "open_date": (date - pd.to_timedelta(rng.integers(30, 3000, n), unit="D")).date,
        "dpd": rng.integers(1, 180, n),
        "overdue_amount": rng.gamma(2, 500, n).round(2),
        "balance": rng.gamma(2, 5000, n).round(2),
        "credit_limit": rng.gamma(2, 8000, n).round(2),
    })
    write_parquet(acc, out / "accounts.parquet")
    write_parquet(pd.DataFrame({"customer_id": np.unique(cids)}), out / "customers.parquet")
    m = 3 * n
    write_parquet(pd.DataFrame({
        "account_id": ids[rng.integers(0, n, m)],
        "paid_on": (date - pd.to_timedelta(rng.integers(1, 365, m), unit="D")).date,
        "amount": rng.gamma(2, 100, m).round(2),
    }), out / "payments.parquet")
    write_parquet(pd.DataFrame({
        "account_id": ids[rng.integers(0, n, m)],
        "contacted_on": (date - pd.to_timedelta(rng.integers(1, 365, m), unit="D")).date,
        "channel": rng.choice(["sms", "call", "visit", "letter"], m),
        "outcome": rng.choice(["no_answer", "right_party", "promise_to_pay"], m),
    }), out / "contacts.parquet")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    strategy = load_strategy(ROOT / "strategies" / "default.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp)
            t = time.perf_counter()
            make_flat_book(data, args.accounts)
            print(f"made flat book of {args.accounts} accounts in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        book, warnings = load_book(data, strategy)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        for name in book.table_names():
            print(f"  {name:18s} {len(getattr(book, name)):>10,d} rows")
        print(f"load_book (read + validate): {wall:.2f} s, peak RSS {peak:.2f} GiB, {len(warnings)} warnings")


if __name__ == "__main__":
    main()
