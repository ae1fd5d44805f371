"""Input checks that return every problem found."""

from collections_engine.validate.book import check_book
from collections_engine.validate.columns import coerce_table, rows_hint
from collections_engine.validate.protective import absence_alerts, protective_problems

__all__ = ["check_book", "coerce_table", "rows_hint", "absence_alerts", "protective_problems"]
