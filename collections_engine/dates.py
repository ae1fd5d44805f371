"""Business dates as the command line takes them: strictly `YYYY-MM-DD`.

`datetime.strptime("2025-6-3", "%Y-%m-%d")` succeeds, and a night run as `2025-6-3` made a folder
that sorts apart from `2025-06-03` (the next night then missed the placements already sent to
vendors). Every `--date` goes through `parse_day`, so a date has one spelling everywhere.
"""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd

from collections_engine.errors import InputError

__all__ = ["parse_day", "DAY_RE"]

DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str, option: str = "--date") -> pd.Timestamp:
    """The date at midnight; InputError (exit 2) unless `text` is a real date as YYYY-MM-DD."""
    if not isinstance(text, str) or not DAY_RE.fullmatch(text):
        raise InputError(option, [f"{option}: found {text!r}; expected YYYY-MM-DD (a calendar date such as 2025-06-03)"])
    try:
        return pd.Timestamp(datetime.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise InputError(option, [f"{option}: found {text!r}, which is not a calendar date; "
                                  "expected YYYY-MM-DD (a calendar date such as 2025-06-03)"]) from None
