"""`backtest`: N cycles of run then simulate per policy on common random numbers."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.guard import guarded


def register(app: typer.Typer) -> None:
    @app.command(
        "backtest",
        help=(
            "From one starting book made by `generate` (world v2), CYCLES cycles of the nightly "
            "run then `simulate` (DAYS apart, default monthly) under each policy: engine (the "
            "approved model and strategy), greedy and greedy_net (the bank-rule peers), random "
            "(random eligible accounts up to capacity) and oracle (the world's true "
            "probabilities and effects); DRAWS repeated draws of the world's luck, common to "
            "every policy within a draw. Writes OUT/backtest.csv (policy, draw, cycle, "
            "realised_net, realised_recovery, cost) and OUT/backtest.html. DATA is not "
            "touched (each policy works on a copy under OUT/work/).\n\n"
            "Example:  collections-engine backtest --data book --strategy "
            "strategies/default.yaml --graph graphs/default.yaml --models models --out bt "
            "--cycles 6 --draws 3"
        ),
    )
    @guarded
    def backtest_cmd(
        data: Path = typer.Option(..., "--data", help="Starting DATA folder made by `generate`."),
        strategy: Path = typer.Option(..., "--strategy", help="Strategy YAML file."),
        graph: Path = typer.Option(..., "--graph", help="Graph YAML file."),
        models: Path = typer.Option(..., "--models", help="Model store with an approved version."),
        out: Path = typer.Option(..., "--out", help="Output folder."),
        cycles: int = typer.Option(6, "--cycles", help="Cycles of run then simulate."),
        policies: str = typer.Option("engine,greedy,greedy_net,random,oracle", "--policies",
                                     help="Comma-separated policies."),
        draws: int = typer.Option(1, "--draws", help="Repeated draws of the world's luck."),
        days: int = typer.Option(30, "--days", help="Calendar days per cycle."),
    ) -> None:
        from collections_engine.loop.command import backtest_command

        summary = backtest_command(data, strategy, graph, models, out, cycles, policies, draws,
                                   days)
        for row in summary.itertuples(index=False):
            typer.echo(f"{row.policy:>11}: cumulated net {row.net_total_mean:,.0f}"
                       + (f" [{row.net_total_lo:,.0f}, {row.net_total_hi:,.0f}]"
                          if row.draws > 1 else ""))
        typer.echo(f"wrote {out / 'backtest.csv'} and {out / 'backtest.html'}")
