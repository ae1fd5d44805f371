"""Placement, part 1: from decision inputs to solver arrays.

Everything here is vectorised over accounts. The steps, in order:
1. holds: a held account is not worked (`legal` hold: to the legal queue while it has room);
2. fraud: ring members and confirmed fraud customers to the fraud queue, by priority
   (confirmed first, then ring score, then account id); overflow stays not worked;
3. open placements: recalled (hold, fraud, vendor gone, stage not accepted when `recall_on`
   says so), returned (`ends_on` reached) or kept (counted against the vendor's capacity and
   balance cap);
4. the rest are free: value of each (account, queue) in integer cents.

Money is integer cents (int64) from here to the solver; outputs convert back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.codes import is_sorted, sorted_codes
from collections_engine.config.strategy import Strategy, VendorQueue
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["Problem", "build_problem", "effect_table", "to_cents"]

CENT = 100


def to_cents(x: np.ndarray | pd.Series) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=np.float64) * CENT).astype(np.int64)


def effect_table(strategy: Strategy, effects: dict | None = None) -> dict[tuple[str, str], float]:
    """(queue, stage) -> effect: the strategy's, overridden by `effects` where given.

    `effects` maps (queue, stage) -> multiplier, or queue -> {stage: multiplier}.
    """
    out: dict[tuple[str, str], float] = {}
    for q in strategy.work_queues():
        for s in q.stages:
            out[(q.name, s)] = float(q.effect.get(s, 1.0))
    for k, v in (effects or {}).items():
        if isinstance(v, dict):
            for s, e in v.items():
                out[(str(k), str(s))] = float(e)
        else:
            out[(str(k[0]), str(k[1]))] = float(v)
    return out


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

    def gain(self) -> np.ndarray:
        """Expected net of each queue minus not worked, cents [n, Q] (meaningful where elig)."""
        return self.recovery - self.cost[None, :] - self.nw[:, None]


def _fraud_order(df: pd.DataFrame) -> np.ndarray:
    """Positions of fraud accounts in priority order: confirmed, ring score desc, account id."""
    key = pd.DataFrame({
        "c": ~df["fraud_confirmed"].to_numpy(bool),
        "s": -df["ring_score"].fillna(0.0).to_numpy(float),
        "a": df["account_id"].to_numpy(),
    })
    return key.sort_values(["c", "s", "a"], kind="mergesort").index.to_numpy()


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


def build_problem(inputs: pd.DataFrame, strategy: Strategy, date,
                  effects: dict | None = None) -> Problem:
    date = pd.Timestamp(date)
    df = sorted_by_account(inputs)
    n = len(df)
    warnings: list[str] = []
    wq = strategy.work_queues()
    names = [q.name for q in wq]
    Q = len(wq)
    qi = {q: i for i, q in enumerate(names)}
    stage = df["stage"].astype(str).to_numpy(dtype=object)
    p = np.clip(df["p_repay"].to_numpy(dtype=float), 0.0, 1.0)
    amount = to_cents(df["collectable"].fillna(0.0).clip(lower=0))
    eff = effect_table(strategy, effects)

    elig = np.zeros((n, Q), dtype=bool)
    recovery = np.zeros((n, Q), dtype=np.int64)
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
        recovery[rows, j] = np.rint(np.minimum(1.0, p[rows] * e[rows]) * amount[rows] * (1.0 - comm)).astype(np.int64)
    cost = np.array([int(round(q.cost_per_account * CENT)) for q in wq], dtype=np.int64)
    nw = np.rint(p * amount).astype(np.int64)
    cap_total = np.array([q.capacity for q in wq], dtype=np.int64)
    cap = cap_total.copy()
    bal_total = np.array([to_cents([q.max_balance])[0] if isinstance(q, VendorQueue)
                          and q.max_balance is not None else -1 for q in wq], dtype=np.int64)
    bal = bal_total.copy()
    vendor = np.array([isinstance(q, VendorQueue) for q in wq])
    min_share = np.array([q.min_share if isinstance(q, VendorQueue) else 0.0 for q in wq])
    together = np.array([isinstance(q, VendorQueue) and q.keep_customer_together for q in wq])

    queue = np.full(n, "", dtype=object)
    decision = np.full(n, "", dtype=object)
    ended = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)
    pre_rec = nw.copy()
    pre_cost = np.zeros(n, dtype=np.int64)
    free = np.ones(n, dtype=bool)

    # 1. holds
    hold = df["hold"].fillna("").astype(str).to_numpy(dtype=object)
    held = hold != ""
    legal = strategy.legal_queue()
    lh = np.flatnonzero(hold == "legal")
    if len(lh):
        if legal is None:
            warnings.append(f"{len(lh)} accounts on legal hold but the strategy has no legal queue: held, not worked")
            room = 0
        else:
            room = min(len(lh), int(cap[qi[legal.name]]))
            if room < len(lh):
                warnings.append(f"legal queue {legal.name!r} (capacity {legal.capacity}) cannot hold "
                                f"{len(lh)} accounts on legal hold: {len(lh) - room} held, not worked")
        take = lh[:room]  # already in account id order
        if room:
            j = qi[legal.name]
            queue[take] = legal.name
            cap[j] -= room
            e = np.array([eff.get((legal.name, s), 1.0) for s in stage[take]])
            pre_rec[take] = np.rint(np.minimum(1.0, p[take] * e) * amount[take]).astype(np.int64)
            pre_cost[take] = cost[j]
    decision[held] = "held"
    reason[held] = np.char.add("hold:", hold[held].astype(str)).astype(object) if held.any() else reason[held]
    reason[lh[queue[lh] == ""]] = "hold:legal; legal queue full" if legal is not None else "hold:legal; no legal queue"
    free &= ~held

    # 2. fraud
    confirmed = df["fraud_confirmed"].fillna(False).to_numpy(bool)
    ring = df["ring_id"].fillna("").astype(str).to_numpy(dtype=object)
    fraud = (confirmed | (ring != "")) & free
    fq = strategy.fraud_queue()
    if fraud.any():
        order = _fraud_order(df[fraud].reset_index(drop=True))
        pos = np.flatnonzero(fraud)[order]
        fcap = fq.capacity if fq is not None else 0
        take, over = pos[:fcap], pos[fcap:]
        why = np.where(confirmed[pos], "fraud:confirmed", "fraud:ring")  # in `pos` order
        if fq is not None:
            queue[take] = fq.name
        decision[take] = "fraud_hold"
        reason[take] = why[:len(take)]
        decision[over] = NOT_WORKED
        reason[over] = np.char.add(why[len(take):].astype(str),
                                   "; fraud queue full" if fq is not None else "; no fraud queue").astype(object) \
            if len(over) else reason[over]
        if len(over):
            warnings.append(f"fraud queue {'missing' if fq is None else repr(fq.name)}: {len(over)} fraud "
                            f"accounts over capacity {fcap} stay not worked")
        free &= ~fraud

    # 3. open placements
    ov = df["open_vendor"].fillna("").astype(str).to_numpy(dtype=object)
    ends = pd.to_datetime(df["ends_on"]).to_numpy()
    has = ov != ""
    previous = ov.copy()  # "" where none (has = ov != "")
    vend_names = {q.name: q for q in strategy.vendors()}
    rec_rows = []
    # recalled because held or fraud
    r1 = has & ~free
    if r1.any():
        rec_rows.append((np.flatnonzero(r1), reason[r1]))
        ended[r1] = "recalled"
    known = np.zeros(n, dtype=bool)  # only read where an open vendor is
    known[has] = np.isin(ov[has].astype(str), np.array(list(vend_names), dtype=str))
    r2 = has & free & ~known
    if r2.any():
        ended[r2] = "recalled"
        reason[r2] = "vendor_not_in_strategy"
        rec_rows.append((np.flatnonzero(r2), reason[r2]))
        warnings.append(f"{int(r2.sum())} open placements with vendors not in the strategy recalled")
    expired = has & free & known & (ends <= np.datetime64(date))
    ended[expired] = "returned"
    live = has & free & known & ~expired
    if "stage_not_accepted" in strategy.recall_on and live.any():
        pairs = np.array([f"{v}|{s}" for v in vend_names for s in vend_names[v].stages], dtype=str)
        ok = np.isin(np.char.add(np.char.add(ov[live].astype(str), "|"), stage[live].astype(str)), pairs)
        bad = np.flatnonzero(live)[~ok]
        if len(bad):
            ended[bad] = "recalled"
            reason[bad] = "stage_not_accepted"
            rec_rows.append((bad, reason[bad]))
            live[bad] = False
    kept_count = np.zeros(Q, dtype=np.int64)
    kept_bal = np.zeros(Q, dtype=np.int64)
    if live.any():
        kj = pd.Series(ov[live]).map(qi).to_numpy(dtype=np.int64)
        kept_count = np.bincount(kj, minlength=Q).astype(np.int64)
        kept_bal = np.bincount(kj, weights=amount[live], minlength=Q).astype(np.int64)
        idx = np.flatnonzero(live)
        queue[idx] = ov[live]
        decision[idx] = "kept"
        pre_rec[idx] = recovery[idx, kj]
        pre_cost[idx] = cost[kj]
        free[idx] = False
        for j in np.flatnonzero(vendor):
            if kept_count[j] > cap[j]:
                warnings.append(f"vendor {names[j]!r}: {kept_count[j]} open placements kept exceed its capacity "
                                f"{cap_total[j]}; no new placements tonight")
            if bal[j] >= 0 and kept_bal[j] > bal[j]:
                warnings.append(f"vendor {names[j]!r}: kept placements hold {kept_bal[j] / CENT:.2f}, over "
                                f"max_balance {bal_total[j] / CENT:.2f}; no new placements tonight")
        cap = np.maximum(cap - kept_count, 0)
        bal = np.where(bal >= 0, np.maximum(bal - kept_bal, 0), -1)
    if rec_rows:
        pos = np.concatenate([r[0] for r in rec_rows])
        why = np.concatenate([np.asarray(r[1], dtype=object) for r in rec_rows])
        recalls = pd.DataFrame({"account_id": df["account_id"].to_numpy()[pos], "vendor": ov[pos],
                                "reason": why})
        recalls = recalls.sort_values(["vendor", "account_id"], kind="mergesort").reset_index(drop=True)
    else:
        recalls = pd.DataFrame({"account_id": pd.Series([], dtype="str"), "vendor": pd.Series([], dtype="str"),
                                "reason": pd.Series([], dtype="str")})

    # 4. free accounts: eligibility for the solver; keep_customer_together with kept placements
    elig &= free[:, None]
    customer = sorted_codes(df["customer_id"].astype(str))
    if live.any() and together.any() and vendor.sum() > 1:
        # a customer with a kept placement at vendor k may not get another vendor w when k or w
        # keeps customers together
        ck = pd.DataFrame({"c": customer[live], "k": [qi[v] for v in ov[live]]}).drop_duplicates()
        for j in np.flatnonzero(vendor):
            others = ck[ck["k"] != j]
            bad_c = others["c"][together[others["k"].to_numpy()] | together[j]].unique()
            if len(bad_c):
                elig[np.isin(customer, bad_c), j] = False
    channel = np.array([q.kind == "channel" for q in wq], dtype=bool)
    one = bool(strategy.one_collector_per_customer)
    if one and live.any():
        _one_collector_elig(elig, customer, customer[live], np.array([qi[v] for v in ov[live]]), channel)
    relaxed: dict[str, float] = {}
    for j in np.flatnonzero(vendor):
        fits = elig[:, j] & ((bal[j] < 0) | (amount <= bal[j]))
        if min_share[j] > 0 and (cap[j] == 0 or not fits.any()):
            warnings.append(f"vendor {names[j]!r} can take no new account tonight (no eligible account or no "
                            f"capacity left): its min_share {min_share[j]} is not applied tonight")
            relaxed[names[j]] = 0.0
            min_share[j] = 0.0
        elif not elig[:, j].any():
            warnings.append(f"vendor {names[j]!r}: no account tonight is eligible (stages {vend_names[names[j]].stages})")
    if min_share.sum() > 1 + 1e-9:
        _relax_shares(min_share, names, relaxed, warnings)
    decision[free] = ""
    return Problem(
        account_id=df["account_id"].to_numpy(dtype=object), customer=customer, stage=stage, amount=amount,
        queues=names, elig=elig, recovery=recovery, cost=cost, nw=nw, cap=cap, cap_total=cap_total,
        bal=bal, bal_total=bal_total, min_share=min_share, vendor=vendor, together=together, free=free,
        queue=queue, decision=decision, ended=ended, previous=previous, reason=reason,
        pre_recovery=pre_rec, pre_cost=pre_cost, kept_count=kept_count, kept_balance=kept_bal,
        recalls=recalls, warnings=warnings, min_share_applied=relaxed, channel=channel, one_collector=one,
    )
