"""Scorecards beside LightGBM (issue 21): quality per segment, auto's picks, SQL export, speed.

For each DATA (generated with --accounts/--seed when missing): trains with `models.family:
auto`, prints per segment the test-row AUC of LightGBM and of the scorecard with 95% DeLong
intervals, the difference, and the family auto picked; the time of the scorecard step; then the
SQL export run in SQLite on 20,000 accounts (share of rows with the engine's points exactly),
and the time to score --score-rows accounts (tonight's feature rows repeated) with every
segment on its scorecard, reasons included (features not included: see bench_score.py).

  .venv/bin/python benchmarks/bench_scorecard.py --data /tmp/b100k_1 --accounts 100000 --seed 1
"""

from __future__ import annotations

import argparse
import logging
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.config import load_strategy  # noqa: E402
from collections_engine.features import build_features  # noqa: E402
from collections_engine.io.load import load_book  # noqa: E402
from collections_engine.scoring import TrainConfig, load_version, score, train  # noqa: E402
from collections_engine.scoring.data import segment_columns  # noqa: E402
from collections_engine.report.model import model_report  # noqa: E402
from collections_engine.scoring.store import write_version  # noqa: E402


def _ci(s: dict) -> str:
    return f"{s['auc']:.4f} [{s['lo']:.3f}, {s['hi']:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--score-rows", type=int, default=1_000_000)
    ap.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "default.yaml")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not a.data.exists():
        subprocess.run([sys.executable, "-m", "collections_engine", "generate", "--out", str(a.data),
                        "--accounts", str(a.accounts), "--seed", str(a.seed)], check=True)
    strategy = load_strategy(a.strategy)
    strategy = strategy.model_copy(update={"models": strategy.models.model_copy(update={"family": "auto"})})
    book, _ = load_book(a.data, strategy)
    book.identifiers = None
    t0, c0 = time.perf_counter(), time.process_time()
    load0 = open("/proc/loadavg").read().split()[0]
    tr = train(book, strategy, TrainConfig(seed=a.seed))
    laps = tr.meta["timings_s"]
    card_s = next((v for k, v in laps.items() if "scorecard" in k), None)
    print(f"\n## {a.data} (seed {a.seed}): train {time.perf_counter() - t0:.1f} s wall "
          f"({time.process_time() - c0:.1f} s CPU, load average {load0} -> "
          f"{open('/proc/loadavg').read().split()[0]}), scorecard step {card_s} s wall; laps {laps}")
    print("| segment | test rows | LightGBM AUC [95% CI] | scorecard AUC [95% CI] | difference (se) | auto picked |")
    print("| --- | --- | --- | --- | --- | --- |")
    rep = tr.report
    for s, r in [*rep["segments"].items(), ("overall", rep["overall"])]:
        if not r.get("scorecard"):
            continue
        d = r["gbm_minus_scorecard"]
        fam = r.get("family", "")
        print(f"| {s} | {r['gbm']['n']:,d} | {_ci(r['gbm'])} | {_ci(r['scorecard'])} | "
              f"{d['diff']:+.4f} ({d['se']:.4f}) | {fam} |")

    with tempfile.TemporaryDirectory() as tmp:
        write_version(tr, Path(tmp), "mbench", {"input_hashes": {}}, model_report("mbench", tr.report, tr.meta))
        v = load_version(Path(tmp), approved_only=False)
        for s, i in v.meta["segments"].items():   # every segment on its scorecard
            if i.get("scorecard"):
                i["family"] = "scorecard"
        from collections_engine.scoring.export import version_sql

        routing = {s: i["scorecard"] for s, i in v.meta["segments"].items() if i.get("scorecard")}
        sql = version_sql(v.scorecards, routing, "mbench")
        last = book.accounts["snapshot_date"].max()
        rows = book.accounts[(book.accounts["snapshot_date"] == last) & (book.accounts["dpd"] > 0)]
        rows = rows.head(20_000).reset_index(drop=True)
        feats = build_features(book, rows, strategy)
        out = score(v, feats, rows, strategy)
        enc = v.encoder
        seg = segment_columns(rows, strategy)
        t = pd.DataFrame({"account_id": rows["account_id"].astype(str).to_numpy(),
                          "segment": seg["segment"].astype(str).to_numpy()})
        for c in enc.features:
            if c == "queue":
                continue
            col = seg[c] if c in seg.columns else feats[c]
            t[c] = (col.astype("str").where(col.notna().to_numpy(), None).to_numpy(dtype=object)
                    if enc.types[c] == "categorical" else pd.to_numeric(col, errors="coerce").to_numpy(float))
        con = sqlite3.connect(":memory:")
        t.to_sql("features", con, index=False)
        got = pd.read_sql_query(sql, con)
        m = out.merge(got, on="account_id", suffixes=("", "_sql"))
        same = int((m["points"].to_numpy() == m["points_sql"].to_numpy()).sum())
        print(f"\nSQL export in SQLite {sqlite3.sqlite_version}: {same:,d} of {len(out):,d} accounts with the "
              f"engine's points exactly ({100 * same / len(out):.2f}%); {len(re.findall('CASE', sql))} CASE expressions")

        reps = -(-a.score_rows // len(rows))
        big_rows = pd.concat([rows] * reps, ignore_index=True).head(a.score_rows)
        big_feats = pd.concat([feats] * reps, ignore_index=True).head(a.score_rows)
        load0 = open("/proc/loadavg").read().split()[0]
        t1, c1 = time.perf_counter(), time.process_time()
        big = score(v, big_feats, big_rows, strategy)
        dt, ct = time.perf_counter() - t1, time.process_time() - c1
        load1 = open("/proc/loadavg").read().split()[0]
        print(f"scoring {len(big):,d} accounts on scorecards with reasons: {dt:.1f} s wall, {ct:.1f} s CPU "
              f"of this process, load average {load0} -> {load1} "
              f"(features excluded; {100 * (big['reason_1'] != '').mean():.1f}% with a reason)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
