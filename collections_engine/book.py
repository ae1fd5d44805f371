"""The input book: every table of a DATA folder, typed, as one value passed between steps.

Conventions every step relies on (the loader guarantees them after validation):
- id columns (`account_id`, `customer_id`) are pandas string dtype;
- date columns are `datetime64[ns]` (midnight), missing dates NaT;
- amounts are float64, `dpd` int64, `repaid` int8;
- contacts' `channel` and `outcome` and identifiers' `kind` are categories (sorted levels);
  other text columns are pandas string dtype;
- optional tables that are absent are None; `sources` maps a declared source name to its
  table (absent sources are missing from the dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pandas as pd

__all__ = ["Book"]


@dataclass
class Book:
    accounts: pd.DataFrame
    customers: pd.DataFrame | None = None
    payments: pd.DataFrame | None = None
    contacts: pd.DataFrame | None = None
    holds: pd.DataFrame | None = None
    placement_history: pd.DataFrame | None = None
    identifiers: pd.DataFrame | None = None
    outcomes: pd.DataFrame | None = None
    fraud_labels: pd.DataFrame | None = None
    sources: dict[str, pd.DataFrame] = field(default_factory=dict)

    def snapshot_dates(self) -> list[pd.Timestamp]:
        return sorted(pd.to_datetime(self.accounts["snapshot_date"].unique()))

    def on(self, date: pd.Timestamp) -> pd.DataFrame:
        """The accounts rows of one snapshot date."""
        a = self.accounts
        return a[a["snapshot_date"] == pd.Timestamp(date)]

    def table_names(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "sources" and getattr(self, f.name) is not None]
