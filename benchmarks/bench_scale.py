"""How large a book the in-process engine runs on this machine (issue 22, bar 3), and what a big
book costs to generate.

  # a night of a book made elsewhere, as cron runs it (the last snapshot date by default)
  .venv/bin/python benchmarks/bench_scale.py night --data /tmp/h22g/b2m \\
      --models /work/coord/data/models100k --out /tmp/h22g/runs_2m [--date 2025-06-03]
  # generate a big book part by part, measured the same way
  .venv/bin/python benchmarks/bench_scale.py generate --out /tmp/h22g/b3m --accounts 3000000 \\
      --days 2 --parts 3
  # whether a big night's run folder has the shape of a smaller one's (files, columns, types,
  # row counts against the night's accounts, decisions' and queues' shares, rings per account)
  .venv/bin/python benchmarks/bench_scale.py shape RUNS_3M/2025-06-02 RUNS_1M/2025-06-02

Each command runs in a subprocess under /usr/bin/time -v (wall, CPU of the process tree, the
largest process's peak RSS) while the process tree's memory is sampled every 0.2 s as the sum of
PSS (`bench_night.TreeMemory`: pages the forked ring child shares with the parent count once).
`--max-gib G` stops the command (SIGKILL to its process group) when the summed PSS passes G
(default: the machine's MemAvailable at the start less 1 GiB), so a book too large for the
machine ends as a measured "did not fit" rather than an out-of-memory kill that could hit another
process on a shared box; `--timeout-s` stops it after that long.
Then the figures are printed: accounts on the night, wall, CPU, peaks, each step's time and peak
RSS from the run folder's timings.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_night import TreeMemory, _time_v, load  # noqa: E402

CLI = [str(ROOT / ".venv" / "bin" / "collections-engine")]


class CappedTreeMemory(TreeMemory):
    """TreeMemory that also kills the command's process group past `cap_gib` of summed PSS."""

    def __init__(self, root_pid: int, pgid: int, cap_gib: float | None) -> None:
        super().__init__(root_pid)
        self.pgid, self.cap, self.capped = pgid, cap_gib, False

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self._stop.wait(self.every):
            parts = [self._pss_gib(p) for p in self._pids(self.root)]
            if sum(parts) > self.peak:
                self.peak, self.at_s, self.parts = sum(parts), time.perf_counter() - t0, parts
            if self.cap is not None and sum(parts) > self.cap and not self.capped:
                self.capped = True
                try:
                    os.killpg(self.pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def measured(cmd: list[str], cap_gib: float | None, timeout_s: float | None, log: Path) -> dict:
    """Run `cmd` under time -v with its tree's summed PSS sampled; the figures as a dict."""
    report = Path(tempfile.mkstemp(prefix="bench_scale_time_")[1])
    if Path("/usr/bin/time").is_file():
        cmd = ["/usr/bin/time", "-v", "-o", str(report)] + cmd
    l0 = load()
    t = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        with CappedTreeMemory(proc.pid, proc.pid, cap_gib) as tree:
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
    wall = time.perf_counter() - t
    tv = _time_v(report)
    report.unlink(missing_ok=True)
    return {"rc": rc, "wall_s": wall, "timed_out": timed_out, "capped": tree.capped,
            "tree_pss_peak_gib": tree.peak, "tree_pss_at_s": tree.at_s,
            "tree_pss_parts_gib": tree.parts, "load": f"{l0} -> {load()}", **tv}


def _line(r: dict) -> str:
    cpu = (f"CPU user {r['user_s']:.1f} s + system {r['system_s']:.1f} s, largest process peak "
           f"RSS {r['max_rss_gib']:.2f} GiB (time -v), ") if "user_s" in r else ""
    end = ("stopped at the memory cap" if r["capped"] else "stopped at the timeout"
           if r["timed_out"] else f"exit {r['rc']}")
    return (f"{end}, {r['wall_s']:.1f} s wall, {cpu}peak of the process tree (sum of PSS) "
            f"{r['tree_pss_peak_gib']:.2f} GiB at {r['tree_pss_at_s']:.0f} s "
            f"({' + '.join(f'{x:.2f}' for x in r['tree_pss_parts_gib'])}) [load {r['load']}]")


def available_gib() -> float:
    """MemAvailable of /proc/meminfo (GiB): what the machine can still give without swapping."""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def night(a: argparse.Namespace) -> None:
    dates = pq.read_table(a.data / "accounts.parquet", columns=["snapshot_date"]).column(0)
    days = sorted(dates.unique().to_pylist())
    day = a.date or days[-1].date().isoformat()
    n = pc.sum(pc.equal(dates, pc.strptime(day, "%Y-%m-%d", "ns"))).as_py()
    del dates
    a.out.mkdir(parents=True, exist_ok=True)
    cmd = CLI + ["run", "--data", str(a.data), "--date", day, "--strategy", str(a.strategy),
                 "--graph", str(a.graph), "--models", str(a.models), "--out", str(a.out)]
    print(f"{a.data}: night {day}, {n:,} delinquent accounts; models {a.models}; "
          f"machine {os.cpu_count()} cores; cap {a.max_gib} GiB, timeout {a.timeout_s} s", flush=True)
    r = measured(cmd, a.max_gib, a.timeout_s, a.log or a.out / f"bench_scale_{day}.log")
    print(f"collections-engine run {day} ({n:,} accounts): {_line(r)}")
    timings = a.out / day / "timings.json"
    if r["rc"] == 0 and timings.is_file():
        tj = json.loads(timings.read_text())
        print("steps (timings.json): " + ", ".join(f"{k} {v:.1f} s" for k, v in tj.get("timings_s", {}).items()))
        print("peak RSS by step (parent; rings: the child): "
              + ", ".join(f"{k} {v:.2f}" for k, v in tj.get("peak_rss_gib", {}).items()))
    print("json: " + json.dumps({"accounts": n, "date": day, **r}))


def generate(a: argparse.Namespace) -> None:
    cmd = CLI + ["generate", "--out", str(a.out), "--accounts", str(a.accounts), "--days",
                 str(a.days), "--seed", str(a.seed), "--parts", str(a.parts), "--force"]
    print(f"generate {a.accounts:,} accounts, {a.days} nights, seed {a.seed}, {a.parts} parts "
          f"into {a.out}; cap {a.max_gib} GiB", flush=True)
    r = measured(cmd, a.max_gib, a.timeout_s, a.log or Path(f"{a.out}.generate.log"))
    size = sum(p.stat().st_size for p in a.out.rglob("*.parquet")) if a.out.is_dir() else 0
    print(f"generate: {_line(r)}; {size / 2**30:.2f} GiB of parquet")
    print("json: " + json.dumps({"accounts": a.accounts, "parts": a.parts, "parquet_gib": size / 2**30, **r}))


def _shape_of(run: Path) -> dict:
    import pandas as pd

    rj = json.loads((run / "run.json").read_text())
    n = rj["counts"]["delinquent_accounts"]
    files = {}
    for f in sorted(run.rglob("*.parquet")):
        meta = pq.read_metadata(f)
        files[f.relative_to(run).as_posix()] = (meta.num_rows, [(c.name, str(c.type)) for c in pq.read_schema(f)])
    csv = {f.relative_to(run).as_posix(): sum(1 for _ in open(f)) - 1 for f in sorted(run.rglob("*.csv"))}
    sc = pd.read_parquet(run / "scores.parquet", columns=["account_id", "p_repay", "band"])
    asg = pd.read_parquet(run / "assignments.parquet", columns=["account_id", "queue", "decision"])
    rings = pd.read_parquet(run / "rings.parquet", columns=["size", "customer_ids"])
    state = pd.read_parquet(run / "ring_state.parquet", columns=["customer_id"])
    members = {c for m in rings["customer_ids"] for c in m}
    checks = {
        "scores rows = delinquent accounts": len(sc) == n,
        "scores' account ids unique": bool(sc["account_id"].is_unique),
        "assignments = scores' accounts": set(asg["account_id"]) == set(sc["account_id"]),
        "p_repay in [0, 1], no NaN": bool(sc["p_repay"].between(0, 1).all()),
        "ring members in ring_state": members <= set(state["customer_id"]),
        "placements = decision placed": files.get("placements.parquet", (None,))[0]
        == int((asg["decision"] == "placed").sum()),
    }
    return {"run": str(run), "engine": (rj.get("engine") or {}).get("name", "inprocess"), "accounts": n,
            "files": files, "csv_rows": csv, "checks": checks,
            "per_100k": {k: round(v / n * 1e5, 1) for k, v in rj["counts"].items()},
            "decision_share": (asg["decision"].value_counts(normalize=True).round(4).to_dict()),
            "queue_share": (asg["queue"].value_counts(normalize=True).round(4).to_dict()),
            "band_share": sc["band"].value_counts(normalize=True).round(4).to_dict(),
            "p_repay_mean": round(float(sc["p_repay"].mean()), 4),
            "ring_size": {"rings": len(rings), "median": float(rings["size"].median()) if len(rings) else None,
                          "max": int(rings["size"].max()) if len(rings) else None, "members": len(members)},
            "ring_state_per_account": round(len(state) / n, 3)}


def shape(a: argparse.Namespace) -> None:
    """The run folder `a.run` beside `a.like`: the same files with the same columns and types,
    its own invariants, and its counts per 100k accounts and shares beside the other's."""
    x, y = _shape_of(a.run), _shape_of(a.like)
    fx, fy = set(x["files"]) | set(x["csv_rows"]), set(y["files"]) | set(y["csv_rows"])
    schema_diff = [f for f in x["files"] if f in y["files"] and x["files"][f][1] != y["files"][f][1]]
    print(f"{x['run']} ({x['engine']}, {x['accounts']:,} accounts) beside {y['run']} ({y['engine']}, "
          f"{y['accounts']:,} accounts)")
    print(f"data files only here: {sorted(fx - fy) or 'none'}; only in the other: {sorted(fy - fx) or 'none'}; "
          f"files whose columns or types differ: {schema_diff or 'none'}")
    for f, (rows, _) in x["files"].items():
        other = y["files"].get(f, (None,))[0]
        print(f"  {f}: {rows:,} rows (other {other:,})" if other is not None else f"  {f}: {rows:,} rows (other: none)")
    for f, rows in x["csv_rows"].items():
        print(f"  {f}: {rows:,} rows (other {y['csv_rows'].get(f)})")
    print("invariants: " + ", ".join(f"{k} {v}" for k, v in x["checks"].items()))
    for k in ("per_100k", "decision_share", "queue_share", "band_share", "p_repay_mean", "ring_size",
              "ring_state_per_account"):
        print(f"{k}: {json.dumps(x[k])}\n  other: {json.dumps(y[k])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    n = sub.add_parser("night", help="one in-process night of a book made elsewhere")
    n.add_argument("--data", type=Path, required=True)
    n.add_argument("--models", type=Path, required=True, help="an approved model version's folder")
    n.add_argument("--out", type=Path, required=True, help="RUNS folder (a new one per book)")
    n.add_argument("--date", help="the night (default: the book's last snapshot date)")
    n.add_argument("--strategy", type=Path, default=ROOT / "strategies" / "default.yaml")
    n.add_argument("--graph", type=Path, default=ROOT / "graphs" / "default.yaml")
    g = sub.add_parser("generate", help="generate a book, measured")
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--accounts", type=int, required=True)
    g.add_argument("--days", type=int, default=2)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--parts", type=int, default=1)
    h = sub.add_parser("shape", help="a run folder's shape beside another's (no run)")
    h.add_argument("run", type=Path)
    h.add_argument("like", type=Path)
    for p in (n, g):
        p.add_argument("--max-gib", type=float, default=None,
                       help="stop the command when its tree's summed PSS passes this (GiB; "
                            "default: MemAvailable at the start less 1 GiB)")
        p.add_argument("--timeout-s", type=float, default=None)
        p.add_argument("--log", type=Path, help="the command's output (default beside --out)")
    a = ap.parse_args()
    if a.what == "shape":
        shape(a)
        return
    avail = available_gib()
    if a.max_gib is None:
        a.max_gib = round(avail - 1.0, 2)
    print(f"MemAvailable at the start {avail:.2f} GiB", flush=True)
    night(a) if a.what == "night" else generate(a)


if __name__ == "__main__":
    main()
