"""`experiments --runs RUNS --data DATA [--out DIR] [--strategy FILE]`: results per arm."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location


def register(app: typer.Typer) -> None:
    @app.command(
        "experiments",
        help=(
            "Results of the champion/challenger test across the finished nights of RUNS whose "
            "outcomes have arrived in DATA: per arm, recovery, cost and net per account with 95% "
            "intervals (clustered by customer, the unit randomised) and the net's difference from "
            "the champion with its interval and p-value (within the stage that randomised each "
            "customer). With --strategy, also the queue effects re-estimated from the engine's own "
            "history (doubly robust and inverse-propensity, randomised rows only, intervals "
            "clustered by customer), each cell marked estimable or not. --out writes experiments.csv, "
            "experiments_by_night.csv, effects.csv.\n\n"
            "Example:  collections-engine experiments --runs runs --data data/book --out exp"
        ),
    )
    @guarded
    def experiments_cmd(
        runs: Path = typer.Option(..., "--runs", help="RUNS folder of finished nights."),
        data: Path = typer.Option(..., "--data", parser=data_location, metavar="DATA", help="DATA folder with the nights' outcomes."),
        out: Path | None = typer.Option(None, "--out", help="Folder for the CSV files."),
        strategy: Path | None = typer.Option(None, "--strategy", help="Strategy YAML (for the effects)."),
    ) -> None:
        from collections_engine.jobs import experiments_job

        done = experiments_job(runs, data, strategy, out)
        results, effects, notes = done.results, done.effects, done.notes
        for n in notes:
            typer.echo(f"note: {n}")
        if not len(results):
            typer.echo("no night with outcomes yet: nothing to compare")
        for r in results.itertuples():
            line = (f"{r.arm:>16s}: {r.account_nights:>8,d} account-nights ({r.customers:,d} customers), "
                    f"net/account {r.net_per_account:,.2f} [{r.net_lo:,.2f}, {r.net_hi:,.2f}], "
                    f"recovery {r.recovery_per_account:,.2f}, cost {r.cost_per_account:,.2f}")
            if r.arm != "champion":
                line += (f"; vs champion {r.net_vs_champion:+,.2f} [{r.diff_lo:+,.2f}, {r.diff_hi:+,.2f}] "
                         f"p={r.p_value:.3g}{' *' if r.significant else ''}")
            typer.echo(line)
        if effects is not None:
            typer.echo(_effects_line(effects))
        if out is not None:
            typer.echo(f"written: {out}")


def _effects_line(effects) -> str:
    """How many cells are estimable; the others by reason (too little exploration, or a queue
    exploration never draws: `never_explore`, legal by default)."""
    from collections_engine.experiments.estimate import EXCLUDED

    dr = effects[effects["method"] == "dr"]
    out = dr[dr["reason"] == EXCLUDED]
    few = dr[~dr["estimable"] & (dr["reason"] != EXCLUDED)]

    def cells(f) -> str:
        return f" ({', '.join(q + '/' + s for q, s in zip(f['queue'], f['stage']))})" if len(f) else ""
    return (f"effects re-estimated from the engine's history (doubly robust and inverse-propensity in "
            f"effects.csv): {int(dr['estimable'].sum())} cells estimable, {len(few)} with too little "
            f"exploration{cells(few)}, {len(out)} not estimable: excluded from exploration{cells(out)}")
