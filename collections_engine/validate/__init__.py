"""Input checks that return every problem found."""

from collections_engine.validate.book import check_book
from collections_engine.validate.columns import coerce_table, rows_hint

__all__ = ["check_book", "coerce_table", "rows_hint"]
