"""Scoring benchmark: features and scores with reason codes for every account delinquent on
DATA's latest snapshot, with the newest version in MODELS (trained first when MODELS is empty).

  .venv/bin/python benchmarks/bench_score.py --data /tmp/book1m --models /tmp/models1m
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.config import load_strategy  # noqa: E402
from collections_engine.features import build_features  # noqa: E402
from collections_engine.io.load import load_book  # noqa: E402
from collections_engine.scoring import TrainConfig, load_version, score, train  # noqa: E402
from collections_engine.scoring.reasons import agreement  # noqa: E402
from collections_engine.report.model import model_report  # noqa: E402
from collections_engine.scoring.store import list_versions, write_version  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "default.yaml")
    ap.add_argument("--raw-load", action="store_true", help="read tables without validation")
    ap.add_argument("--agreement-rows", type=int, default=3000)
    args = ap.parse_args()
    strategy = load_strategy(args.strategy)
    t0 = time.perf_counter()
    if args.raw_load:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_train import raw_book
        book = raw_book(args.data, strategy)
    else:
        book, _ = load_book(args.data, strategy)
    book.identifiers = None
    t1 = time.perf_counter()
    if not list_versions(args.models):
        tv = train(book, strategy, TrainConfig())
        write_version(tv, args.models, "bench", {}, model_report("bench", tv.report, tv.meta))
    version = load_version(args.models, approved_only=False, strategy=strategy)
    last = book.accounts["snapshot_date"].max()
    rows = book.on(last)
    rows = rows[rows["dpd"] > 0]
    t2 = time.perf_counter()
    feats = build_features(book, rows, strategy)
    t3 = time.perf_counter()
    scores = score(version, feats, rows, strategy)
    t4 = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    peak = ru.ru_maxrss / 1024 / 1024
    print(f"process CPU time so far {ru.ru_utime + ru.ru_stime:.1f} s (2 cores shared with other work; "
          f"load average {__import__('os').getloadavg()[0]:.1f})")
    print(f"tonight {last.date()}: {len(rows)} delinquent accounts")
    print(f"load+validate {t1 - t0:.1f} s; features {t3 - t2:.1f} s; score with reason codes "
          f"{t4 - t3:.1f} s; features+score {t4 - t2:.1f} s; peak RSS {peak:.2f} GiB")
    print(scores.head(3).to_string())
    # agreement with exact TreeSHAP on tonight's rows, per segment model
    enc = version.encoder
    frame = feats.copy()
    frame["stage"], frame["customer_line"] = scores["stage"].to_numpy(), scores["customer_line"].to_numpy()
    if version.meta.get("has_queue_feature"):
        frame["queue"] = "not_worked"
    X = enc.transform(frame)
    rng = np.random.default_rng(0)
    tot, acc = 0, {}
    for s in sorted(scores["segment"].unique()):
        idx = np.flatnonzero(scores["segment"].to_numpy() == s)
        idx = np.sort(rng.choice(idx, min(len(idx), args.agreement_rows // 8 + 1), replace=False))
        info = version.meta["segments"][s]
        a = agreement(version.boosters[info["model"]], version.reasons[s], X[idx])
        for k, v in a.items():
            acc[k] = acc.get(k, 0) + v * a["rows"]
        tot += a["rows"]
    print("reason codes vs exact TreeSHAP on tonight's rows:",
          {k: round(v / tot, 3) for k, v in acc.items() if k != "rows"}, f"rows {tot}")


if __name__ == "__main__":
    main()
