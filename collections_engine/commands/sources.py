"""`sources --data DATA --strategy FILE --out DIR`: value each third-party data source."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location
from collections_engine.config import load_strategy
from collections_engine.errors import InputError
from collections_engine.io import atomic_dir, write_bytes_atomic, write_csv, write_parquet
from collections_engine.io.load import load_book
from collections_engine.sources import ValuationConfig, sources_html, value_sources

log = logging.getLogger("collections_engine")


def _clean(x: object) -> object:
    """JSON-safe: NaN -> null, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _records(df: pd.DataFrame) -> list[dict]:
    return [_clean(r) for r in df.to_dict(orient="records")]


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
        strat = load_strategy(strategy)
        book, load_warnings = load_book(data, strat)
        cfg = ValuationConfig(seed=seed, estimator=estimator, max_train_rows=max_train_rows,
                              effects=effects)
        result = value_sources(book, strat, load_warnings, cfg)
        for w in result.warnings:
            log.warning("%s", w)
        meta = {**result.meta, "data": str(data), "strategy": str(strategy),
                "currency": strat.currency, "warnings": load_warnings + result.warnings}
        doc = {"meta": _clean(meta), "summary": _records(result.summary),
               "results": _records(result.table)}
        page = sources_html(result, strat, load_warnings)
        with atomic_dir(out) as tmp:
            write_csv(result.table, tmp / "sources.csv")
            write_bytes_atomic(tmp / "sources.json",
                               (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
            write_bytes_atomic(tmp / "sources.html", page.encode("utf-8"))
            write_parquet(result.contributions, tmp / "contributions.parquet")
        for r in result.summary.itertuples(index=False):
            typer.echo(f"{r.source}: {r.status}; buy for {r.buy_for or '-'}")
        typer.echo(f"written: {out / 'sources.html'}")
