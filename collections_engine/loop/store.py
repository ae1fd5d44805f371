"""`simulate`'s I/O: read night D's book, truth and decisions; append the drawn month to DATA.

Appending rewrites each touched parquet table whole (old rows, then the new ones, in the
tables' own schema). Every new file is written beside its target first and the renames come
only when all are written, truth/world.json last: a failure before the renames leaves DATA as
it was; `world.json`'s `state_date` says which night the world is at, and `simulate` refuses any
other night (a night simulated twice, or one the world has not reached).
"""

from __future__ import annotations

import io as _io
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
from collections_engine.loop.originations import origination_plan
from collections_engine.loop.simulate import Month, draw_month
from collections_engine.loop.world import World, read_world
from collections_engine.synth.state import json_bytes

__all__ = ["SimulateRequest", "simulate_night", "read_night", "append_month", "Night"]

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


def _read_at(path: Path, day: pd.Timestamp) -> pd.DataFrame:
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
    tonight = _read_at(data / "accounts.parquet", day)
    truth = _read_at(data / "truth" / "accounts.parquet", day)[["account_id", "p_repay"]]
    tonight = tonight.merge(truth, on="account_id", how="left")
    decisions = pd.read_parquet(assign)
    cols = ["account_id", "queue"] + (["propensity"] if "propensity" in decisions.columns else [])
    holds_p = find_table(data, "holds")
    holds = pd.read_parquet(holds_p) if holds_p is not None and holds_p.suffix == ".parquet" \
        else None
    return Night(world=world, tonight=tonight[tonight["dpd"] > 0], decisions=decisions[cols],
                 holds=holds)


def _parquet(table: pa.Table) -> bytes:
    buf = _io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True)
    return buf.getvalue()


def _appended(path: Path, new: pd.DataFrame) -> pa.Table:
    old = pq.read_table(path)
    add = pa.Table.from_pandas(new[old.schema.names], preserve_index=False)
    return pa.concat_tables([old, add.cast(old.schema)])


def append_month(data: Path, world: World, month: Month) -> None:
    """Write the month into DATA (all files staged, then renamed; world.json last)."""
    data = Path(data)
    jobs: list[tuple[Path, Callable[[], bytes]]] = []
    for name in APPENDED:
        frame = getattr(month, name)
        if len(frame):
            path = data / f"{name}.parquet"
            jobs.append((path, lambda path=path, frame=frame: _parquet(_appended(path, frame))))
    for name, frame in month.sources.items():     # a source DATA does not have: not bought
        path = data / "sources" / f"{name}.parquet"
        if len(frame) and path.is_file():
            jobs.append((path, lambda path=path, frame=frame: _parquet(_appended(path, frame))))
    jobs.append((data / "truth" / "accounts.parquet", lambda: _truth_accounts(data, month)))
    st_old = pq.read_schema(data / "truth" / "state.parquet")
    jobs.append((data / "truth" / "state.parquet", lambda: _parquet(pa.Table.from_pandas(
        month.state[st_old.names], preserve_index=False).cast(st_old))))
    # each table is decoded, extended and encoded on its own: two at a time (Arrow releases the
    # GIL while it decodes and encodes), biggest first; the bytes do not depend on the order
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0].stat().st_size)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(order, pool.map(lambda i: jobs[i][1](), order)))
    staged = [(jobs[i][0], done[i]) for i in range(len(jobs))]
    params = dict(world.params)
    params["state_date"] = str(month.next_date.date())
    params["simulated_nights"] = list(params.get("simulated_nights", [])) + [
        {"date": str(month.date.date()), "next": str(month.next_date.date())}]
    rate, employers, _ = origination_plan(world.params, world.state.frame)
    params["originations"] = {"accounts_per_day": round(rate, 6), "employers": employers,
                              "opened_through": str(month.next_date.date())}
    staged.append((data / "truth" / "world.json", json_bytes(params)))
    _stage_and_rename(staged)


def _truth_accounts(data: Path, month: Month) -> bytes:
    """truth/accounts with night D's p_queue (the truth under the night's queue) and the next
    snapshot's rows."""
    ta = pq.read_table(data / "truth" / "accounts.parquet")
    on_d = pc.equal(ta.column("snapshot_date"), pa.scalar(
        month.date.to_pydatetime(), type=ta.schema.field("snapshot_date").type)).to_numpy(
        zero_copy_only=False)
    if "p_queue" in ta.schema.names and on_d.any():
        pqs = ta.column("p_queue").to_numpy().copy()
        ids = pd.Series(ta.column("account_id").to_numpy(zero_copy_only=False)[on_d], dtype="str")
        pqs[np.flatnonzero(on_d)] = ids.map(month.p_queue.set_index("account_id")["p_queue"]
                                            ).fillna(pd.Series(pqs[on_d])).to_numpy()
        ta = ta.set_column(ta.schema.get_field_index("p_queue"), "p_queue", pa.array(pqs))
    add = pa.Table.from_pandas(month.truth_accounts[ta.schema.names], preserve_index=False)
    return _parquet(pa.concat_tables([ta, add.cast(ta.schema)]))


def _stage_and_rename(staged: list[tuple[Path, bytes]]) -> None:
    """Write every file beside its target, then rename them all (the last one last)."""
    tmp = []
    try:
        for path, blob in staged:
            t = path.with_name(path.name + ".simulate-tmp")
            with open(t, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.append((t, path))
    except BaseException:
        for t, _ in tmp:
            t.unlink(missing_ok=True)
        raise
    for t, path in tmp:
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
