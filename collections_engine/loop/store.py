"""`simulate`'s I/O: read night D's book, truth and decisions; append the drawn month to DATA.

Appending adds the month's rows to each touched parquet table as new row groups, in the
table's own schema, without re-encoding the rows it holds (`loop/append.py`); truth/accounts
re-encodes only its row groups from night D on (their `p_queue` is set once the night is
decided) and truth/state, the pool's current state, is written whole. Every new file is
written beside its target first and the renames come only when all are written,
truth/world.json last: a failure before the renames leaves DATA as it was; `world.json`'s
`state_date` says which night the world is at, and `simulate` refuses any other night (a night
simulated twice, or one the world has not reached).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from collections_engine.errors import InputError
from collections_engine.io import find_table
from collections_engine.loop.append import append_parquet, encode
from collections_engine.loop.originations import origination_plan
from collections_engine.loop.simulate import Month, draw_month
from collections_engine.loop.world import World, read_world
from collections_engine.synth.state import json_bytes

__all__ = ["SimulateRequest", "simulate_night", "read_night", "read_at", "append_month", "Night"]

APPENDED = ("accounts", "placement_history", "outcomes", "payments", "contacts", "customers",
            "identifiers")


@dataclass(frozen=True)
class SimulateRequest:
    data: Path
    runs: Path
    date: str
    days: int = 30
    costs: dict[str, tuple[float, float]] | None = None   # queue -> (cost, commission)


@dataclass
class Night:
    """What the world needs of night D: its accounts with truth p_repay, and the decisions."""
    world: World
    tonight: pd.DataFrame
    decisions: pd.DataFrame
    holds: pd.DataFrame | None


def _day_scalar(path: Path, day: pd.Timestamp) -> pa.Scalar:
    typ = pq.read_schema(path).field("snapshot_date").type
    return pa.scalar(pd.Timestamp(day).to_pydatetime(), type=typ)


def read_at(path: Path, day: pd.Timestamp) -> pd.DataFrame:
    t = pq.read_table(path, filters=[("snapshot_date", "=", _day_scalar(path, day))])
    return t.to_pandas()


def read_night(data: Path, runs: Path, date: str) -> Night:
    """Everything `draw_month` needs for night `date`; every problem at once (exit 2)."""
    data, runs = Path(data), Path(runs)
    world = read_world(data)
    problems = []
    try:
        day = pd.Timestamp(date)
    except ValueError:
        raise InputError("--date", [f"found {date!r}; expected YYYY-MM-DD"]) from None
    if day != world.state_date:
        problems.append(f"{data}/truth/world.json: state_date is {world.state_date.date()}; "
                        f"--date {date} found: simulate continues the world from its latest "
                        "night only (a night is simulated once)")
    for name in APPENDED:
        p = find_table(data, name)
        if p is None or p.suffix != ".parquet":
            problems.append(f"{data}/{name}: found {p.name if p else 'no table'}; expected "
                            f"{name}.parquet (simulate appends to parquet tables)")
    assign = runs / date / "assignments.parquet"
    if not assign.is_file():
        problems.append(f"{assign}: not found; expected the run folder of night {date} "
                        "(run the night first)")
    if problems:
        raise InputError(str(data), problems)
    tonight = read_at(data / "accounts.parquet", day)
    truth = read_at(data / "truth" / "accounts.parquet", day)[["account_id", "p_repay"]]
    tonight = tonight.merge(truth, on="account_id", how="left")
    decisions = pd.read_parquet(assign)
    cols = ["account_id", "queue"] + (["propensity"] if "propensity" in decisions.columns else [])
    holds_p = find_table(data, "holds")
    holds = pd.read_parquet(holds_p) if holds_p is not None and holds_p.suffix == ".parquet" \
        else None
    return Night(world=world, tonight=tonight[tonight["dpd"] > 0], decisions=decisions[cols],
                 holds=holds)


def _rows(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(frame[schema.names], preserve_index=False)


def append_month(data: Path, world: World, month: Month) -> None:
    """Write the month into DATA (all files staged, then renamed; world.json last)."""
    data = Path(data)
    jobs: list[tuple[Path, Callable[[Path], object]]] = []

    def add(path: Path, frame: pd.DataFrame) -> None:
        jobs.append((path, lambda tmp: append_parquet(
            path, tmp, _rows(frame, pq.read_schema(path)))))

    for name in APPENDED:
        frame = getattr(month, name)
        if len(frame):
            add(data / f"{name}.parquet", frame)
    for name, frame in month.sources.items():     # a source DATA does not have: not bought
        path = data / "sources" / f"{name}.parquet"
        if len(frame) and path.is_file():
            add(path, frame)
    jobs.append((data / "truth" / "accounts.parquet",
                 lambda tmp: _truth_accounts(data / "truth" / "accounts.parquet", tmp, month)))
    st_path = data / "truth" / "state.parquet"
    st_old = pq.read_schema(st_path)
    jobs.append((st_path, lambda tmp: _write(tmp, encode(_rows(month.state, st_old).cast(
        st_old)))))
    params = dict(world.params)
    params["state_date"] = str(month.next_date.date())
    params["simulated_nights"] = list(params.get("simulated_nights", [])) + [
        {"date": str(month.date.date()), "next": str(month.next_date.date())}]
    rate, employers, _ = origination_plan(world.params, world.state.frame)
    params["originations"] = {"accounts_per_day": round(rate, 6), "employers": employers,
                              "opened_through": str(month.next_date.date())}
    blob = json_bytes(params)
    jobs.append((data / "truth" / "world.json", lambda tmp: _write(tmp, blob)))
    _stage_and_rename(jobs)


def _tail_from(path: Path, day: pd.Timestamp) -> int:
    """The first row group that may hold rows of `day` or later, by the row groups'
    snapshot_date statistics (every one before it ends earlier)."""
    meta = pq.ParquetFile(path).metadata
    col = meta.schema.to_arrow_schema().get_field_index("snapshot_date")
    for i in range(meta.num_row_groups):
        st = meta.row_group(i).column(col).statistics
        if st is None or not st.has_min_max or pd.Timestamp(st.max) >= day:
            return i
    return meta.num_row_groups


def _truth_accounts(path: Path, tmp: Path, month: Month) -> None:
    """truth/accounts with night D's p_queue (the truth under the night's queue) and the next
    snapshot's rows: the row groups from night D on are re-encoded, the rest kept as they are."""
    keep = _tail_from(path, month.date)
    pf = pq.ParquetFile(path)
    ta = pf.read_row_groups(range(keep, pf.metadata.num_row_groups))
    on_d = pc.equal(ta.column("snapshot_date"), pa.scalar(
        month.date.to_pydatetime(), type=ta.schema.field("snapshot_date").type)).to_numpy(
        zero_copy_only=False)
    if "p_queue" in ta.schema.names and on_d.any():
        pqs = ta.column("p_queue").to_numpy().copy()
        ids = pd.Series(ta.column("account_id").to_numpy(zero_copy_only=False)[on_d], dtype="str")
        pqs[np.flatnonzero(on_d)] = ids.map(month.p_queue.set_index("account_id")["p_queue"]
                                            ).fillna(pd.Series(pqs[on_d])).to_numpy()
        ta = ta.set_column(ta.schema.get_field_index("p_queue"), "p_queue", pa.array(pqs))
    add = _rows(month.truth_accounts, ta.schema).cast(ta.schema)
    append_parquet(path, tmp, pa.concat_tables([ta, add]), keep=keep)


def _write(target: Path, blob: bytes) -> None:
    with open(target, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())


def _stage_and_rename(jobs: list[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write every file beside its target, then rename them all (the last one last).

    The files are staged two at a time (Arrow releases the GIL while it decodes and encodes),
    the biggest first; the bytes do not depend on the order."""
    tmps = [(path.with_name(path.name + ".simulate-tmp"), path) for path, _ in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -(jobs[i][0].stat().st_size
                                                      if jobs[i][0].is_file() else 0))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda i: jobs[i][1](tmps[i][0]), order))
    except BaseException:
        for t, _ in tmps:
            t.unlink(missing_ok=True)
        raise
    for t, path in tmps:
        os.replace(t, path)


def simulate_night(req: SimulateRequest) -> Month:
    """Read night D, draw the month, append it; the drawn month is returned (for backtests)."""
    night = read_night(req.data, req.runs, req.date)
    if req.days < 1:
        raise InputError("--days", [f"found {req.days}; expected at least 1"])
    month = draw_month(night.world, night.tonight, night.decisions, night.holds,
                       pd.Timestamp(req.date), req.days, int(night.world.params.get("draw", 0)),
                       req.costs)
    append_month(req.data, night.world, month)
    return month
