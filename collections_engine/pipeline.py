"""The nightly run: the steps in order, around one atomic write of the run folder.

validate -> features -> score -> rings -> placement -> report -> write. Every file of
RUNS/DATE/ is written into a hidden temporary folder renamed into place at the end, so a run
that fails or is killed at any step leaves no folder for that date and every earlier night
(and the open-placements book they hold) untouched.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import json
import logging
import os
import pickle
import platform
import resource
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from collections_engine import __version__
from collections_engine.assign import build_decision_inputs
from collections_engine.assign.effects import EFFECT_MODES, Effects
from collections_engine.assign.experiments import decide_night
from collections_engine.config.experiments import CHAMPION, arm_strategies, arm_terms
from collections_engine.assign.files import vendor_batches, vendor_files, worklists
from collections_engine.config import GraphConfig, load_graph, load_strategy
from collections_engine.config.strategy import Strategy
from collections_engine.dates import parse_day
from collections_engine.errors import InputError
from collections_engine.features import build_features
from collections_engine.frames import isin
from collections_engine.io import file_sha256, read_table
from collections_engine.io.database import DatabaseURL
from collections_engine.io.load import TRAINING_TABLES, input_hashes, load_book
from collections_engine.io.runs import (clean_stale, night_folders, previous_night, read_previous_frame,
                                        read_run_json, runs_lock)
from collections_engine.io.runfolder import write_run_folder
from collections_engine.report.monitor import add_money, history_monitor, monitor_night, realised_since
from collections_engine.report.nightly import nightly_report, psi_table  # noqa: F401 (API)
from collections_engine.rings import detect_rings
from collections_engine.rings.incremental import STATE_FILE, check_state
from collections_engine.scoring import load_version, score
from collections_engine.validate import absence_alerts
from collections_engine.steps import StepClock, crash_point

__all__ = ["RunRequest", "RunResult", "run_night", "code_version", "inputs_fingerprint", "timings_finish", "split_timings"]

log = logging.getLogger("collections_engine")


@dataclass(frozen=True)
class RunRequest:
    data: Path  # or a DatabaseURL (io.database.data_location)
    date: str
    strategy: Path
    graph: Path
    models: Path
    runs: Path
    force: bool = False
    # the placement step: (inputs, strategy, date, effects=...) -> Decision; None = `decide`.
    # A backtest's peers (loop/policies.py) plug in here; everything else of the night is the same.
    placement: Callable[..., Any] | None = None
    model_version: str | None = None   # an approved version instead of the champion
    engine: str = "inprocess"           # or "spark" (collections_engine/spark/)
    spark_master: str | None = None
    full_rings: bool = False            # `run --full`: recompute every component of the ring graph
    effects: str = "history"            # `--effects`: history (where randomised) or strategy


@dataclass
class RunResult:
    folder: Path
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def code_version() -> str:
    """The package version and a hash of its source (no git needed at run time)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"


def inputs_fingerprint(req: RunRequest, model_version: str, strategy: Strategy | None = None,
                       files: dict[str, str] | None = None) -> dict[str, object]:
    """What the night's decisions depend on. `files`: the inputs' hashes when already known (a
    database's tables, hashed as the night read them); else hashed here (`input_hashes`)."""
    if files is None:
        files = input_hashes(req.data)
    fp = {
        "date": req.date,
        "input_files": files,
        "strategy_sha256": file_sha256(req.strategy),
        "graph_sha256": file_sha256(req.graph),
        "model_version": model_version,
    }
    # The challenger arms' strategy files decide part of the night too (only present when the
    # strategy names some, so nights without arm files keep their fingerprint).
    arm_files = _arm_file_hashes(req, strategy)
    if arm_files:
        fp["arm_strategies_sha256"] = arm_files
    # `--effects strategy` decides differently from the same files (only recorded when asked, so
    # nights run with the default keep their fingerprint).
    if req.effects != "history":
        fp["effects"] = req.effects
    # The code version is recorded but is not an input: a patched engine may rerun a night.
    fp["sha256"] = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()
    fp["code_version"] = code_version()
    return fp


def _arm_file_hashes(req: RunRequest, strategy: Strategy | None) -> dict[str, str]:
    """Arm name -> sha256 of its strategy file (paths from the champion's folder)."""
    exp = strategy.experiments if strategy is not None else None
    if exp is None:
        return {}
    return {a.name: file_sha256(Path(req.strategy).parent / a.strategy) for a in exp.arms if a.strategy is not None}


def run_night(req: RunRequest) -> RunResult:
    """Run one business date end to end; InputError for bad input (nothing written)."""
    engine = _open_engine(req)
    try:
        return _run_night(req, engine)
    finally:
        if engine is not None:
            engine.close()


def _open_engine(req: RunRequest):
    """None for the in-process engine (the default); the Spark engine otherwise. The Spark engine
    reads the book, builds features and scores, and finds rings on Spark; the steps below take
    it where they read the book, start the rings and score (the rest is the same code)."""
    if req.engine == "inprocess":
        return None
    if req.engine != "spark":
        raise InputError("--engine", [f"found '{req.engine}'; expected inprocess or spark"])
    if not isinstance(req.data, Path):  # a database URL (io.database): read in process only
        raise InputError("--engine", [f"--engine spark with --data {req.data}: Spark reads DATA folders; "
                                      "expected --engine inprocess for a database"])
    from collections_engine.spark.session import check_available

    check_available()  # no Java or pyspark: an outage of this machine (exit 1), said before anything else
    from collections_engine.spark import SparkEngine

    return SparkEngine(req.spark_master)


def _run_night(req: RunRequest, engine) -> RunResult:
    clock = StepClock()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    date = parse_day(req.date)
    if req.effects not in EFFECT_MODES:
        raise InputError("--effects", [f"found {req.effects!r}; expected one of {', '.join(EFFECT_MODES)}"])
    with clock.step("validate"):
        strategy = load_strategy(req.strategy)
        graph = load_graph(req.graph)
    with runs_lock(req.runs):
        stale = clean_stale(req.runs)
        if stale:
            log.warning("removed %d temporary folder(s) left by an interrupted run", len(stale))
        later = _refuse_broken_chain(req)
        with clock.step("validate"):
            version = load_version(req.models, req.model_version, approved_only=True, strategy=strategy)
            book, warnings, fp = _load_and_fingerprint(req, engine, strategy, version.version_id)
            _refuse_changed_rerun(req, fp)
            # what is missing and who it affects: in the log, in run.json and at the top of the report
            present = set(engine.tables) if engine is not None else set(book.table_names())
            alerts = absence_alerts(present, set(book.accounts.columns), strategy)
            # where each queue effect comes from (history, strategy, untested); a history that is
            # no experiment, and queues without history, are said at the top of the report
            effects = Effects.resolve(strategy, _effect_estimates(version), mode=req.effects)
            alerts += list(effects.warnings)
            for msg in alerts:
                log.warning("%s", msg)
            warnings = alerts + warnings
            if later:
                warnings.append(f"--force: night {req.date} run after later nights ({', '.join(later)}); their "
                                "decisions did not see this night: rerun them in date order")
            if engine is None and date not in set(book.snapshot_dates()):  # Spark: checked in its job
                raise InputError(str(req.data), [
                    f"accounts: no snapshot for --date {req.date}; expected one of the snapshot dates "
                    f"({_date_range(book)})"])
        prev = previous_night(req.runs, date)
        # Rings need only the book: they run on the other core while features and scores are built.
        previous_rings = read_previous_frame(prev, "rings.parquet")
        if engine is not None:  # Spark: every component recomputed (no ring state passed on)
            pending = engine.start_rings(book, graph, date, previous_rings)
        else:
            ring_state, why_full = _ring_state(prev, graph, req.full_rings, warnings)
            pending = _start_rings(book, graph, date, previous_rings, ring_state, why_full)
        try:
            earlier = _earlier_records(req.runs, req.date)
            if engine is not None:  # features, scores and drift counts bucket by bucket on Spark
                with clock.step("features"):
                    reference = _read_reference(version)
                    tonight, scores, drift = engine.score_night(book, date, strategy, version, warnings,
                                                                reference, rings=pending)
                    # the features stay on Spark: drift against the monthly-history reference
                    # only, information and never an alarm (as in-process)
                    monitor, drift = history_monitor(date, version.version_id, drift, scores)
                    current_ids = engine.current_ids  # tonight's dpd-0 ids, from the buckets: cured vs paid
            else:
                with clock.step("features"):
                    tonight = book.on(date)
                    current_ids = tonight.loc[(tonight["dpd"] == 0).to_numpy(), "account_id"]  # cured tonight
                    tonight = tonight[tonight["dpd"] > 0].sort_values("account_id", kind="stable").reset_index(drop=True)
                    feats = build_features(book, tonight, strategy)
                with clock.step("score"):
                    scores = score(version, feats, tonight, strategy, warnings)
                    # Drift needs the features; the rest of the night does not: let them go before
                    # waiting for the rings (half a gigabyte at a million accounts).
                    reference = _read_reference(version)
                    monitor, drift = monitor_night(
                        date=date, version=version, history_reference=reference, scores=scores,
                        features=feats, types=version.encoder.types, earlier=earlier)
                    del feats
                    _return_free_memory()
            with clock.step("rings_wait"):
                crash_point("rings")
                rings, rings_s, rings_peak = pending.result()
        finally:
            pending.stop()
        clock.timings["rings"] = round(rings_s, 3)
        clock.peak_rss_gib["rings"] = round(rings_peak, 3)
        warnings += rings.warnings
        with clock.step("placement"):
            open_placements = read_previous_frame(prev, "placements.parquet")
            inputs = build_decision_inputs(
                tonight, scores, strategy, date, holds=book.holds, fraud=_fraud_frame(rings.members, book, date),
                open_placements=open_placements)
            previous_assign = read_previous_frame(prev, "assignments.parquet")
            arms = arm_strategies(strategy, req.strategy, load_strategy)
            if req.placement is None:
                decision = decide_night(inputs, strategy, date, effects=effects.values, arms=arms,
                                        previous_arm=_previous_arms(previous_assign))
            else:   # a backtest's peer decides the whole night (no experiment arms)
                decision = req.placement(inputs, strategy, date, effects=effects.values)
                decision.assignments["arm"] = pd.Series([CHAMPION] * len(decision.assignments),
                                                        dtype="str")
                decision.assignments["propensity"] = 1.0
            warnings += decision.warnings
            vendors = vendor_batches(
                vendor_files(decision, inputs, tonight, book.customers, scores, strategy, date,
                             warnings=warnings, open_placements=open_placements, current_ids=current_ids),
                strategy, warnings, req.date)
            teams = worklists(decision)
        counts = _counts(tonight, decision, rings)
        for kind in ("paid", "cured"):  # endings of placements whose account left the book tonight
            n = sum(int((b.endings["ended"] == kind).sum()) for b in vendors.values())
            if n:
                counts[f"ended_{kind}"] = n
        with clock.step("report"):
            add_money(monitor, decision.assignments,
                      realised_since(book.payments, previous_assign, prev.name if prev else None, date))
            for row in drift[drift["level"].isin(["act", "watch"])].itertuples():
                msg = f"PSI of {row.what} is {row.psi:.3f} ({row.level}: 0.10 watch, 0.25 act)"
                log.warning("%s", msg)
                warnings.append(msg)
            report_html = nightly_report(
                date=date, strategy=strategy, scores=scores, version=version,
                reference=reference, decision=decision, rings=rings.rings,
                previous_assignments=previous_assign, warnings=warnings, counts=counts,
                psi_frame=drift, effects=effects.table, alerts=alerts,
                monitor_records=[*earlier, {"monitor": monitor}])
        # run.json holds only what follows from the inputs (same inputs, same bytes); what a
        # clock or the machine says goes to timings.json, which no comparison reads.
        solver, solver_times = split_timings(decision.solver)
        run_json = {
            "date": req.date, "inputs": fp, "previous_night": prev.name if prev else None,
            "model_version": version.version_id, "code_version": fp["code_version"],
            "counts": counts, "warnings": warnings, "solver": solver, "effects": effects.record(),
            "arms": arm_terms(arms, strategy),
            "rings_communities": rings.stats.get("communities", {}),
            "timings_file": "timings.json (not compared: wall-clock times, memory, host)",
            "monitor": monitor,
        }
        timings = {"date": req.date, "started_at": started, "finished_at": None, "host": platform.node(),
                   "timings_s": clock.timings, "peak_rss_gib": clock.peak_rss_gib,
                   "rings_parts_s": rings.stats.get("timings", {}), "solver": solver_times}
        if engine is not None:
            engine_stats, engine_times = split_timings(dict(engine.stats))
            run_json["engine"] = {"name": engine.name, **engine_stats}
            timings["engine"] = engine_times
        with clock.step("write"):
            folder = write_run_folder(
                req.runs / req.date, date=date, scores=scores, decision=decision, inputs=inputs,
                rings=rings.rings, vendors=vendors, teams=teams, strategy=strategy,
                effects=effects.table, report_html=report_html, run_json=run_json,
                finish_timings=lambda: timings_finish(timings, clock), ring_state=rings.state)
        log.info("night %s timings (s): %s", req.date,
                 ", ".join(f"{k} {v:.1f}" for k, v in timings["timings_s"].items()))
    return RunResult(folder=folder, counts=counts, warnings=warnings, timings=clock.timings)


def _previous_arms(previous: pd.DataFrame | None) -> pd.Series | None:
    """account_id -> the arm of the previous night (an open placement keeps its arm)."""
    if previous is None or "arm" not in previous.columns:
        return None
    return pd.Series(previous["arm"].astype("str").to_numpy(), index=previous["account_id"].astype("str"))


def _effect_estimates(version) -> pd.DataFrame | None:
    """The queue-effect estimates approved with the model version (None: the strategy's)."""
    path = Path(version.path) / "effect_estimates.parquet" if version.path else None
    return read_table(path) if path is not None and path.is_file() else None


class _Rings:
    """detect_rings in a forked child (a copy-on-write view of the book: nothing is copied or
    pickled on the way in; the result comes back pickled through a pipe). Where fork is not
    available, or COLLECTIONS_ENGINE_SERIAL is set, it runs inline when its result is asked for.
    The result is the same either way: detect_rings is deterministic."""

    def __init__(self, *args) -> None:
        self._args = args
        self._pid = 0
        self._fd = -1
        if hasattr(os, "fork") and not os.environ.get("COLLECTIONS_ENGINE_SERIAL"):
            r, w = os.pipe()
            # Frozen objects are left alone by the child's garbage collector, which would
            # otherwise write to (and so copy) every page of the parent's Python objects.
            gc.freeze()
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(r)
                _rings_child(w, self._args)
            gc.unfreeze()
            os.close(w)
            self._pid, self._fd = pid, r

    def result(self):
        """(RingsResult, seconds, peak RSS GiB of the process that ran it)."""
        if not self._pid:
            t = time.perf_counter()
            out = _detect(self._args)
            return out, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        with os.fdopen(self._fd, "rb") as fh:
            self._fd = -1
            payload = fh.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if not payload:
            raise RuntimeError(f"ring detection process ended without a result (wait status {status})")
        kind, value, seconds, peak = pickle.loads(payload)
        if kind == "error":
            raise value
        return value, seconds, peak

    def stop(self) -> None:
        """End the child if it is still there (the run failed before asking for the result)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._pid:
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._pid = 0


def _rings_child(fd: int, args: tuple) -> None:
    code = 0
    try:
        try:  # die with the parent (Linux): a killed run leaves no orphan behind
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        t = time.perf_counter()
        try:
            out = _detect(args)
            payload = pickle.dumps(("ok", out, time.perf_counter() - t,
                                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2),
                                   protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            try:
                payload = pickle.dumps(("error", exc, 0.0, 0.0))
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), 0.0, 0.0))
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
    except BaseException:  # noqa: BLE001 - the parent reports a missing result
        code = 1
    finally:
        os._exit(code)


def _return_free_memory() -> None:
    """Hand back to the system what the allocators keep free after features and scoring, while
    the ring child (whose peak comes later) still runs."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _start_rings(book, graph: GraphConfig, date: pd.Timestamp, previous: pd.DataFrame | None,
                 state: pd.DataFrame | None = None, why_full: str = "") -> _Rings:
    return _Rings(book, graph, date, previous, state, why_full)


def _detect(args: tuple):
    book, graph, date, previous, *rest = args
    state, why_full = rest if rest else (None, "")
    return detect_rings(book, graph, date, previous=previous, state=state, why_full=why_full)


def _ring_state(prev: Path | None, graph: GraphConfig, full: bool,
                warnings: list[str]) -> tuple[pd.DataFrame | None, str]:
    """The previous night's ring state (`rings.incremental`) if it can be used, else None and
    why: tonight then recomputes every component (never skips the ring step). A state that is
    there but damaged or made under other graph keys is a warning (log and report)."""
    if full:
        return None, "run --full"
    if prev is None:
        return None, "first night in RUNS"
    try:
        frame = read_previous_frame(prev, STATE_FILE)
    except Exception as exc:  # noqa: BLE001 - any damage to the file: recompute everything
        frame, why = None, f"{STATE_FILE} of night {prev.name} unreadable ({type(exc).__name__})"
    else:
        state, why = check_state(frame, graph)
        if state is not None:
            return state, ""
        why = f"night {prev.name}: {why}"
    msg = f"rings: every component recomputed: {why}"
    log.warning("%s", msg)
    if frame is not None or (prev / STATE_FILE).exists():
        warnings.append(msg)
    return None, why


def _load_and_fingerprint(req: RunRequest, engine, strategy: Strategy, version_id: str):
    """The book, its warnings and the night's inputs fingerprint. Files are hashed on a thread
    (hashlib releases the GIL) while they are read; a database's tables are hashed from the
    batches as they are read (no second pass over the database). A changed rerun is still
    refused before any problem of the data is raised."""
    if isinstance(req.data, DatabaseURL):
        hashes: dict[str, str] = {}
        try:
            book, warnings = load_book(req.data, strategy, skip=TRAINING_TABLES, night=True, hashes=hashes)
        except InputError:
            if hashes:
                _refuse_changed_rerun(req, inputs_fingerprint(req, version_id, strategy, hashes))
            raise
        return book, warnings, inputs_fingerprint(req, version_id, strategy, hashes)
    load = engine.load_book if engine is not None else load_book
    with ThreadPoolExecutor(max_workers=1) as pool:
        fp_future = pool.submit(inputs_fingerprint, req, version_id, strategy)
        try:
            book, warnings = load(req.data, strategy, skip=TRAINING_TABLES, night=True)
        except BaseException:
            _refuse_changed_rerun(req, fp_future.result())
            raise
        return book, warnings, fp_future.result()


def _refuse_changed_rerun(req: RunRequest, fp: dict[str, object]) -> None:
    folder = req.runs / req.date
    if not (folder / "run.json").is_file() or req.force:
        return
    before = read_run_json(folder).get("inputs", {})
    if before.get("sha256") == fp["sha256"]:
        return  # same inputs: the rerun writes the same bytes
    changed = sorted(k for k in ("input_files", "strategy_sha256", "arm_strategies_sha256", "graph_sha256",
                                 "model_version", "effects")
                     if before.get(k) != fp.get(k))
    raise InputError(str(folder), [
        f"a run for {req.date} already exists with different inputs (changed: {', '.join(changed)}); "
        "expected the same inputs, or --force to replace it"])


def _refuse_broken_chain(req: RunRequest) -> list[str]:
    """Nights run in date order: each reads the open placements the latest earlier night left.
    A night earlier than the latest finished one (a missed night filled in late) would send
    vendors placements the later nights never saw, so it is refused unless --force; rerunning a
    finished night with the same inputs is allowed (it writes the same bytes). Returns the later
    nights (their decisions no longer follow from this one when it is forced)."""
    later = [d for d in night_folders(req.runs) if d > req.date]
    if not later or (req.runs / req.date / "run.json").is_file() and not req.force:
        return later if req.force else []
    if not req.force:
        raise InputError(str(req.runs), [
            f"--date {req.date} is earlier than the latest finished night {later[-1]} in {req.runs}: the "
            f"later night{'s' if len(later) > 1 else ''} ({', '.join(later)}) decided from the open placements "
            f"without this night, so running it now would break the chain of placements sent to vendors; "
            f"expected a date on or after {later[-1]}, or --force to run it anyway (then rerun the later nights "
            "in order)"])
    msg = (f"--force: night {req.date} run after later nights ({', '.join(later)}); their decisions did not "
           "see this night: rerun them in date order")
    log.warning("%s", msg)
    return later


def _earlier_records(runs: Path, day: str) -> list[dict]:
    """run.json of every complete night before `day`, oldest first (the drift trend)."""
    return [read_run_json(Path(runs) / d) for d in night_folders(runs) if d < day]


def _read_reference(version) -> dict | None:
    path = Path(version.path) / "reference.json" if version.path else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text())


def _date_range(book) -> str:
    dates = [d.date().isoformat() for d in book.snapshot_dates()]
    return f"{dates[0]} .. {dates[-1]}" if dates else "none"


def _fraud_frame(members: pd.DataFrame, book, date: pd.Timestamp) -> pd.DataFrame:
    """Ring members plus confirmed fraud customers (labels known by tonight), one row each."""
    cols = ["customer_id", "ring_id", "ring_score", "confirmed"]
    m = members[cols] if len(members) else pd.DataFrame(columns=cols)
    fl = book.fraud_labels
    if fl is not None and len(fl):
        known = fl if "confirmed_on" not in fl else fl[fl["confirmed_on"].isna() | (fl["confirmed_on"] <= date)]
        extra = known.loc[~isin(known["customer_id"], m["customer_id"]), ["customer_id"]].drop_duplicates()
        extra = extra.assign(ring_id="", ring_score=1.0, confirmed=True)
        m = pd.concat([m, extra], ignore_index=True)
    return m.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _counts(tonight: pd.DataFrame, decision, rings) -> dict[str, int]:
    a = decision.assignments
    out = {"delinquent_accounts": int(len(tonight)), "rings": int(len(rings.rings))}
    for k, v in a["decision"].value_counts().sort_index().items():
        out[f"decision_{k}"] = int(v)
    for k, v in a["ended"].value_counts().sort_index().items():
        if k:
            out[f"ended_{k}"] = int(v)
    return out


def split_timings(solver: dict) -> tuple[dict, dict]:
    """The solver's record without its clock readings (keys ending in `_s` or naming a time),
    and those readings apart."""
    timed = {k: v for k, v in solver.items() if k.endswith("_s") or "time" in k}
    return {k: v for k, v in solver.items() if k not in timed}, timed


def timings_finish(timings: dict, clock: StepClock) -> dict:
    timings["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    timings["timings_s"] = {**clock.timings, "total": clock.total()}
    return timings
