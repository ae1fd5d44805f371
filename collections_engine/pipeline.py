"""The nightly run: the steps in order, around one atomic write of the run folder.

validate -> features -> score -> rings -> placement -> report -> write. Every file of
RUNS/DATE/ is written into a hidden temporary folder renamed into place at the end, so a run
that fails or is killed at any step leaves no folder for that date and every earlier night
(and the open-placements book they hold) untouched.

`_run_night` reads as the order of the steps; each phase is a function below it that takes what
it needs and returns a small record (`_Opened`, `_Scored`, `_Placed`). Rings run in a forked
child (`forked.Forked`) while features and scores are built; the earlier nights' outputs are
read once (`io.runs.read_previous_night`).
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from collections_engine.assign import build_decision_inputs
from collections_engine.assign.effects import EFFECT_MODES, Effects
from collections_engine.assign.experiments import decide_night, previous_arms
from collections_engine.assign.logodds_history import night_effects
from collections_engine.assign.files import vendor_batches, vendor_files, worklists
from collections_engine.config import GraphConfig, load_graph, load_strategy
from collections_engine.config.experiments import CHAMPION, arm_strategies, arm_terms
from collections_engine.config.strategy import Strategy
from collections_engine.dates import parse_day
from collections_engine.errors import InputError
from collections_engine.features import build_features
from collections_engine.fingerprint import (code_version, inputs_fingerprint, refuse_broken_chain,
                                            refuse_changed_rerun)
from collections_engine.forked import Forked
from collections_engine.frames import isin
from collections_engine.io.database import DatabaseURL
from collections_engine.io.load import TRAINING_TABLES, load_book
from collections_engine.io.runfolder import write_run_folder
from collections_engine.io.runs import PreviousNight, clean_stale, read_previous_frame, read_previous_night, runs_lock
from collections_engine.memory import return_free_memory
from collections_engine.report.monitor import add_money, history_monitor, monitor_night, realised_since
from collections_engine.report.nightly import nightly_report, psi_table  # noqa: F401 (API)
from collections_engine.rings import detect_rings
from collections_engine.rings.carry import CARRY_TABLES, DIGEST_COLUMNS, check_carry
from collections_engine.rings.incremental import check_state, state_key
from collections_engine.scoring import load_version, score
from collections_engine.scoring.store import read_effect_estimates, read_logodds_effects, read_reference
from collections_engine.steps import StepClock, crash_point
from collections_engine.validate import absence_alerts
from collections_engine.vocabulary import CURED, PAID

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


@dataclass
class _Opened:
    """The night's validated inputs: what every later step reads."""
    version: Any                      # scoring.ModelVersion
    book: Any                         # book.Book
    fp: dict[str, object]             # inputs fingerprint (run.json "inputs")
    alerts: list[str]                 # what is missing and who it affects
    effects: Effects                  # where each queue effect comes from
    warnings: list[str]               # every warning of the night so far (steps append to it)


@dataclass
class _Scored:
    """Tonight's delinquent accounts, their scores and the drift record."""
    tonight: pd.DataFrame
    scores: pd.DataFrame
    current_ids: Any                  # tonight's dpd-0 accounts (cured vs paid endings)
    monitor: dict
    drift: pd.DataFrame
    reference: dict | None


@dataclass
class _Placed:
    inputs: pd.DataFrame
    decision: Any                     # assign.Decision
    vendors: dict
    teams: dict
    arms: dict[str, Strategy]


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
    started = _now()
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
        later = refuse_broken_chain(req.runs, req.date, req.force)
        with clock.step("validate"):
            night = _open_night(req, engine, strategy, date, later)
        prev = read_previous_night(req.runs, date)
        warnings = night.warnings
        # Rings need only the book: they run on the other core while features and scores are built.
        pending = _start_rings(req, engine, night.book, graph, date, prev, warnings)
        try:
            if engine is not None:
                scored = _score_on_spark(engine, night, date, strategy, pending, clock)
            else:
                scored = _score_in_process(night, date, strategy, prev.earlier, clock, forked=pending.forked)
            with clock.step("rings_wait"):
                crash_point("rings")
                rings, rings_s, rings_peak = pending.result()
        finally:
            pending.stop()
        clock.timings["rings"] = round(rings_s, 3)
        clock.peak_rss_gib["rings"] = round(rings_peak, 3)
        warnings += rings.warnings
        with clock.step("placement"):
            placed = _place(req, strategy, night, scored, rings, date, prev)
        counts = _counts(scored.tonight, placed, rings)
        with clock.step("report"):
            report_html = _report(date, strategy, night, scored, placed, rings, prev, counts)
        run_json, timings = _records(req, started, strategy, night, prev, scored, placed, rings, counts,
                                      engine, clock)
        with clock.step("write"):
            folder = write_run_folder(
                req.runs / req.date, date=date, scores=scored.scores, decision=placed.decision,
                inputs=placed.inputs, rings=rings.rings, vendors=placed.vendors, teams=placed.teams,
                strategy=strategy, effects=night.effects.table, report_html=report_html, run_json=run_json,
                finish_timings=lambda: timings_finish(timings, clock), ring_state=rings.state,
                ring_carry=rings.carry.frames() if getattr(rings, "carry", None) is not None else None)
        log.info("night %s timings (s): %s", req.date,
                 ", ".join(f"{k} {v:.1f}" for k, v in timings["timings_s"].items()))
    return RunResult(folder=folder, counts=counts, warnings=warnings, timings=clock.timings)


def _open_night(req: RunRequest, engine, strategy: Strategy, date: pd.Timestamp, later: list[str]) -> _Opened:
    """The model version, the book and the fingerprint; a changed rerun refused; what is missing
    (in the log, in run.json and at the top of the report) and where each queue effect comes
    from (history, strategy, untested: a history that is no experiment, and queues without
    history, are said at the top of the report)."""
    version = load_version(req.models, req.model_version, approved_only=True, strategy=strategy)
    book, warnings, fp = _load_and_fingerprint(req, engine, strategy, version.version_id)
    refuse_changed_rerun(req.runs, req.date, req.force, fp)
    present = set(engine.tables) if engine is not None else set(book.table_names())
    alerts = absence_alerts(present, set(book.accounts.columns), strategy)
    effects = Effects.resolve(strategy, read_effect_estimates(version), mode=req.effects)
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
    return _Opened(version=version, book=book, fp=fp, alerts=alerts, effects=effects, warnings=warnings)


def _start_rings(req: RunRequest, engine, book, graph: GraphConfig, date: pd.Timestamp,
                 prev: PreviousNight, warnings: list[str]):
    """The ring step started beside the night (a forked child, or a Spark job); `.result()` waits."""
    if engine is not None:  # Spark: every component recomputed (no ring state passed on)
        return engine.start_rings(book, graph, date, prev.rings)
    state, why_full = _ring_state(prev, graph, req.full_rings, warnings)
    # The child starts from what the book holds, not from pages the loader freed but kept.
    return_free_memory()
    # The carried graph's files are read and checked in the child: off the night's critical path.
    pending = _ForkedRings(Forked(_detect, book, graph, date, prev.rings, state, why_full, (prev, req.full_rings),
                                  os.getpid()), warnings)
    if pending.forked:  # only the ring step reads them; the child lets go of them after its graph
        _drop_tables(book, ("identifiers",))
    return pending


# The book's tables the ring step reads (rings.graph_phase, rings.account_phase); the forked
# child lets go of the others (tests/test_night_fastpaths.py: the same rings without them),
# and of the columns of these it does not read: of the tables in RING_COLUMNS (the columns
# the carry's digests cover, `rings.carry.DIGEST_COLUMNS`) only those (the accounts' amounts
# and product: 0.4 GiB at a million accounts, freed once the parent's features are done).
RING_TABLES = ("accounts", "payments", "contacts", "identifiers", "fraud_labels")
RING_COLUMNS = DIGEST_COLUMNS


def _detect(book, graph: GraphConfig, date: pd.Timestamp, previous: pd.DataFrame | None,
            state: pd.DataFrame | None, why_full: str, carry_from: tuple[PreviousNight, bool] | None = None,
            parent: int | None = None):
    """The ring step (in the child), and the warnings of reading the previous night's carry.

    In the forked child the book's tables are let go of as soon as the ring step has read them
    for the last time (`detect_rings(release=)`): the parent lets go of the same tables after
    its features (`_score_in_process`), and pages they share copy-on-write go back to the
    system only when neither process holds them."""
    child = parent is not None and os.getpid() != parent
    if child:
        _only_ring_tables(book, carry_from[0] if carry_from is not None else None)
    notes: list[str] = []
    # The carry is not kept here: detect_rings drops it with the book's tables (`release`).
    rings = detect_rings(book, graph, date, previous=previous, state=state, why_full=why_full,
                         carry=_ring_carry(carry_from[0], graph, carry_from[1], notes) if carry_from is not None else None,
                         release=(lambda names: _drop_tables(book, names)) if child else None)
    return rings, notes


def _drop_tables(book, names: tuple[str, ...]) -> None:
    """Let go of the book's tables `names` (a process's own copy of the Book) and hand the pages
    back to the system."""
    for name in names:
        if name == "sources":
            book.sources = {}
        else:
            setattr(book, name, None)
    return_free_memory()


def _only_ring_tables(book, prev: PreviousNight | None) -> None:
    """In the forked child only (its own copy of these objects): drop the tables, columns
    (`RING_COLUMNS`) and earlier outputs the ring step does not read, and hand their pages back. Shared with the parent
    copy-on-write, they would count in the child's resident memory as well as the parent's
    (customers and sources: about 0.8 GiB at a million accounts)."""
    for f in fields(book):
        if f.name == "sources":
            book.sources = {}
        elif f.name not in RING_TABLES:
            setattr(book, f.name, None)
        elif f.name in RING_COLUMNS and getattr(book, f.name) is not None:
            table = getattr(book, f.name)
            keep = [c for c in table.columns if c in RING_COLUMNS[f.name]]
            if len(keep) < len(table.columns):
                setattr(book, f.name, table[keep])
    if prev is not None:
        prev.placements = prev.assignments = None
    return_free_memory()


class _ForkedRings:
    """The forked ring step as the night waits for it: `.result()` is (rings, seconds, peak GiB),
    with the carry's warnings put where the night was when the step started (before the
    scoring's), as if they had been read before the fork."""

    def __init__(self, forked: Forked, warnings: list[str]) -> None:
        self._forked, self._warnings, self._at = forked, warnings, len(warnings)

    @property
    def forked(self) -> bool:
        """Whether the ring step runs in a child with its own copy of the book (not inline)."""
        return self._forked.forked

    def result(self):
        (rings, notes), seconds, peak = self._forked.result()
        for msg in notes:
            log.warning("%s", msg)
        self._warnings[self._at:self._at] = notes
        return rings, seconds, peak

    def stop(self) -> None:
        self._forked.stop()


def _ring_carry(prev: PreviousNight, graph: GraphConfig, full: bool, warnings: list[str]):
    """The previous night's carried identifier graph and account aggregates (`rings.carry`) if
    they can be used, else None: tonight builds them from the whole book (the reason is in the
    ring stats and run.json's `rings_graph`); files that are there but damaged are a warning too."""
    if full or prev.folder is None:
        return None
    names = [f"ring_carry_{t}.parquet" for t in CARRY_TABLES]
    if not any((prev.folder / n).exists() for n in names):
        return None
    try:
        frames = {t: read_previous_frame(prev.folder, n) for t, n in zip(CARRY_TABLES, names)}
    except Exception as exc:  # noqa: BLE001 - any damage to the files: build the graph from the book
        carry, why = None, f"ring_carry files of night {prev.name} unreadable ({type(exc).__name__})"
    else:
        carry, why = check_carry(frames, state_key(graph))
    if carry is None:  # logged by the night when it takes the ring step's result (`_ForkedRings`)
        warnings.append(f"rings: identifier graph built from the whole book: night {prev.name}: {why}")
    return carry


# The book's tables no step of the parent reads after the features (placement reads holds,
# customers and fraud_labels; the report payments; identifiers: none, dropped at the fork).
# Dropped when the ring step runs in a forked child, which lets go of the same tables when it
# has read them (`_detect`).
PARENT_DONE_TABLES = ("accounts", "contacts", "sources")


def _score_in_process(night: _Opened, date: pd.Timestamp, strategy: Strategy, earlier: list[dict],
                      clock: StepClock, forked: bool = False) -> _Scored:
    book, version = night.book, night.version
    with clock.step("features"):
        tonight = book.on(date)
        current_ids = tonight.loc[(tonight["dpd"] == 0).to_numpy(), "account_id"]  # cured tonight
        tonight = tonight[tonight["dpd"] > 0].sort_values("account_id", kind="stable").reset_index(drop=True)
        feats = build_features(book, tonight, strategy)
        if forked:  # the ring step has its own copy of the book: no later step reads these
            _drop_tables(book, PARENT_DONE_TABLES)
    with clock.step("score"):
        scores = score(version, feats, tonight, strategy, night.warnings)
        # Drift needs the features; the rest of the night does not: let them go before
        # waiting for the rings (half a gigabyte at a million accounts).
        reference = read_reference(version)
        monitor, drift = monitor_night(
            date=date, version=version, history_reference=reference, scores=scores,
            features=feats, types=version.encoder.types, earlier=earlier)
        del feats
        return_free_memory()
    return _Scored(tonight=tonight, scores=scores, current_ids=current_ids, monitor=monitor, drift=drift,
                   reference=reference)


def _score_on_spark(engine, night: _Opened, date: pd.Timestamp, strategy: Strategy, pending,
                    clock: StepClock) -> _Scored:
    """Features, scores and drift counts bucket by bucket on Spark. The features stay on Spark:
    drift against the monthly-history reference only, information and never an alarm (as
    in-process)."""
    with clock.step("features"):
        reference = read_reference(night.version)
        tonight, scores, drift = engine.score_night(night.book, date, strategy, night.version, night.warnings,
                                                    reference, rings=pending)
        monitor, drift = history_monitor(date, night.version.version_id, drift, scores)
    # tonight's dpd-0 ids, from the buckets: cured vs paid
    return _Scored(tonight=tonight, scores=scores, current_ids=engine.current_ids, monitor=monitor,
                   drift=drift, reference=reference)


def _place(req: RunRequest, strategy: Strategy, night: _Opened, scored: _Scored, rings, date: pd.Timestamp,
           prev: PreviousNight) -> _Placed:
    """Tonight's decisions (the experiment arms, or a backtest's peer), vendor files and worklists."""
    book, warnings = night.book, night.warnings
    inputs = build_decision_inputs(
        scored.tonight, scored.scores, strategy, date, holds=book.holds,
        fraud=_fraud_frame(rings.members, book, date), open_placements=prev.placements)
    arms = arm_strategies(strategy, req.strategy, load_strategy)
    effects = night.effects.values
    if strategy.effects_model == "logodds":   # opt-in (issue 19): log-odds effects by account traits
        inputs, effects, said = night_effects(inputs, scored.tonight, strategy, date, req.effects, effects,
                                              read_logodds_effects(night.version))
        warnings += said
    if req.placement is None:
        decision = decide_night(inputs, strategy, date, effects=effects, arms=arms,
                                previous_arm=previous_arms(prev.assignments))
    else:   # a backtest's peer decides the whole night (no experiment arms)
        decision = req.placement(inputs, strategy, date, effects=effects)
        decision.assignments["arm"] = pd.Series([CHAMPION] * len(decision.assignments), dtype="str")
        decision.assignments["propensity"] = 1.0
    warnings += decision.warnings
    vendors = vendor_batches(
        vendor_files(decision, inputs, scored.tonight, book.customers, scored.scores, strategy, date,
                     warnings=warnings, open_placements=prev.placements, current_ids=scored.current_ids),
        strategy, warnings, req.date)
    return _Placed(inputs=inputs, decision=decision, vendors=vendors, teams=worklists(decision), arms=arms)


def _report(date: pd.Timestamp, strategy: Strategy, night: _Opened, scored: _Scored, placed: _Placed, rings,
            prev: PreviousNight, counts: dict[str, int]) -> str:
    """Tonight's money into the monitoring record, drift warnings, and the nightly report."""
    warnings = night.warnings
    add_money(scored.monitor, placed.decision.assignments,
              realised_since(night.book.payments, prev.assignments, prev.name, date))
    drift = scored.drift
    for row in drift[drift["level"].isin(["act", "watch"])].itertuples():
        msg = f"PSI of {row.what} is {row.psi:.3f} ({row.level}: 0.10 watch, 0.25 act)"
        log.warning("%s", msg)
        warnings.append(msg)
    return nightly_report(
        date=date, strategy=strategy, scores=scored.scores, version=night.version,
        reference=scored.reference, decision=placed.decision, rings=rings.rings,
        previous_assignments=prev.assignments, warnings=warnings, counts=counts,
        psi_frame=drift, effects=night.effects.table, alerts=night.alerts,
        monitor_records=[*prev.earlier, {"monitor": scored.monitor}])


def _records(req: RunRequest, started: str, strategy: Strategy, night: _Opened, prev: PreviousNight,
             scored: _Scored, placed: _Placed, rings, counts: dict[str, int], engine,
             clock: StepClock) -> tuple[dict, dict]:
    """run.json (only what follows from the inputs: same inputs, same bytes) and timings.json
    (what a clock or the machine says, which no comparison reads)."""
    fp = night.fp
    solver, solver_times = split_timings(placed.decision.solver)
    run_json = {
        "date": req.date, "inputs": fp, "previous_night": prev.name,
        "model_version": night.version.version_id, "code_version": fp["code_version"],
        "counts": counts, "warnings": night.warnings, "solver": solver, "effects": night.effects.record(),
        "arms": arm_terms(placed.arms, strategy),
        "rings_communities": rings.stats.get("communities", {}),
        # how tonight's identifier graph was built: from the previous night's carry or the book
        **({"rings_graph": rings.stats["graph_carry"]} if rings.stats.get("graph_carry") else {}),
        "timings_file": "timings.json (not compared: wall-clock times, memory, host)",
        "monitor": scored.monitor,
    }
    timings = {"date": req.date, "started_at": started, "finished_at": None, "host": platform.node(),
               "timings_s": clock.timings, "peak_rss_gib": clock.peak_rss_gib, "cpu_by_step": clock.cpu,
               "rings_parts_s": rings.stats.get("timings", {}), "solver": solver_times}
    if engine is not None:
        engine_stats, engine_times = split_timings(dict(engine.stats))
        run_json["engine"] = {"name": engine.name, **engine_stats}
        timings["engine"] = engine_times
    return run_json, timings


def _ring_state(prev: PreviousNight, graph: GraphConfig, full: bool,
                warnings: list[str]) -> tuple[pd.DataFrame | None, str]:
    """The previous night's ring state (`rings.incremental`) if it can be used, else None and
    why: tonight then recomputes every component (never skips the ring step). A state that is
    there but damaged or made under other graph keys is a warning (log and report)."""
    if full:
        return None, "run --full"
    if prev.folder is None:
        return None, "first night in RUNS"
    if prev.ring_state_error:
        why = prev.ring_state_error
    else:
        state, why = check_state(prev.ring_state, graph)
        if state is not None:
            return state, ""
        why = f"night {prev.name}: {why}"
    msg = f"rings: every component recomputed: {why}"
    log.warning("%s", msg)
    if prev.ring_state is not None or prev.ring_state_error:  # a state file was there
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
                refuse_changed_rerun(req.runs, req.date, req.force,
                                     inputs_fingerprint(req, version_id, strategy, hashes))
            raise
        return book, warnings, inputs_fingerprint(req, version_id, strategy, hashes)
    load = engine.load_book if engine is not None else load_book
    with ThreadPoolExecutor(max_workers=1) as pool:
        fp_future = pool.submit(inputs_fingerprint, req, version_id, strategy)
        try:
            book, warnings = load(req.data, strategy, skip=TRAINING_TABLES, night=True)
        except BaseException:
            refuse_changed_rerun(req.runs, req.date, req.force, fp_future.result())
            raise
        return book, warnings, fp_future.result()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def _counts(tonight: pd.DataFrame, placed: _Placed, rings) -> dict[str, int]:
    """Accounts, rings, decisions and endings (of placements: yesterday's, and those whose
    account left the book tonight, paid or cured)."""
    a = placed.decision.assignments
    out = {"delinquent_accounts": int(len(tonight)), "rings": int(len(rings.rings))}
    for k, v in a["decision"].value_counts().sort_index().items():
        out[f"decision_{k}"] = int(v)
    for k, v in a["ended"].value_counts().sort_index().items():
        if k:
            out[f"ended_{k}"] = int(v)
    for kind in (PAID, CURED):  # endings of placements whose account left the book tonight
        n = sum(int((b.endings["ended"] == kind).sum()) for b in placed.vendors.values())
        if n:
            out[f"ended_{kind}"] = n
    return out


def split_timings(solver: dict) -> tuple[dict, dict]:
    """The solver's record without its clock readings (keys ending in `_s` or naming a time),
    and those readings apart."""
    timed = {k: v for k, v in solver.items() if k.endswith("_s") or "time" in k}
    return {k: v for k, v in solver.items() if k not in timed}, timed


def timings_finish(timings: dict, clock: StepClock) -> dict:
    timings["finished_at"] = _now()
    timings["timings_s"] = {**clock.timings, "total": clock.total()}
    return timings
