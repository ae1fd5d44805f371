"""Random identifier tables and their in-process graph, shared by the ring-parts tests and the
Spark ring-graph tests (the Spark graph is checked against `whole_graph`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.graph import GraphConfig
from collections_engine.rings.graph import clean_identifiers, link_customers

DATE = pd.Timestamp("2025-06-02")
GRAPH = GraphConfig(kinds={"phone": 1.0, "address": 0.5, "device": 1.0}, hub_max_customers=30)


def random_identifiers(seed: int, customers: int = 300, rows: int = 500) -> pd.DataFrame:
    """Identifier rows with shared values (most values held by one to four customers, one
    phone by about 40 rows: a hub above hub_max_customers, one device by about 24: a circulant
    above CLIQUE_MAX_DEGREE + 1), duplicates, blanks, an unknown kind and rows first seen after
    the date."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(["phone", "address", "device", "fax"], rows, p=[0.4, 0.3, 0.25, 0.05]).astype(object)
    value = np.char.add("v", rng.integers(0, 220, rows).astype(str)).astype(object)
    hub, crowd = rng.random(rows) < 0.08, rng.random(rows) < 0.05
    kind[hub], value[hub] = "phone", "hub"
    kind[crowd], value[crowd] = "device", "crowd"
    value[rng.random(rows) < 0.02] = " "
    cust = np.char.add("c", rng.integers(0, customers, rows).astype(str)).astype(object)
    cust[rng.random(rows) < 0.01] = ""
    seen = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 200, rows), unit="D")
    return pd.DataFrame({"customer_id": cust, "kind": kind, "value": value, "first_seen": seen})


def whole_graph(ident: pd.DataFrame):
    """The in-process customer graph of `ident` on DATE (the reference for the parts and Spark)."""
    clean, _, _ = clean_identifiers(ident, GRAPH, DATE)
    return link_customers(clean, GRAPH)
