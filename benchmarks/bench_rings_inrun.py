"""The rings step on a real book, as the nightly run calls it, beside the raw igraph work.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_rings_inrun.py --data /tmp/scale/1000000/data --date 2025-06-02

Loads DATA with `load_book` (as `run` does; `--cache FILE` pickles the loaded Book once and
reads it back on later calls, to iterate faster), then runs
`detect_rings(book, graph, date, previous=None)` in this process and prints:
- wall and CPU seconds of the whole step and of its parts (`stats["timings"]`, finer keys
  from detect.py), the time spent inside igraph's Leiden (every `_leiden` call, timed by a
  wrapper) and the number of customers, linked customers and edges;
- the raw library work on the same edge list: `ig.Graph` + `community_leiden` with the same
  objective, node weights, resolution, seed and passes as the step's main Leiden call, timed
  alone, and the ratio step / raw;
- the step's own memory: peak RSS growth during the step (the kernel's high-water mark is
  reset before it, via /proc/self/clear_refs) and Arrow's pool peak;
- the load average before and after (the machine is shared: read timings beside it).

The process keeps the memory it frees (`memory.keep_freed`), as the nightly run's ring child
does; `COLLECTIONS_ENGINE_KEEP_FREED=0` times the step with the allocators as they are.

`--save DIR` writes members.parquet and rings.parquet; `--compare DIR` checks tonight's
tables against saved ones (same rings, same bytes of the frames) and prints the differences.
`--profile FILE` writes a pyinstrument text profile of the step.
`--second` runs the night before DATE first (a full recompute, timed apart), then DATE as a
second, incremental night from its ring state and its carry (`rings.carry`, read back through
parquet), as `run` does night to night; with `--also-full` the
same night is then run again as a full recompute and the agreement printed (NMI of the
communities, ring precision/recall at Jaccard 0.5, flagged members' Jaccard).
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collections_engine.config import load_graph, load_strategy  # noqa: E402
from collections_engine.io.load import load_book  # noqa: E402
from collections_engine.memory import keep_freed  # noqa: E402
from collections_engine.rings import community as community_mod  # noqa: E402
from collections_engine.rings.detect import detect_rings  # noqa: E402
from collections_engine.rings.carry import check_carry  # noqa: E402
from collections_engine.rings.incremental import check_state  # noqa: E402


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its reaped children: the community
    step's forked workers (`rings.parallel`) are children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _sys() -> float:
    """The kernel's share of `_cpu` (page faults: a VM that hands freed memory back to its host
    pays for each first touch of fresh memory here)."""
    t = os.times()
    return t.system + t.children_system


def _rss_gib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


def _hwm_gib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _book(args: argparse.Namespace):
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        t = time.perf_counter()
        with cache.open("rb") as fh:
            book = pickle.load(fh)
        print(f"book from cache {cache} in {time.perf_counter() - t:.1f} s")
        return book
    strategy = load_strategy(Path(args.strategy))
    t = time.perf_counter()
    book, _ = load_book(Path(args.data), strategy)
    print(f"load_book {args.data} in {time.perf_counter() - t:.1f} s [load {_load()}]")
    if cache is not None:
        with cache.open("wb") as fh:
            pickle.dump(book, fh, protocol=5)
    return book


def raw_leiden(call: tuple) -> tuple[float, float]:
    """ig.Graph + community_leiden with the step's settings on the step's main edge list:
    (wall, CPU) seconds."""
    import igraph as ig

    n, u, v, w, comp, community = call
    c, t = _cpu(), time.perf_counter()
    g = ig.Graph(n=n, directed=False)
    g.add_edges(np.column_stack([u, v]))  # 2.5x faster than Graph(edges=...) on 7M edges
    if community.objective == "modularity":
        s = np.bincount(u, weights=w, minlength=n) + np.bincount(v, weights=w, minlength=n)
        nw = s / np.sqrt(np.bincount(comp, weights=s)[comp])
    else:
        nw = np.ones(n)
    with community_mod.seeded_igraph(community.seed):
        g.community_leiden(objective_function="CPM", weights=w, resolution=community.resolution,
                           node_weights=nw, n_iterations=community.iterations)
    return time.perf_counter() - t, _cpu() - c


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--date", help="night (default: the latest snapshot date)")
    ap.add_argument("--graph", default=str(ROOT / "graphs" / "default.yaml"))
    ap.add_argument("--strategy", default=str(ROOT / "strategies" / "default.yaml"))
    ap.add_argument("--cache", help="pickle of the loaded Book (written when missing)")
    ap.add_argument("--save", help="folder to write members.parquet and rings.parquet into")
    ap.add_argument("--compare", help="folder with members.parquet and rings.parquet to compare with")
    ap.add_argument("--profile", help="write a pyinstrument text profile of the step here")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw igraph run")
    ap.add_argument("--second", action="store_true", help="time DATE as an incremental second night")
    ap.add_argument("--also-full", action="store_true", help="with --second: also a full recompute of DATE")
    args = ap.parse_args(argv)

    print(f"memory: freed memory kept for reuse: {keep_freed()}")
    book = _book(args)
    graph = load_graph(Path(args.graph))
    date = pd.Timestamp(args.date) if args.date else book.snapshot_dates()[-1]
    state, prev_rings, carry = None, None, None
    if args.second:
        days = [d for d in book.snapshot_dates() if d < date]
        if not days:
            raise SystemExit(f"--second: no snapshot date before {date:%Y-%m-%d}")
        c0, t0 = _cpu(), time.perf_counter()
        first = detect_rings(book, graph, days[-1])
        state, why = check_state(first.state, graph)
        assert state is not None, why
        carry, why = check_carry(_through_parquet(first.carry.frames()), first.carry.key)
        assert carry is not None, why
        prev_rings = first.rings
        print(f"first night {days[-1]:%Y-%m-%d} (full): {time.perf_counter() - t0:.1f} s wall, "
              f"{_cpu() - c0:.1f} s CPU, parts {first.stats['timings']} [load {_load()}]")
        del first
    n_acc = int((book.accounts["snapshot_date"] == date).sum())
    print(f"night {date:%Y-%m-%d}: {n_acc} account rows that night, {len(book.accounts)} account rows "
          f"in the book, {len(book.identifiers) if book.identifiers is not None else 0} identifier rows, "
          f"{len(book.contacts) if book.contacts is not None else 0} contacts, "
          f"{len(book.payments) if book.payments is not None else 0} payments")

    # Time every igraph Leiden call inside the step, and keep the largest call's arguments.
    calls: list[tuple[tuple, float]] = []
    inner = community_mod._leiden

    def timed_leiden(*a, **k):
        t0 = time.perf_counter()
        out = inner(*a, **k)
        calls.append((a, time.perf_counter() - t0))
        return out

    community_mod._leiden = timed_leiden
    import gc

    gc.collect()
    rss0 = _rss_gib()
    hwm_ok = _reset_hwm()
    pool = pa.default_memory_pool()
    pool_before = pool.bytes_allocated()
    l0 = _load()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    c0, s0, t0 = _cpu(), _sys(), time.perf_counter()
    res = detect_rings(book, graph, date, previous=prev_rings, state=state, carry=carry)
    wall, cpu, sys_s = time.perf_counter() - t0, _cpu() - c0, _sys() - s0
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=True, color=False))
    peak = _hwm_gib() - rss0 if hwm_ok else float("nan")
    pool_peak = (pool.max_memory() or 0) / 1024**3
    l1 = _load()
    community_mod._leiden = inner

    st = res.stats
    g = st["graph"]
    leiden_s = sum(s for _, s in calls)
    print(f"detect_rings: {wall:.1f} s wall, {cpu:.1f} s CPU of which {sys_s:.1f} s system (this process and its workers) [load before {l0}, after {l1}]")
    print("parts: " + ", ".join(f"{k} {v:.2f}" for k, v in st["timings"].items()))
    print(f"igraph Leiden inside the step (this process; not its forked workers): {leiden_s:.2f} s in {len(calls)} call(s) "
          f"({', '.join(f'{s:.2f}' for _, s in calls)}); graph: {g.get('linked_customers', 0)} linked customers, "
          f"{g.get('edges', 0)} edges; {st['communities_min_size']} communities, {st['rings']} rings, "
          f"{st['ring_members']} members")
    print(f"memory of the step: peak RSS growth {peak:.2f} GiB (RSS before {rss0:.2f} GiB), Arrow pool peak "
          f"{pool_peak:.2f} GiB (process lifetime; {pool_before / 1024**3:.2f} GiB held before)")
    if args.second:
        print(f"communities: {st['communities']}")
        print(f"graph: {st['graph_carry']}; own features: {st['features_carry']}")
    if args.second and args.also_full:
        c0, t0 = _cpu(), time.perf_counter()
        full = detect_rings(book, graph, date, previous=prev_rings)
        print(f"the same night as a full recompute: {time.perf_counter() - t0:.1f} s wall, "
              f"{_cpu() - c0:.1f} s CPU, parts {full.stats['timings']} [load {_load()}]")
        print("agreement with the full recompute: " + agreement(res, full))
    if calls and not args.no_raw:
        main_call = max(calls, key=lambda c: len(c[0][1]))[0]
        l2 = _load()
        raw, raw_cpu = raw_leiden(main_call)
        print(f"raw igraph (Graph + community_leiden, main edge list: {main_call[0]} nodes, "
              f"{len(main_call[1])} edges): {raw:.2f} s wall, {raw_cpu:.2f} s CPU [load {l2}]; "
              f"step / raw = {wall / raw:.1f}x wall, {cpu / raw_cpu:.1f}x CPU; "
              f"step / all Leiden calls inside it = {wall / max(leiden_s, 1e-9):.1f}x wall")
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        res.members.to_parquet(out / "members.parquet")
        res.rings.to_parquet(out / "rings.parquet")
        print(f"saved members and rings to {out}")
    if args.compare:
        ref = Path(args.compare)
        m0, r0 = pd.read_parquet(ref / "members.parquet"), pd.read_parquet(ref / "rings.parquet")
        m1 = res.members.reset_index(drop=True)
        same_m = m0.equals(pd.read_parquet(_roundtrip(m1)))
        same_r = r0.equals(pd.read_parquet(_roundtrip(res.rings)))
        print(f"compared with {ref}: members identical {same_m}, rings identical {same_r}")
        if not same_m:
            a = set(zip(m0["customer_id"], m0["ring_id"]))
            b = set(zip(m1["customer_id"].astype(str), m1["ring_id"].astype(str)))
            print(f"  member rows only before {len(a - b)}, only now {len(b - a)}; customers before "
                  f"{m0['customer_id'].nunique()}, now {m1['customer_id'].nunique()}")


def _through_parquet(frames: dict) -> dict:
    """The carry's frames as the next night reads them (written and read back as parquet)."""
    out = {}
    for name, df in frames.items():
        buf = _roundtrip(df.reset_index(drop=True))
        out[name] = pd.read_parquet(buf)
    return out


def agreement(inc, full) -> str:
    """NMI of the two nights' communities (customers of the state; a customer outside any
    community counts as its own), ring precision/recall (a ring agrees at a Jaccard of 0.5 or
    more), rings with the same members, flagged members' Jaccard."""
    from sklearn.metrics import normalized_mutual_info_score

    def labels(state: pd.DataFrame) -> pd.Series:
        lab = state["community"].to_numpy().copy()
        alone = lab < 0
        lab[alone] = lab.max(initial=0) + 1 + np.arange(alone.sum())
        return pd.Series(lab, index=state["customer_id"].astype(str).to_numpy())

    la, lb = labels(inc.state), labels(full.state)
    common = la.index.intersection(lb.index)
    nmi = normalized_mutual_info_score(la.loc[common], lb.loc[common])
    a = [frozenset(x) for x in inc.rings["customer_ids"]]
    b = [frozenset(x) for x in full.rings["customer_ids"]]

    def found(xs: list[frozenset], ys: list[frozenset]) -> float:
        owner = {c: j for j, s in enumerate(ys) for c in s}
        hits = [max((len(s & ys[j]) / len(s | ys[j]) for j in {owner[c] for c in s if c in owner}),
                    default=0.0) >= 0.5 for s in xs]
        return float(np.mean(hits)) if hits else 1.0

    mi, mf = set(inc.members["customer_id"]), set(full.members["customer_id"])
    jac = len(mi & mf) / max(len(mi | mf), 1)
    return (f"NMI {nmi:.4f} over {len(common)} customers; rings {len(a)} / {len(b)}, ring precision "
            f"{found(a, b):.4f}, recall {found(b, a):.4f}, identical {len(set(a) & set(b))}; flagged members' "
            f"Jaccard {jac:.4f} ({len(mi ^ mf)} differ)")


def _roundtrip(df: pd.DataFrame):
    import io

    buf = io.BytesIO()
    df.to_parquet(buf)
    buf.seek(0)
    return buf


if __name__ == "__main__":
    main()
