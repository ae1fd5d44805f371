"""Data-source valuation: which third-party sources pay for themselves, per segment.

`value_sources(book, strategy)` fits cheap variant models with and without each source,
compares them on the same out-of-time rows (paired DeLong AUC, bootstrap KS, Holm), decides
placements with each variant's scores and values every plan with one estimator (IPW of realised
outcomes / the full model's expectation), and recommends keep / drop / inconclusive.
"""

from collections_engine.sources.checks import check_sources
from collections_engine.sources.money import plan_values, scaled_strategy
from collections_engine.sources.recommend import DROP, INCONCLUSIVE, KEEP, NOT_VALUED, recommend
from collections_engine.sources.report import sources_html
from collections_engine.sources.value import RESULT_COLUMNS, SourcesResult, value_sources
from collections_engine.sources.variants import ValuationConfig

__all__ = ["value_sources", "SourcesResult", "ValuationConfig", "RESULT_COLUMNS", "check_sources",
           "recommend", "plan_values", "scaled_strategy", "sources_html",
           "KEEP", "DROP", "INCONCLUSIVE", "NOT_VALUED"]
