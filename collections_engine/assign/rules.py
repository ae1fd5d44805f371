"""Placement's business rules, applied before the solver, in this order:

1. holds: a held account is not worked (`legal` hold: to the legal queue while it has room, in
   account id order);
2. fraud: ring members and confirmed fraud customers to the fraud queue, by priority
   (confirmed first, then ring score, then account id); overflow stays not worked;
3. open placements: recalled (hold, fraud, vendor gone, stage not accepted when `recall_on`
   says so), returned (`ends_on` reached) or kept (counted against the vendor's capacity and
   balance cap).

Each rule decides who goes where and why (`Preassigned`); what an account is worth in a queue
is the problem arrays' concern (`model_data`). The accounts no rule settles stay free: the
solver decides them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.config.strategy import FraudQueue, LegalQueue, Strategy
from collections_engine.vocabulary import FRAUD_HOLD, HELD, KEPT, LEGAL_HOLD, NOT_WORKED, RECALLED, RETURNED

__all__ = ["Preassigned", "OpenPlacements", "apply_holds", "apply_fraud", "settle_open_placements",
           "charge_kept"]

CENT = 100


@dataclass
class Preassigned:
    """Per account (the problem's rows): the queue, decision, end and reason the rules set
    ("" where none), and whether the solver still decides it (`free`)."""

    queue: np.ndarray
    decision: np.ndarray
    ended: np.ndarray
    reason: np.ndarray
    free: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, n: int) -> Preassigned:
        return cls(*(np.full(n, "", dtype=object) for _ in range(4)), np.ones(n, dtype=bool))


@dataclass
class OpenPlacements:
    """Last night's open placements as the rules leave them."""

    previous: np.ndarray       # vendor per account, "" where none
    live: np.ndarray           # bool per account: kept tonight
    kept_queue: np.ndarray     # int64: the kept accounts' queue column, in account order
    kept_count: np.ndarray     # int64 [Q]
    kept_balance: np.ndarray   # int64 [Q] cents
    recalls: pd.DataFrame      # account_id, vendor, reason; by vendor then account id


def _fraud_order(df: pd.DataFrame) -> np.ndarray:
    """Positions of fraud accounts in priority order: confirmed, ring score desc, account id."""
    key = pd.DataFrame({
        "c": ~df["fraud_confirmed"].to_numpy(bool),
        "s": -df["ring_score"].fillna(0.0).to_numpy(float),
        "a": df["account_id"].to_numpy(),
    })
    return key.sort_values(["c", "s", "a"], kind="mergesort").index.to_numpy()


def apply_holds(pre: Preassigned, hold_column: pd.Series, legal: LegalQueue | None, cap: np.ndarray,
                qi: dict[str, int]) -> np.ndarray:
    """Holds first: held accounts are not worked; `legal` holds go to the legal queue while it
    has room (`cap`, reduced in place), in account id order. Returns the rows placed there."""
    hold = hold_column.fillna("").astype(str).to_numpy(dtype=object)
    held = hold != ""
    lh = np.flatnonzero(hold == LEGAL_HOLD)
    take = lh[:0]
    if len(lh):
        if legal is None:
            pre.warnings.append(f"{len(lh)} accounts on legal hold but the strategy has no legal queue: "
                                "held, not worked")
            room = 0
        else:
            room = min(len(lh), int(cap[qi[legal.name]]))
            if room < len(lh):
                pre.warnings.append(f"legal queue {legal.name!r} (capacity {legal.capacity}) cannot hold "
                                    f"{len(lh)} accounts on legal hold: {len(lh) - room} held, not worked")
        take = lh[:room]  # already in account id order
        if room:
            pre.queue[take] = legal.name
            cap[qi[legal.name]] -= room
    pre.decision[held] = HELD
    if held.any():
        pre.reason[held] = np.char.add("hold:", hold[held].astype(str)).astype(object)
    pre.reason[lh[pre.queue[lh] == ""]] = ("hold:legal; legal queue full" if legal is not None
                                           else "hold:legal; no legal queue")
    pre.free &= ~held
    return take


def apply_fraud(pre: Preassigned, df: pd.DataFrame, fq: FraudQueue | None) -> None:
    """Fraud next: ring members and confirmed fraud customers not held go to the fraud queue by
    priority (`_fraud_order`) up to its capacity; the rest stay not worked, said in a warning."""
    confirmed = df["fraud_confirmed"].fillna(False).to_numpy(bool)
    ring = df["ring_id"].fillna("").astype(str).to_numpy(dtype=object)
    fraud = (confirmed | (ring != "")) & pre.free
    if not fraud.any():
        return
    pos = np.flatnonzero(fraud)[_fraud_order(df[fraud].reset_index(drop=True))]
    fcap = fq.capacity if fq is not None else 0
    take, over = pos[:fcap], pos[fcap:]
    why = np.where(confirmed[pos], "fraud:confirmed", "fraud:ring")  # in `pos` order
    if fq is not None:
        pre.queue[take] = fq.name
    pre.decision[take] = FRAUD_HOLD
    pre.reason[take] = why[:len(take)]
    pre.decision[over] = NOT_WORKED
    if len(over):
        pre.reason[over] = np.char.add(why[len(take):].astype(str),
                                       "; fraud queue full" if fq is not None else "; no fraud queue").astype(object)
        pre.warnings.append(f"fraud queue {'missing' if fq is None else repr(fq.name)}: {len(over)} fraud "
                            f"accounts over capacity {fcap} stay not worked")
    pre.free &= ~fraud


def settle_open_placements(pre: Preassigned, df: pd.DataFrame, strategy: Strategy, date: pd.Timestamp,
                           stage: np.ndarray, amount: np.ndarray, qi: dict[str, int]) -> OpenPlacements:
    """Last night's open placements: recalled (the account is held or fraud, the vendor left the
    strategy, or the vendor no longer takes the stage under `recall_on: [stage_not_accepted]`),
    returned (`ends_on` reached) or kept (the account is settled in its vendor's queue)."""
    n = len(df)
    ov = df["open_vendor"].fillna("").astype(str).to_numpy(dtype=object)
    ends = pd.to_datetime(df["ends_on"]).to_numpy()
    has = ov != ""
    vend_names = {q.name: q for q in strategy.vendors()}
    rec_rows = []
    r1 = has & ~pre.free  # held or fraud
    if r1.any():
        rec_rows.append((np.flatnonzero(r1), pre.reason[r1]))
        pre.ended[r1] = RECALLED
    known = np.zeros(n, dtype=bool)  # only read where an open vendor is
    known[has] = np.isin(ov[has].astype(str), np.array(list(vend_names), dtype=str))
    r2 = has & pre.free & ~known
    if r2.any():
        pre.ended[r2] = RECALLED
        pre.reason[r2] = "vendor_not_in_strategy"
        rec_rows.append((np.flatnonzero(r2), pre.reason[r2]))
        pre.warnings.append(f"{int(r2.sum())} open placements with vendors not in the strategy recalled")
    expired = has & pre.free & known & (ends <= np.datetime64(date))
    pre.ended[expired] = RETURNED
    live = has & pre.free & known & ~expired
    if "stage_not_accepted" in strategy.recall_on and live.any():
        pairs = np.array([f"{v}|{s}" for v in vend_names for s in vend_names[v].stages], dtype=str)
        ok = np.isin(np.char.add(np.char.add(ov[live].astype(str), "|"), stage[live].astype(str)), pairs)
        bad = np.flatnonzero(live)[~ok]
        if len(bad):
            pre.ended[bad] = RECALLED
            pre.reason[bad] = "stage_not_accepted"
            rec_rows.append((bad, pre.reason[bad]))
            live[bad] = False
    Q = len(qi)
    kept_queue = pd.Series(ov[live]).map(qi).to_numpy(dtype=np.int64)
    kept_count = np.zeros(Q, dtype=np.int64)
    kept_bal = np.zeros(Q, dtype=np.int64)
    if live.any():
        kept_count = np.bincount(kept_queue, minlength=Q).astype(np.int64)
        kept_bal = np.bincount(kept_queue, weights=amount[live], minlength=Q).astype(np.int64)
        idx = np.flatnonzero(live)
        pre.queue[idx] = ov[live]
        pre.decision[idx] = KEPT
        pre.free[idx] = False
    return OpenPlacements(ov.copy(), live, kept_queue, kept_count, kept_bal,
                          _recalls(df["account_id"].to_numpy(), ov, rec_rows))


def _recalls(account_id: np.ndarray, ov: np.ndarray, rec_rows: list) -> pd.DataFrame:
    if not rec_rows:
        return pd.DataFrame({"account_id": pd.Series([], dtype="str"), "vendor": pd.Series([], dtype="str"),
                             "reason": pd.Series([], dtype="str")})
    pos = np.concatenate([r[0] for r in rec_rows])
    why = np.concatenate([np.asarray(r[1], dtype=object) for r in rec_rows])
    recalls = pd.DataFrame({"account_id": account_id[pos], "vendor": ov[pos], "reason": why})
    return recalls.sort_values(["vendor", "account_id"], kind="mergesort").reset_index(drop=True)


def charge_kept(op: OpenPlacements, cap: np.ndarray, bal: np.ndarray, vendor: np.ndarray,
                names: list[str], cap_total: np.ndarray, bal_total: np.ndarray,
                warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Kept placements count against their vendor's capacity and balance cap: what is left for
    new placements (never below 0; -1 = no balance cap), with a warning per vendor already over."""
    if not op.live.any():
        return cap, bal
    for j in np.flatnonzero(vendor):
        if op.kept_count[j] > cap[j]:
            warnings.append(f"vendor {names[j]!r}: {op.kept_count[j]} open placements kept exceed its capacity "
                            f"{cap_total[j]}; no new placements tonight")
        if bal[j] >= 0 and op.kept_balance[j] > bal[j]:
            warnings.append(f"vendor {names[j]!r}: kept placements hold {op.kept_balance[j] / CENT:.2f}, over "
                            f"max_balance {bal_total[j] / CENT:.2f}; no new placements tonight")
    return np.maximum(cap - op.kept_count, 0), np.where(bal >= 0, np.maximum(bal - op.kept_balance, 0), -1)
