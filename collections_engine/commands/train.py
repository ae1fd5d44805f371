"""`train --data DATA --strategy FILE --models DIR`: fit the segment models, write a candidate."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location


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
        from collections_engine.jobs import train_job
        from collections_engine.scoring import TrainConfig

        done = train_job(data, strategy, models, TrainConfig(seed=seed, max_rows_per_segment=max_rows_per_segment))
        if done.existed:
            typer.echo(f"model version {done.version_id} already exists for these inputs: {done.path}")
            return
        ov = done.overall
        typer.echo(f"model version {done.version_id} (candidate) written to {done.path}")
        typer.echo(f"held-out AUC {ov['auc']:.4f} [{ov['lo']:.4f}, {ov['hi']:.4f}] on {ov['n']} rows; "
                   f"report: {done.path / 'report.html'}")
        typer.echo(f"approve with: collections-engine approve --models {models} --version {done.version_id}")
