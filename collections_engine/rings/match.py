"""Stable ring ids across nights: match tonight's rings to the previous rings table.

Overlap of tonight's ring A with a previous ring B is measured by the overlap coefficient
|A & B| / min(|A|, |B|), so a ring of 3 that grows to 10 still matches fully (its Jaccard would
be 0.3). Pairs with overlap >= MIN_OVERLAP are matched greedily, best first: overlap
coefficient, then Jaccard, then shared members, then ids (so it is deterministic); each ring on
either side is used at most once. A matched ring keeps the previous `ring_id` and
`first_flagged`; when a ring splits, the part that resembles it most (by Jaccard) keeps the id.

A new ring gets "R" + the first 10 hex digits of the SHA-256 of its sorted founding members
(joined by newlines): stateless (no counter to carry between nights, no reuse of an id that
disappeared for a night) and reproducible. A clash with an id in use gets a longer digest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.io.hashing import bytes_sha256

__all__ = ["MIN_OVERLAP", "founding_id", "match_ring_ids"]

MIN_OVERLAP = 0.5


def founding_id(members: list[str], length: int = 10) -> str:
    digest = bytes_sha256("\n".join(sorted(members)).encode("utf-8"))
    return "R" + digest[:length]


def match_ring_ids(
    tonight: pd.Series, previous: pd.DataFrame | None, date: pd.Timestamp
) -> pd.DataFrame:
    """Ids for tonight's rings.

    `tonight`: sorted member lists (list of customer ids) indexed by tonight's ring key;
    `previous`: the earlier rings table (`ring_id`, `customer_ids`, `first_flagged`) or None.
    Returns a frame indexed like `tonight` with `ring_id`, `first_flagged`, `matched_overlap`.
    """
    out = pd.DataFrame(index=tonight.index, columns=["ring_id", "first_flagged"], dtype=object)
    out["matched_overlap"] = 0.0
    # filled by position, then set as columns (a pandas `.at` per ring costs ~10 us: 5k rings)
    row_of = {key: i for i, key in enumerate(out.index)}
    ring_id, first_flagged = out["ring_id"].to_numpy(copy=True), out["first_flagged"].to_numpy(copy=True)
    overlap = out["matched_overlap"].to_numpy(copy=True)
    taken: set[str] = set()
    if previous is not None and len(previous) and len(tonight):
        new = tonight.explode().rename("customer_id").reset_index().rename(columns={"index": "key"})
        new.columns = ["key", "customer_id"]
        old = previous[["ring_id", "customer_ids"]].explode("customer_ids")
        old = old.rename(columns={"customer_ids": "customer_id"})
        both = new.merge(old, on="customer_id")
        if len(both):
            pairs = both.groupby(["key", "ring_id"]).size().rename("inter").reset_index()
            size_new = tonight.map(len)
            size_old = previous.set_index("ring_id")["customer_ids"].map(len)
            a = size_new.reindex(pairs["key"]).to_numpy()
            b = size_old.reindex(pairs["ring_id"]).to_numpy()
            pairs["overlap"] = pairs["inter"] / np.minimum(a, b)
            pairs["jaccard"] = pairs["inter"] / (a + b - pairs["inter"])
            pairs = pairs[pairs["overlap"] >= MIN_OVERLAP].sort_values(
                ["overlap", "jaccard", "inter", "ring_id", "key"],
                ascending=[False, False, False, True, True], kind="mergesort")
            first = previous.set_index("ring_id")["first_flagged"]
            used_keys: set[object] = set()
            for key, rid, ov in zip(pairs["key"], pairs["ring_id"], pairs["overlap"]):
                if key in used_keys or rid in taken:
                    continue
                used_keys.add(key)
                taken.add(rid)
                i = row_of[key]
                ring_id[i], first_flagged[i], overlap[i] = rid, first.get(rid, date), float(ov)
        taken |= set(previous["ring_id"])
    for i in np.flatnonzero(pd.isna(ring_id)):
        members = list(tonight.iloc[i])
        length = 10
        rid = founding_id(members, length)
        while rid in taken:
            length += 4
            rid = founding_id(members, length)
        taken.add(rid)
        ring_id[i], first_flagged[i] = rid, pd.Timestamp(date)
    out["ring_id"], out["matched_overlap"] = ring_id, overlap
    out["first_flagged"] = pd.to_datetime(pd.Series(first_flagged, index=out.index, dtype=object))
    return out
