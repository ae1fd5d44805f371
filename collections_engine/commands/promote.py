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
        from collections_engine.experiments.promote import promote

        if (runs is None) != (data is None):
            raise InputError("promote", ["--runs and --data: found one without the other; expected both or neither"])
        evidence = None
        if runs is not None:
            from collections_engine.experiments.collect import collect, summarise

            rows, _, _ = collect(runs, data)
            results, _ = summarise(rows)
            evidence = results.to_dict("records")
            mine = [r for r in evidence if r["arm"] == arm]
            better = bool(mine) and mine[0]["significant"] and mine[0]["net_vs_champion"] > 0
            if not better and not (reason or "").strip():
                raise InputError("promote", [
                    f"--arm {arm}: " + (f"net per account vs champion {mine[0]['net_vs_champion']:+,.2f} "
                                        f"[{mine[0]['diff_lo']:+,.2f}, {mine[0]['diff_hi']:+,.2f}] is not above "
                                        "the champion beyond its interval" if mine else "no outcomes for this arm")
                    + "; promote anyway with --reason TEXT (recorded)"])
        rec = promote(strategy, arm, by, reason, evidence)
        typer.echo(f"arm {arm} promoted: {strategy} is now its strategy (record {rec['seq']:06d} by {by} "
                   f"at {rec['at']}; the previous file is kept beside the record)")
