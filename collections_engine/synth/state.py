"""The world's hidden state per account (truth/state.parquet): what `simulate` continues from.

One row per account of the at-risk pool (delinquent or current, written off included): its
terms, its latent traits (willingness w, ability a, start-up shock s, account noise u,
first-payment defaulter, ring member, lost contact, repaired number) and where it stands after
the last snapshot (dpd, closed, ever delinquent, times cured). The engine never reads it
(`io.load` excludes truth/); `simulate` rewrites it after each month it draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from collections_engine.synth.lifecycle import Lifecycle
from collections_engine.synth.population import Population

__all__ = ["state_frame", "WorldState", "STATE_COLUMNS", "json_bytes"]

STATE_COLUMNS = ["account_id", "customer_id", "card", "open_date", "balance", "instalment",
                 "credit_limit", "w", "a", "s", "u", "fpd", "ring", "lost", "repaired", "dpd",
                 "closed", "ever", "cures"]


def state_frame(pop: Population, lc: Lifecycle, acc_ids: pa.Array, cust_ids: pa.Array,
                day: np.datetime64) -> pd.DataFrame:
    """The pool's kept accounts after the last night, in account id order."""
    acc = np.flatnonzero(lc.keep)
    c = pop.cust[acc]
    f = lc.final

    def take(arr: pa.Array, idx: np.ndarray) -> pd.Series:
        return pd.Series(arr.take(pa.array(idx.astype(np.int64))), dtype="str")

    return pd.DataFrame({
        "account_id": take(acc_ids, acc),
        "customer_id": take(cust_ids, c),
        "card": pop.card[acc],
        "open_date": pd.Series(pop.open_date[acc].astype("datetime64[ns]")),
        "balance": pop.balance[acc],
        "instalment": pop.instalment[acc],
        "credit_limit": pop.credit_limit[acc],
        "w": pop.w[c], "a": pop.a[c], "s": pop.s[c], "u": pop.u[acc],
        "fpd": pop.fpd[acc], "ring": pop.ring[c] >= 0, "lost": pop.lost[c],
        "repaired": pop.repaired[acc],
        "dpd": f["dpd"][acc].astype(np.int64), "closed": f["closed"][acc],
        "ever": f["ever"][acc], "cures": f["cures"][acc].astype(np.int64),
    })


@dataclass
class WorldState:
    """truth/state.parquet as arrays (row i = one pool account)."""
    frame: pd.DataFrame

    def col(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy()

    @property
    def reachable(self) -> np.ndarray:
        return ~self.col("lost") | self.col("repaired")


def json_bytes(obj: dict) -> bytes:
    """truth/world.json's bytes: the engine's JSON (io.jsonio) with a two-space indent."""
    from collections_engine.io.jsonio import json_bytes as engine_json

    return engine_json(obj, indent=2)
