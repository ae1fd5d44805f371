"""Strategy and graph files: pydantic models, cross-field rules, loading with YAML lines."""

from collections_engine.config.graph import GraphConfig
from collections_engine.config.load import check_file, load_graph, load_strategy
from collections_engine.config.strategy import Strategy, VendorQueue, FraudQueue

__all__ = [
    "GraphConfig", "Strategy", "VendorQueue", "FraudQueue",
    "load_strategy", "load_graph", "check_file",
]
