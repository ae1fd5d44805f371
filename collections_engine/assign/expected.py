"""The expected-net formula: one definition for placement and for the valuation of sources.

For an account with repayment probability p (not worked), collectable amount A, in a queue with
effect e at the account's stage, commission k and cost per account c:

    expected recovery = min(1, p * e) * A * (1 - k)
    expected net      = expected recovery - c

Not worked is the same formula with e = 1, k = 0, c = 0 (p * A, p being at most 1).

With the strategy's `effects_model: logodds` (`assign.logodds`), a queue moves the log-odds by a
shift delta that depends on the account's traits (delta = 0: not worked):

    expected recovery = sigmoid(logit(p) + delta) * A * (1 - k)
Placement (`model_data.build_problem`) works in integer cents and rounds the recovery there;
the valuation (`sources.money`) works in currency units. Both call these functions, so a change
to the formula is made here once.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

__all__ = ["expected_recovery", "expected_net", "logodds_recovery", "logodds_net"]


def expected_recovery(p: np.ndarray, effect: np.ndarray | float, collectable: np.ndarray,
                      commission: np.ndarray | float = 0.0) -> np.ndarray:
    """min(1, p * effect) * collectable * (1 - commission), element-wise (float64)."""
    return np.minimum(1.0, p * effect) * collectable * (1.0 - commission)


def expected_net(p: np.ndarray, effect: np.ndarray | float, collectable: np.ndarray,
                 commission: np.ndarray | float, cost: np.ndarray | float) -> np.ndarray:
    """expected_recovery - cost per account (float64)."""
    return expected_recovery(p, effect, collectable, commission) - cost


def logodds_recovery(p: np.ndarray, delta: np.ndarray | float, collectable: np.ndarray,
                     commission: np.ndarray | float = 0.0) -> np.ndarray:
    """sigmoid(logit(p) + delta) * collectable * (1 - commission), element-wise (float64); p of
    0 or 1 stays 0 or 1 whatever the shift."""
    return expit(logit(np.clip(p, 0.0, 1.0)) + delta) * collectable * (1.0 - commission)


def logodds_net(p: np.ndarray, delta: np.ndarray | float, collectable: np.ndarray,
                commission: np.ndarray | float, cost: np.ndarray | float) -> np.ndarray:
    """logodds_recovery - cost per account (float64)."""
    return logodds_recovery(p, delta, collectable, commission) - cost
