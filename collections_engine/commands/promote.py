"""`promote --strategy FILE --arm NAME --by NAME [--reason TEXT] [--runs RUNS --data DATA]`."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location


def register(app: typer.Typer) -> None:
    @app.command(
        "promote",
        help=(
            "Make a challenger arm of the strategy's experiments the champion: the file is "
            "rewritten with the arm's queues and without that arm (checked first; the old file is "
            "kept), and an approval record (who, when, why, the evidence) is appended to "
            "STRATEGY_DIR/STEM.history/approvals/ once the file is written (the old bytes are in "
            "STEM.history/previous/). With --runs and --data the evidence is the experiments' "
            "results per arm; a challenger whose net is not above the champion's beyond its "
            "interval needs --reason.\n\n"
            "Example:  collections-engine promote --strategy strategies/default.yaml --arm north_m3 "
            "--by 'Li Wei' --runs runs --data data/book"
        ),
    )
    @guarded
    def promote_cmd(
        strategy: Path = typer.Option(..., "--strategy", help="The champion strategy YAML."),
        arm: str = typer.Option(..., "--arm", help="The arm to promote."),
        by: str = typer.Option(..., "--by", help="Who promotes (recorded)."),
        reason: str | None = typer.Option(None, "--reason", help="Why (recorded)."),
        runs: Path | None = typer.Option(None, "--runs", help="RUNS folder (evidence)."),
        data: Path | None = typer.Option(None, "--data", parser=data_location, metavar="DATA", help="DATA folder with outcomes (evidence)."),
    ) -> None:
        from collections_engine.errors import InputError
        from collections_engine.jobs import promote_job

        if (runs is None) != (data is None):
            raise InputError("promote", ["--runs and --data: found one without the other; expected both or neither"])
        rec = promote_job(strategy, arm, by, reason, runs, data)
        typer.echo(f"arm {arm} promoted: {strategy} is now its strategy (record {rec['seq']:06d} by {by} "
                   f"at {rec['at']}; the previous file is kept beside the record)")
