"""`check FILE...`: validate strategy and graph files and report every problem."""

from __future__ import annotations

from pathlib import Path

import typer

from collections_engine.guard import guarded
from collections_engine.config import check_file
from collections_engine.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command(
        "check",
        help=(
            "Validate strategy and graph files (told apart by their content) and report every "
            "problem at once; exit 2 if any.\n\n"
            "Example:  collections-engine check strategies/default.yaml graphs/default.yaml"
        ),
    )
    @guarded
    def check(files: list[Path] = typer.Argument(..., help="YAML files to check.")) -> None:
        bad: list[ConfigError] = []
        for f in files:
            kind, problems = check_file(f)
            if problems:
                bad.append(ConfigError(f"{f} ({kind})", problems))
            else:
                typer.echo(f"ok: {f} ({kind})")
        if bad:
            for e in bad:
                typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2)
