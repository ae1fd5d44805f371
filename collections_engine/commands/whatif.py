"""`whatif`: re-decide a finished night under a changed strategy and show the difference."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.guard import guarded


def register(app: typer.Typer) -> None:
    @app.command(
        "whatif",
        help=(
            "Re-decide a finished night from its decision_inputs.parquet under a changed strategy "
            "and write the difference from the plan that ran (expected recovery and cost by queue, "
            "accounts that move, capacity use and shadow prices) as whatif.html and whatif.json. "
            "Never touches RUNS or vendor files.\n\n"
            "Example:  collections-engine whatif --runs runs --date 2026-11-02 "
            "--strategy strategies/more_agency.yaml --out whatif"
        ),
    )
    @guarded
    def whatif_cmd(
        runs: Path = typer.Option(..., "--runs", help="RUNS folder of finished nights."),
        date: str = typer.Option(..., "--date", help="The finished night to re-decide (YYYY-MM-DD)."),
        strategy: Path = typer.Option(..., "--strategy", help="The changed strategy YAML file."),
        out: Path = typer.Option(..., "--out", help="Output folder for whatif.html and whatif.json."),
        effects: str = typer.Option(
            "history", "--effects", metavar="history|strategy",
            help="Queue effects to re-decide with: history (default: the night's estimates from the "
                 "randomised placement history where it has enough accounts, the strategy's elsewhere) "
                 "or strategy (the changed YAML's, so an edited effect is used)."),
    ) -> None:
        from collections_engine.whatif import run_whatif

        summary = run_whatif(runs, date, strategy, out, effects=effects)
        typer.echo(f"what-if for {date}: expected net {summary['net_ran']:,.0f} -> "
                   f"{summary['net_whatif']:,.0f} ({summary['net_whatif'] - summary['net_ran']:+,.0f}); "
                   f"{summary['moved']:,d} accounts move")
        for line in summary["unused_edits"]:
            typer.echo(f"no effect: {line}")
        if summary["untested"]:
            typer.echo(f"untested (strategy effect, no placement history): {', '.join(summary['untested'])}")
        typer.echo(f"report: {out / 'whatif.html'}")
