"""`rings --data DATA --graph FILE --out DIR [--date D]`: fraud-ring detection on its own."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location
from collections_engine.config import load_graph
from collections_engine.errors import InputError
from collections_engine.io import atomic_dir, read_table, write_bytes_atomic, write_parquet
from collections_engine.io.load import TRAINING_TABLES, load_book
from collections_engine.rings import detect_rings
from collections_engine.dates import parse_day

log = logging.getLogger("collections_engine")


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
        cfg = load_graph(graph)
        when = _parse_date(date)
        book, warnings = load_book(data, skip=TRAINING_TABLES)
        dates = book.snapshot_dates()
        if when is None:
            when = dates[-1]
        elif when not in dates:
            raise InputError(str(data), [
                f"--date {when:%Y-%m-%d}: no accounts snapshot on that date; expected one of "
                f"{dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d}"])
        prev = None
        if previous is not None:
            if not previous.is_file():
                raise InputError("--previous", [f"--previous: file not found: {previous}"])
            prev = read_table(previous)
        log.info("rings: %s, snapshot %s", data, f"{when:%Y-%m-%d}")
        result = detect_rings(book, cfg, when, previous=prev)
        for w in result.warnings:
            log.warning("%s", w)
        summary = {**result.stats, "warnings": warnings + result.warnings}
        with atomic_dir(out) as tmp:
            write_parquet(result.rings, tmp / "rings.parquet")
            write_parquet(result.members, tmp / "ring_members.parquet")
            write_bytes_atomic(tmp / "rings_summary.json",
                               (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
        typer.echo(f"{len(result.rings)} rings, {len(result.members)} members on "
                   f"{when:%Y-%m-%d}: {out / 'rings.parquet'}")
