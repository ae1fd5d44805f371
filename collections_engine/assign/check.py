"""An independent check of a night's placement plan, written from CONTRACT.md.

It reads only what a bank's reviewer would: the decision inputs (one row per delinquent
account, `decision_inputs.parquet`), the plan (`assignments.parquet`), optionally the open
placements after tonight (`placements.parquet`), the strategy and the date. It never looks at
the solver's arrays, so a bug in how the solver sees the problem cannot hide here.

A plan that fails it is a bug in the engine: the nightly run and `whatif` call `check_plan`
before anything is written and stop (exit 1, nothing written) when it returns anything.

How it stays fast at a million accounts: every text column is turned into integer codes once
(one Arrow hash look-up per column: queue, decision, stage, hold and vendor names against the
strategy's names, account and customer ids against each other), the plan's rows are matched to
the inputs' rows by account id once, and every rule is then numpy on aligned integer arrays.
(The first version merged and `isin`-ed the id strings in pandas: 21 s of a 56 s night at 1M on
a loaded box.) Its codes are its own, built from the tables; tests/plan_check_reference.py keeps
that first pandas version, and the tests require both to name the same broken rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.config.strategy import Strategy, VendorQueue
from collections_engine.vocabulary import DECISIONS, LEGAL_HOLD, RECALLED, RETURNED

__all__ = ["check_plan", "require_plan", "PlanError", "DECISIONS"]

KEPT, PLACED, ASSIGNED, FRAUD_HOLD, HELD, NOT_WORKED = range(len(DECISIONS))
ENDED = (RECALLED, RETURNED)
RECALLED, RETURNED = range(len(ENDED))
_CENT = 100
_SHOW = 5  # account ids named per violation (ids only: never a personal value)
_NONE, _UNKNOWN = -1, -2  # codes of an empty name and of a name not in the vocabulary


class PlanError(RuntimeError):
    """The engine made a plan that breaks the contract: a bug (exit 1), never bad input."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("the placement plan breaks the contract (a bug; nothing written):\n"
                         + "\n".join(f"  - {p}" for p in self.problems))


def require_plan(inputs: pd.DataFrame, assignments: pd.DataFrame, strategy: Strategy, date, *,
                 placements: pd.DataFrame | None = None,
                 min_share_applied: Mapping[str, float] | None = None) -> None:
    """`check_plan`, raising `PlanError` (exit 1) with every violation when there is any."""
    problems = check_plan(inputs, assignments, strategy, date, placements=placements,
                          min_share_applied=min_share_applied)
    if problems:
        raise PlanError(problems)


# ----------------------------------------------------------------------------- text to codes


def _text(s: pd.Series) -> pa.Array:
    """A column as one Arrow large_string array, missing values as "" (pandas' `fillna("")
    .astype(str)`); text that is not strings goes through pandas' `astype(str)`."""
    try:
        arr = pa.array(s, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        arr = None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr is not None and pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
                           or pa.types.is_null(arr.type)):
        arr = pa.array(s.fillna("").astype(str).to_numpy(dtype=object))
    return pc.fill_null(arr.cast(pa.large_string()), "")


def _code(arr: pa.Array, names) -> np.ndarray:
    """Position of each value in `names`; "" -> _NONE, anything else not there -> _UNKNOWN."""
    names = [n for n in names if n != ""]
    idx = pc.index_in(arr, value_set=pa.array(names, pa.large_string()))
    out = pc.fill_null(idx, _UNKNOWN).to_numpy(zero_copy_only=False).astype(np.int64)
    out[_np(pc.equal(arr, ""))] = _NONE
    return out


def _np(mask) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _ids(arr: pa.Array, rows: np.ndarray) -> str:
    return ", ".join(arr.take(pa.array(np.asarray(rows[:_SHOW], dtype=np.int64))).to_pylist())


def _cents(x: pd.Series) -> np.ndarray:
    return np.rint(pd.to_numeric(x, errors="coerce").fillna(0.0).clip(lower=0).to_numpy(float) * _CENT).astype(np.int64)


def _dates(x: pd.Series) -> np.ndarray:
    return pd.to_datetime(x).to_numpy().astype("datetime64[ns]")


# ----------------------------------------------------------------------------- the night, aligned


@dataclass
class _Night:
    """The inputs' facts and the plan's columns, one entry per input row (integer codes)."""
    ids: pa.Array             # account ids (text, for messages)
    cust: np.ndarray          # customer codes (own numbering)
    cust_ids: pa.Array        # customer id per code
    stage: np.ndarray         # index in the strategy's stages, or < 0
    amount: np.ndarray        # collectable, cents
    held: np.ndarray
    legal_hold: np.ndarray
    ring: np.ndarray
    ring_score: np.ndarray
    confirmed: np.ndarray
    ov: np.ndarray            # open vendor: index in the strategy's queues, _NONE, _UNKNOWN (not a vendor)
    ends_on: np.ndarray
    placed_on: np.ndarray
    q: np.ndarray             # plan's queue: index in the strategy's queues, _NONE
    d: np.ndarray             # plan's decision: index in DECISIONS
    ended: np.ndarray         # index in ENDED, _NONE (empty), _UNKNOWN
    prev_ok: np.ndarray       # plan's previous_queue is the inputs' open vendor (as text)


def _match(inputs: pd.DataFrame, a: pd.DataFrame, strategy: Strategy) -> tuple[_Night | None, list[str]]:
    """Structure (every delinquent account exactly once, known queues and decisions), then the
    plan's rows aligned to the inputs' rows by account id."""
    out: list[str] = []
    ids_in, ids_out = _text(inputs["account_id"]), _text(a["account_id"])
    n, m = len(ids_in), len(ids_out)
    enc = pc.dictionary_encode(pa.concat_arrays([ids_in, ids_out]))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    ci, co = codes[:n], codes[n:]
    k = len(enc.dictionary)
    cnt_in, cnt_out = np.bincount(ci, minlength=k), np.bincount(co, minlength=k)
    if (cnt_in > 1).any():
        rep = np.flatnonzero(cnt_in[ci] > 1)
        out.append(f"{int((cnt_in > 1).sum())} accounts appear more than once in the decision inputs "
                   f"(e.g. {_ids(ids_in, rep)})")
    if (cnt_out > 1).any():
        first = np.zeros(m, bool)
        first[np.unique(co, return_index=True)[1]] = True
        again = pd.unique(co[~first])
        out.append(f"{int((cnt_out > 1).sum())} accounts appear more than once in the plan "
                   f"(e.g. {', '.join(enc.dictionary.take(pa.array(again[:_SHOW])).to_pylist())})")
    missing = np.flatnonzero(cnt_out[ci] == 0)
    if len(missing):
        out.append(f"{len(missing)} delinquent accounts have no row in the plan (e.g. {_ids(ids_in, missing)})")
    extra = np.flatnonzero(cnt_in[co] == 0)
    if len(extra):
        out.append(f"{len(extra)} plan rows are not delinquent accounts of tonight (e.g. {_ids(ids_out, extra)})")
    names = [q.name for q in strategy.queues]
    qt, dt = _text(a["queue"]), _text(a["decision"])
    q, d = _code(qt, names), _code(dt, DECISIONS)
    if (q == _UNKNOWN).any():
        bad = sorted(set(qt.filter(pa.array(q == _UNKNOWN)).to_pylist()))
        out.append(f"{int((q == _UNKNOWN).sum())} plan rows name a queue not in the strategy: {bad[:_SHOW]}")
    if (d < 0).any():
        bad = sorted(set(dt.filter(pa.array(d < 0)).to_pylist()))
        out.append(f"{int((d < 0).sum())} plan rows have an unknown decision: {bad[:_SHOW]}")
    if out:  # the rules assume one plan row per account with known queues
        return None, out
    row_of = np.empty(k, np.int64)
    row_of[ci] = np.arange(n)
    plan_row = np.empty(n, np.int64)
    plan_row[row_of[co]] = np.arange(m)   # the plan's row of each input row
    take = pa.array(plan_row)
    ov_text = _text(inputs["open_vendor"])
    vendors = {v.name for v in strategy.vendors()}
    ov = _code(ov_text, names)
    ov[(ov >= 0) & ~np.isin(ov, [i for i, nm in enumerate(names) if nm in vendors])] = _UNKNOWN
    hold = _text(inputs["hold"])
    cust = pc.dictionary_encode(_text(inputs["customer_id"]))
    night = _Night(
        ids=ids_in,
        cust=cust.indices.to_numpy(zero_copy_only=False).astype(np.int64), cust_ids=cust.dictionary,
        stage=_code(_text(inputs["stage"]), strategy.stage_names()),
        amount=_cents(inputs["collectable"]),
        held=~_np(pc.equal(hold, "")), legal_hold=_np(pc.equal(hold, LEGAL_HOLD)),
        ring=~_np(pc.equal(_text(inputs["ring_id"]), "")),
        ring_score=pd.to_numeric(inputs["ring_score"], errors="coerce").fillna(0.0).to_numpy(float),
        confirmed=inputs["fraud_confirmed"].fillna(False).astype(bool).to_numpy(),
        ov=ov, ends_on=_dates(inputs["ends_on"]), placed_on=_dates(inputs["placed_on"]),
        q=q[plan_row], d=d[plan_row], ended=_code(_text(a["ended"]).take(take), ENDED),
        prev_ok=_np(pc.equal(_text(a["previous_queue"]).take(take), ov_text)),
    )
    return night, out


# ----------------------------------------------------------------------------- the rules


def check_plan(inputs: pd.DataFrame, assignments: pd.DataFrame, strategy: Strategy, date, *,
               placements: pd.DataFrame | None = None,
               min_share_applied: Mapping[str, float] | None = None) -> list[str]:
    """Every way the plan breaks the contract, as readable lines; [] when it holds.

    inputs: the night's decision inputs (`build_decision_inputs`, `decision_inputs.parquet`):
        account_id, customer_id, stage, collectable, hold, ring_id, ring_score,
        fraud_confirmed, open_vendor, ends_on (placed_on for the placements check).
    assignments: the plan, CONTRACT columns (account_id, customer_id, stage, queue, decision,
        ended, previous_queue, reason, expected_*, priority).
    strategy, date: the strategy the plan was made under and the business date.
    placements: the open placements after tonight (account_id, vendor, placed_on, ends_on); checked
        against the plan when given.
    min_share_applied: vendor -> the share the engine says it applied tonight where it relaxed a
        vendor's `min_share` (named in run.json's warnings: share asked, share met). A vendor not
        named here must meet its strategy `min_share` exactly.

    Rules (CONTRACT.md, README "Placement"): every delinquent account exactly once; holds first
    (held, never worked; a `legal` hold only in the legal queue); fraud next (fraud queue or not
    worked, never a team, vendor or channel; fraud queue filled by priority); an open placement is
    recalled for a hold or fraud, kept until `ends_on` otherwise (unless its vendor left the
    strategy, or `recall_on: [stage_not_accepted]` and the vendor no longer takes the stage); new
    work only in a queue that takes the account's stage; capacities count what a queue holds
    after tonight (kept placements included; kept ones above capacity are allowed, then nothing
    new); `max_balance` likewise on collectable; `min_share` on tonight's new vendor placements;
    `keep_customer_together`; `one_collector_per_customer` where the strategy sets it.
    """
    date = pd.Timestamp(date)
    night, out = _match(inputs, assignments, strategy)
    if night is None:
        return out
    out += _protections(night, strategy)
    out += _open_placements(night, strategy, date)
    out += _eligibility(night, strategy)
    out += _capacities(night, strategy, min_share_applied or {})
    out += _grouping(night, strategy)
    if placements is not None:
        out += _placements(night, placements, strategy, date)
    return out


def _qindex(strategy: Strategy, name: str | None) -> int:
    names = [q.name for q in strategy.queues]
    return names.index(name) if name in names else -9  # -9: matches no row


def _protections(x: _Night, strategy: Strategy) -> list[str]:
    """Holds and fraud: nothing that protects a customer is skipped."""
    out = []
    legal = strategy.legal_queue()
    fq = strategy.fraud_queue()
    ok_held = (x.d == HELD) & ((x.q == _NONE) | (x.legal_hold & (x.q == _qindex(strategy, legal.name if legal else None))))
    bad = np.flatnonzero(x.held & ~ok_held)
    if len(bad):
        out.append(f"hold: {len(bad)} accounts with an open hold are worked or not marked held "
                   f"(e.g. {_ids(x.ids, bad)})")
    fraud = ~x.held & (x.confirmed | x.ring)
    ok_fraud = ((x.d == FRAUD_HOLD) & (x.q == _qindex(strategy, fq.name if fq else None))) | (
        (x.d == NOT_WORKED) & (x.q == _NONE))
    bad = np.flatnonzero(fraud & ~ok_fraud)
    if len(bad):
        out.append(f"fraud: {len(bad)} ring members or confirmed fraud accounts are not in the fraud queue "
                   f"nor left unworked (e.g. {_ids(x.ids, bad)})")
    wrong = np.flatnonzero(~fraud & (x.d == FRAUD_HOLD))
    if len(wrong):
        out.append(f"fraud: {len(wrong)} accounts with no ring and no confirmed fraud are on fraud hold "
                   f"(e.g. {_ids(x.ids, wrong)})")
    wrong = np.flatnonzero(~x.held & (x.d == HELD))
    if len(wrong):
        out.append(f"hold: {len(wrong)} accounts without an open hold are marked held (e.g. {_ids(x.ids, wrong)})")
    f = np.flatnonzero(fraud)
    if fq is not None and len(f):  # the fraud queue takes the highest priority first
        ids = np.array(x.ids.take(pa.array(f)).to_pylist(), dtype=object)
        id_rank = np.argsort(np.argsort(ids, kind="stable"), kind="stable")
        rank = f[np.lexsort((id_rank, -x.ring_score[f], ~x.confirmed[f]))]
        inq = x.d[rank] == FRAUD_HOLD
        if (np.maximum.accumulate(~inq) & inq).any():
            out.append("fraud: the fraud queue holds a lower-priority account while a higher-priority one "
                       "(confirmed first, then ring score) is left unworked")
    return out


def _takes(strategy: Strategy, queues) -> np.ndarray:
    """takes[queue index, stage index] for the given queues (False elsewhere)."""
    names = [q.name for q in strategy.queues]
    stages = strategy.stage_names()
    t = np.zeros((len(names), len(stages)), bool)
    for q in queues:
        for s in q.stages:
            if s in stages:
                t[names.index(q.name), stages.index(s)] = True
    return t


def _lookup(table: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """table[i, j], False where either index is a missing/unknown code."""
    ok = (i >= 0) & (j >= 0)
    return ok & table[np.maximum(i, 0), np.maximum(j, 0)]


def _open_placements(x: _Night, strategy: Strategy, date: pd.Timestamp) -> list[str]:
    out = []
    has = x.ov != _NONE
    known = x.ov >= 0
    protected = x.held | x.confirmed | x.ring
    live = known & (x.ends_on > date.to_datetime64())
    if "stage_not_accepted" in strategy.recall_on:
        live &= _lookup(_takes(strategy, strategy.vendors()), x.ov, x.stage)
    ended = x.ended
    bad = np.flatnonzero(has & (protected | ~known) & (ended != RECALLED))
    if len(bad):
        out.append(f"recall: {len(bad)} open placements of held, fraud or removed-vendor accounts are not "
                   f"recalled (e.g. {_ids(x.ids, bad)})")
    keep = live & ~protected
    bad = np.flatnonzero(keep & ~((x.d == KEPT) & (x.q == x.ov)))
    if len(bad):
        out.append(f"placement: {len(bad)} open placements before their end date are not kept with their "
                   f"vendor (e.g. {_ids(x.ids, bad)})")
    bad = np.flatnonzero(has & ~keep & ~np.isin(ended, [RECALLED, RETURNED]) | ~has & (ended != _NONE))
    if len(bad):
        out.append(f"ended: {len(bad)} accounts' ended does not match their open placement (recalled or "
                   f"returned when one ends tonight, empty otherwise; e.g. {_ids(x.ids, bad)})")
    bad = np.flatnonzero(~x.prev_ok)
    if len(bad):
        out.append(f"previous_queue: {len(bad)} accounts do not name last night's open vendor "
                   f"(e.g. {_ids(x.ids, bad)})")
    bad = np.flatnonzero((x.d == KEPT) & ~keep)
    if len(bad):
        out.append(f"placement: {len(bad)} accounts marked kept have no live open placement to keep "
                   f"(e.g. {_ids(x.ids, bad)})")
    return out


def _kinds(strategy: Strategy, q: np.ndarray) -> np.ndarray:
    """The kind of each row's queue ("" where none)."""
    kinds = np.array([qq.kind for qq in strategy.queues] + [""], dtype=object)
    return kinds[np.where(q >= 0, q, len(kinds) - 1)]


def _eligibility(x: _Night, strategy: Strategy) -> list[str]:
    out = []
    new = (x.d == PLACED) | (x.d == ASSIGNED)
    bad = np.flatnonzero(new & ~_lookup(_takes(strategy, strategy.work_queues()), x.q, x.stage))
    if len(bad):
        out.append(f"stage: {len(bad)} accounts are given a queue that does not take their stage "
                   f"(e.g. {_ids(x.ids, bad)})")
    kind = _kinds(strategy, x.q)
    bad = np.flatnonzero((x.d == PLACED) & (kind != "vendor") | (x.d == ASSIGNED) & np.isin(kind, ["vendor", "fraud"]))
    if len(bad):
        out.append(f"decision: {len(bad)} accounts' decision does not match their queue's kind "
                   f"(placed = a new vendor placement; assigned = team, channel or legal; e.g. {_ids(x.ids, bad)})")
    bad = np.flatnonzero((x.d == NOT_WORKED) & (x.q != _NONE))
    if len(bad):
        out.append(f"decision: {len(bad)} not-worked accounts name a queue (e.g. {_ids(x.ids, bad)})")
    bad = np.flatnonzero(new & (x.q == _NONE))
    if len(bad):
        out.append(f"decision: {len(bad)} placed or assigned accounts have no queue (e.g. {_ids(x.ids, bad)})")
    return out


def _capacities(x: _Night, strategy: Strategy, applied: Mapping[str, float]) -> list[str]:
    """Capacity and max_balance per queue (after tonight), min_share of tonight's new placements."""
    out = []
    Q = len(strategy.queues)
    kept = x.d == KEPT
    on = x.q >= 0
    n_kept = np.bincount(x.q[on & kept], minlength=Q)
    n_new = np.bincount(x.q[on & ~kept], minlength=Q)
    b_kept, b_new = np.zeros(Q, np.int64), np.zeros(Q, np.int64)
    np.add.at(b_kept, x.q[on & kept], x.amount[on & kept])   # integer cents, exact
    np.add.at(b_new, x.q[on & ~kept], x.amount[on & ~kept])
    for j, q in enumerate(strategy.queues):
        nk, nn = int(n_kept[j]), int(n_new[j])
        if nn and nk + nn > q.capacity:
            out.append(f"capacity: queue {q.name!r} holds {nk + nn} accounts after tonight "
                       f"({nk} kept, {nn} new), capacity {q.capacity}")
        if isinstance(q, VendorQueue) and q.max_balance is not None and nn:
            bk, bn = int(b_kept[j]), int(b_new[j])
            cap = int(np.rint(q.max_balance * _CENT))
            if bk + bn > cap:
                out.append(f"max_balance: vendor {q.name!r} holds {(bk + bn) / _CENT:.2f} after tonight "
                           f"({bn / _CENT:.2f} new), max_balance {q.max_balance:.2f}")
    placed = x.d == PLACED
    n_placed = np.bincount(x.q[placed & on], minlength=Q)
    total = int(placed.sum())
    for v in strategy.vendors():
        share = float(applied.get(v.name, v.min_share))
        n_v = int(n_placed[_qindex(strategy, v.name)])
        if share > 0 and n_v < share * total - 1e-9:
            named = f" (relaxed to {share:g})" if v.name in applied else ""
            out.append(f"min_share: vendor {v.name!r} has {n_v} of {total} new vendor placements "
                       f"({n_v / max(total, 1):.4f}), below its min_share {share:g}{named}")
    return out


def _grouping(x: _Night, strategy: Strategy) -> list[str]:
    """keep_customer_together (vendors) and one_collector_per_customer (every worked queue but
    channels): a split that tonight's new work creates is a violation; splits among kept
    placements made on earlier nights are the contract's (kept until they end)."""
    out = []
    kind = _kinds(strategy, x.q)
    Q = len(strategy.queues)
    together = np.array([isinstance(q, VendorQueue) and q.keep_customer_together for q in strategy.queues] + [False])
    vend = np.isin(x.d, [KEPT, PLACED]) & (kind == "vendor")
    if together.any() and vend.any():
        flag = together[:Q]
        bad = _split_customers(x, vend, flag[:, None] | flag[None, :])
        if len(bad):
            out.append(f"keep_customer_together: {len(bad)} customers are placed with two vendors, one of which "
                       f"keeps customers together (e.g. customers {_sorted_ids(x.cust_ids, bad)})")
    if getattr(strategy, "one_collector_per_customer", False):
        work = np.isin(x.d, [KEPT, PLACED, ASSIGNED]) & np.isin(kind, ["inhouse", "vendor", "legal"])
        bad = _split_customers(x, work, np.ones((Q, Q), bool))
        if len(bad):
            out.append(f"one_collector_per_customer: {len(bad)} customers are worked by two collectors tonight "
                       f"(e.g. customers {_sorted_ids(x.cust_ids, bad)})")
    return out


def _split_customers(x: _Night, rows: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Customer codes with two queues a < b among `rows` where at least one of the two holds
    new work tonight and `flagged[a, b]`. One small table per customer: 0 = not in the queue,
    1 = kept placements only, 2 = new work."""
    r = np.flatnonzero(rows)
    if not len(r):
        return np.zeros(0, np.int64)
    custs, local = np.unique(x.cust[r], return_inverse=True)
    Q = flagged.shape[0]
    state = np.zeros((len(custs), Q), np.int8)
    np.maximum.at(state, (local, x.q[r]), np.where(x.d[r] == KEPT, 1, 2).astype(np.int8))
    bad = np.zeros(len(custs), bool)
    for a in range(Q):
        for b in range(a + 1, Q):
            if flagged[a, b]:
                sa, sb = state[:, a], state[:, b]
                bad |= (sa > 0) & (sb > 0) & ((sa == 2) | (sb == 2))
    return custs[bad]


def _sorted_ids(names: pa.Array, codes: np.ndarray) -> str:
    return ", ".join(sorted(names.take(pa.array(codes)).to_pylist())[:_SHOW])


def _placements(x: _Night, pl: pd.DataFrame, strategy: Strategy, date: pd.Timestamp) -> list[str]:
    """The open placements after tonight are exactly the kept and new vendor placements."""
    out = []
    got_ids = _text(pl["account_id"])
    if pc.count_distinct(got_ids).as_py() < len(got_ids):
        out.append("placements: an account has more than one open placement after tonight")
        return out
    pos = pc.fill_null(pc.index_in(got_ids, value_set=x.ids), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    want = (x.d == KEPT) | (x.d == PLACED)
    in_got = np.zeros(len(want), bool)
    in_got[pos[pos >= 0]] = True
    only_want = np.flatnonzero(want & ~in_got)
    only_got = np.flatnonzero((pos < 0) | ~want[np.maximum(pos, 0)])
    if len(only_want) or len(only_got):
        ids = sorted(x.ids.take(pa.array(only_want[:_SHOW])).to_pylist()
                     + got_ids.take(pa.array(only_got[:_SHOW])).to_pylist())
        out.append(f"placements: {len(only_want) + len(only_got)} accounts differ between the plan's kept/placed "
                   f"rows and the open placements (e.g. {', '.join(ids[:_SHOW])})")
    both = np.flatnonzero((pos >= 0) & want[np.maximum(pos, 0)])
    r = pos[both]
    names = [q.name for q in strategy.queues]
    vendor = _code(_text(pl["vendor"]).take(pa.array(both)), names)
    days = np.array([np.timedelta64(q.placement_days, "D") if isinstance(q, VendorQueue) else np.timedelta64("NaT")
                     for q in strategy.queues] + [np.timedelta64("NaT")], dtype="timedelta64[ns]")
    q = x.q[r]
    new = x.d[r] == PLACED
    day = date.to_datetime64().astype("datetime64[ns]")
    exp_p = np.where(new, day, x.placed_on[r])
    exp_e = np.where(new, day + days[np.where(q >= 0, q, len(days) - 1)], x.ends_on[r])
    got_p = _dates(pl["placed_on"])[both]
    got_e = _dates(pl["ends_on"])[both]
    bad = both[(vendor != q) | (got_p != exp_p) | (got_e != exp_e)]
    if len(bad):
        out.append(f"placements: {len(bad)} open placements have the wrong vendor or dates "
                   f"(e.g. {_ids(got_ids, bad)})")
    return out
