"""Point-in-time feature building: one feature row per account snapshot row."""

from collections_engine.features.build import (
    ACCOUNT_BASE_COLUMNS,
    FEATURE_DOCS,
    build_features,
    feature_types,
)

__all__ = ["build_features", "feature_types", "FEATURE_DOCS", "ACCOUNT_BASE_COLUMNS"]
