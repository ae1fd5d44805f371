"""The command line: a thin typer app that parses, calls, and maps errors to exit codes.

Each command lives in `collections_engine/commands/NAME.py` and defines `register(app)`; the
app lists exactly the commands whose modules exist, so nothing unfinished is shown.
Exit status: 0 done; 2 bad input or configuration (every problem printed); 1 anything else.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from collections_engine import __version__
from collections_engine.guard import guarded

__all__ = ["app", "main", "guarded"]

app = typer.Typer(
    name="collections-engine",
    help=(
        "The nightly collections batch: willingness scores, OR-Tools placement, data-source "
        "value and fraud rings.\n\nExample:  collections-engine demo --out /tmp/demo"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"collections-engine {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """collections-engine."""


def _register_commands() -> None:
    import collections_engine.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        module.register(app)


_register_commands()


def main() -> None:
    """The `collections-engine` program: the process is the command's own, so `run` may set how
    it uses memory (`memory.keep_freed`); the app invoked inside another program (a test's
    CliRunner) leaves that program's process as it is."""
    from collections_engine import memory

    memory.own_process()
    app()
