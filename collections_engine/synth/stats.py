"""Figures of a generated book that tests, the benchmark and the README report.

All computed from the written tables (and truth/), so they describe what a reader of DATA sees.
"""

from __future__ import annotations

import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.segments import customer_line_of, stage_of

__all__ = ["confounder_rates", "ring_link_kinds", "segment_mix", "nightly_events",
           "first_payment_defaulters"]

HUB_MIN = 100


def ring_link_kinds(identifiers: pd.DataFrame, rings: pd.DataFrame) -> pd.Series:
    """Per ring: how many identifier kinds link at least two of its members."""
    m = identifiers.merge(rings, on="customer_id")
    shared = m.groupby(["ring_id", "kind", "value"], sort=False)["customer_id"].nunique()
    shared = shared[shared >= 2].reset_index()
    kinds = shared.groupby("ring_id")["kind"].nunique()
    return kinds.reindex(rings["ring_id"].unique(), fill_value=0).sort_index()


def confounder_rates(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    ids = tables["identifiers"]
    rings = tables["truth/rings"]
    labels = tables["fraud_labels"]
    customers = tables["customers"]
    ring_c = set(rings["customer_id"])
    honest = ~customers["customer_id"].isin(ring_c)
    n_honest = int(honest.sum())
    per_value = ids.groupby(["kind", "value"])["customer_id"].transform("nunique")
    # households: honest customers sharing an address with 1-9 others (hubs excluded)
    addr = ids[(ids["kind"] == "address") & (per_value >= 2) & (per_value < 10)
               & ~ids["customer_id"].isin(ring_c)]
    household_share = addr["customer_id"].nunique() / max(n_honest, 1)
    counts = ids.groupby(["kind", "value"])["customer_id"].nunique()
    hubs = counts[counts >= HUB_MIN]
    hubs_by_kind = hubs.groupby(level=0).size()
    sizes = rings.groupby("ring_id")["customer_id"].nunique()
    link = ring_link_kinds(ids, rings)
    noise = (~labels["customer_id"].isin(ring_c)).mean() if len(labels) else 0.0
    labelled = rings[rings["customer_id"].isin(set(labels["customer_id"]))]
    return {
        "customers": float(len(customers)),
        "honest_household_share": float(household_share),
        "hub_values": float(len(hubs)),
        "hub_kinds": float(hubs.index.get_level_values(0).nunique()),
        "largest_hub": float(hubs.max()) if len(hubs) else 0.0,
        **{f"hub_values_{k}": float(v) for k, v in hubs_by_kind.items()},
        "rings": float(len(sizes)),
        "ring_customers": float(sizes.sum()),
        "ring_size_min": float(sizes.min()) if len(sizes) else 0.0,
        "ring_size_median": float(sizes.median()) if len(sizes) else 0.0,
        "ring_size_max": float(sizes.max()) if len(sizes) else 0.0,
        "single_kind_ring_share": float((link == 1).mean()) if len(link) else 0.0,
        "labels": float(len(labels)),
        "label_noise": float(noise),
        "labelled_rings": float(labelled["ring_id"].nunique()),
        "labelled_ring_member_share": float(len(labelled) / max(len(rings), 1)),
    }


def segment_mix(accounts: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    """Rows per (customer line, stage) over all snapshots, and each stage's share of rows."""
    st = stage_of(accounts["dpd"], strategy)
    ln = customer_line_of(accounts["open_date"], accounts["snapshot_date"], strategy)
    t = pd.crosstab(st.to_numpy(), ln.to_numpy())
    t["stage_share"] = t.sum(axis=1) / t.to_numpy().sum()
    t["new_share"] = t.get("new", 0) / (t.get("new", 0) + t.get("existing", 0))
    return t


def first_payment_defaulters(accounts: pd.DataFrame, rings: pd.DataFrame) -> dict[str, float]:
    """Accounts whose first delinquency is a missed first due date (within 35 days of opening),
    split into ring members' and honest customers' accounts."""
    first = accounts.sort_values(["account_id", "snapshot_date"]).drop_duplicates("account_id")
    missed_on = first["snapshot_date"] - pd.to_timedelta(first["dpd"], unit="D")
    fpd = (missed_on - first["open_date"]).dt.days <= 35
    ring = first["customer_id"].isin(set(rings["customer_id"]))
    return {"fpd_accounts_honest": float((fpd & ~ring).sum()),
            "fpd_accounts_ring": float((fpd & ring).sum()),
            "ring_accounts": float(ring.sum())}


def nightly_events(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per night after the first: cures (gone), new delinquent accounts, stage changes, holds
    starting and ending, fraud labels confirmed, ring members first seen."""
    acc = tables["accounts"]
    history = set(tables["outcomes"]["snapshot_date"].unique())
    nights = sorted(d for d in acc["snapshot_date"].unique() if d not in history)
    by = {d: g.set_index("account_id")["dpd"] for d, g in acc[acc["snapshot_date"].isin(nights)]
          .groupby("snapshot_date")}
    holds, labels = tables["holds"], tables["fraud_labels"]
    ids = tables["identifiers"].merge(tables["truth/rings"], on="customer_id")
    joined = ids.groupby("customer_id")["first_seen"].min()
    rows = []
    for prev, d in zip(nights[:-1], nights[1:]):
        a, b = by[prev], by[d]
        both = a.index.intersection(b.index)
        roll = sum(int(((a[both] < e) & (b[both] >= e)).sum()) for e in (31, 61, 91))
        in_window = lambda s: ((s > prev) & (s <= d))  # noqa: E731
        rows.append({
            "night": pd.Timestamp(d).date(), "delinquent": len(b),
            "gone": len(a.index.difference(b.index)), "new": len(b.index.difference(a.index)),
            "rolled_31_61_91": roll,
            "holds_started": int(in_window(holds["start"]).sum()),
            "holds_ended": int(in_window(holds["end"]).sum()),
            "labels": int(in_window(labels["confirmed_on"]).sum()),
            "ring_joiners": int(in_window(joined).sum()),
        })
    return pd.DataFrame(rows)
