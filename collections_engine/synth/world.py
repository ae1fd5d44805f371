"""World v2: how a delinquent account answers what is done to it (the generator's physics).

None of this is the engine's placement formula `min(1, p0 * effect)`. A queue acts through
contact: it reaches the right party with a probability that depends on the queue's kind and on
whether the customer can be reached at all (lost contact; the `contact_repair` source restores
reachability for a share), a reached customer promises with a probability rising with
willingness, and each branch (promise, contact without promise, no contact) moves the
repayment log-odds by its own lift. The promise lift of a queue is planted per stage and scaled
per account by traits: collectable size, customer line, months delinquent. So the effect of a
queue differs from account to account, and no single multiplier per stage describes it.

The no-action probability differs by line: new customers' repayment is driven by the start-up
shock s and ability (what the telco and bureau sources see), existing customers' by willingness
and their own payment history (times cured before, which the bank's tables record).

Every function is pure numpy on arrays; `generate`, `simulate` and the backtest's oracle call the
same ones, so the world answers the engine's decisions exactly as it answered the history's.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["WORLD_VERSION", "KIND_CODES", "LIFT_BASE", "world_parameters", "logit_no_action",
           "p_observable", "QueueResponse", "queue_response", "SHOCK_SD"]

WORLD_VERSION = 2
SHOCK_SD = 0.55                 # the fresh monthly shock no table records
KIND_CODES = {"none": 0, "channel": 1, "inhouse": 2, "vendor": 3, "legal": 4}

# Promise lift on the log-odds per queue and stage (before the account's trait multipliers).
LIFT_BASE: dict[str, dict[str, float]] = {
    "early_team": {"M1": 0.80, "M2": 1.80},
    "late_team": {"M3": 1.50, "M4+": 2.20},
    "agency_north": {"M2": 0.50, "M3": 2.20, "M4+": 1.60},
    "agency_south": {"M3": 1.20, "M4+": 2.40},
    "agency_east": {"M4+": 2.00},
    "sms": {"M1": 0.70},
    "legal": {"M4+": 1.80},
}

# per kind (none, channel, inhouse, vendor, legal)
_RPC_BASE = np.array([0.0, 0.55, 0.75, 0.65, 0.50])       # right-party contact, reachable
_RPC_LOST = np.array([0.0, 0.0, 0.0, 0.35, 0.50])         # ... when contact is lost (visits, letters)
_NO_CONTACT_SHARE = np.array([0.0, 0.0, 0.0, 0.0, 0.5])  # legal acts without contact (court)
_BAL_SLOPE = np.array([0.0, -0.30, 0.0, 0.30, 0.40])      # per log of collectable / 1500
_NEW_MULT = np.array([1.0, 1.30, 1.40, 0.60, 0.80])       # new customers
_DPD_A = np.array([1.0, 1.10, 1.20, 0.80, 0.70])          # months-delinquent multiplier a + b m
_DPD_B = np.array([0.0, -0.20, -0.10, 0.08, 0.10])
_AFTER_CONTACT = 0.25                                     # lift of a contact without a promise

# the no-action log-odds per line: (w, a, s, prior cures, intercept)
SEGMENT_COEF = {
    "new": {"willingness": 0.55, "ability": 1.10, "startup_shock": 1.60, "prior_cures": 0.0,
            "intercept": -0.10},
    "existing": {"willingness": 1.35, "ability": 0.55, "startup_shock": 0.0, "prior_cures": 0.45,
                 "intercept": -0.35},
}
_ALPHA_DPD = ([1, 30, 60, 90, 180, 270], [1.0, 0.45, -0.25, -0.75, -1.4, -1.9])


def world_parameters() -> dict:
    """Everything planted, for truth/world.json."""
    return {
        "world_version": WORLD_VERSION,
        "no_action": {
            "logit": "alpha(dpd) + coef.line . (w, a, s, min(prior_cures, 3)) + intercept + u "
                     "+ e_month - 1.8 [new and first-payment defaulter] - 2.5 [ring] "
                     "- 2.5 [deceased hold] - 1.5 [bankruptcy hold]",
            "alpha_dpd": {"dpd": _ALPHA_DPD[0], "alpha": _ALPHA_DPD[1]},
            "coef_by_line": SEGMENT_COEF, "u_sd": 0.35, "e_month_sd": SHOCK_SD,
            "segments_differ": "between lines (new vs existing), not between stages of a line",
        },
        "response": {
            "p_queue": "rpc * (promise * sig(l + k) + (1 - promise) * sig(l + 0.25 k)) "
                       "+ (1 - rpc) * sig(l + k_nc)",
            "k": "lift_base[queue][stage] * clip(1 + bal_slope[kind] * clip(ln(collectable/1500), "
                 "-2, 2), 0.2, 2) * (new_mult[kind] if new) * clip(dpd_a + dpd_b * dpd/30, 0.3, 1.8)",
            "k_nc": "no_contact_share[kind] * k",
            "rpc": "reachable ? rpc_base[kind] : rpc_lost[kind]) * sig(0.3 + 0.5 w)",
            "promise": "sig(0.2 + 0.8 w - 1.0 [ring])",
            "lift_base": LIFT_BASE,
            "kinds": list(KIND_CODES),
            "rpc_base": _RPC_BASE.tolist(), "rpc_lost": _RPC_LOST.tolist(),
            "no_contact_share": _NO_CONTACT_SHARE.tolist(), "bal_slope": _BAL_SLOPE.tolist(),
            "new_mult": _NEW_MULT.tolist(), "dpd_a": _DPD_A.tolist(), "dpd_b": _DPD_B.tolist(),
        },
        "contact": {"lost_contact_share": {"honest": 0.15, "ring": 0.5},
                    "contact_repair_restores": "a lost-contact account the contact_repair source "
                                               "covers gets a working number with probability 0.6"},
        "p_observable": "sig(m / sqrt(1 + pi e_month_sd^2 / 8)), m = the no-action logit without "
                        "e_month (latent traits known, the fresh shock integrated out)",
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit_no_action(dpd: np.ndarray, new: np.ndarray, w: np.ndarray, a: np.ndarray,
                    s: np.ndarray, prior_cures: np.ndarray, u: np.ndarray, fpd: np.ndarray,
                    ring: np.ndarray, hold_kind: np.ndarray) -> np.ndarray:
    """The no-action log-odds without the monthly shock (add it for today's p_repay)."""
    alpha = np.interp(dpd, *_ALPHA_DPD)
    cn, ce = SEGMENT_COEF["new"], SEGMENT_COEF["existing"]
    cures = np.minimum(prior_cures, 3)
    lin_new = (cn["willingness"] * w + cn["ability"] * a + cn["startup_shock"] * s
               + cn["intercept"] - 1.8 * fpd)
    lin_old = (ce["willingness"] * w + ce["ability"] * a + ce["prior_cures"] * cures
               + ce["intercept"])
    return (alpha + np.where(new, lin_new, lin_old) + u - 2.5 * ring
            - 2.5 * (hold_kind == 2) - 1.5 * (hold_kind == 1))


def p_observable(logit_without_shock: np.ndarray) -> np.ndarray:
    """The no-action probability with the fresh shock integrated out (probit approximation)."""
    return _sigmoid(logit_without_shock / math.sqrt(1 + math.pi * SHOCK_SD ** 2 / 8))


class QueueResponse:
    """Per account under one queue: right-party contact, promise, and the branch lifts."""

    __slots__ = ("rpc", "promise", "k_promise", "k_contact", "k_none")

    def __init__(self, rpc: np.ndarray, promise: np.ndarray, k_promise: np.ndarray,
                 k_contact: np.ndarray, k_none: np.ndarray) -> None:
        self.rpc, self.promise = rpc, promise
        self.k_promise, self.k_contact, self.k_none = k_promise, k_contact, k_none

    def probability(self, logit: np.ndarray) -> np.ndarray:
        """P(repay within the horizon) under the queue, given the no-action log-odds."""
        return (self.rpc * (self.promise * _sigmoid(logit + self.k_promise)
                            + (1 - self.promise) * _sigmoid(logit + self.k_contact))
                + (1 - self.rpc) * _sigmoid(logit + self.k_none))

    def expected_share(self, logit: np.ndarray, part: np.ndarray) -> np.ndarray:
        """E[recovered / overdue] under the queue: a repaid account pays it all, another pays a
        part (0.4 of it on average) with probability `part` (+0.2 after a promise), as
        `lifecycle.partial_recovery` draws it."""
        def branch(k: np.ndarray, pp: np.ndarray) -> np.ndarray:
            p = _sigmoid(logit + k)
            return p + (1 - p) * np.minimum(pp, 1.0) * 0.4

        return (self.rpc * (self.promise * branch(self.k_promise, part + 0.2)
                            + (1 - self.promise) * branch(self.k_contact, part))
                + (1 - self.rpc) * branch(self.k_none, part))

    def draw(self, logit: np.ndarray, u_rpc: np.ndarray, u_promise: np.ndarray,
             u_repay: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reached, promised, repaid) booleans from three uniforms per account."""
        reached = u_rpc < self.rpc
        promised = reached & (u_promise < self.promise)
        lift = np.where(promised, self.k_promise, np.where(reached, self.k_contact, self.k_none))
        return reached, promised, u_repay < _sigmoid(logit + lift)


def queue_response(kind: np.ndarray | int, lift_base: np.ndarray, collectable: np.ndarray,
                   new: np.ndarray, dpd: np.ndarray, reachable: np.ndarray, w: np.ndarray,
                   ring: np.ndarray) -> QueueResponse:
    """The response of each account to its queue (kind code and planted lift per account or one
    for all). A not-worked account (kind 0, lift 0) has no contact and no lift."""
    kind = np.broadcast_to(np.asarray(kind, dtype=np.int64), np.shape(dpd))
    zb = np.clip(np.log(np.maximum(collectable, 1.0) / 1500.0), -2, 2)
    mult = np.clip(1 + _BAL_SLOPE[kind] * zb, 0.2, 2.0)
    mult = mult * np.where(new, _NEW_MULT[kind], 1.0)
    mult = mult * np.clip(_DPD_A[kind] + _DPD_B[kind] * dpd / 30.0, 0.3, 1.8)
    k = lift_base * mult
    rpc = np.where(reachable, _RPC_BASE[kind], _RPC_LOST[kind]) * _sigmoid(0.3 + 0.5 * w)
    promise = _sigmoid(0.2 + 0.8 * w - 1.0 * ring)
    return QueueResponse(rpc=rpc, promise=promise, k_promise=k, k_contact=_AFTER_CONTACT * k,
                         k_none=_NO_CONTACT_SHARE[kind] * k)
