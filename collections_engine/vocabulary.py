"""The words the engine's outputs share: decisions, the no-action queue, hold kinds, endings.

One place for each, so a check, a report and an estimator cannot disagree on a spelling or an
order (CONTRACT.md: assignments.parquet's `decision` and `ended`, holds' `hold`, the recall/return
file's `ended`).
"""

from __future__ import annotations

__all__ = ["KEPT", "PLACED", "ASSIGNED", "FRAUD_HOLD", "HELD", "NOT_WORKED", "DECISIONS", "NEW_DECISIONS",
           "LEGAL_HOLD", "HOLD_KINDS", "RECALLED", "RETURNED", "CURED", "PAID", "ENDINGS"]

# assignments.parquet `decision`: an open placement goes on (kept), a new vendor placement
# (placed), a team, channel or legal queue (assigned), fraud, a hold, or nobody works it.
KEPT = "kept"
PLACED = "placed"
ASSIGNED = "assigned"
FRAUD_HOLD = "fraud_hold"
HELD = "held"
# The queue of an account nobody works tonight: the control of every effect estimate, the
# no-action score, the placement history's "not worked" rows; also the decision of such an account.
NOT_WORKED = "not_worked"
DECISIONS = (KEPT, PLACED, ASSIGNED, FRAUD_HOLD, HELD, NOT_WORKED)
# The decisions that start something tonight (the queue summary's `new_tonight`).
NEW_DECISIONS = (PLACED, ASSIGNED, FRAUD_HOLD, HELD)

# holds.parquet `hold`, in precedence order: when an account has several holds open on a date,
# the first of this order is its hold (legal first, so the account reaches the legal queue).
LEGAL_HOLD = "legal"
HOLD_KINDS = (LEGAL_HOLD, "bankruptcy", "deceased", "dispute", "do_not_contact")

# How yesterday's placement ended: assignments.parquet `ended` is recalled or returned (the
# placement period is over); the vendor's recall/return file adds cured (the account is current
# tonight) and paid (it left the book).
RECALLED = "recalled"
RETURNED = "returned"
CURED = "cured"
PAID = "paid"
ENDINGS = (RECALLED, RETURNED, CURED, PAID)
