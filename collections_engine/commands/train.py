"""`train --data DATA --strategy FILE --models DIR`: fit the segment models, write a candidate."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location

log = logging.getLogger("collections_engine")


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        help=(
            "Fit the willingness models (one per customer line x stage, and a pooled model), "
            "validate them out of time and write a new model version with status candidate and "
            "its report (MODELS/VERSION/report.html). The version id is derived from the data, "
            "strategy and code: the same inputs give the same id.\n\n"
            "Example:  collections-engine train --data data/book --strategy strategies/default.yaml "
            "--models models"
        ),
    )
    @guarded
    def train_cmd(
        data: Path = typer.Option(..., "--data", parser=data_location, metavar="DATA",
                                  help="DATA folder with history and outcomes, or a database URL postgresql://..."),
        strategy: Path = typer.Option(..., "--strategy", help="Strategy YAML file."),
        models: Path = typer.Option(..., "--models", help="Folder of model versions."),
        seed: int = typer.Option(1, "--seed", help="Seed for sampling and LightGBM."),
        max_rows_per_segment: int = typer.Option(
            50_000, "--max-rows-per-segment", min=1000,
            help="Training-window rows sampled per segment (a large history is sampled)."),
    ) -> None:
        from collections_engine.assign.effects import estimate_effects
        from collections_engine.config import load_strategy
        from collections_engine.io import file_sha256
        from collections_engine.io.load import input_hashes, load_book
        from collections_engine.report.model import model_report
        from collections_engine.scoring import TrainConfig, train
        from collections_engine.scoring.store import code_hash, version_id_of, write_version

        t0 = time.perf_counter()
        strat = load_strategy(strategy)
        read_hashes: dict[str, str] = {}  # a database's tables, hashed as read (no second pass)
        book, warnings = load_book(data, strat, hashes=read_hashes)
        book.identifiers = None  # not a model input (the rings step uses it); free the memory
        for w in warnings:
            log.warning("%s", w)
        hashes = read_hashes or input_hashes(data)
        cfg = TrainConfig(seed=seed, max_rows_per_segment=max_rows_per_segment)
        config = {k: v for k, v in cfg.__dict__.items()}
        code = code_hash()
        vid = version_id_of(hashes, file_sha256(strategy), config, code)
        target = models / vid
        if (target / "status.json").is_file():
            typer.echo(f"model version {vid} already exists for these inputs: {target}")
            return
        log.info("loaded %s in %.1f s; training version %s", data, time.perf_counter() - t0, vid)
        trained = train(book, strat, cfg)
        provenance = {"input_hashes": hashes, "strategy_file": str(strategy),
                      "strategy_hash": file_sha256(strategy), "code_hash": code,
                      "load_warnings": warnings, "train_seconds": round(time.perf_counter() - t0, 1)}
        meta = {**trained.meta, **provenance}
        html = model_report(vid, trained.report, meta)
        estimates = None
        if book.placement_history is not None and book.outcomes is not None and len(book.outcomes):
            estimates = estimate_effects(book.placement_history, book.outcomes, book.accounts, strat,
                                         holds=book.holds)
        path = write_version(trained, models, vid, provenance, html, estimates)
        ov = trained.report["overall"]["final"]
        typer.echo(f"model version {vid} (candidate) written to {path}")
        typer.echo(f"held-out AUC {ov['auc']:.4f} [{ov['lo']:.4f}, {ov['hi']:.4f}] on {ov['n']} rows; "
                   f"report: {path / 'report.html'}")
        typer.echo(f"approve with: collections-engine approve --models {models} --version {vid}")
