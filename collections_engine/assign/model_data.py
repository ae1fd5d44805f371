"""Placement, part 1: from decision inputs to solver arrays.

Everything here is vectorised over accounts. The steps, in order:
1. per queue: cost, capacity, balance cap, vendor terms (`_queue_arrays`); per (account, queue):
   eligibility and expected recovery in integer cents (`_values`, the formula of `expected`;
   `_values_logodds` under the strategy's `effects_model: logodds`, `assign.logodds`);
2. the business rules (`rules.py`): holds, then fraud, then last night's open placements settle
   some accounts and use up some capacity;
3. the rest are free: the solver decides them, within what the rules left (kept customers'
   grouping and one collector; min shares a vendor cannot meet tonight set aside or relaxed).

Money is integer cents (int64) from here to the solver; outputs convert back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.assign.effects import effect_table
from collections_engine.assign.expected import expected_recovery, logodds_recovery
from collections_engine.assign.logodds import LogOddsEffects, constant_logodds
from collections_engine.assign.rules import (OpenPlacements, Preassigned, apply_fraud, apply_holds,
                                             charge_kept, settle_open_placements)
from collections_engine.codes import is_sorted, sorted_codes
from collections_engine.config.strategy import Strategy, VendorQueue

__all__ = ["Problem", "build_problem", "to_cents", "logodds_model"]

CENT = 100


def to_cents(x: np.ndarray | pd.Series) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=np.float64) * CENT).astype(np.int64)


@dataclass
class Problem:
    """Arrays for the solver plus what the pre-assignment already decided.

    Rows are all accounts of the inputs, sorted by account id. `free` marks the accounts the
    solver decides; the others carry their final queue/decision already.
    """

    account_id: np.ndarray
    customer: np.ndarray          # int codes
    stage: np.ndarray             # object
    amount: np.ndarray            # collectable, cents
    queues: list[str]             # work queues (strategy order), solver columns
    elig: np.ndarray              # bool [n, Q]
    recovery: np.ndarray          # int64 cents [n, Q]
    cost: np.ndarray              # int64 cents [Q]
    nw: np.ndarray                # int64 cents [n]: p x collectable, not worked
    cap: np.ndarray               # int64 [Q] remaining capacity for new assignments
    cap_total: np.ndarray         # int64 [Q] strategy capacity
    bal: np.ndarray               # int64 [Q] remaining balance cap, cents; -1 none
    bal_total: np.ndarray         # int64 [Q]; -1 none
    min_share: np.ndarray         # float [Q]
    vendor: np.ndarray            # bool [Q]
    together: np.ndarray          # bool [Q] keep_customer_together
    free: np.ndarray              # bool [n]
    # pre-assigned results (for non-free rows; "" where free)
    queue: np.ndarray
    decision: np.ndarray
    ended: np.ndarray
    previous: np.ndarray
    reason: np.ndarray
    pre_recovery: np.ndarray      # cents, for pre-assigned rows
    pre_cost: np.ndarray
    kept_count: np.ndarray        # int64 [Q]
    kept_balance: np.ndarray      # int64 [Q] cents
    recalls: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)
    min_share_applied: dict[str, float] = field(default_factory=dict)  # vendor -> share applied, where relaxed
    channel: np.ndarray | None = None  # bool [Q]: channel queues (outside one_collector_per_customer)
    one_collector: bool = False        # strategy's one_collector_per_customer

    @property
    def n(self) -> int:
        return len(self.account_id)

    def gain(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Expected net of each queue minus not worked, cents [n, Q] (meaningful where elig);
        `rows`: of these rows only (`gain()[rows]` without the full matrix)."""
        if rows is None:
            return self.recovery - self.cost[None, :] - self.nw[:, None]
        return self.recovery[rows] - self.cost[None, :] - self.nw[rows][:, None]


def _masks(values: np.ndarray) -> dict:
    """value -> rows equal to it (`values == value`), from one pass of codes."""
    codes, uniques = pd.factorize(values)
    return {u: codes == k for k, u in enumerate(uniques)}


def sorted_by_account(inputs: pd.DataFrame) -> pd.DataFrame:
    """`inputs.sort_values("account_id", kind="mergesort").reset_index(drop=True)`; rows that
    come in account order (the nightly run's) are only checked, by comparing neighbours."""
    ids = inputs["account_id"]
    if isinstance(ids.dtype, pd.StringDtype) and is_sorted(ids):
        return inputs.reset_index(drop=True)
    return inputs.sort_values("account_id", kind="mergesort").reset_index(drop=True)


def _one_collector_elig(elig: np.ndarray, customer: np.ndarray, kept_customer: np.ndarray,
                        kept_queue: np.ndarray, channel: np.ndarray) -> None:
    """one_collector_per_customer: a customer with a kept placement at k is worked by k only
    (channels aside), so no other team, vendor or legal queue for their other accounts."""
    for j in np.flatnonzero(~channel):
        bad = np.unique(kept_customer[kept_queue != j])
        if len(bad):
            elig[np.isin(customer, bad), j] = False


def _relax_shares(min_share: np.ndarray, names: list[str], relaxed: dict[str, float],
                  warnings: list[str]) -> None:
    """Shares adding up to more than 1 can only be met by placing nothing new with any vendor:
    relax them by the least total amount (to a sum of 1), each in proportion to what was asked
    (rounded down to 1e-6 so the sum stays <= 1), and say so per vendor."""
    total = float(min_share.sum())
    for j in np.flatnonzero(min_share > 0):
        asked = float(min_share[j])
        applied = float(np.floor(asked / total * 1e6) / 1e6)
        relaxed[names[j]] = applied
        min_share[j] = applied
        warnings.append(f"min_share relaxed: vendor {names[j]!r} asked {asked:g} of tonight's new vendor "
                        f"placements, {applied:g} applied (the vendors' shares add up to {total:g} > 1, which "
                        "only placing nothing new with any vendor meets)")


def _queue_arrays(wq: list) -> dict[str, np.ndarray]:
    """Per work queue (solver column, strategy order): cost (cents), capacity, balance cap
    (cents, -1 none), vendor, min share, keep_customer_together, channel."""
    return {
        "cost": np.array([int(round(q.cost_per_account * CENT)) for q in wq], dtype=np.int64),
        "cap_total": np.array([q.capacity for q in wq], dtype=np.int64),
        "bal_total": np.array([to_cents([q.max_balance])[0] if isinstance(q, VendorQueue)
                               and q.max_balance is not None else -1 for q in wq], dtype=np.int64),
        "vendor": np.array([isinstance(q, VendorQueue) for q in wq]),
        "min_share": np.array([q.min_share if isinstance(q, VendorQueue) else 0.0 for q in wq]),
        "together": np.array([isinstance(q, VendorQueue) and q.keep_customer_together for q in wq]),
        "channel": np.array([q.kind == "channel" for q in wq], dtype=bool),
    }


def _values(wq: list, stage: np.ndarray, p: np.ndarray, amount: np.ndarray,
            eff: dict[tuple[str, str], float]) -> tuple[np.ndarray, np.ndarray]:
    """Eligibility (the queue takes the account's stage) and expected recovery in cents of each
    (account, queue): `expected_recovery` rounded, 0 where not eligible."""
    n = len(stage)
    elig = np.zeros((n, len(wq)), dtype=bool)
    recovery = np.zeros((n, len(wq)), dtype=np.int64)
    at_stage = _masks(stage)
    for j, q in enumerate(wq):
        e = np.zeros(n)
        for s in q.stages:
            m = at_stage.get(s)
            if m is None:  # no account at this stage tonight
                continue
            elig[m, j] = True
            e[m] = eff.get((q.name, s), 1.0)
        comm = q.commission if isinstance(q, VendorQueue) else 0.0
        rows = np.flatnonzero(elig[:, j])  # 0 elsewhere
        recovery[rows, j] = np.rint(expected_recovery(p[rows], e[rows], amount[rows], comm)).astype(np.int64)
    return elig, recovery


def _values_logodds(wq: list, stage: np.ndarray, p: np.ndarray, amount: np.ndarray,
                    model: LogOddsEffects, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_values` with the log-odds effects: each eligible (account, queue) valued at
    `logodds_recovery` with the queue's shift for the account's cell (`codes`), in cents."""
    n = len(stage)
    elig = np.zeros((n, len(wq)), dtype=bool)
    recovery = np.zeros((n, len(wq)), dtype=np.int64)
    at_stage = _masks(stage)
    for j, q in enumerate(wq):
        for s in q.stages:
            m = at_stage.get(s)
            if m is not None:
                elig[m, j] = True
        comm = q.commission if isinstance(q, VendorQueue) else 0.0
        rows = np.flatnonzero(elig[:, j])
        d = model.delta(q.name, codes=codes[rows])
        recovery[rows, j] = np.rint(logodds_recovery(p[rows], d, amount[rows], comm)).astype(np.int64)
    return elig, recovery


def logodds_model(strategy: Strategy, effects) -> LogOddsEffects:
    """The log-odds effects a night decides with: `effects` when it is one (`fit_logodds`),
    else the strategy's effects (overridden by a (queue, stage) -> multiplier dict) as constant
    shifts ln(effect)."""
    return effects if isinstance(effects, LogOddsEffects) else constant_logodds(strategy, effects)


def build_problem(inputs: pd.DataFrame, strategy: Strategy, date,
                  effects: dict | LogOddsEffects | None = None) -> Problem:
    """The solver's arrays and the pre-assignment: the business rules (holds, fraud, open
    placements, in that order) settle some accounts and what they leave of each queue; the
    other accounts are free, with their eligibility and value per queue.

    effects: (queue, stage) -> multiplier overriding the strategy's; with the strategy's
    `effects_model: logodds`, also a fitted `LogOddsEffects` (`assign.logodds.fit_logodds`)."""
    date = pd.Timestamp(date)
    df = sorted_by_account(inputs)
    wq = strategy.work_queues()
    names = [q.name for q in wq]
    qi = {q: i for i, q in enumerate(names)}
    qa = _queue_arrays(wq)
    stage = df["stage"].astype(str).to_numpy(dtype=object)
    p = np.clip(df["p_repay"].to_numpy(dtype=float), 0.0, 1.0)
    amount = to_cents(df["collectable"].fillna(0.0).clip(lower=0))
    lo: tuple[LogOddsEffects, np.ndarray] | None = None
    if strategy.effects_model == "logodds":
        model = logodds_model(strategy, effects)
        lo = (model, model.codes(df))
        eff: dict[tuple[str, str], float] = {}
        elig, recovery = _values_logodds(wq, stage, p, amount, *lo)
    elif isinstance(effects, LogOddsEffects):
        raise ValueError("log-odds effects need the strategy's effects_model: logodds")
    else:
        eff = effect_table(strategy, effects)
        elig, recovery = _values(wq, stage, p, amount, eff)
    nw = np.rint(expected_recovery(p, 1.0, amount)).astype(np.int64)  # not worked

    pre = Preassigned.start(len(df))
    cap = qa["cap_total"].copy()
    legal = strategy.legal_queue()
    to_legal = apply_holds(pre, df["hold"], legal, cap, qi)
    apply_fraud(pre, df, strategy.fraud_queue())
    op = settle_open_placements(pre, df, strategy, date, stage, amount, qi)
    cap, bal = charge_kept(op, cap, qa["bal_total"].copy(), qa["vendor"], names, qa["cap_total"],
                           qa["bal_total"], pre.warnings)
    pre_rec, pre_cost = _settled_values(nw, recovery, qa["cost"], op)
    if len(to_legal):
        pre_rec[to_legal] = (_recovery_in(legal.name, to_legal, p, amount, stage, eff) if lo is None else
                             np.rint(logodds_recovery(p[to_legal], lo[0].delta(legal.name, codes=lo[1][to_legal]),
                                                      amount[to_legal])).astype(np.int64))
        pre_cost[to_legal] = qa["cost"][qi[legal.name]]

    elig &= pre.free[:, None]
    customer = sorted_codes(df["customer_id"].astype(str))
    one = bool(strategy.one_collector_per_customer)
    _kept_customer_elig(elig, customer, op, qa, one)
    min_share = qa["min_share"]
    relaxed = _vendor_shares(elig, cap, bal, amount, min_share, qa["vendor"], names, strategy, pre.warnings)
    pre.decision[pre.free] = ""
    return Problem(
        account_id=df["account_id"].to_numpy(dtype=object), customer=customer, stage=stage, amount=amount,
        queues=names, elig=elig, recovery=recovery, cost=qa["cost"], nw=nw, cap=cap, cap_total=qa["cap_total"],
        bal=bal, bal_total=qa["bal_total"], min_share=min_share, vendor=qa["vendor"], together=qa["together"],
        free=pre.free, queue=pre.queue, decision=pre.decision, ended=pre.ended, previous=op.previous,
        reason=pre.reason, pre_recovery=pre_rec, pre_cost=pre_cost, kept_count=op.kept_count,
        kept_balance=op.kept_balance, recalls=op.recalls, warnings=pre.warnings, min_share_applied=relaxed,
        channel=qa["channel"], one_collector=one,
    )


def _settled_values(nw: np.ndarray, recovery: np.ndarray, cost: np.ndarray,
                    op: OpenPlacements) -> tuple[np.ndarray, np.ndarray]:
    """Expected recovery and cost (cents) of the accounts the rules settled: kept placements in
    their vendor's queue; not worked's recovery for the rest (the caller adds legal holds)."""
    pre_rec = nw.copy()
    pre_cost = np.zeros(len(nw), dtype=np.int64)
    if op.live.any():
        idx = np.flatnonzero(op.live)
        pre_rec[idx] = recovery[idx, op.kept_queue]
        pre_cost[idx] = cost[op.kept_queue]
    return pre_rec, pre_cost


def _recovery_in(queue: str, rows: np.ndarray, p: np.ndarray, amount: np.ndarray, stage: np.ndarray,
                 eff: dict[tuple[str, str], float]) -> np.ndarray:
    """Expected recovery (cents) of `rows` in a queue without commission (the legal queue), its
    effect at each row's stage (1 where it has none: a legal hold goes there at any stage)."""
    e = np.array([eff.get((queue, s), 1.0) for s in stage[rows]])
    return np.rint(expected_recovery(p[rows], e, amount[rows])).astype(np.int64)


def _kept_customer_elig(elig: np.ndarray, customer: np.ndarray, op: OpenPlacements,
                        qa: dict[str, np.ndarray], one_collector: bool) -> None:
    """Customers with a kept placement: keep_customer_together (no second vendor where either
    keeps customers together) and one_collector_per_customer. Changes `elig` in place."""
    live, vendor, together = op.live, qa["vendor"], qa["together"]
    if live.any() and together.any() and vendor.sum() > 1:
        # a customer with a kept placement at vendor k may not get another vendor w when k or w
        # keeps customers together
        ck = pd.DataFrame({"c": customer[live], "k": op.kept_queue}).drop_duplicates()
        for j in np.flatnonzero(vendor):
            others = ck[ck["k"] != j]
            bad_c = others["c"][together[others["k"].to_numpy()] | together[j]].unique()
            if len(bad_c):
                elig[np.isin(customer, bad_c), j] = False
    if one_collector and live.any():
        _one_collector_elig(elig, customer, customer[live], op.kept_queue, qa["channel"])


def _vendor_shares(elig: np.ndarray, cap: np.ndarray, bal: np.ndarray, amount: np.ndarray,
                   min_share: np.ndarray, vendor: np.ndarray, names: list[str], strategy: Strategy,
                   warnings: list[str]) -> dict[str, float]:
    """A vendor that can take no new account tonight has its min share set aside; shares over 1
    in total are relaxed (`_relax_shares`). Changes `min_share` in place; returns vendor ->
    share applied where it differs from the strategy's."""
    vend_stages = {q.name: q.stages for q in strategy.vendors()}
    relaxed: dict[str, float] = {}
    for j in np.flatnonzero(vendor):
        fits = elig[:, j] & ((bal[j] < 0) | (amount <= bal[j]))
        if min_share[j] > 0 and (cap[j] == 0 or not fits.any()):
            warnings.append(f"vendor {names[j]!r} can take no new account tonight (no eligible account or no "
                            f"capacity left): its min_share {min_share[j]} is not applied tonight")
            relaxed[names[j]] = 0.0
            min_share[j] = 0.0
        elif not elig[:, j].any():
            warnings.append(f"vendor {names[j]!r}: no account tonight is eligible (stages {vend_stages[names[j]]})")
    if min_share.sum() > 1 + 1e-9:
        _relax_shares(min_share, names, relaxed, warnings)
    return relaxed
