"""`simulate`: draw from the generator's world what follows night D and append it to DATA."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from collections_engine.guard import guarded

log = logging.getLogger("collections_engine")


def register(app: typer.Typer) -> None:
    @app.command(
        "simulate",
        help=(
            "Draw from the generator's world (DATA/truth, world v2) what happens in the DAYS "
            "after night DATE under what the engine decided that night (RUNS/DATE/"
            "assignments.parquet: who was worked by whom, recalled, held), and append it to "
            "DATA: placement_history (the night's queues and their propensities when the run "
            "has them), outcomes (when DAYS covers the outcome horizon), payments, contacts and "
            "the next snapshot of accounts (DATE + DAYS, moved to a business day), and the new "
            "customers and accounts opened in the window at the world's rate (customers, "
            "identifiers, sources). Same seed, "
            "same bytes; then `run` the next snapshot.\n\n"
            "Example:  collections-engine simulate --data book --runs runs --date 2025-06-10 "
            "--days 30"
        ),
    )
    @guarded
    def simulate_cmd(
        data: Path = typer.Option(..., "--data", help="DATA folder made by `generate`."),
        runs: Path = typer.Option(..., "--runs", help="RUNS folder holding night DATE."),
        date: str = typer.Option(..., "--date", help="The night that ran (YYYY-MM-DD)."),
        days: int = typer.Option(30, "--days", help="Calendar days to the next snapshot."),
    ) -> None:
        from collections_engine.loop import SimulateRequest, simulate_night

        m = simulate_night(SimulateRequest(data=data, runs=runs, date=date, days=days))
        paid = float(m.payments["amount"].sum())
        log.info("simulated %s -> %s: %d accounts, %d repaid, %.2f paid", date,
                 m.next_date.date(), len(m.placement_history), int(m.outcomes["repaid"].sum())
                 if len(m.outcomes) else -1, paid)
        typer.echo(f"simulated {date} -> {m.next_date.date()}: {len(m.placement_history):,d} "
                   f"accounts, {paid:,.2f} paid; {len(m.customers):,d} new customers "
                   f"({m.opened:,d} accounts); next snapshot "
                   f"{len(m.accounts):,d} delinquent accounts (run --date {m.next_date.date()})")
