"""Which declared sources can be valued: a problem with one source is a warning, and that
source is "not valued"; the others go on.

Problems found here (the loader already drops a missing table, a missing key column and an
empty table with a warning): no feature columns, a key that matches nothing in the book,
feature columns that collide with another source's (the source declared first keeps them).
"""

from __future__ import annotations

import pandas as pd

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy

__all__ = ["source_columns", "check_sources"]


def source_columns(table: pd.DataFrame, key: str, personal: set[str]) -> list[str]:
    """The feature columns of a source table (everything but its key, snapshot_date and
    personal fields)."""
    return [c for c in table.columns if c not in (key, "snapshot_date") and c not in personal]


def _loader_reason(name: str, load_warnings: list[str]) -> str:
    hits = [w for w in load_warnings if f"source '{name}'" in w]
    return hits[0] if hits else f"sources/{name}: no usable table"


def check_sources(book: Book, strategy: Strategy,
                  load_warnings: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(names to value in strategy order, {name: why not valued})."""
    personal = set(strategy.personal_fields)
    valued: list[str] = []
    not_valued: dict[str, str] = {}
    owner: dict[str, str] = {}           # raw column -> first source that has it
    for src in strategy.sources:
        table = book.sources.get(src.name)
        if table is None:
            not_valued[src.name] = _loader_reason(src.name, load_warnings or [])
            continue
        label = f"sources/{src.name}"
        if len(table) == 0:
            not_valued[src.name] = f"{label}: no rows"
            continue
        cols = source_columns(table, src.key, personal)
        if not cols:
            not_valued[src.name] = f"{label}: no feature columns besides its key '{src.key}'"
            continue
        keys = pd.unique(table[src.key].astype("str"))
        matched = int(pd.Index(keys).isin(pd.unique(book.accounts[src.key].astype("str"))).sum())
        if matched == 0:
            not_valued[src.name] = (f"{label}: its key '{src.key}' matches no {src.key} of accounts "
                                    f"({len(keys)} distinct keys, none in the book)")
            continue
        clash = sorted(c for c in cols if c in owner)
        if clash:
            shown = ", ".join(f"'{c}' (also in {owner[c]})" for c in clash[:5])
            not_valued[src.name] = (f"{label}: {len(clash)} column(s) collide with another source's: "
                                    f"{shown}; the source declared first keeps them")
            continue
        for c in cols:
            owner[c] = src.name
        valued.append(src.name)
    return valued, not_valued
