"""Scale benchmark: the whole nightly run at N delinquent accounts, step by step, beside the raw
library work each step wraps, and the peers (greedy placement, networkx Louvain).

  .venv/bin/python benchmarks/bench_night.py --accounts 100000
  .venv/bin/python benchmarks/bench_night.py --accounts 1000000 --no-networkx
  .venv/bin/python benchmarks/bench_night.py --data DATA --models MODELS --dates D1 D2 --out RUNS

The last form (issue 17's whole-night bar) runs the nights of a book made elsewhere as cron
does, `collections-engine run` under /usr/bin/time -v: wall, CPU (user + system), the largest
process's peak RSS, the process tree's minor page faults, the process tree's peak summed PSS,
and each step's time, CPU and minor faults from timings.json.
The PSS is sampled every `--pss-every` seconds (0.2 by default), and sampling is not free: each
sample walks the page tables of the parent and the ring child, about 0.03 s of kernel CPU at a
million accounts, 10-15 s over a 1M night on 2 cores (session 15). Time the night with
`--pss-every 0` and take its memory from a run with the sampler on.

The book and models are cached under ROOT/N/ (generated, trained and approved through the CLI
in subprocesses the first time; reused after). The night itself runs in this process through
`run_night`; the step functions are wrapped (not changed) to keep a reference to what each step
hands its library, and after the run the same library calls are timed on those same objects:

- validate  vs pyarrow.parquet.read_table of every input file (what load_book reads)
- score     vs LightGBM Booster.predict (raw_score) of the same boosters on the same matrix
- rings     vs igraph community_leiden on the same edge list (its largest call: the whole graph)
- placement vs the same OR-Tools/HiGHS solve on the same Problem (assign.solve.solve)
- write     vs pyarrow writing the same frames (parquet zstd, CSV with pyarrow.csv)

Peers: greedy_plan on the same decision inputs (time, expected net), networkx Louvain on the same
customer graph (time, agreement with the engine's communities and rings).
Each figure is printed with the load average at the time (the machine is shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import collections_engine.pipeline as pipeline  # noqa: E402
import collections_engine.rings.community as community_mod  # noqa: E402
from collections_engine.io.runs import read_previous_night  # noqa: E402
from collections_engine.assign import greedy_plan  # noqa: E402
from collections_engine.assign.solve import solve  # noqa: E402
from collections_engine.config import load_strategy  # noqa: E402
import collections_engine.io.load as load_mod  # noqa: E402
from collections_engine.io.load import TRAINING_TABLES, input_files  # noqa: E402
from collections_engine.io.tables import find_table  # noqa: E402
from collections_engine.scoring.data import NO_ACTION, segment_columns  # noqa: E402

decide_mod = sys.modules["collections_engine.assign.decide"]  # the package re-exports a function of that name
detect_mod = sys.modules["collections_engine.rings.detect"]

# The checkout's own CLI; in a git worktree without a .venv, this interpreter running this
# checkout's package (the subprocesses get ROOT first on PYTHONPATH: `_env`).
CLI = ([str(ROOT / ".venv" / "bin" / "collections-engine")] if (ROOT / ".venv" / "bin" / "collections-engine").is_file()
       else [sys.executable, "-c", "import sys; from collections_engine.cli import main; sys.exit(main())"])


def _env() -> dict[str, str]:
    """The environment of the CLI's subprocesses: this checkout's package first."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}
GIB = 1024**2  # ru_maxrss is in KiB


class TreeMemory:
    """Peak memory of this process and its children (the forked ring step), sampled every
    `every` seconds as the sum of their PSS (/proc/PID/smaps_rollup): pages the child shares
    with the parent copy-on-write count once, split between them, unlike the sum of RSS.
    Each sample walks the page tables of every process in the tree: at a million accounts
    about 0.03 s of kernel CPU per sample, which on 2 cores the night itself would have used
    (`--pss-every`; 0: no sampling, the peak reads 0)."""

    def __init__(self, root_pid: int | None = None, every: float = 0.2) -> None:
        import threading
        self.root, self.every = root_pid or os.getpid(), every
        self.peak, self.at_s, self.parts = 0.0, 0.0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pids(pid: int) -> list[int]:
        out = [pid]
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    for child in fh.read().split():
                        out += TreeMemory._pids(int(child))
        except OSError:
            pass
        return out

    @staticmethod
    def _pss_gib(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) / GIB
        except OSError:
            pass
        return 0.0

    def _run(self) -> None:
        t0 = time.perf_counter()
        while self.every > 0 and not self._stop.wait(self.every):
            parts = [self._pss_gib(p) for p in self._pids(self.root)]
            if sum(parts) > self.peak:
                self.peak, self.at_s, self.parts = sum(parts), time.perf_counter() - t0, parts

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / GIB


def sh(args: list[str], log: Path) -> float:
    t = time.perf_counter()
    with open(log, "w") as fh:
        subprocess.run(args, check=True, stdout=fh, stderr=subprocess.STDOUT, env=_env())
    return time.perf_counter() - t


def prepare(base: Path, n: int, seed: int, days: int, months: int, strategy: Path) -> None:
    data, models = base / "data", base / "models"
    if not (data / "accounts.parquet").is_file():
        t = sh(CLI + ["generate", "--out", str(data), "--accounts", str(n), "--days", str(days),
                      "--seed", str(seed), "--history-months", str(months), "--force"], base / "generate.log")
        print(f"generated {n} accounts ({days} nights, {months} history months) in {t:.1f} s [load {load()}]")
    if not any((p / "status.json").is_file() and '"approved"' in (p / "status.json").read_text()
               for p in models.glob("*") if p.is_dir()):
        t = sh(CLI + ["train", "--data", str(data), "--strategy", str(strategy), "--models", str(models)],
               base / "train.log")
        sh(CLI + ["approve", "--models", str(models), "--by", "bench"], base / "approve.log")
        print(f"trained and approved in {t:.1f} s [load {load()}]")


class Spy:
    """Wraps module attributes so each call's arguments and wall time are kept."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[tuple, dict, float]]] = {}
        self._undo: list[tuple[object, str, object]] = []
        self.outs: dict[str, object] = {}

    def wrap(self, module: object, name: str, key: str | None = None) -> None:
        fn = getattr(module, name)
        key = key or name

        def wrapper(*a, **k):
            t = time.perf_counter()
            out = fn(*a, **k)
            self.calls.setdefault(key, []).append((a, k, time.perf_counter() - t))
            self.outs[key] = out
            return out

        setattr(module, name, wrapper)
        self._undo.append((module, name, fn))

    def last(self, key: str) -> tuple[tuple, dict, float]:
        return self.calls[key][-1]

    def undo(self) -> None:
        for module, name, fn in reversed(self._undo):
            setattr(module, name, fn)


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def raw_read(data: Path) -> float:
    """pyarrow reading what the run's validate step reads: every input file but the training
    tables, which `run` skips (they are only hashed)."""
    skipped = {find_table(data, name) for name in TRAINING_TABLES}
    # Best of two: the first pass may fault the files back into the page cache (this VM
    # reclaims cold pages), which the run itself did not pay the same way.
    return timed(lambda: [pq.read_table(p) for p in input_files(data)
                          if p.suffix == ".parquet" and p not in skipped], repeat=2)


def engine_read(data: Path) -> float:
    """The engine's own reading of the same files, one after another (`io.load._read`: parquet
    to pandas frames, text columns of few values as categoricals): what validate's reading costs
    without its checks."""
    skipped = {find_table(data, name) for name in TRAINING_TABLES}
    files = [(p, next((n for n in load_mod.TABLES if find_table(data, n) == p), ""))
             for p in input_files(data) if p.suffix == ".parquet" and p not in skipped]
    return timed(lambda: [load_mod._read(p, p.name, [], load_mod.CATEGORY_COLUMNS.get(n, ())) for p, n in files],
                 repeat=2)


def raw_predict(version, feats: pd.DataFrame, rows: pd.DataFrame, strategy) -> float:
    seg = segment_columns(rows, strategy)
    frame = feats.copy()
    frame["stage"], frame["customer_line"] = seg["stage"].to_numpy(), seg["customer_line"].to_numpy()
    if version.meta.get("has_queue_feature"):
        frame["queue"] = NO_ACTION
    X = version.encoder.transform(frame)
    segv = seg["segment"].to_numpy()
    parts = []
    for s in sorted(pd.unique(segv)):
        info = version.meta["segments"].get(s)
        m = segv == s
        parts.append((version.boosters[info["model"] if info else "pooled"], X[m]))
    return timed(lambda: [b.predict(x, raw_score=True) for b, x in parts])


def raw_leiden(args: tuple) -> float:
    """igraph on the step's edge list with the step's settings (bench_rings_inrun's)."""
    from bench_rings_inrun import raw_leiden as wall_and_cpu
    return wall_and_cpu(args)[0]


def raw_write(kw: dict) -> float:
    frames = {"scores": kw["scores"], "assignments": kw["decision"].assignments, "effects": kw["effects"],
              "placements": kw["decision"].placements, "rings": kw["rings"], "inputs": kw["inputs"],
              "queue_summary": kw["decision"].queue_summary}
    csvs = list(kw["teams"].values()) + [f for pair in kw["vendors"].values() for f in pair]
    tmp = Path(tempfile.mkdtemp(prefix="bench_write_"))

    def go():
        for name, df in frames.items():
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp / f"{name}.parquet",
                           compression="zstd")
        for i, df in enumerate(csvs):
            pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), tmp / f"{i}.csv")
    try:
        return timed(go)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def nx_louvain(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, labels: np.ndarray,
               ring_nodes: list[np.ndarray], seed: int) -> dict[str, object]:
    import networkx as nx
    from sklearn.metrics import adjusted_rand_score
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist()))
    t = time.perf_counter()
    comms = nx.community.louvain_communities(g, weight="weight", seed=seed)
    dt = time.perf_counter() - t
    nxl = np.empty(n, np.int64)
    for i, c in enumerate(comms):
        nxl[list(c)] = i
    inside = labels >= 0
    ari = adjusted_rand_score(labels[inside], nxl[inside]) if inside.any() else float("nan")
    # A ring is reproduced when one networkx community has Jaccard >= 0.5 with its members.
    hits = []
    for nodes in ring_nodes:
        cand = np.bincount(nxl[nodes]).argmax()
        other = np.flatnonzero(nxl == cand)
        inter = np.intersect1d(nodes, other).size
        hits.append(inter / (len(nodes) + len(other) - inter))
    hits = np.asarray(hits)
    return {"time_s": dt, "communities": len(comms), "ari_on_engine_nodes": ari,
            "rings_reproduced": int((hits >= 0.5).sum()), "rings": len(hits),
            "mean_best_jaccard": float(hits.mean()) if len(hits) else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, help="generate (or reuse) a book of N accounts under ROOT/N")
    ap.add_argument("--root", type=Path, default=Path("/tmp/scale"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=2, help="nights generated")
    ap.add_argument("--nights", type=int, default=1, help="nights run; the last is measured")
    ap.add_argument("--history-months", type=int, default=12)
    ap.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "default.yaml")
    ap.add_argument("--graph", type=Path, default=ROOT / "graphs" / "default.yaml")
    ap.add_argument("--networkx", action=argparse.BooleanOptionalAction, default=None,
                    help="networkx Louvain peer (default: only up to 100k accounts)")
    ap.add_argument("--cli-run", action="store_true",
                    help="only run the night through `collections-engine run` in a subprocess, "
                         "with nothing of the benchmark held in memory: wall time and the process "
                         "tree's peak PSS of the command as a cron job would run it")
    ap.add_argument("--pss-every", type=float, default=0.2,
                    help="with --data or --cli-run: seconds between samples of the process tree's PSS "
                         "(0: none, for timing)")
    ap.add_argument("--prepare-only", action="store_true", help="generate, train and approve; no night")
    ap.add_argument("--data", type=Path, help="with --models: a DATA folder made elsewhere (nothing generated "
                    "or trained); the nights run with --cli-run into --out (emptied first)")
    ap.add_argument("--models", type=Path, help="an approved model version's folder, with --data")
    ap.add_argument("--out", type=Path, help="RUNS folder for --data (default ROOT/runs_DATA-NAME)")
    ap.add_argument("--after", type=Path, help="with --data: a night's run folder (RUNS/DATE) copied into the "
                    "runs folder first, so that --dates times the nights after it alone")
    ap.add_argument("--dates", nargs="+", help="with --data: the nights to run in order (default: the last "
                    "--days snapshot dates, the first --nights of them)")
    args = ap.parse_args()
    if args.data is not None:
        given_book(args)
        return
    if args.accounts is None:
        ap.error("--accounts N (or --data DATA --models MODELS)")
    base = args.root / str(args.accounts)
    base.mkdir(parents=True, exist_ok=True)
    prepare(base, args.accounts, args.seed, args.days, args.history_months, args.strategy)
    if args.prepare_only:
        return
    load_strategy(args.strategy)  # fail early on a bad strategy file
    dates = sorted(pq.read_table(base / "data" / "accounts.parquet", columns=["snapshot_date"])
                   .column(0).unique().to_pandas())
    nights = [pd.Timestamp(d).date().isoformat() for d in dates[-args.days:]][:args.nights]
    runs = base / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    if args.cli_run:
        cli_run(base, nights, args)
        return

    spy = Spy()
    # The run lets go of the book's tables once read (the forked ring step's parent, after its
    # features): a second Book holding the same tables keeps them for the ring step re-run below.
    kept: list = []
    spy.wrap(pipeline, "load_book", key="load_book_run")
    run_load = pipeline.load_book

    def keep_book(*a, **k):
        out = run_load(*a, **k)
        kept.append(dataclasses.replace(out[0]))
        return out

    pipeline.load_book = keep_book
    for name in ("score", "build_features", "write_run_folder",
                 "build_decision_inputs", "vendor_files"):
        spy.wrap(pipeline, name)
    spy.wrap(pipeline, "decide_night", key="decide")  # the experiment arms' decide (the champion alone: one decide)
    spy.wrap(decide_mod, "solve")
    spy.wrap(decide_mod, "build_problem")
    print(f"{args.accounts} accounts; nights {', '.join(nights)}; machine {os.cpu_count()} cores; "
          f"before the run peak RSS {peak_gib():.2f} GiB [load {load()}]")
    for day in nights:
        req = pipeline.RunRequest(data=base / "data", date=day, strategy=args.strategy, graph=args.graph,
                                  models=base / "models", runs=runs)
        l0 = load()
        t, c = time.perf_counter(), time.process_time()
        with TreeMemory() as tree:
            res = pipeline.run_night(req)
        total, cpu = time.perf_counter() - t, time.process_time() - c
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"night {day}: {res.counts.get('delinquent_accounts')} delinquent accounts, {total:.1f} s "
              f"(CPU: this process {cpu:.1f} s, ring child(ren) {child.ru_utime + child.ru_stime:.1f} s), "
              f"peak RSS this process {peak_gib():.2f} GiB, ring child {child.ru_maxrss / GIB:.2f} GiB; "
              f"peak of the process tree (sum of PSS) {tree.peak:.2f} GiB at {tree.at_s:.0f} s "
              f"({' + '.join(f'{x:.2f}' for x in tree.parts)}) [load {l0} -> {load()}]")
    spy.undo()
    run_peak, child_peak = peak_gib(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / GIB
    clock_peaks = _peaks(runs / nights[-1] / "run.json")
    timings = res.timings

    # Rings again, alone and in this process, to reach the graph the child worked on.
    book = kept[-1]
    graph = pipeline.load_graph(args.graph)
    prev_night = read_previous_night(runs, pd.Timestamp(nights[-1]))
    prev = prev_night.rings
    # the previous night's ring state, as the run used it (an incremental night when there is one)
    state, why_full = pipeline._ring_state(prev_night, graph, False, [])
    carry = pipeline._ring_carry(prev_night, graph, False, [])
    rspy = Spy()
    rspy.wrap(community_mod, "_leiden")
    rspy.wrap(detect_mod, "night_communities")
    rspy.wrap(detect_mod, "link_codes")
    l_r = load()
    t = time.perf_counter()
    alone = pipeline.detect_rings(book, graph, pd.Timestamp(nights[-1]), previous=prev, state=state,
                                  why_full=why_full, carry=carry)
    rings_alone = time.perf_counter() - t
    rspy.undo()
    same = alone.rings.equals(spy.last("write_run_folder")[1]["rings"])
    print(f"rings alone in this process: {rings_alone:.1f} s {alone.stats['timings']}; same rings as the "
          f"run's: {same} [load {l_r}]")

    # Raw library work on the same objects, after the run, in this process.
    l_raw = load()
    raw: dict[str, float] = {}
    raw["validate"] = raw_read(base / "data")
    read_alone = engine_read(base / "data")
    version, feats, rows, strat = spy.last("score")[0][:4]
    raw["score"] = raw_predict(version, feats, rows, strat)
    # The largest Leiden call (the whole graph); later calls refine inside communities.
    raw["rings"] = raw_leiden(max(rspy.calls["_leiden"], key=lambda c: len(c[0][1]))[0])
    sa, sk, solve_s = spy.last("solve")
    raw["placement"] = timed(lambda: solve(*sa, **sk))
    wk = spy.last("write_run_folder")[1]
    raw["write"] = raw_write(wk)

    print()
    print("| step | wall s | peak RSS GiB | raw library work | raw s | ratio |")
    print("|---|---:|---:|---|---:|---:|")
    names = {"validate": "pq.read_table of the input files", "score": "Booster.predict, same X",
             "rings": "igraph community_leiden, same (largest) edge list", "placement": "solve(Problem) directly",
             "write": "pyarrow write of the same frames"}
    for step in ["validate", "features", "score", "rings", "rings_wait", "placement", "report", "write"]:
        st = timings.get(step, float("nan"))
        r = raw.get(step)
        pk = clock_peaks.get(step, run_peak if step == "write" else float("nan"))
        label = {"rings": "rings (child, alongside features+score)",
                 "rings_wait": "waiting for rings after score"}.get(step, step)
        print(f"| {label} | {st:.1f} | {pk:.2f} | {names.get(step, '')} | "
              + (f"{r:.2f} | {st / r:.1f}x |" if r else " | |"))
    print(f"| reading alone (the engine's read of the same files, no checks; after the run) | {read_alone:.1f} | | "
          f"{names['validate']} | {raw['validate']:.2f} | {read_alone / raw['validate']:.1f}x |")
    print(f"| whole run | {total:.1f} | {run_peak:.2f} (ring child {child_peak:.2f}; tree PSS {tree.peak:.2f}) | | | |")
    print(f"load during run {l0}, during raw work {l_raw}")
    print(f"inside placement: build_decision_inputs "
          f"{spy.last('build_decision_inputs')[2]:.1f} s, build_problem {spy.last('build_problem')[2]:.1f} s, "
          f"solve {solve_s:.1f} s, decide {spy.last('decide')[2]:.1f} s, vendor_files {spy.last('vendor_files')[2]:.1f} s; "
          f"rings alone {rings_alone:.1f} s: Leiden calls {sum(c[2] for c in rspy.calls['_leiden']):.1f} s (largest {max(c[2] for c in rspy.calls['_leiden']):.1f} s), "
          f"night_communities ({alone.stats['communities']}) {rspy.last('night_communities')[2]:.1f} s")

    # Peers.
    dk = spy.last("decide")
    dec_inputs, dstrat, ddate = dk[0][:3]
    engine = wk["decision"].assignments
    t = time.perf_counter()
    g = greedy_plan(dec_inputs, dstrat, ddate, effects=dk[1].get("effects"))
    tg = time.perf_counter() - t
    en, gn = engine["expected_net"].sum(), g.assignments["expected_net"].sum()
    print(f"placement peer: engine decide {dk[2]:.1f} s, expected net {en:,.0f}; greedy {tg:.1f} s, "
          f"expected net {gn:,.0f} (engine {100 * (en - gn) / abs(gn):+.2f} %) [load {load()}]")
    want_nx = args.networkx if args.networkx is not None else args.accounts <= 100_000
    ncg, ngraph = rspy.last("night_communities")[0][:2]
    n, u, v, w, comm_cfg, min_size = ncg.n_nodes, ncg.u, ncg.v, ncg.w, ngraph.community, ngraph.ring.min_size
    if want_nx:
        cg = rspy.outs["link_codes"]
        customer_ids = rspy.last("link_codes")[0][4]  # link_codes(kind_codes, kinds, vcode, ci, customer_ids, graph)
        node_ids = np.asarray(customer_ids, dtype=object)[cg.codes].astype(str)
        comm = alone.communities
        node = pd.Index(node_ids).get_indexer(comm["customer_id"].astype(str).to_numpy())
        labels = np.full(n, -1, np.int64)
        labels[node] = comm["community"].to_numpy()
        flagged = comm["flagged"].to_numpy()
        ring_nodes = [node[flagged & (comm["community"].to_numpy() == c)]
                      for c in np.unique(comm["community"].to_numpy()[flagged])]
        r = nx_louvain(n, u, v, w, labels, ring_nodes, comm_cfg.seed)
        print(f"rings peer: engine detect_rings {rings_alone:.1f} s (its largest Leiden call {max(c[2] for c in rspy.calls['_leiden']):.1f} s) on "
              f"{n} nodes, {len(u)} edges; networkx louvain {r['time_s']:.1f} s, {r['communities']} communities; "
              f"ARI on the engine's community nodes (size >= {min_size}) {r['ari_on_engine_nodes']:.3f}; "
              f"engine rings reproduced (Jaccard >= 0.5) {r['rings_reproduced']}/{r['rings']}, mean best "
              f"Jaccard {r['mean_best_jaccard']:.3f} [load {load()}]")
    else:
        print(f"rings peer: networkx Louvain skipped at {args.accounts} accounts ({n} nodes, {len(u)} edges; "
              "pass --networkx to run it)")


def given_book(args) -> None:
    """`--data DATA --models MODELS`: the nights of a book made elsewhere (the 1M book of issue
    17's whole-night bar), each as cron runs it, timed by /usr/bin/time -v."""
    if args.models is None:
        raise SystemExit("--data needs --models (an approved model version's folder)")
    runs = args.out or args.root / f"runs_{args.data.name}"
    if args.after is not None and args.after.resolve().is_relative_to(runs.resolve()):
        raise SystemExit(f"--after {args.after} is inside the runs folder {runs}, which is emptied first: "
                         "copy it elsewhere or give --out")
    shutil.rmtree(runs, ignore_errors=True)
    if args.after is not None:  # a night already run: the next one is timed alone
        shutil.copytree(args.after, runs / args.after.name)
    nights = args.dates
    if not nights:
        dates = sorted(pq.read_table(args.data / "accounts.parquet", columns=["snapshot_date"])
                       .column(0).unique().to_pandas())
        nights = [pd.Timestamp(d).date().isoformat() for d in dates[-args.days:]][:args.nights]
    print(f"{args.data}: nights {', '.join(nights)}; models {args.models}; runs {runs}; "
          f"machine {os.cpu_count()} cores")
    cli_run(None, nights, args, data=args.data, models=args.models, runs=runs)


def _time_v(path: Path) -> dict[str, float]:
    """User and system CPU seconds and the largest process's peak RSS (GiB) from time -v's report."""
    out: dict[str, float] = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        k, _, v = line.strip().rpartition(": ")
        if k == "User time (seconds)":
            out["user_s"] = float(v)
        elif k == "System time (seconds)":
            out["system_s"] = float(v)
        elif k == "Minor (reclaiming a frame) page faults":
            out["minor_faults"] = int(v)
        elif k == "Maximum resident set size (kbytes)":
            out["max_rss_gib"] = int(v) / GIB
    return out


def cli_run(base: Path | None, nights: list[str], args, data: Path | None = None, models: Path | None = None,
            runs: Path | None = None) -> None:
    """Each night as `collections-engine run` in a subprocess (under /usr/bin/time -v where there
    is one: CPU of the process tree and the largest process's peak RSS, which counts the pages
    the ring child shares with the parent; the sampled sum of PSS counts them once)."""
    data, models, runs = data or base / "data", models or base / "models", runs or base / "runs"
    time_v = Path("/usr/bin/time").is_file()
    for day in nights:
        cmd = CLI + ["run", "--data", str(data), "--date", day, "--strategy", str(args.strategy),
                     "--graph", str(args.graph), "--models", str(models), "--out", str(runs)]
        report = Path(tempfile.mkstemp(prefix="bench_night_time_")[1])
        if time_v:
            cmd = ["/usr/bin/time", "-v", "-o", str(report)] + cmd
        l0 = load()
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        with TreeMemory(proc.pid, args.pss_every) as tree:
            rc = proc.wait()
        total = time.perf_counter() - t
        tv = _time_v(report)
        report.unlink(missing_ok=True)
        run_json = json.loads((runs / day / "timings.json").read_text()) if rc == 0 else {}
        timings = run_json.get("timings_s", {})
        cpu = (f"CPU user {tv['user_s']:.1f} s + system {tv['system_s']:.1f} s, largest process peak RSS "
               f"{tv['max_rss_gib']:.2f} GiB, {tv.get('minor_faults', 0) / 1e6:.2f}M minor faults (time -v), ") if tv else ""
        pss = (f"peak of the process tree (sum of PSS) {tree.peak:.2f} GiB at {tree.at_s:.0f} s "
               f"({' + '.join(f'{x:.2f}' for x in tree.parts)})" if args.pss_every > 0
               else "the process tree's PSS not sampled (--pss-every 0)")
        print(f"collections-engine run {day} ({args.accounts or data.name}): exit {rc}, {total:.1f} s wall, {cpu}"
              f"{pss} [load {l0} -> {load()}]")
        print("peak RSS by step (parent; rings: the child): "
              + ", ".join(f"{k} {v:.2f}" for k, v in run_json.get("peak_rss_gib", {}).items()))
        print("steps (run.json): " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        print("CPU by step (parent, user + system s, minor faults): " + ", ".join(
            f"{k} {c['user_s']:.1f} + {c['system_s']:.1f}, {c['minor_faults'] / 1e6:.2f}M"
            for k, c in run_json.get("cpu_by_step", {}).items()))
        print("rings parts (in the child): " + ", ".join(f"{k} {v:.1f}" for k, v in run_json.get("rings_parts_s", {}).items()))


def _peaks(run_json: Path) -> dict[str, float]:
    import json
    return json.loads(run_json.with_name("timings.json").read_text()).get("peak_rss_gib", {})


if __name__ == "__main__":
    main()
