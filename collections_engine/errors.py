"""The few exception types users see.

`InputError` (and its subclasses) means bad input or configuration: the CLI exits 2 and prints
every problem. Anything else is a bug or an environment failure: exit 1.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["InputError", "ConfigError", "DataError", "Problem"]


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
