"""Identifier graph and fraud-ring detection.

Steps (each a module, pure frames in and out): `graph` (identifier rows -> weighted customer
graph), `community` (igraph Leiden/Louvain, deterministic, connected), `propensity` (fraud
propensity per customer), `match` (stable ring ids across nights), `detect` (all of it).
"""

from collections_engine.rings.community import find_communities, seeded_igraph
from collections_engine.rings.detect import (
    MEMBERS_COLUMNS, RINGS_COLUMNS, RingsResult, detect_rings, empty_rings,
)
from collections_engine.rings.graph import CustomerGraph, clean_identifiers, link_customers
from collections_engine.rings.match import match_ring_ids
from collections_engine.rings.propensity import customer_features, estimate

__all__ = [
    "CustomerGraph", "MEMBERS_COLUMNS", "RINGS_COLUMNS", "RingsResult", "clean_identifiers",
    "customer_features", "detect_rings", "empty_rings", "estimate", "find_communities",
    "link_customers", "match_ring_ids", "seeded_igraph",
]
