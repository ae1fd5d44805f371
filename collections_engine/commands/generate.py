"""`generate --out DATA`: write a synthetic book with its answer key in DATA/truth/."""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.errors import InputError
from collections_engine.jobs import generate_job
from collections_engine.synth import SynthParams

log = logging.getLogger("collections_engine")


def register(app: typer.Typer) -> None:
    @app.command(
        "generate",
        help=(
            "Write a synthetic book: monthly history with placements and outcomes, then DAYS "
            "consecutive business days of nightly snapshots with ACCOUNTS delinquent accounts on "
            "the first night, and the answer key in DATA/truth/. Same seed, same bytes.\n\n"
            "Example:  collections-engine generate --out /tmp/book --accounts 10000 --days 7 "
            "--seed 1"
        ),
    )
    @guarded
    def generate(
        out: Path = typer.Option(..., "--out", help="The DATA folder to write."),
        accounts: int = typer.Option(10_000, "--accounts",
                                     help="Delinquent accounts on the first night."),
        days: int = typer.Option(7, "--days", help="Business days of nightly snapshots."),
        seed: int = typer.Option(1, "--seed", help="Random seed."),
        history_months: int = typer.Option(12, "--history-months",
                                           help="Monthly history snapshots with outcomes."),
        first_night: str = typer.Option("2025-06-02", "--first-night",
                                        help="The first night, YYYY-MM-DD (a business day)."),
        strategy: Path = typer.Option(None, "--strategy",
                                      help="Strategy whose stages, queues and sources to use "
                                           "(default: strategies/default.yaml)."),
        force: bool = typer.Option(False, "--force", help="Replace a non-empty --out folder."),
        parts: int = typer.Option(1, "--parts",
                                  help="Draw the book as this many parts of disjoint customers "
                                       "and accounts, one in memory at a time (books larger "
                                       "than one process's memory); 1: the whole book at once."),
    ) -> None:
        problems = []
        if accounts < 1:
            problems.append(f"--accounts: found {accounts}; expected at least 1")
        if days < 1:
            problems.append(f"--days: found {days}; expected at least 1")
        if parts < 1 or parts > max(accounts, 1):
            problems.append(f"--parts: found {parts}; expected 1 to --accounts ({accounts})")
        if history_months < 1:
            problems.append(f"--history-months: found {history_months}; expected at least 1")
        try:
            night = date.fromisoformat(first_night)
            if night.weekday() >= 5:
                problems.append(f"--first-night: found {first_night} (a weekend day); "
                                "expected a business day")
        except ValueError:
            problems.append(f"--first-night: found {first_night!r}; expected YYYY-MM-DD")
            night = date(2025, 6, 2)
        if out.exists() and any(out.iterdir()) and not force:
            problems.append(f"--out: {out} exists and is not empty; expected a new folder "
                            "(or --force to replace it)")
        if problems:
            raise InputError("generate", problems)
        params = SynthParams(accounts=accounts, days=days, seed=seed,
                             history_months=history_months, first_night=night)
        t0 = time.perf_counter()
        log.info("generating %d accounts, %d history months, %d nights (seed %d, %d part%s)",
                 accounts, history_months, days, seed, parts, "" if parts == 1 else "s")
        rows = generate_job(out, params, strategy, parts)
        log.info("done in %.1f s", time.perf_counter() - t0)
        typer.echo(f"wrote {out}: {rows['accounts']} account rows over "
                   f"{history_months} month ends and {days} nights; truth in {out / 'truth'}")
