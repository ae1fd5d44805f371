"""`rings --data DATA --graph FILE --out DIR [--date D]`: fraud-ring detection on its own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from collections_engine.dates import parse_day
from collections_engine.guard import guarded
from collections_engine.io.database import data_location


def _parse_date(text: str | None) -> pd.Timestamp | None:
    return None if text is None else parse_day(text)


def register(app: typer.Typer) -> None:
    @app.command(
        "rings",
        help=(
            "Fraud-ring detection on its own: link customers that share identifiers, find "
            "communities (igraph Leiden), flag those whose mean fraud propensity reaches the "
            "graph file's threshold. Writes DIR/rings.parquet, DIR/ring_members.parquet and "
            "DIR/rings_summary.json.\n\n"
            "Example:  collections-engine rings --data DATA --graph graphs/default.yaml --out /tmp/rings"
        ),
    )
    @guarded
    def rings(
        data: Path = typer.Option(..., "--data", parser=data_location, metavar="DATA",
                                  help="The DATA folder, or a database URL postgresql://..."),
        graph: Path = typer.Option(..., "--graph", help="The graph file (graphs/*.yaml)."),
        out: Path = typer.Option(..., "--out", help="Output folder."),
        date: str = typer.Option(None, "--date", help="Snapshot date YYYY-MM-DD (default: the latest)."),
        previous: Path = typer.Option(
            None, "--previous", help="An earlier rings.parquet whose ring ids are kept."),
    ) -> None:
        from collections_engine.jobs import rings_job

        done = rings_job(data, graph, out, _parse_date(date), previous)
        typer.echo(f"{done.rings} rings, {done.members} members on "
                   f"{done.date:%Y-%m-%d}: {out / 'rings.parquet'}")
