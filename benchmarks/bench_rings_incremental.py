"""Incremental ring nights against full recomputes, night after night, on a generated book.

    .venv/bin/python benchmarks/bench_rings_incremental.py --data DATA [--nights 7] [--graph FILE]
    flock /tmp/ce-heavy.lock .venv/bin/python benchmarks/bench_rings_incremental.py --data /tmp/b1m --nights 1

DATA: a book from `collections-engine generate --days D` (D >= nights + 1). The first of the
last nights+1 snapshot dates is a full night; then each night runs twice, as `run` would:
- incremental: `detect_rings(..., previous=<the incremental chain's rings>, state=<its state>)`;
- full: `detect_rings(..., previous=<the full chain's rings>)` (what `run --full` does each night).
Per night it prints the wall and CPU seconds of both (and the parts: graph, communities,
propensity, flags and tables), the components recomputed and carried, and the agreement of the
incremental night with the full one:
- NMI of the community memberships over the customers of the graph's components of at least
  min_size (a customer outside any community counts as its own);
- ring-level precision and recall: an incremental ring is confirmed when a full ring has a
  Jaccard overlap of at least 0.5 with it (precision), and vice versa (recall); exact: rings
  with the same members;
- flagged members: Jaccard of the two sets of ring members, and the count that differ;
- the noise floor: NMI of two full recomputes on consecutive nights over the customers of the
  components that did not change (Leiden draws its random order for the whole graph, so a full
  recompute moves communities that nothing touched);
- against the planted truth (truth/rings.parquet): member precision and recall of both.
The machine is shared: the load average is printed beside every time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.config import load_graph  # noqa: E402
from collections_engine.io.load import load_book  # noqa: E402
from collections_engine.rings import detect_rings  # noqa: E402
from collections_engine.rings.incremental import check_state  # noqa: E402


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(fn):
    l0 = _load()
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c, l0


def _labels(state: pd.DataFrame) -> pd.Series:
    """customer -> community, -1 replaced by a label of its own."""
    lab = state["community"].to_numpy().copy()
    alone = lab < 0
    lab[alone] = lab.max(initial=0) + 1 + np.arange(alone.sum())
    return pd.Series(lab, index=state["customer_id"].astype(str).to_numpy())


def _nmi(a: pd.DataFrame, b: pd.DataFrame, only: np.ndarray | None = None) -> float:
    la, lb = _labels(a), _labels(b)
    common = la.index.intersection(lb.index)
    if only is not None:
        common = common.intersection(pd.Index(only))
    if len(common) == 0:
        return float("nan")
    return float(normalized_mutual_info_score(la.loc[common], lb.loc[common]))


def _ring_pr(inc: pd.DataFrame, full: pd.DataFrame) -> tuple[float, float, int]:
    a = [set(x) for x in inc["customer_ids"]]
    b = [set(x) for x in full["customer_ids"]]
    owner = {c: j for j, s in enumerate(b) for c in s}

    def best(s: set, sets: list[set], own: dict) -> float:
        cand = {own[c] for c in s if c in own}
        return max((len(s & sets[j]) / len(s | sets[j]) for j in cand), default=0.0)

    owner_a = {c: j for j, s in enumerate(a) for c in s}
    prec = np.mean([best(s, b, owner) >= 0.5 for s in a]) if a else 1.0
    rec = np.mean([best(s, a, owner_a) >= 0.5 for s in b]) if b else 1.0
    exact = len({frozenset(s) for s in a} & {frozenset(s) for s in b})
    return float(prec), float(rec), exact


def _truth_pr(members: pd.DataFrame, truth: set[str]) -> tuple[float, float]:
    pred = set(members["customer_id"].astype(str))
    tp = len(pred & truth)
    return tp / max(len(pred), 1), tp / max(len(truth), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--graph", type=Path, default=ROOT / "graphs" / "default.yaml")
    ap.add_argument("--nights", type=int, default=7)
    args = ap.parse_args()
    graph = load_graph(args.graph)
    t = time.perf_counter()
    book, _ = load_book(args.data)
    print(f"book {args.data} loaded in {time.perf_counter() - t:.1f} s [load {_load()}]; {os.cpu_count()} cores")
    truth_path = args.data / "truth" / "rings.parquet"
    truth = set(pd.read_parquet(truth_path)["customer_id"].astype(str)) if truth_path.is_file() else set()
    dates = book.snapshot_dates()[-(args.nights + 1):]
    first, dt, cpu, l0 = _timed(lambda: detect_rings(book, graph, dates[0]))
    print(f"night 0 {dates[0].date()} full: {dt:.1f} s wall, {cpu:.1f} s CPU, parts {first.stats['timings']}, "
          f"{first.stats['graph'].get('linked_customers')} linked customers, {first.stats['graph'].get('edges')} edges, "
          f"{len(first.rings)} rings [load {l0}]")
    inc_prev, full_prev = first, first
    rows = []
    for k, date in enumerate(dates[1:], start=1):
        state, why = check_state(inc_prev.state, graph)
        assert state is not None, why
        inc, dt_i, cpu_i, l_i = _timed(lambda: detect_rings(book, graph, date, previous=inc_prev.rings, state=state))
        print(f"night {k} {date.date()} incremental: {dt_i:.1f} s wall, {cpu_i:.1f} s CPU, parts "
              f"{inc.stats['timings']}, {inc.stats['communities']}, {len(inc.rings)} rings, peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB [load {l_i}]", flush=True)
        full, dt_f, cpu_f, l_f = _timed(lambda: detect_rings(book, graph, date, previous=full_prev.rings))
        info = inc.stats["communities"]
        prec, rec, exact = _ring_pr(inc.rings, full.rings)
        mi, mf = set(inc.members["customer_id"]), set(full.members["customer_id"])
        jac = len(mi & mf) / max(len(mi | mf), 1)
        # the noise floor: two full recomputes, consecutive nights, on unchanged components
        keys = ["component_a", "component_b"]
        same = full.state.merge(full_prev.state[keys].drop_duplicates(), on=keys)["customer_id"].astype(str).to_numpy()
        row = {
            "night": k, "date": str(date.date()),
            "components": info["components"], "recomputed": info["components_recomputed"],
            "customers_recomputed": info["customers_recomputed"], "customers_carried": info["customers_carried"],
            "inc_s": round(dt_i, 1), "inc_cpu_s": round(cpu_i, 1), "full_s": round(dt_f, 1), "full_cpu_s": round(cpu_f, 1),
            "inc_communities_s": inc.stats["timings"]["communities_s"], "full_communities_s": full.stats["timings"]["communities_s"],
            "nmi": round(_nmi(inc.state, full.state), 4),
            "nmi_unchanged": round(_nmi(inc.state, full.state, same), 4),
            "nmi_full_vs_prev_full_unchanged": round(_nmi(full.state, full_prev.state, same), 4),
            "rings_inc": len(inc.rings), "rings_full": len(full.rings), "ring_precision": round(prec, 4),
            "ring_recall": round(rec, 4), "rings_exact": exact,
            "members_jaccard": round(jac, 4), "members_differ": len(mi ^ mf),
        }
        if truth:
            row["truth_p_inc"], row["truth_r_inc"] = (round(x, 4) for x in _truth_pr(inc.members, truth))
            row["truth_p_full"], row["truth_r_full"] = (round(x, 4) for x in _truth_pr(full.members, truth))
        rows.append(row)
        print(f"night {k} {date.date()}: incremental {dt_i:.1f} s wall / {cpu_i:.1f} s CPU [load {l_i}] "
              f"parts {inc.stats['timings']}; full {dt_f:.1f} s / {cpu_f:.1f} s CPU [load {l_f}] parts "
              f"{full.stats['timings']}; {row}", flush=True)
        inc_prev, full_prev = inc, full
    table = pd.DataFrame(rows)
    print()
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for r in table.itertuples(index=False):
        print("| " + " | ".join(str(x) for x in r) + " |")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB [load {_load()}]")


if __name__ == "__main__":
    main()
