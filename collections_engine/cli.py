"""The command line: a thin typer app that parses, calls, and maps errors to exit codes.

Each command lives in `collections_engine/commands/NAME.py` and defines `register(app)`; the
app lists exactly the commands whose modules exist, so nothing unfinished is shown.
Exit status: 0 done; 2 bad input or configuration (every problem printed); 1 anything else.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

from collections_engine import __version__
from collections_engine.errors import InputError

__all__ = ["app", "main", "guarded"]

log = logging.getLogger("collections_engine")

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

F = TypeVar("F", bound=Callable[..., Any])


class _StderrHandler(logging.StreamHandler):
    """Always writes to the current sys.stderr (test runners swap it between invocations)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def _setup_logging() -> None:
    root = logging.getLogger("collections_engine")
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def guarded(fn: F) -> F:
    """Run a command body: InputError -> exit 2 with every problem; any other error -> exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _setup_logging()
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted; nothing was written", err=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # noqa: BLE001 - the CLI boundary: report, exit 1
            typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            log.debug("%s", traceback.format_exc())
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


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
    app()
