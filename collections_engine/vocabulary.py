"""The words the engine's outputs share: decisions, the no-action queue, hold kinds.

One place for each, so a check, a report and an estimator cannot disagree on a spelling or an
order (CONTRACT.md: assignments.parquet's `decision`, holds' `hold`).
"""

from __future__ import annotations

__all__ = ["DECISIONS", "NOT_WORKED", "HOLD_KINDS"]

# assignments.parquet `decision`: an open placement goes on (kept), a new vendor placement
# (placed), a team, channel or legal queue (assigned), fraud, a hold, or nobody works it.
DECISIONS = ("kept", "placed", "assigned", "fraud_hold", "held", "not_worked")

# The queue of an account nobody works tonight: the control of every effect estimate, the
# no-action score, the placement history's "not worked" rows.
NOT_WORKED = "not_worked"

# holds.parquet `hold`, in precedence order: when an account has several holds open on a date,
# the first of this order is its hold (legal first, so the account reaches the legal queue).
HOLD_KINDS = ("legal", "bankruptcy", "deceased", "dispute", "do_not_contact")

