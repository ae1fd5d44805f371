"""Parameters of the synthetic book and the planted truths that are not drawn at random."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = ["SynthParams", "TRUE_EFFECTS", "SOURCE_ROLES"]

# The true effect of each queue per stage: a multiplier on the no-action repayment probability.
# Deliberately NOT the estimates of strategies/default.yaml, so that estimating them matters.
# Queues or stages missing here get an effect of 1.0 (no better than not working the account).
TRUE_EFFECTS: dict[str, dict[str, float]] = {
    "early_team": {"M1": 1.15, "M2": 1.55},
    "late_team": {"M3": 1.35, "M4+": 1.75},
    "agency_north": {"M2": 1.05, "M3": 1.65, "M4+": 1.25},
    "agency_south": {"M3": 1.20, "M4+": 1.60},
    "agency_east": {"M4+": 1.45},
    "sms": {"M1": 1.08},
    "legal": {"M4+": 2.10},
}

# Designed role of each third-party source (truth/sources.parquet).
SOURCE_ROLES: dict[str, str] = {
    "bureau": "strong",
    "telco": "new_customers_only",
    "multi_lending": "weak",
    "contact_repair": "noise",
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
    true_effects: dict[str, dict[str, float]] = field(default_factory=lambda: dict(TRUE_EFFECTS))
