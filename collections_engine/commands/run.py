"""`run`: the nightly batch for one business date."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location


def register(app: typer.Typer) -> None:
    @app.command(
        "run",
        help=(
            "The nightly batch for one business date: validate, build features, score with the "
            "champion model version (the last approved; or --model-version V), detect fraud rings, "
            "decide placements from the previous "
            "night's open placements, and write RUNS/DATE/ all-or-nothing. Exit 2 on bad input "
            "(nothing written); a rerun with different inputs is refused unless --force.\n\n"
            "Example:  collections-engine run --data data/book --date 2026-11-02 "
            "--strategy strategies/default.yaml --graph graphs/default.yaml --models models --out runs"
            "  [--engine spark --spark-master local[*]]"
        ),
    )
    @guarded
    def run_cmd(
        data: Path = typer.Option(..., "--data", parser=data_location, metavar="DATA",
                                  help="DATA folder (CONTRACT.md's input tables), or a database URL postgresql://..."),
        date: str = typer.Option(..., "--date", help="Business date YYYY-MM-DD (a snapshot_date of accounts)."),
        strategy: Path = typer.Option(..., "--strategy", help="Strategy YAML file."),
        graph: Path = typer.Option(..., "--graph", help="Graph YAML file."),
        models: Path = typer.Option(..., "--models", help="Folder of model versions."),
        out: Path = typer.Option(..., "--out", help="RUNS folder; the night goes to RUNS/DATE/."),
        force: bool = typer.Option(False, "--force", help="Replace an existing night run with different inputs."),
        model_version: str | None = typer.Option(
            None, "--model-version", help="Score with this approved model version instead of the champion."),
        engine: str = typer.Option("inprocess", "--engine",
                                   help="Where the per-account steps run: inprocess (default) or spark "
                                        "(pip install -e '.[spark]', Java 17+; same run folder)."),
        full: bool = typer.Option(False, "--full",
                                  help="Recompute every component of the ring graph instead of only those "
                                       "that changed since the previous night's ring state."),
        spark_master: str = typer.Option(None, "--spark-master",
                                         help="Spark master URL for --engine spark (default local[*]; "
                                              "under spark-submit, the submit command's)."),
        effects: str = typer.Option(
            "history", "--effects", metavar="history|strategy",
            help="Queue effects placement decides with: history (default: estimated from the randomised "
                 "placement history the approved model version was trained on, where a queue and stage "
                 "have enough accounts; the strategy's elsewhere, for queues with no history ('untested') "
                 "and, with a warning, when the history has no propensity) or strategy (the YAML's)."),
    ) -> None:
        from collections_engine.io.runs import LockBusy
        from collections_engine.memory import keep_freed
        from collections_engine.pipeline import RunRequest, run_night

        if engine == "inprocess":  # a process of its own reuses the memory it frees
            keep_freed(only_own=True)
        try:
            result = run_night(RunRequest(data=data, date=date, strategy=strategy, graph=graph,
                                          models=models, runs=out, force=force,
                                          model_version=model_version, engine=engine,
                                          spark_master=spark_master, full_rings=full, effects=effects))
        except LockBusy as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        c = result.counts
        typer.echo(f"night {date}: {c.get('delinquent_accounts', 0):,d} delinquent accounts, "
                   f"{c.get('decision_placed', 0):,d} placed, {c.get('decision_kept', 0):,d} kept, "
                   f"{c.get('ended_recalled', 0):,d} recalled, {c.get('rings', 0):,d} rings, "
                   f"{len(result.warnings)} warnings")
        typer.echo(f"run folder: {result.folder}")
        typer.echo(f"report:     {result.folder / 'report.html'}")
