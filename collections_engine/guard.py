"""The command boundary: logging set-up and the error-to-exit-code mapping every command uses.

Kept apart from cli.py so that a command module can be imported on its own (cli.py imports
every command module when it is imported).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

from collections_engine.errors import InputError, Unavailable

__all__ = ["guarded", "setup_logging"]

log = logging.getLogger("collections_engine")

F = TypeVar("F", bound=Callable[..., Any])


class _StderrHandler(logging.StreamHandler):
    """Always writes to the current sys.stderr (test runners swap it between invocations)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def setup_logging() -> None:
    root = logging.getLogger("collections_engine")
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def guarded(fn: F) -> F:
    """Run a command body: InputError -> exit 2 with every problem; Unavailable (an outage) ->
    exit 1 with its one line; any other error -> exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        setup_logging()
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except Unavailable as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
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


