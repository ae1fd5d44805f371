"""The jobs behind the commands other than `run`: train, rings, sources, generate.

Each takes paths and typed options, reads through `io/`, calls the steps and writes its outputs
all-or-nothing, and returns a small record the command prints: `commands/` only parses
arguments and prints (as `pipeline.run_night` is the job behind `run`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collections_engine.config import load_graph, load_strategy
from collections_engine.errors import InputError
from collections_engine.io import atomic_dir, read_table, write_bytes_atomic, write_csv, write_parquet
from collections_engine.io.hashing import file_sha256
from collections_engine.io.jsonio import json_bytes
from collections_engine.io.load import TRAINING_TABLES, input_hashes, load_book

__all__ = ["TrainOutcome", "train_job", "RingsOutcome", "rings_job", "SourcesOutcome", "sources_job",
           "generate_job"]

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


def generate_job(out: Path, params, strategy_file: Path | None) -> dict[str, int]:
    """Write the synthetic book of `params` (`synth.SynthParams`) for the strategy's stages, queues
    and sources into OUT, all-or-nothing: one parquet file a table and truth/world.json (the same
    seed gives the same bytes). Returns the rows written per table."""
    from collections_engine.synth import default_strategy_path, iter_book

    strat = load_strategy(strategy_file or default_strategy_path())
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
