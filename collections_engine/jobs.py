"""The jobs behind the commands other than `run`: train, rings, sources, generate, approve,
experiments, promote, and the night `demo` runs.

Each takes paths and typed options, reads through `io/`, calls the steps and writes its outputs
all-or-nothing, and returns a small record the command prints: `commands/` only parses
arguments and prints (as `pipeline.run_night` is the job behind `run`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collections_engine.config import load_graph, load_strategy
from collections_engine.errors import InputError
from collections_engine.io import atomic_dir, find_table, read_table, write_bytes_atomic, write_csv, write_parquet
from collections_engine.io.hashing import file_sha256
from collections_engine.io.jsonio import json_bytes
from collections_engine.io.load import TRAINING_TABLES, input_hashes, load_book

__all__ = ["TrainOutcome", "train_job", "RingsOutcome", "rings_job", "SourcesOutcome", "sources_job",
           "generate_job", "Review", "review_job", "approve_job", "ExperimentsOutcome", "experiments_job",
           "promote_job", "first_night"]

log = logging.getLogger("collections_engine")


@dataclass
class TrainOutcome:
    version_id: str
    path: Path
    existed: bool                     # a version of the same inputs was already there: nothing done
    overall: dict = field(default_factory=dict)   # held-out AUC of the final model: auc, lo, hi, n


def train_job(data, strategy_file: Path, models: Path, cfg) -> TrainOutcome:
    """Fit the segment models on DATA and write a candidate version (`scoring.store`); the version
    id follows from the inputs' hashes, the strategy file, `cfg` and the code, so the same inputs
    find their version already there."""
    from collections_engine.assign.effects import estimate_effects
    from collections_engine.report.model import model_report
    from collections_engine.scoring import train
    from collections_engine.scoring.store import code_hash, version_exists, version_id_of, write_version

    t0 = time.perf_counter()
    strat = load_strategy(strategy_file)
    read_hashes: dict[str, str] = {}  # a database's tables, hashed as read (no second pass)
    book, warnings = load_book(data, strat, hashes=read_hashes)
    book.identifiers = None  # not a model input (the rings step uses it); free the memory
    for w in warnings:
        log.warning("%s", w)
    hashes = read_hashes or input_hashes(data)
    code = code_hash()
    vid = version_id_of(hashes, file_sha256(strategy_file), dict(cfg.__dict__), code)
    if version_exists(models, vid):
        return TrainOutcome(version_id=vid, path=Path(models) / vid, existed=True)
    log.info("loaded %s in %.1f s; training version %s", data, time.perf_counter() - t0, vid)
    trained = train(book, strat, cfg)
    provenance = {"input_hashes": hashes, "strategy_file": str(strategy_file),
                  "strategy_hash": file_sha256(strategy_file), "code_hash": code,
                  "load_warnings": warnings, "train_seconds": round(time.perf_counter() - t0, 1)}
    html = model_report(vid, trained.report, {**trained.meta, **provenance})
    estimates = None
    if book.placement_history is not None and book.outcomes is not None and len(book.outcomes):
        estimates = estimate_effects(book.placement_history, book.outcomes, book.accounts, strat,
                                     holds=book.holds)
    logodds = None
    if strat.effects_model == "logodds":   # opt-in (issue 19): queue shifts on the log-odds by account traits
        from collections_engine.assign.logodds import fit_logodds
        from collections_engine.assign.logodds_history import history_rows
        logodds = fit_logodds(history_rows(book.placement_history, book.outcomes, book.accounts, strat,
                                           holds=book.holds), strat).to_frame()
    path = write_version(trained, models, vid, provenance, html, estimates, logodds)
    return TrainOutcome(version_id=vid, path=path, existed=False, overall=trained.report["overall"]["final"])


@dataclass
class RingsOutcome:
    date: pd.Timestamp
    rings: int
    members: int


def rings_job(data, graph_file: Path, out: Path, date: pd.Timestamp | None = None,
              previous: Path | None = None) -> RingsOutcome:
    """Fraud rings of one snapshot (default: the latest) on their own: OUT/rings.parquet,
    ring_members.parquet and rings_summary.json, all-or-nothing. `previous`: an earlier
    rings.parquet whose ring ids are kept."""
    from collections_engine.rings import detect_rings

    cfg = load_graph(graph_file)
    book, warnings = load_book(data, skip=TRAINING_TABLES)
    dates = book.snapshot_dates()
    if date is None:
        date = dates[-1]
    elif date not in dates:
        raise InputError(str(data), [
            f"--date {date:%Y-%m-%d}: no accounts snapshot on that date; expected one of "
            f"{dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d}"])
    prev = None
    if previous is not None:
        if not Path(previous).is_file():
            raise InputError("--previous", [f"--previous: file not found: {previous}"])
        prev = read_table(previous)
    log.info("rings: %s, snapshot %s", data, f"{date:%Y-%m-%d}")
    result = detect_rings(book, cfg, date, previous=prev)
    for w in result.warnings:
        log.warning("%s", w)
    summary = {**result.stats, "warnings": warnings + result.warnings}
    with atomic_dir(out) as tmp:
        write_parquet(result.rings, tmp / "rings.parquet")
        write_parquet(result.members, tmp / "ring_members.parquet")
        write_bytes_atomic(tmp / "rings_summary.json", json_bytes(summary, indent=2))
    return RingsOutcome(date=date, rings=len(result.rings), members=len(result.members))


@dataclass
class SourcesOutcome:
    summary: pd.DataFrame             # per source: status, buy_for, ...


def sources_job(data, strategy_file: Path, out: Path, cfg) -> SourcesOutcome:
    """Value each data source the strategy declares (`sources.value_sources`): OUT/sources.csv,
    sources.json, sources.html and contributions.parquet, all-or-nothing."""
    from collections_engine.sources import sources_html, value_sources

    strat = load_strategy(strategy_file)
    book, load_warnings = load_book(data, strat)
    result = value_sources(book, strat, load_warnings, cfg)
    for w in result.warnings:
        log.warning("%s", w)
    meta = {**result.meta, "data": str(data), "strategy": str(strategy_file),
            "currency": strat.currency, "warnings": load_warnings + result.warnings}
    doc = {"meta": meta, "summary": result.summary.to_dict(orient="records"),
           "results": result.table.to_dict(orient="records")}
    page = sources_html(result, strat, load_warnings)
    with atomic_dir(out) as tmp:
        write_csv(result.table, tmp / "sources.csv")
        write_bytes_atomic(tmp / "sources.json", json_bytes(doc, indent=2))
        write_bytes_atomic(tmp / "sources.html", page.encode("utf-8"))
        write_parquet(result.contributions, tmp / "contributions.parquet")
    return SourcesOutcome(summary=result.summary)


def generate_job(out: Path, params, strategy_file: Path | None, parts: int = 1) -> dict[str, int]:
    """Write the synthetic book of `params` (`synth.SynthParams`) for the strategy's stages, queues
    and sources into OUT, all-or-nothing: one parquet file a table and truth/world.json (the same
    seed gives the same bytes). Returns the rows written per table. `parts` > 1: the book drawn
    as that many parts, one in memory at a time, appended to the same files (`synth.parts`)."""
    from collections_engine.synth import default_strategy_path, iter_book

    strat = load_strategy(strategy_file or default_strategy_path())
    if parts > 1:
        return _generate_parts(out, params, strat, parts)
    rows: dict[str, int] = {}
    with atomic_dir(out, replace=True) as tmp:
        for name, frame in iter_book(params, strat):
            if isinstance(frame, dict):          # truth/world.json
                write_bytes_atomic(tmp / f"{name}.json", json_bytes(frame, indent=2))
                continue
            write_parquet(frame, tmp / f"{name}.parquet")
            rows[name] = len(frame)
            del frame
    return rows


def _generate_parts(out: Path, params, strat, parts: int) -> dict[str, int]:
    """`generate_job` for a book of several parts: each table's parts appended to one file
    (`io.appending.PartsWriter`), all-or-nothing as one part."""
    from collections_engine.io.appending import PartsWriter
    from collections_engine.synth.parts import DATE_MAJOR, iter_parts

    with atomic_dir(out, replace=True) as tmp:
        writer = PartsWriter(tmp, DATE_MAJOR)
        for name, frame, _part in iter_parts(params, strat, parts):
            if isinstance(frame, dict):          # truth/world.json
                write_bytes_atomic(tmp / f"{name}.json", json_bytes(frame, indent=2))
                continue
            writer.add(name, frame)
            del frame
        return writer.close()


@dataclass
class Review:
    """A candidate model version beside the champion (`scoring.store.review`'s answer in `review`),
    and `rescore`: the champion scored on the candidate's rows from DATA, when DATA was given
    (the approval reviews again with it if another approver was first)."""
    review: dict
    rescore: Callable | None = None

    @property
    def compared(self) -> bool:
        """Whether there is a champion other than the candidate to show it beside."""
        return bool(self.review["champion"]) and self.review["champion"] != self.review["candidate"]


def review_job(models: Path, version: str | None, data=None, strategy_file: Path | None = None) -> Review:
    """The candidate (default: the newest) beside the champion on the same held-out rows; with
    DATA and the strategy, the champion is scored on the candidate's rows where the two versions
    share too few (`scoring.compare.rescore_rows`): the book is loaded once, here."""
    from collections_engine.scoring import store

    rescore = None
    if data is not None:
        from collections_engine.scoring.compare import rescore_rows

        strat = load_strategy(strategy_file)
        book, _ = load_book(data, strat)

        def rescore(champion, rows):  # noqa: ANN001, ANN202 - the champion on the candidate's rows
            return rescore_rows(champion, book, strat, rows)

    return Review(review=store.review(models, version, rescore), rescore=rescore)


def approve_job(models: Path, reviewed: Review, by: str, *, force: bool = False, reason: str | None = None) -> dict:
    """Make the reviewed candidate the champion (`scoring.store.approve`: a candidate worse beyond
    the interval is refused, nothing recorded, unless `force` with a `reason`; an approval appends
    its record)."""
    from collections_engine.scoring import store

    return store.approve(models, reviewed.review["candidate"], by, force=force, reason=reason,
                         reviewed=reviewed.review, rescore=reviewed.rescore)


@dataclass
class ExperimentsOutcome:
    results: pd.DataFrame             # per arm over every night with outcomes (`experiments.collect.summarise`)
    effects: pd.DataFrame | None      # the effects re-estimated from the engine's history (with a strategy)
    notes: list[str] = field(default_factory=list)


def experiments_job(runs: Path, data, strategy_file: Path | None = None, out: Path | None = None) -> ExperimentsOutcome:
    """The champion/challenger results across RUNS' nights whose outcomes DATA holds; with the
    strategy, the queue effects re-estimated from the randomised rows; OUT's CSV files written
    all-or-nothing when OUT is given."""
    from collections_engine.experiments.collect import collect, effects_of, summarise, write_summary

    rows, stages, notes = collect(runs, data)
    results, by_night = summarise(rows)
    effects = effects_of(data, stages, load_strategy(strategy_file)) if strategy_file is not None else None
    if out is not None:
        write_summary(out, results, by_night, effects, notes)
    return ExperimentsOutcome(results=results, effects=effects, notes=notes)


def promote_job(strategy_file: Path, arm: str, by: str, reason: str | None = None, runs: Path | None = None,
                data=None) -> dict:
    """Promote `arm` to champion (`experiments.promote`). With RUNS and DATA the experiments'
    results are the evidence recorded, and an arm whose net per account is not above the
    champion's beyond its interval is refused unless a `reason` is given (recorded)."""
    from collections_engine.experiments.collect import collect, summarise
    from collections_engine.experiments.promote import promote

    evidence = None
    if runs is not None:
        rows, _, _ = collect(runs, data)
        results, _ = summarise(rows)
        evidence = results.to_dict("records")
        mine = [r for r in evidence if r["arm"] == arm]
        better = bool(mine) and mine[0]["significant"] and mine[0]["net_vs_champion"] > 0
        if not better and not (reason or "").strip():
            raise InputError("promote", [
                f"--arm {arm}: " + (f"net per account vs champion {mine[0]['net_vs_champion']:+,.2f} "
                                    f"[{mine[0]['diff_lo']:+,.2f}, {mine[0]['diff_hi']:+,.2f}] is not above "
                                    "the champion beyond its interval" if mine else "no outcomes for this arm")
                + "; promote anyway with --reason TEXT (recorded)"])
    return promote(strategy_file, arm, by, reason, evidence)


def first_night(data: Path) -> str:
    """The book's first nightly snapshot (YYYY-MM-DD), the night `demo` runs: the first snapshot
    date of `accounts` that has no outcomes (the history's month ends have them), else the last."""
    path = find_table(data, "accounts")
    if path is None:
        raise InputError(str(data), [f"accounts: table missing; expected accounts.parquet or accounts.csv in {data}"])
    dates = pd.to_datetime(read_table(path, ["snapshot_date"])["snapshot_date"]).drop_duplicates().sort_values()
    if dates.empty:
        raise InputError(str(path), ["accounts: no rows; expected at least one snapshot date"])
    out = find_table(data, "outcomes")
    done = set(pd.to_datetime(read_table(out, ["snapshot_date"])["snapshot_date"])) if out is not None else set()
    nights = [d for d in dates if d not in done]
    return (nights[0] if nights else dates.iloc[-1]).strftime("%Y-%m-%d")
