"""`sources --data DATA --strategy FILE --out DIR`: value each third-party data source."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.errors import InputError
from collections_engine.guard import guarded
from collections_engine.io.database import data_location


def register(app: typer.Typer) -> None:
    @app.command(
        "sources",
        help=(
            "Value each third-party data source the strategy declares, per segment: the change "
            "in AUC and KS when it is removed from the full model and added to the internal-only "
            "model (paired DeLong test on the same out-of-time rows, Holm-corrected), the change "
            "in money of the placements decided with and without it against its price, and a "
            "keep / drop / inconclusive recommendation with why. Writes DIR/sources.csv, "
            "sources.json, sources.html and contributions.parquet.\n\n"
            "Example:  collections-engine sources --data DATA --strategy strategies/default.yaml "
            "--out /tmp/sources"
        ),
    )
    @guarded
    def sources(
        data: Path = typer.Option(..., "--data", parser=data_location, metavar="DATA",
                                  help="The DATA folder (needs outcomes), or a database URL postgresql://..."),
        strategy: Path = typer.Option(..., "--strategy", help="The strategy file (strategies/*.yaml)."),
        out: Path = typer.Option(..., "--out", help="Output folder (written all-or-nothing)."),
        seed: int = typer.Option(1, "--seed", help="Seed of the samples, models and bootstraps."),
        estimator: str = typer.Option(
            "ipw", "--estimator",
            help="Money estimator where placement_history has propensities: ipw (inverse-propensity "
                 "weighting of realised outcomes), dr (the same, with the full model's expectation "
                 "as control variate) or model (the full model's expectation everywhere)."),
        max_train_rows: int = typer.Option(80_000, "--max-train-rows",
                                           help="Training-window rows sampled for the variant models."),
        effects: str = typer.Option(
            "history", "--effects",
            help="Queue effects the plans are decided and modelled with: history (estimated on the "
                 "training window's placement history, as the nightly run uses the trained "
                 "effects; the strategy's where history is thin) or strategy (the YAML's)."),
    ) -> None:
        problems = []
        if estimator not in ("ipw", "dr", "model"):
            problems.append(f"--estimator: found {estimator!r}; expected ipw, dr or model")
        if effects not in ("history", "strategy"):
            problems.append(f"--effects: found {effects!r}; expected history or strategy")
        if max_train_rows < 100:
            problems.append(f"--max-train-rows: found {max_train_rows}; expected at least 100")
        if problems:
            raise InputError("sources", problems)
        from collections_engine.jobs import sources_job
        from collections_engine.sources import ValuationConfig

        cfg = ValuationConfig(seed=seed, estimator=estimator, max_train_rows=max_train_rows, effects=effects)
        done = sources_job(data, strategy, out, cfg)
        for r in done.summary.itertuples(index=False):
            typer.echo(f"{r.source}: {r.status}; buy for {r.buy_for or '-'}")
        typer.echo(f"written: {out / 'sources.html'}")
