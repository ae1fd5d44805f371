"""Parameters of the synthetic book and the planted truths that are not drawn at random."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from collections_engine.synth.world import LIFT_BASE

__all__ = ["SynthParams", "TRUE_EFFECTS", "SOURCE_ROLES"]

# The planted promise lift of each queue per stage on the log-odds (world v2, synth/world.py);
# queues or stages missing here have no lift.
TRUE_EFFECTS: dict[str, dict[str, float]] = LIFT_BASE

# Designed role of each third-party source (truth/sources.parquet).
SOURCE_ROLES: dict[str, str] = {
    "bureau": "strong",
    "telco": "new_customers_only",
    "multi_lending": "noise",
    "contact_repair": "lost_contact_repair",
}


@dataclass(frozen=True)
class SynthParams:
    """What `generate` is asked for.

    accounts: delinquent accounts on the first night (exact);
    days: consecutive business days (Mon-Fri) of nightly snapshots;
    history_months: monthly month-end snapshots with placements and outcomes before the nights;
    first_night: the first business day of tonight's book (moved to the next Monday-Friday);
    pool_factor: accounts in the at-risk book per delinquent account (the rest are current).
    """

    accounts: int = 10_000
    days: int = 7
    seed: int = 1
    history_months: int = 12
    first_night: date = date(2025, 6, 2)
    warmup_months: int = 10
    pool_factor: float = 4.3
    ring_customer_share: float = 0.012
    labelled_ring_share: float = 0.5
    label_noise: float = 0.04
    household_share: float = 0.10
    hold_share: float = 0.03
    lift_base: dict[str, dict[str, float]] = field(default_factory=lambda: dict(LIFT_BASE))
