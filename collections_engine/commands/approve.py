"""`approve --models DIR [--version V] [--by NAME] [--force --reason TEXT] [--data DATA --strategy FILE]`
and `approve --models DIR --rollback [--by NAME]`: the champion model version, with history."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.io.database import data_location


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def register(app: typer.Typer) -> None:
    @app.command(
        "approve",
        help=(
            "Make a model version the champion (default: the newest candidate), after showing it "
            "beside the current champion on the same held-out rows: AUC and KS with 95% intervals, "
            "calibration, and the PSI between their scores. A candidate whose AUC is below the "
            "champion's beyond the interval of the difference is refused (exit 2) unless --force "
            "--reason TEXT. Every approval and rollback is appended to MODELS/approvals/ (who, "
            "when, why, the evidence); the nightly run scores with the champion.\n\n"
            "Example:  collections-engine approve --models models --by 'Li Wei, model risk'\n\n"
            "Example:  collections-engine approve --models models --rollback --by 'Li Wei'"
        ),
    )
    @guarded
    def approve_cmd(
        models: Path = typer.Option(..., "--models", help="Folder of model versions."),
        version: str | None = typer.Option(None, "--version", help="Version id (default: newest candidate)."),
        by: str | None = typer.Option(None, "--by", help="Who approves (default: the login name)."),
        rollback: bool = typer.Option(False, "--rollback",
                                      help="Go back to the champion before the current one (recorded)."),
        force: bool = typer.Option(False, "--force", help="Approve a candidate worse than the champion "
                                                          "(needs --reason; recorded)."),
        reason: str | None = typer.Option(None, "--reason", help="Why (recorded with the approval)."),
        data: Path | None = typer.Option(None, "--data", parser=data_location, metavar="DATA", help="DATA folder: score the champion on the "
                                         "candidate's held-out rows when they share too few."),
        strategy: Path | None = typer.Option(None, "--strategy", help="Strategy YAML (with --data)."),
    ) -> None:
        from collections_engine.errors import InputError
        from collections_engine.jobs import approve_job, review_job
        from collections_engine.scoring import store
        from collections_engine.scoring.compare import format_comparison

        who = by or _login()
        problems = []
        if rollback and (version or force):
            problems.append("--rollback: found with --version/--force; expected --rollback alone "
                            "(it goes back to the previous champion)")
        if force and not (reason or "").strip():
            problems.append("--force: found without --reason; expected a reason, which is recorded")
        if (data is None) != (strategy is None):
            problems.append("--data and --strategy: found one without the other; expected both or neither")
        if problems:
            raise InputError("approve", problems)
        if rollback:
            rec = store.rollback(models, who, reason)
            typer.echo(f"rolled back: model version {rec['version_id']} is the champion again "
                       f"(was {rec['champion_before']}); record {rec['seq']:06d} by {rec['by']} at {rec['at']}")
            return
        reviewed = review_job(models, version, data, strategy)
        if reviewed.compared:
            for line in format_comparison(reviewed.review["comparison"] or {}, reviewed.review["candidate"],
                                          reviewed.review["champion"]):
                typer.echo(line)
        st = approve_job(models, reviewed, who, force=force, reason=reason)
        rec = st["record"]
        extra = f"; forced: {reason}" if rec["forced"] else ""
        typer.echo(f"model version {st['version_id']} approved by {rec['by']} at {rec['at']} "
                   f"(record {rec['seq']:06d}; champion before: {rec['champion_before'] or 'none'}{extra})")
