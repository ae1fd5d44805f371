"""The few exception types users see.

`InputError` (and its subclasses) means bad input or configuration: the CLI exits 2 and prints
every problem. `Unavailable` is an outage (a database that cannot be reached, no Java for
`--engine spark`): exit 1 with one line, like anything else that is not the input's fault, so a
scheduler that retries failed nights retries it. Anything else is a bug: exit 1.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["InputError", "ConfigError", "DataError", "Problem", "Unavailable"]


class Problem(str):
    """One human-readable problem line (file, path or column, found, expected)."""


class InputError(Exception):
    """Bad input: carries every problem found, not just the first."""

    def __init__(self, source: str, problems: Iterable[str]):
        self.source = source
        self.problems = [Problem(p) for p in problems]
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {source}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class ConfigError(InputError):
    """A strategy or graph YAML file is invalid."""


class DataError(InputError):
    """An input table in the DATA folder is invalid."""


class Unavailable(RuntimeError):
    """Something the run needs is not there right now (a service, a runtime): not bad input.
    The CLI prints the one-line message and exits 1; nothing is written."""
