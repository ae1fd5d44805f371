"""Training benchmark and quality bars of the willingness models.

Trains on DATA (generating a book first with --accounts when DATA does not exist), prints the
training time, and, from DATA/truth, the ceiling AUC (true no-action probability x the true
effect of the queue each held-out row was in) next to the chosen models and one pooled model,
on the same held-out test rows. With --sample-check it trains again with a smaller per-segment
sample and compares the held-out AUCs.

  .venv/bin/python benchmarks/bench_train.py --data /tmp/book1m --accounts 1000000
  .venv/bin/python benchmarks/bench_train.py --data data/fixtures/book --sample-check 5000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.book import Book  # noqa: E402
from collections_engine.config import load_strategy  # noqa: E402
from collections_engine.io import find_table, read_table  # noqa: E402
from collections_engine.io.load import load_book  # noqa: E402
from collections_engine.scoring import TrainConfig, train  # noqa: E402
from collections_engine.stats import auc_delong, auc_diff_delong  # noqa: E402
from collections_engine.report.model import model_report  # noqa: E402
from collections_engine.scoring.store import write_version  # noqa: E402


def raw_book(data: Path, strategy) -> Book:
    """The tables the models read, straight from parquet (no validation: saves memory on a
    shared machine; the loader's own benchmark measures validation)."""
    def read(name: str, folder: Path = data) -> pd.DataFrame | None:
        p = find_table(folder, name)
        if p is None:
            return None
        df = read_table(p)
        for c in df.columns:
            if c in ("account_id", "customer_id"):
                df[c] = df[c].astype("str")
            elif c in ("snapshot_date", "open_date", "paid_on", "contacted_on", "start", "end",
                       "confirmed_on"):
                df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
        return df
    srcs = {s.name: t for s in strategy.sources if (t := read(s.name, data / "sources")) is not None}
    return Book(accounts=read("accounts"), customers=read("customers"), payments=read("payments"),
                contacts=read("contacts"), holds=read("holds"),
                placement_history=read("placement_history"), outcomes=read("outcomes"),
                fraud_labels=read("fraud_labels"), sources=srcs)


def ceiling_table(v: pd.DataFrame, data: Path) -> pd.DataFrame:
    truth = pd.read_parquet(data / "truth" / "accounts.parquet", columns=["account_id", "snapshot_date", "p_repay"])
    eff = pd.read_parquet(data / "truth" / "effects.parquet")
    truth["account_id"] = truth["account_id"].astype("str")
    d = v.merge(truth, on=["account_id", "snapshot_date"], how="left")
    d = d.merge(eff, on=["queue", "stage"], how="left")
    d["p_true"] = np.minimum(1.0, d["p_repay"] * d["effect"].fillna(1.0))
    out = []
    for name, g in [("overall", d), *sorted(d.groupby("segment"))]:
        y = g["y"].to_numpy()
        fin, poo, cei = (auc_delong(y, g[c].to_numpy()) for c in ("p_final", "p_pooled", "p_true"))
        diff = auc_diff_delong(y, g["p_final"].to_numpy(), g["p_pooled"].to_numpy())
        out.append({"segment": name, "rows": len(g), "repay": g["y"].mean(), "auc_model": fin["auc"],
                    "ci": f"[{fin['lo']:.3f},{fin['hi']:.3f}]", "auc_pooled": poo["auc"],
                    "pooled_ci": f"[{poo['lo']:.3f},{poo['hi']:.3f}]", "auc_ceiling": cei["auc"],
                    "gap_to_ceiling": cei["auc"] - fin["auc"], "model_minus_pooled": diff["diff"],
                    "diff_se": diff["se"]})
    return pd.DataFrame(out)


def main() -> None:
    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("collections_engine.io").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--accounts", type=int, default=None, help="generate DATA first with N accounts")
    ap.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "default.yaml")
    ap.add_argument("--max-rows-per-segment", type=int, default=50_000)
    ap.add_argument("--models", type=Path, default=None, help="keep the version in this folder")
    ap.add_argument("--raw-load", action="store_true", help="read tables without validation")
    ap.add_argument("--sample-check", type=int, default=0,
                    help="also train with this smaller per-segment sample and compare")
    args = ap.parse_args()
    if args.accounts and not args.data.exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "collections_engine", "generate", "--out", str(args.data),
                        "--accounts", str(args.accounts)], check=True)
        print(f"generated {args.accounts} accounts in {time.perf_counter() - t:.1f} s")
    strategy = load_strategy(args.strategy)
    t0 = time.perf_counter()
    book = raw_book(args.data, strategy) if args.raw_load else load_book(args.data, strategy)[0]
    book.identifiers = None  # the models do not use it; free the memory
    t1 = time.perf_counter()
    tv = train(book, strategy, TrainConfig(max_rows_per_segment=args.max_rows_per_segment))
    t2 = time.perf_counter()
    if args.models:
        write_version(tv, args.models, "bench", {}, model_report("bench", tv.report, tv.meta))
    else:
        with tempfile.TemporaryDirectory() as d:
            write_version(tv, Path(d), "bench", {}, model_report("bench", tv.report, tv.meta))
    t3 = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    peak = ru.ru_maxrss / 1024 / 1024
    print(f"process CPU time so far {ru.ru_utime + ru.ru_stime:.1f} s (2 cores shared with other work; "
          f"load average {__import__('os').getloadavg()[0]:.1f})")
    print(f"history rows with outcome: {tv.meta['rows']['history_with_outcome']}, sampled train "
          f"{tv.meta['rows']['sampled_train']}, sampled held out {tv.meta['rows']['sampled_held_out']}")
    print(f"load {t1 - t0:.1f} s, train {t2 - t1:.1f} s, write {t3 - t2:.1f} s, total {t3 - t0:.1f} s, "
          f"peak RSS {peak:.2f} GiB")
    print(tv.meta["windows"]["validation"])
    for s, info in tv.meta["segments"].items():
        dd = info["decision"]
        print(f"  {s:13s} model={info['model']:12s} rows={dd['segment_rows']:8d} {dd['why']}"
              + (f" own={dd['auc_own']:.4f} pooled={dd['auc_pooled']:.4f}" if "auc_own" in dd else ""))
    print("reason-code agreement with TreeSHAP:", {k: round(v, 3) for k, v in tv.report["reason_agreement"].items()})
    pd.set_option("display.width", 200)
    if (args.data / "truth" / "accounts.parquet").exists():
        print(ceiling_table(tv.validation, args.data).round(4).to_string(index=False))
    if args.sample_check:
        small = train(book, strategy, TrainConfig(max_rows_per_segment=args.sample_check))
        a = tv.report["overall"]["final"]
        b = small.report["overall"]["final"]
        print(f"sample check: per-segment cap {args.max_rows_per_segment}: AUC {a['auc']:.4f} "
              f"[{a['lo']:.4f}, {a['hi']:.4f}]; cap {args.sample_check}: AUC {b['auc']:.4f} "
              f"[{b['lo']:.4f}, {b['hi']:.4f}] (same held-out test rows)")


if __name__ == "__main__":
    main()
