"""The Spark night beside the in-process night on one book: wall time, memory, agreement.

    python benchmarks/bench_spark.py --data DATA --models MODELS --date D [--master local[2]]
        [--engines inprocess,spark] [--runs DIR] [--driver-memory 2g] [--timeout-s S]
        [--event-log DIR] [--no-compare]
    python benchmarks/bench_spark.py --data X --models X --date X --summary-only --event-log DIR
    python benchmarks/bench_spark.py --data X --models X --date D --runs DIR --compare-only

Each engine runs `collections-engine run` in a subprocess, as cron (or spark-submit's client)
would; the process tree is sampled every 0.2 s (PSS, /proc/PID/smaps_rollup) and split into the
driver (the Python process that runs the night, placement included), the JVM (in local mode the
Spark driver and its executors in one process) and Spark's Python workers. Then the two run
folders are compared: scores (largest |p_repay| difference), decisions, rings (community NMI,
flagged members' precision and recall, rings with the same members), vendor files.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(ROOT / ".venv" / "bin" / "collections-engine")]
KIB_PER_GIB = 1024**2


class TreeMemory:
    """Peak PSS of a process tree, in total and by kind (driver, jvm, workers)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_total = 0.0
        self.peak = {"driver": 0.0, "jvm": 0.0, "workers": 0.0}
        self.largest_worker = 0.0  # the largest one Python worker's PSS (what decides whether 3M fits)
        self.cpu: dict[int, float] = {}  # pid -> its last seen user + system seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _children(pid: int) -> list[int]:
        out = []
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    out += [int(c) for c in fh.read().split()]
        except OSError:
            pass
        return out

    @staticmethod
    def _pss(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) / KIB_PER_GIB
        except OSError:
            pass
        return 0.0

    @staticmethod
    def _comm(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return ""

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    @property
    def cpu_s(self) -> float:
        """User + system seconds of every process of the tree, as last sampled (a process that
        ends between two samples loses at most 0.2 s: the JVM and Spark's Python workers are
        not reaped by this process, so its rusage cannot count them)."""
        return sum(self.cpu.values())

    def _sample(self) -> None:
        now = {"driver": self._pss(self.root), "jvm": 0.0, "workers": 0.0}
        stack = self._children(self.root)
        c = self._cpu(self.root)
        if c is not None:
            self.cpu[self.root] = c
        while stack:
            pid = stack.pop()
            c = self._cpu(pid)
            if c is not None:
                self.cpu[pid] = max(c, self.cpu.get(pid, 0.0))
            kind = "jvm" if self._comm(pid) == "java" else "workers" if now["jvm"] or self._under_java(pid) else "driver"
            pss = self._pss(pid)
            now[kind] += pss
            if kind == "workers":
                self.largest_worker = max(self.largest_worker, pss)
            stack += self._children(pid)
        for k, v in now.items():
            self.peak[k] = max(self.peak[k], v)
        self.peak_total = max(self.peak_total, sum(now.values()))

    def _under_java(self, pid: int) -> bool:
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        return ppid != self.root and (self._comm(ppid) == "java" or self._under_java(ppid))

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def run(engine: str, args, runs: Path) -> dict:
    cmd = CLI + ["run", "--data", str(args.data), "--date", args.date, "--strategy", str(args.strategy),
                 "--graph", str(args.graph), "--models", str(args.models), "--out", str(runs), "--force",
                 "--engine", engine]
    env = dict(os.environ)
    if engine == "spark":
        cmd += ["--spark-master", args.master]
        extra = ""
        if args.event_log:
            args.event_log.mkdir(parents=True, exist_ok=True)
            extra = (f" --conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{args.event_log}"
                     " --conf spark.eventLog.compress=false")
        env["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {args.driver_memory}{extra} pyspark-shell"
    l0 = load()
    t = time.perf_counter()
    stopped = False
    with open(runs.parent / f"{runs.name}.log", "w") as log:
        # its own session: a run past --timeout-s is stopped with its JVM and Python workers
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        with TreeMemory(proc.pid) as mem:
            try:
                rc = proc.wait(timeout=args.timeout_s)
            except subprocess.TimeoutExpired:
                stopped = True
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    rc = proc.wait()
    wall = time.perf_counter() - t
    rj = json.loads((runs / args.date / "run.json").read_text()) if rc == 0 and not stopped else {}
    tj = json.loads((runs / args.date / "timings.json").read_text()) if rc == 0 and not stopped else {}
    out = {"engine": engine, "exit": rc, "stopped_at_timeout": stopped, "wall_s": round(wall, 1),
           "cpu_s": round(mem.cpu_s, 1),
           "load": f"{l0} -> {load()}",
           "tree_peak_pss_gib": round(mem.peak_total, 2), **{f"{k}_peak_pss_gib": round(v, 2) for k, v in mem.peak.items()},
           "largest_worker_peak_pss_gib": round(mem.largest_worker, 2),
           # the driver's own steps; "rings" is the process that ran the ring step (in-process:
           # the forked child; Spark: the largest peak RSS of the workers that ran its parts)
           "driver_peak_rss_gib": max((v for k, v in tj.get("peak_rss_gib", {}).items() if k != "rings"), default=None),
           "ring_step_peak_rss_gib": tj.get("peak_rss_gib", {}).get("rings"),
           "timings_s": tj.get("timings_s"), "rings_parts_s": tj.get("rings_parts_s"),
           "rings_communities": rj.get("rings_communities"), "engine_stats": rj.get("engine")}
    if stopped or rc != 0:  # what the engine's log says it finished, with its seconds
        lines = (runs.parent / f"{runs.name}.log").read_text(errors="replace").splitlines()
        out["log_steps"] = [ln[-200:] for ln in lines if "spark:" in ln or "step" in ln][-20:]
    print(json.dumps(out), flush=True)
    return out


def stage_summary(folder: Path, top: int = 25) -> dict:
    """Where a Spark run's time went, from its event log (spark.eventLog.*): seconds per job
    group (the night's, the ring job's), and the longest stages with their task counts and the
    summed task time (executor run time), so fixed costs (many short stages) and long tasks
    show apart."""
    stages, groups = [], {}
    # one file per application, or (Spark's v2 event logs) a folder of rolled files each
    files = sorted(f for f in folder.rglob("*") if f.is_file() and not f.name.startswith("appstatus"))
    job_group: dict[int, str] = {}
    for f in files:
        for line in f.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except ValueError:  # the last line of a night stopped mid-write
                continue
            ev = e.get("Event")
            if ev == "SparkListenerJobStart":
                g = (e.get("Properties") or {}).get("spark.jobGroup.id", "") or "-"
                for sid in e.get("Stage IDs", []):
                    job_group[sid] = g
                groups.setdefault(g, {"jobs": 0, "stages": 0, "stage_s": 0.0, "task_s": 0.0})["jobs"] += 1
            elif ev == "SparkListenerTaskEnd":
                m = e.get("Task Metrics") or {}
                sid = e.get("Stage ID")
                g = groups.setdefault(job_group.get(sid, "-"), {"jobs": 0, "stages": 0, "stage_s": 0.0, "task_s": 0.0})
                g["task_s"] += m.get("Executor Run Time", 0) / 1000
            elif ev == "SparkListenerStageCompleted":
                info = e["Stage Info"]
                sec = (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000
                g = job_group.get(info["Stage ID"], "-")
                groups.setdefault(g, {"jobs": 0, "stages": 0, "stage_s": 0.0, "task_s": 0.0})
                groups[g]["stages"] += 1
                groups[g]["stage_s"] += sec
                stages.append({"stage": info["Stage ID"], "group": g, "s": round(sec, 1),
                               "tasks": info.get("Number of Tasks"), "name": info.get("Stage Name", "")[:80]})
    stages.sort(key=lambda x: -x["s"])
    out = {"groups": {k: {**v, "stage_s": round(v["stage_s"], 1), "task_s": round(v["task_s"], 1)}
                      for k, v in groups.items()},
           "stages": len(stages), "stages_under_2s": sum(x["s"] < 2 for x in stages), "longest": stages[:top]}
    print(json.dumps(out), flush=True)
    return out


def compare(a: Path, b: Path) -> dict:
    sa, sb = pd.read_parquet(a / "scores.parquet"), pd.read_parquet(b / "scores.parquet")
    same_rows = sa["account_id"].equals(sb["account_id"])
    dp = float(np.abs(sa["p_repay"].to_numpy() - sb["p_repay"].to_numpy()).max()) if same_rows else None
    aa, ab = pd.read_parquet(a / "assignments.parquet"), pd.read_parquet(b / "assignments.parquet")
    out = {"accounts": len(sa), "same_accounts": bool(same_rows), "max_abs_p_repay_diff": dp,
           "bands_differ": int((sa["band"] != sb["band"]).sum()) if same_rows else None,
           "reasons_differ": int((sa[["reason_1", "reason_2", "reason_3"]] != sb[["reason_1", "reason_2", "reason_3"]])
                                 .any(axis=1).sum()) if same_rows else None,
           "assignments_differ": int((aa.astype(str) != ab.astype(str)).any(axis=1).sum()) if len(aa) == len(ab) else None}
    out.update(ring_agreement(a, b))
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    out["identical_files"] = [f for f in files if (b / f).is_file() and (a / f).read_bytes() == (b / f).read_bytes()]
    out["differing_files"] = [f for f in files if f not in out["identical_files"]]
    print(json.dumps(out), flush=True)
    return out


def ring_agreement(a: Path, b: Path) -> dict:
    """Communities and rings of two run folders (a: the reference): NMI of the community labels
    over the customers of both ring states, the flagged members' precision and recall, and how
    many rings have exactly the same members. Per-part Leiden on Spark draws its random order per
    part, so where the optimum is not clear a community may come out differently."""
    from sklearn.metrics import normalized_mutual_info_score

    out: dict[str, object] = {}
    sa, sb = (pd.read_parquet(x / "ring_state.parquet") for x in (a, b))
    both = sa[["customer_id", "community"]].merge(sb[["customer_id", "community"]], on="customer_id")
    out["ring_state_customers"] = [len(sa), len(sb), len(both)]
    out["community_nmi"] = round(float(normalized_mutual_info_score(both["community_x"], both["community_y"])), 6)
    ra, rb = (pd.read_parquet(x / "rings.parquet") for x in (a, b))
    ma = {c for m in ra["customer_ids"] for c in m}
    mb = {c for m in rb["customer_ids"] for c in m}
    common = len(ma & mb)
    out["ring_members"] = [len(ma), len(mb)]
    out["ring_member_precision"] = round(common / len(mb), 6) if mb else None
    out["ring_member_recall"] = round(common / len(ma), 6) if ma else None
    sets_a = {frozenset(m) for m in ra["customer_ids"]}
    sets_b = {frozenset(m) for m in rb["customer_ids"]}
    out["rings"] = [len(sets_a), len(sets_b)]
    out["rings_same_members"] = len(sets_a & sets_b)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "default.yaml")
    ap.add_argument("--graph", type=Path, default=ROOT / "graphs" / "default.yaml")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="2g", help="the JVM's heap (local mode: driver and executors)")
    ap.add_argument("--engines", default="inprocess,spark")
    ap.add_argument("--summary-only", action="store_true", help="only summarise --event-log (no night)")
    ap.add_argument("--runs", type=Path, default=Path("/tmp/bench-spark"))
    ap.add_argument("--timeout-s", type=float, default=None,
                    help="stop an engine's night after this many seconds (figures so far are printed)")
    ap.add_argument("--event-log", type=Path, default=None,
                    help="Spark's event log folder: afterwards, seconds per job group and the longest stages")
    ap.add_argument("--no-compare", action="store_true",
                    help="run the nights only (a timed job that must stay short); compare later with --compare-only")
    ap.add_argument("--compare-only", action="store_true", help="only compare the run folders already under --runs")
    args = ap.parse_args()
    if args.summary_only:
        stage_summary(args.event_log)
        return
    engines = args.engines.split(",")
    if args.compare_only:
        compare(args.runs / engines[0] / args.date, args.runs / engines[1] / args.date)
        return
    args.runs.mkdir(parents=True, exist_ok=True)
    for e in engines:
        run(e, args, args.runs / e)
    if args.event_log and "spark" in engines and args.event_log.is_dir():
        stage_summary(args.event_log)
    if not args.no_compare and len(engines) == 2 and all((args.runs / e / args.date / "scores.parquet").is_file() for e in engines):
        compare(args.runs / engines[0] / args.date, args.runs / engines[1] / args.date)


if __name__ == "__main__":
    main()
