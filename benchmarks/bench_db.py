"""Reading the input tables from PostgreSQL beside reading the same tables from parquet.

  flock /tmp/ce-heavy.lock .venv/bin/python benchmarks/bench_db.py --accounts 1000000
  .venv/bin/python benchmarks/bench_db.py --data DATA        # an existing DATA folder

A generated book (`generate --days 2 --history-months 12`, cached under --work) is loaded into a
throw-away server started by scripts/pg.sh (Debian's PostgreSQL, unix socket), with its midnight
timestamps as DATE columns. Then, each in a fresh child process (so each peak is its own):

- raw read: every table as pandas, `pyarrow.parquet.read_table(...).to_pandas()` beside
  `Database.read` (ADBC, binary COPY into Arrow, sorted by key then every column), and the same
  query without its ORDER BY (what the sort that makes the read deterministic costs)
- load_book: the engine's whole read and validation, from the folder and from the database
  (one snapshot; each table hashed from its batches as read: the night's fingerprint)
- fingerprint: `input_hashes` (files: SHA-256 of the bytes; database: a second, streamed read,
  which a night no longer does: kept to show what hashing as read saves)

`--measures raw_parquet,load_folder,...` runs only those (default: all).

Prints wall seconds and the child's peak RSS (ru_maxrss), with the load average: the machine
is shared. The server's own memory is not in these figures (it is another process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLI = [str(ROOT / ".venv" / "bin" / "collections-engine")]


MEASURES = ("raw_parquet", "raw_db", "raw_db_unsorted", "load_folder", "load_db", "hash_folder", "hash_db")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def child(what: str, data: str) -> None:
    """One measurement in this (child) process; prints one JSON line."""
    import pyarrow.parquet as pq

    from collections_engine.config import load_strategy
    from collections_engine.io.database import Database, DatabaseURL, SOURCES_SCHEMA
    from collections_engine.io.load import input_hashes, load_book
    from collections_engine.schema import TABLES

    strategy = load_strategy(ROOT / "strategies" / "default.yaml")
    t = time.perf_counter()
    rows = 0
    if what == "raw_parquet":
        for p in sorted(Path(data).glob("*.parquet")) + sorted((Path(data) / "sources").glob("*.parquet")):
            rows += len(pq.read_table(p).to_pandas(date_as_object=False))
    elif what == "raw_db":
        with Database.open(DatabaseURL(data)) as db:
            for sch, name in sorted(db.columns):
                key = TABLES[name].key if sch != SOURCES_SCHEMA and name in TABLES else ()
                rows += len(db.read(name, sch, key=key))
    elif what == "raw_db_unsorted":  # the same reads without ORDER BY: what the sort costs
        from collections_engine.io.database import _connect

        with Database.open(DatabaseURL(data)) as db:
            for sch, name in sorted(db.columns):
                with _connect(db.location.url) as conn, conn.cursor() as cur:
                    cur.execute(db.query(name, sch).split(" ORDER BY ")[0])
                    rows += len(cur.fetch_arrow_table().to_pandas(date_as_object=False, self_destruct=True))
    elif what in ("load_folder", "load_db"):
        hashes: dict[str, str] = {}
        book, _ = load_book(Path(data) if what == "load_folder" else DatabaseURL(data), strategy, hashes=hashes)
        if what == "load_db":
            assert len(hashes) >= 9, hashes  # every table read was hashed as read
        rows = sum(len(getattr(book, n)) for n in TABLES if getattr(book, n, None) is not None)
    elif what in ("hash_folder", "hash_db"):
        rows = len(input_hashes(Path(data) if what == "hash_folder" else DatabaseURL(data)))
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({"what": what, "seconds": round(seconds, 2), "peak_gib": round(peak, 2), "rows": rows}))


def measure(what: str, data: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", what, "--data", data],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--data", type=str, help="an existing DATA folder (default: generate one)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ce-bench-db")
    ap.add_argument("--history-months", type=int, default=12)
    ap.add_argument("--child", type=str)
    ap.add_argument("--keep", action="store_true", help="keep the generated book")
    ap.add_argument("--measures", type=str, default=",".join(MEASURES), help="which measures, comma-separated")
    ap.add_argument("--url", type=str, help="an existing database holding DATA's tables (no server started)")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data)
        return

    from collections_engine.io.database import DatabaseURL, copy_folder_to_database

    args.work.mkdir(parents=True, exist_ok=True)
    data = Path(args.data) if args.data else args.work / f"book_{args.accounts}"
    if not (data / "accounts.parquet").is_file():
        t = time.perf_counter()
        subprocess.run(CLI + ["generate", "--out", str(data), "--accounts", str(args.accounts), "--days", "2",
                              "--seed", "1", "--history-months", str(args.history_months), "--force"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"generated {args.accounts:,d} accounts in {time.perf_counter() - t:.1f} s [load {load()}]")
    size = sum(p.stat().st_size for p in data.rglob("*.parquet") if "truth" not in p.parts)
    print(f"DATA {data}: {size / 1024**2:,.0f} MiB of parquet (truth/ excluded)")
    server = Path(tempfile.mkdtemp(prefix="ce-bench-pg-")) / "server"
    if args.url:
        url = args.url
    else:
        url = subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "start", str(server)],
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    try:
        if not args.url:
            t = time.perf_counter()
            copy_folder_to_database(data, DatabaseURL(url))
            print(f"loaded into PostgreSQL (adbc_ingest, DATE columns) in {time.perf_counter() - t:.1f} s [load {load()}]")
            du = subprocess.run(["du", "-sm", str(server / "data")], capture_output=True, text=True).stdout.split()[0]
            print(f"server data folder: {du} MiB")
        print(f"{'measure':<14} {'seconds':>8} {'peak GiB':>9} {'rows':>12}  load")
        for what in args.measures.split(","):
            r = measure(what, url if what.endswith("_db") else str(data))
            print(f"{what:<14} {r['seconds']:>8.2f} {r['peak_gib']:>9.2f} {r['rows']:>12,d}  {load()}", flush=True)
    finally:
        if not args.url:
            subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "stop", str(server)], check=False)
        shutil.rmtree(server.parent, ignore_errors=True)
        if not args.keep and not args.data:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
