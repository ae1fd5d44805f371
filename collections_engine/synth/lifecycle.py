"""The delinquency lifecycle: monthly history steps with randomised placements and outcomes,
then daily steps over the business nights.

Month step (snapshot t-1 -> t, g calendar days): an account that repaid within the horizon after
t-1 is current again; the others age by g days of DPD and are written off past the product's
limit (cards 180, loans 240); current open accounts become delinquent with their monthly hazard
(dpd uniform in 1..min(g, 30)). At every history snapshot each delinquent account is put in a
queue drawn at random among the queues that take its stage plus `not_worked` (the bank's
champion/challenger test), and repays with probability min(1, p0 * true effect of the queue).
Night step (g = 1 or 3 days): cure with 1 - (1 - p0)^(g/30), otherwise age; current accounts
enter with 1 - (1 - h)^(1.3 g/30) (entries that cure within
the month never show at a month end, so the daily pace is higher than the monthly hazard's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.segments import customer_line_of, stage_of
from collections_engine.synth.params import SynthParams
from collections_engine.synth.population import Population, history_dates, night_dates
from collections_engine.synth.world import KIND_CODES, SHOCK_SD, logit_no_action, p_observable, \
    queue_response
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["Lifecycle", "Holds", "run_lifecycle", "queue_table", "p_no_action", "entry_hazard",
           "entry_hazard_of", "partial_recovery", "overdue_of", "WRITE_OFF",
           "NOT_WORKED", "HOLD_KINDS"]

HOLD_KINDS = np.array(["dispute", "bankruptcy", "deceased", "do_not_contact", "legal"])
WRITE_OFF = {True: 180, False: 240}      # card, loan
DAY = np.timedelta64(1, "D")
NIGHT_ENTRY_PACE = 1.3


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Holds:
    acc: np.ndarray
    kind: np.ndarray           # index into HOLD_KINDS
    start: np.ndarray          # datetime64[D]
    end: np.ndarray            # datetime64[D], NaT = open


@dataclass
class Lifecycle:
    """One row per (account, snapshot) where the account is delinquent (dpd > 0)."""
    acc: np.ndarray
    date: np.ndarray           # datetime64[D]
    dpd: np.ndarray
    p0: np.ndarray             # true no-action probability of repaying within the horizon
    p_obs: np.ndarray          # p0 with the fresh monthly shock integrated out
    p_queue: np.ndarray        # history: true probability under the drawn queue; nights: p0
    reached: np.ndarray        # history: right-party contact made
    promised: np.ndarray       # history: a promise to pay
    night: np.ndarray          # bool: a nightly snapshot (else history)
    new: np.ndarray            # bool: new-customer line on that date
    stage: np.ndarray          # stage index (0-based into strategy.stages)
    queue: np.ndarray          # history: index into queue_table names; nights: -1
    propensity: np.ndarray
    repaid: np.ndarray         # history 0/1, nights -1
    overdue: np.ndarray
    balance: np.ndarray
    recovered: np.ndarray
    pay_date: np.ndarray       # datetime64[D], NaT when nothing paid after this snapshot
    keep: np.ndarray           # per pool account: False when trimmed to hit the night count
    night_pay_acc: np.ndarray  # cures during the nights: who paid, when, how much
    night_pay_date: np.ndarray
    night_pay_amount: np.ndarray
    final: dict                # per pool account after the last night: dpd, closed, ever, cures


def queue_table(strategy: Strategy, p: SynthParams
                ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Queue names (work queues then not_worked), eligibility [stage, queue], the planted
    promise lift on the log-odds [stage, queue] and each queue's kind code (world.KIND_CODES)."""
    stages = strategy.stage_names()
    wq = strategy.work_queues()
    names = [q.name for q in wq] + [NOT_WORKED]
    elig = np.zeros((len(stages), len(names)), dtype=bool)
    lift = np.zeros((len(stages), len(names)))
    for j, q in enumerate(wq):
        for st in q.stages:
            k = stages.index(st)
            elig[k, j] = True
            lift[k, j] = p.lift_base.get(q.name, {}).get(st, 0.0)
    elig[:, -1] = True
    kind = np.array([KIND_CODES.get(q.kind, 0) for q in wq] + [0], dtype=np.int64)
    return names, elig, lift, kind


def _base_weights(strategy: Strategy) -> np.ndarray:
    kinds = [q.kind for q in strategy.work_queues()]
    w = {"inhouse": 1.0, "vendor": 1.0, "channel": 1.6, "legal": 0.5}
    return np.array([w.get(k, 1.0) for k in kinds] + [1.0])


def p_no_action(pop: Population, acc: np.ndarray, dpd: np.ndarray, new: np.ndarray,
                shock: np.ndarray, hold_kind: np.ndarray, cures: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """True probability of repaying within 30 days with no action (the answer key's p_repay) and
    the log-odds without the monthly shock (world.logit_no_action)."""
    c = pop.cust[acc]
    base = logit_no_action(dpd, new, pop.w[c], pop.a[c], pop.s[c], cures, pop.u[acc],
                           new & pop.fpd[acc], pop.ring[c] >= 0, hold_kind)
    return _sigmoid(base + shock), base


def entry_hazard(pop: Population, acc: np.ndarray, age: np.ndarray, new: np.ndarray,
                 was_delinquent: np.ndarray) -> np.ndarray:
    """Monthly probability that a current account misses a payment."""
    c = pop.cust[acc]
    return entry_hazard_of(pop.a[c], pop.w[c], pop.s[c], pop.fpd[acc], pop.ring[c] >= 0, age,
                           new, was_delinquent)


def entry_hazard_of(a: np.ndarray, w: np.ndarray, s: np.ndarray, fpd: np.ndarray,
                    ring: np.ndarray, age: np.ndarray, new: np.ndarray,
                    was_delinquent: np.ndarray) -> np.ndarray:
    """entry_hazard on the latent arrays themselves (what `simulate` has)."""
    # freshly underwritten accounts rarely miss their first dues (seasoning), except the
    # first-payment defaulters and the rings below
    logit = (-1.45 - 0.8 * a - 0.5 * w - 2.6 * (age <= 3)
             + new * (0.1 - 1.0 * s) + 0.6 * was_delinquent)
    h = _sigmoid(logit)
    first_due = age <= 2
    h = np.where(fpd & first_due, 0.8, h)
    return np.where(ring, np.where(first_due, 0.92, 0.5), h)


class _Calendar:
    """Per-account month and day of opening, computed once: ages and lines at any date are then
    plain integer arithmetic and table look-ups (the same rule as segments.account_age_months)."""

    def __init__(self, open_date: np.ndarray, strategy: Strategy) -> None:
        om = open_date.astype("datetime64[M]")
        self.month = om.astype(np.int64)
        self.day = (open_date - om.astype("datetime64[D]")).astype(np.int64)
        self.base = open_date.min()
        self.offset = (open_date - self.base).astype(np.int64)
        self.span = int(self.offset.max()) + 1
        self.strategy = strategy

    def age(self, snap: np.datetime64, idx: np.ndarray | None = None) -> np.ndarray:
        sm = np.datetime64(snap, "M")
        sd = int((np.datetime64(snap, "D") - sm.astype("datetime64[D]")) / DAY)
        m = self.month if idx is None else self.month[idx]
        d = self.day if idx is None else self.day[idx]
        return sm.astype(np.int64) - m - (sd < d)

    def is_new(self, snap: np.datetime64, idx: np.ndarray) -> np.ndarray:
        """customer_line_of(open_date, snap) == 'new', via a table over the distinct open days."""
        days = pd.Series((self.base + np.arange(self.span) * DAY).astype("datetime64[ns]"))
        table = customer_line_of(days, pd.Timestamp(snap), self.strategy).to_numpy() == "new"
        return table[self.offset[idx]]


class _Stages:
    """Stage index per DPD through a look-up table built with segments.stage_of."""

    def __init__(self, strategy: Strategy, max_dpd: int) -> None:
        names = strategy.stage_names()
        st = stage_of(np.arange(max_dpd + 1), strategy).to_numpy()
        pos = {name: k for k, name in enumerate(names)}
        self.table = np.array([pos.get(x, -1) for x in st], dtype=np.int64)  # ~300 DPD values

    def __call__(self, dpd: np.ndarray) -> np.ndarray:
        return self.table[dpd]


def _active_hold(holds: Holds, n_acc: int, day: np.datetime64) -> np.ndarray:
    """Hold kind active on `day` per pool account, -1 when none (last one wins)."""
    out = np.full(n_acc, -1, dtype=np.int64)
    on = (holds.start <= day) & (np.isnat(holds.end) | (holds.end > day))
    out[holds.acc[on]] = holds.kind[on]
    return out


def _overdue(pop: Population, acc: np.ndarray, dpd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return overdue_of(pop.balance[acc], pop.instalment[acc], dpd)


def overdue_of(balance: np.ndarray, instalment: np.ndarray, dpd: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(overdue amount, balance) of an account dpd days past due."""
    cycles = np.ceil(dpd / 30.0)
    od = np.round(np.minimum(balance, instalment * cycles), 2)
    bal = np.round(np.maximum(balance, od), 2)
    return od, bal


@dataclass
class _Pool:
    """Each pool account's state as the lifecycle steps it (mutated in place)."""
    dpd: np.ndarray
    closed: np.ndarray
    ever: np.ndarray
    repaid_prev: np.ndarray    # repaid within the horizon after the last history snapshot
    shock_now: np.ndarray      # the monthly shock of the last snapshot
    cures: np.ndarray          # times cured so far
    keep: np.ndarray           # False: trimmed from the book to hit the night count

    @classmethod
    def empty(cls, n: int) -> "_Pool":
        return cls(dpd=np.zeros(n, dtype=np.int64), closed=np.zeros(n, dtype=bool),
                   ever=np.zeros(n, dtype=bool), repaid_prev=np.zeros(n, dtype=bool),
                   shock_now=np.zeros(n), cures=np.zeros(n, dtype=np.int64),
                   keep=np.ones(n, dtype=bool))


@dataclass
class _Setting:
    """What every month step reads and never changes: the world, the bank, the calendar."""
    pop: Population
    holds: Holds
    p: SynthParams
    strategy: Strategy
    rng: np.random.Generator
    steps: np.ndarray          # the history month-ends, then the first night
    names: list[str]
    elig: np.ndarray
    lift: np.ndarray
    kind: np.ndarray
    legal_q: int
    base_w: np.ndarray
    cal: "_Calendar"
    stages: "_Stages"


def run_lifecycle(pop: Population, holds: Holds, p: SynthParams, strategy: Strategy,
                  rng: np.random.Generator) -> Lifecycle:
    """The month steps (warm-up, history, then the first night), the nights, and the rows of
    the kept accounts."""
    dates = history_dates(p)
    nights = night_dates(p)
    names, elig, lift, kind = queue_table(strategy, p)
    legal_q = names.index(strategy.legal_queue().name) if strategy.legal_queue() else -1
    s = _Setting(pop=pop, holds=holds, p=p, strategy=strategy, rng=rng,
                 steps=np.concatenate([dates, nights[:1]]), names=names, elig=elig, lift=lift,
                 kind=kind, legal_q=legal_q, base_w=_base_weights(strategy),
                 cal=_Calendar(pop.open_date, strategy),
                 stages=_Stages(strategy, max(WRITE_OFF.values()) + 40))
    pool = _Pool.empty(pop.n_accounts)
    rows: list[dict[str, np.ndarray]] = []
    for t in range(len(s.steps)):
        row = _month_step(s, pool, t)
        if t >= p.warmup_months:
            rows.append(row)
    night_rows, pay = _nights(pop, holds, p, strategy, rng, pool.dpd, pool.closed, pool.ever,
                              pool.shock_now, pool.keep, nights, s.cal, s.stages, pool.cures)
    rows += night_rows
    out = {k: np.concatenate([r.pop(k) for r in rows]) for k in list(rows[0])}
    keep = pool.keep
    if not keep.all():
        m = keep[out["acc"]]
        out = {k: v[m] for k, v in out.items()}
    pm = keep[pay["night_pay_acc"]]
    pay = {k: v[pm] for k, v in pay.items()}
    return Lifecycle(keep=keep, **out, **pay,
                     final=_final_state(pool.dpd, pool.closed, pool.ever, pool.cures))


def _age_and_enter(s: _Setting, pool: _Pool, snap: np.datetime64, gap: int,
                   is_first_night: bool) -> None:
    """Last step's delinquent accounts cure, age or are written off; current open accounts miss
    a payment with their monthly hazard; on the first night the count is made exact."""
    pop, rng, dpd = s.pop, s.rng, pool.dpd
    delinquent = dpd > 0
    cured = delinquent & pool.repaid_prev
    dpd[cured] = 0
    pool.cures[cured] += 1
    aging = delinquent & ~cured
    dpd[aging] += gap
    wo = aging & (dpd > np.where(pop.card, WRITE_OFF[True], WRITE_OFF[False]))
    pool.closed |= wo
    dpd[wo] = 0
    age = s.cal.age(snap)
    cand = np.flatnonzero((dpd == 0) & ~pool.closed & ~cured & (age >= 1))
    new_c = age[cand] <= s.strategy.new_customer.max_account_age_months
    h = entry_hazard(pop, cand, age[cand], new_c, pool.ever[cand])
    enter = cand[rng.random(len(cand)) < h]
    dpd[enter] = rng.integers(1, min(gap, 30) + 1, len(enter))
    pool.ever[enter] = True
    if is_first_night:       # the first night has exactly p.accounts delinquent accounts
        _hit_count(dpd, pool.closed, pool.keep, age, s.p.accounts, rng, pop.ring[pop.cust] < 0)


def _month_step(s: _Setting, pool: _Pool, t: int) -> dict[str, np.ndarray]:
    """Snapshot t: age the pool to it, then the delinquent accounts' row (history snapshots:
    a randomised queue and the world's answer to it; the first night: no placement yet)."""
    pop, rng, snap = s.pop, s.rng, s.steps[t]
    gap = 31 if t == 0 else int((snap - s.steps[t - 1]) / DAY)
    is_first_night = t == len(s.steps) - 1
    _age_and_enter(s, pool, snap, gap, is_first_night)
    idx = np.flatnonzero(pool.dpd > 0)
    d = pool.dpd[idx]
    new = s.cal.is_new(snap, idx)
    hk = _active_hold(s.holds, pop.n_accounts, snap)[idx]
    shock = SHOCK_SD * rng.standard_normal(len(idx))
    pool.shock_now[idx] = shock
    p0, base = p_no_action(pop, idx, d, new, shock, hk, pool.cures[idx])
    stg = s.stages(d)
    pool.repaid_prev[:] = False
    od, bal = _overdue(pop, idx, d)
    if is_first_night:
        n = len(idx)
        placed = dict(queue=np.full(n, -1), propensity=np.full(n, np.nan), p_queue=p0,
                      reached=np.zeros(n, dtype=bool), promised=np.zeros(n, dtype=bool),
                      repaid=np.full(n, -1, dtype=np.int8), recovered=np.zeros(n),
                      pay_date=np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"))
    else:
        placed = _placed_month(s, pool, t, idx, d, new, hk, stg, od, base + shock)
    return _compact(acc=idx, date=np.full(len(idx), snap, dtype="datetime64[D]"), dpd=d.copy(),
                    p0=p0, p_obs=p_observable(base), p_queue=placed["p_queue"],
                    reached=placed["reached"], promised=placed["promised"],
                    night=np.full(len(idx), is_first_night), new=new, stage=stg,
                    queue=placed["queue"], propensity=placed["propensity"],
                    repaid=placed["repaid"], overdue=od, balance=bal,
                    recovered=placed["recovered"], pay_date=placed["pay_date"])


def _placed_month(s: _Setting, pool: _Pool, t: int, idx: np.ndarray, d: np.ndarray,
                  new: np.ndarray, hk: np.ndarray, stg: np.ndarray, od: np.ndarray,
                  logit: np.ndarray) -> dict[str, np.ndarray]:
    """A history snapshot's randomised placement and the world's answer: contact, promise,
    repayment within the horizon, the amount recovered and the day it was paid."""
    pop, rng, snap = s.pop, s.rng, s.steps[t]
    q, prop = _draw_queue(stg, od, hk, s.elig, s.base_w, s.legal_q, rng)
    c = pop.cust[idx]
    resp = queue_response(s.kind[q], s.lift[stg, q], od, new, d, pop.reachable[idx], pop.w[c],
                          pop.ring[c] >= 0)
    p_queue = resp.probability(logit)
    u3 = rng.random((3, len(idx)))
    reached, promised, rep_b = resp.draw(logit, u3[0], u3[1], u3[2])
    pool.repaid_prev[idx] = rep_b
    span = min(s.strategy.outcome.horizon_days, int((s.steps[t + 1] - snap) / DAY) - 1)
    pay_off = rng.integers(1, span + 1, len(idx))
    recovered = partial_recovery(rep_b, promised, od, pop.w[c], pop.a[c],
                                 rng.random(len(idx)), rng.uniform(0.1, 0.7, len(idx)))
    pay_date = np.where(recovered > 0, snap + pay_off * DAY,
                        np.datetime64("NaT")).astype("datetime64[D]")
    return dict(queue=q, propensity=prop, p_queue=p_queue, reached=reached, promised=promised,
                repaid=rep_b.astype(np.int8), recovered=recovered, pay_date=pay_date)


def _final_state(dpd: np.ndarray, closed: np.ndarray, ever: np.ndarray, cures: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """Each pool account's state after the last night (what `simulate` continues from)."""
    return dict(dpd=dpd.copy(), closed=closed.copy(), ever=ever.copy(), cures=cures.copy())


def partial_recovery(repaid: np.ndarray, promised: np.ndarray, overdue: np.ndarray,
                     w: np.ndarray, a: np.ndarray, u: np.ndarray, frac: np.ndarray,
                     window: float = 1.0) -> np.ndarray:
    """Recovered amount within the horizon: the overdue amount when repaid, else a partial
    payment of 10-70 % with a probability rising with willingness, ability and a promise.
    `window`: the share of the horizon drawn (a closed-loop night shorter than the horizon): the
    horizon's partial-payment chance scaled as 1 - (1 - p)^window, as the repayment's is."""
    p_part = 0.35 * _sigmoid(w + a - 0.5) + 0.2 * promised
    if window != 1.0:
        p_part = 1 - (1 - p_part) ** window
    return np.round(np.where(repaid, overdue, np.where(u < p_part, frac * overdue, 0.0)), 2)


_SMALL = {"acc": np.int32, "dpd": np.int16, "stage": np.int8, "queue": np.int8}


def _compact(**cols: np.ndarray) -> dict[str, np.ndarray]:
    """Row columns in small integer types: a million-account book has ~18M rows."""
    return {k: (v.astype(_SMALL[k]) if k in _SMALL else v) for k, v in cols.items()}


def _hit_count(dpd: np.ndarray, closed: np.ndarray, keep: np.ndarray, age: np.ndarray,
               target: int, rng: np.random.Generator, droppable: np.ndarray) -> None:
    """Trim (drop whole honest accounts from the book) or add fresh M1 entries to hit the target."""
    idx = np.flatnonzero(dpd > 0)
    if len(idx) > target:
        pool = idx[droppable[idx]]
        extra = len(idx) - target
        drop = rng.choice(pool, size=min(extra, len(pool)), replace=False)
        keep[drop] = False
        dpd[drop] = 0
        closed[drop] = True
    elif len(idx) < target:
        cand = np.flatnonzero((dpd == 0) & ~closed & (age >= 1))
        add = rng.choice(cand, size=min(len(cand), target - len(idx)), replace=False)
        dpd[add] = rng.integers(1, 31, len(add))


def _draw_queue(stg: np.ndarray, overdue: np.ndarray, hold: np.ndarray, elig: np.ndarray,
                base_w: np.ndarray, legal_q: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Randomised placement within eligibility; bigger debts are worked more often."""
    big = overdue > np.median(overdue) if len(overdue) else overdue > 0
    wts = elig[stg] * base_w[None, :]
    wts[:, -1] *= np.where(big, 0.6, 1.3)
    probs = wts / wts.sum(axis=1, keepdims=True)
    cum = np.cumsum(probs, axis=1)
    r = rng.random(len(stg))[:, None]
    q = np.minimum((r > cum).sum(axis=1), probs.shape[1] - 1)
    prop = probs[np.arange(len(stg)), q]
    # Held accounts are not worked (a legal hold goes to the legal queue where it may).
    held = hold >= 0
    to_legal = held & (hold == 4) & (legal_q >= 0)
    if legal_q >= 0:
        to_legal &= elig[stg, legal_q]
    q = np.where(held, np.where(to_legal, legal_q, probs.shape[1] - 1), q)
    prop = np.where(held, 1.0, prop)
    return q.astype(np.int64), prop


def _nights(pop: Population, holds: Holds, p: SynthParams, strategy: Strategy,
            rng: np.random.Generator, dpd: np.ndarray, closed: np.ndarray, ever: np.ndarray,
            shock_now: np.ndarray, keep: np.ndarray, nights: np.ndarray, cal: _Calendar,
            stages: _Stages, cures: np.ndarray
            ) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    rows = []
    new_max = strategy.new_customer.max_account_age_months
    n = pop.n_accounts
    p_prev = np.zeros(n)
    idx0 = np.flatnonzero(dpd > 0)
    new0 = cal.is_new(nights[0], idx0)
    p_prev[idx0] = p_no_action(pop, idx0, dpd[idx0], new0, shock_now[idx0],
                               _active_hold(holds, n, nights[0])[idx0], cures[idx0])[0]
    od_prev = np.zeros(n)
    od_prev[idx0] = _overdue(pop, idx0, dpd[idx0])[0]
    pay_acc: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    pay_date: list[np.ndarray] = [np.zeros(0, dtype="datetime64[D]")]
    pay_amt: list[np.ndarray] = [np.zeros(0)]
    age_prev = cal.age(nights[0])
    for t in range(1, len(nights)):
        snap, g = nights[t], int((nights[t] - nights[t - 1]) / DAY)
        delinquent = np.flatnonzero(dpd > 0)
        cure = rng.random(len(delinquent)) < 1 - (1 - p_prev[delinquent]) ** (g / 30)
        cured = delinquent[cure]
        dpd[cured] = 0
        cures[cured] += 1
        aging = delinquent[~cure]
        dpd[aging] += g
        wo = aging[dpd[aging] > np.where(pop.card[aging], WRITE_OFF[True], WRITE_OFF[False])]
        closed[wo] = True
        dpd[wo] = 0
        age = cal.age(snap)
        cand = np.flatnonzero((dpd == 0) & ~closed & keep & (age >= 1))
        cand = cand[~np.isin(cand, cured)]
        new_c = age[cand] <= new_max
        h = entry_hazard(pop, cand, age[cand], new_c, ever[cand])
        # a first due date falling today: rings and first-payment defaulters miss it now
        due_today = (age[cand] >= 1) & (age_prev[cand] < 1)
        fpd_like = due_today & ((pop.ring[pop.cust[cand]] >= 0) | pop.fpd[cand])
        h_today = np.where(fpd_like, h, 0.0)
        h = np.where(fpd_like, 0.0, h)
        # a month-end snapshot sees only the entries that have not cured yet: daily entries
        # run about 1.3 times the monthly hazard's pace to keep the book's size
        enter = cand[rng.random(len(cand)) < np.maximum(
            1 - (1 - h) ** (NIGHT_ENTRY_PACE * g / 30), h_today)]
        age_prev = age
        dpd[enter] = rng.integers(1, g + 1, len(enter))
        ever[enter] = True
        shock_now[enter] = SHOCK_SD * rng.standard_normal(len(enter))
        idx = np.flatnonzero(dpd > 0)
        d = dpd[idx]
        new = cal.is_new(snap, idx)
        hk = _active_hold(holds, n, snap)[idx]
        p0, base = p_no_action(pop, idx, d, new, shock_now[idx], hk, cures[idx])
        p_prev[:] = 0
        p_prev[idx] = p0
        od, bal = _overdue(pop, idx, d)
        k = len(idx)
        rows.append(_compact(acc=idx, date=np.full(k, snap, dtype="datetime64[D]"), dpd=d.copy(),
                         p0=p0, p_obs=p_observable(base), p_queue=p0,
                         reached=np.zeros(k, dtype=bool), promised=np.zeros(k, dtype=bool),
                         night=np.ones(k, dtype=bool), new=new,
                         stage=stages(d), queue=np.full(k, -1),
                         propensity=np.full(k, np.nan), repaid=np.full(k, -1, dtype=np.int8),
                         overdue=od, balance=bal, recovered=np.zeros(k),
                         pay_date=np.full(k, np.datetime64("NaT"), dtype="datetime64[D]")))
        pay_acc.append(cured)
        pay_date.append(np.full(len(cured), snap, dtype="datetime64[D]"))
        pay_amt.append(od_prev[cured])
        od_prev[:] = 0
        od_prev[idx] = od
    pay = dict(night_pay_acc=np.concatenate(pay_acc),
               night_pay_date=np.concatenate(pay_date).astype("datetime64[D]"),
               night_pay_amount=np.concatenate(pay_amt))
    return rows, pay
