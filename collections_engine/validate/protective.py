"""Tables that protect people are never silently absent (issue 18).

`holds` and `fraud_labels` keep people away from collectors: a held account (dispute,
bankruptcy, deceased, do_not_contact, legal) must not be worked, and a confirmed fraud
customer's accounts belong to someone whose identity was used, not to a debtor. A night run
without one of them would send those people to agencies, SMS and teams, so `run` treats its
absence as bad input unless the strategy says explicitly that the bank keeps no such table
(`holds_table: none`, `fraud_labels_table: none`; the schema's `protective_key`).

Tables whose absence costs information but sends nobody wrong are warnings, put at the top of
the report: `customers` (every vendor file field it would fill is named) and `identifiers`
(no fraud rings can be found).
"""

from __future__ import annotations

from collections.abc import Callable

from collections_engine.config.strategy import OUTPUT_FIELDS, Strategy
from collections_engine.schema import TABLES

__all__ = ["protective_problems", "absence_alerts"]


def protective_problems(present: set[str], strategy: Strategy | None,
                        expected: Callable[[str], str]) -> list[str]:
    """One problem per protective table that is missing while the strategy requires it;
    `expected(name)` says where the table was looked for (a file name, a database table)."""
    out = []
    for name, spec in TABLES.items():
        key = spec.protective_key
        if key is None or name in present:
            continue
        declared = getattr(strategy, key, "required") if strategy is not None else "required"
        if declared == "none":
            continue
        out.append(f"{name}: table missing; expected {expected(name)}. It protects "
                   f"people ({spec.doc.split(':')[0]}): without it they would be sent to collectors. If the "
                   f"bank keeps no such table, say so in the strategy with `{key}: none`")
    return out


def absence_alerts(present: set[str], account_columns: set[str], strategy: Strategy) -> list[str]:
    """Warnings for the top of the night's report: what is missing and who it affects."""
    out = []
    for name, spec in TABLES.items():
        key = spec.protective_key
        if key is not None and name not in present and getattr(strategy, key, "required") == "none":
            out.append(f"{name}: no table, as the strategy declares (`{key}: none`); nobody is "
                       f"{'held' if name == 'holds' else 'kept from collectors as a confirmed fraud case'} "
                       "tonight on its account")
    if "customers" not in present:
        for v in strategy.vendors():
            lost = [f for f in v.file_fields if f not in account_columns and f not in OUTPUT_FIELDS
                    and f not in ("account_id", "customer_id")]
            for f in lost:
                out.append(f"customers: table missing; vendor '{v.name}' file field '{f}' is left out of "
                           "its files tonight")
    if "identifiers" not in present:
        out.append("identifiers: table missing; no identifier graph, so no fraud rings can be found tonight")
    return out
