"""`approve --models DIR [--version V] [--by NAME]`: mark a model version approved."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from collections_engine.guard import guarded


def register(app: typer.Typer) -> None:
    @app.command(
        "approve",
        help=(
            "Mark a model version approved (default: the newest candidate), recording who and "
            "when in its status.json; the nightly run scores with the newest approved version.\n\n"
            "Example:  collections-engine approve --models models --by 'Li Wei, model risk'"
        ),
    )
    @guarded
    def approve_cmd(
        models: Path = typer.Option(..., "--models", help="Folder of model versions."),
        version: str | None = typer.Option(None, "--version", help="Version id (default: newest candidate)."),
        by: str | None = typer.Option(None, "--by", help="Who approves (default: the login name)."),
    ) -> None:
        from collections_engine.scoring import approve

        who = by
        if not who:
            try:
                who = getpass.getuser()
            except Exception:  # noqa: BLE001 - no login name in some containers
                who = "unknown"
        st = approve(models, version, who)
        typer.echo(f"model version {st['version_id']} approved by {st['approved_by']} at {st['approved_at']}")
