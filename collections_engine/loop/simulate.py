"""`simulate`, the pure step: what follows night D in the generator's world under what the engine
actually decided.

Each account delinquent on D is where the night put it (a team, a vendor, a channel, legal, the
fraud team, held or not worked). The world answers through world v2's response (synth/world.py:
right-party contact, promise, promise kept, on the log-odds, with the account's traits), from
the night's true no-action probability (truth/accounts `p_repay` on D). Over the next N days:
repaid accounts pay (the overdue amount; others may pay part) and are current at the next
snapshot; the rest age by N days and are written off past the product's limit; current accounts
of the pool become delinquent with the world's monthly hazard (scaled to N days); new customers
open accounts at the world's rate (loop/originations.py), current until a later window. The next
snapshot gets a fresh monthly shock. Every uniform comes from `world.uniforms` (common random
numbers per account, date and purpose), so two policies face the same luck.

When N is shorter than the outcome horizon the month's probability is scaled to the window
(1 - (1 - p)^(N / horizon), as the generator's nights) and no `outcomes` row is written for D
(its horizon has not passed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collections_engine.loop.originations import origination_plan, originate
from collections_engine.loop.world import World, account_codes, normals, uniforms
from collections_engine.synth.behaviour import CHANNELS, OUTCOMES, draw_contacts
from collections_engine.synth.lifecycle import HOLD_KINDS, entry_hazard_of, overdue_of, \
    partial_recovery
from collections_engine.synth.world import logit_no_action, p_observable, queue_response, \
    SHOCK_SD
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["Month", "draw_month", "next_business_day", "NOT_WORKED"]

DAY = np.timedelta64(1, "D")


@dataclass
class Month:
    """What one simulated window appends to DATA (frames in the tables' column order) and the
    world's state after it."""
    date: pd.Timestamp
    next_date: pd.Timestamp
    placement_history: pd.DataFrame
    outcomes: pd.DataFrame          # empty when the window is shorter than the horizon
    payments: pd.DataFrame
    contacts: pd.DataFrame
    accounts: pd.DataFrame          # the next snapshot
    truth_accounts: pd.DataFrame    # the next snapshot's truth
    p_queue: pd.DataFrame           # account_id, p_queue on D (truth under the night's queue)
    state: pd.DataFrame             # truth/state after the window
    realised: pd.DataFrame          # per account of D: queue, recovered, commission, cost
    customers: pd.DataFrame         # the window's new customers (loop/originations.py)
    identifiers: pd.DataFrame       # ... their identifiers
    sources: dict[str, pd.DataFrame]  # ... their rows of each source (name -> rows)
    opened: int                     # accounts opened in the window (rows added to state)


def next_business_day(day: pd.Timestamp) -> pd.Timestamp:
    day = pd.Timestamp(day)
    while day.weekday() >= 5:
        day += pd.Timedelta(days=1)
    return day


def _age_months(open_date: np.ndarray, day: pd.Timestamp) -> np.ndarray:
    o = pd.DatetimeIndex(open_date)
    months = (day.year - o.year.to_numpy()) * 12 + (day.month - o.month.to_numpy())
    return np.asarray(months - (day.day < o.day.to_numpy()), dtype=np.int64)


def _stage_names(book: dict, dpd: np.ndarray) -> np.ndarray:
    out = np.full(len(dpd), "", dtype=object)
    for st in book["stages"]:
        hi = st["dpd_max"] if st["dpd_max"] is not None else 10 ** 9
        out[(dpd >= st["dpd_min"]) & (dpd <= hi)] = st["name"]
    return out


def _hold_kind(holds: pd.DataFrame, account_id: pd.Series, day: pd.Timestamp) -> np.ndarray:
    """Index into HOLD_KINDS of the hold active on `day` per account (-1 none; last wins)."""
    out = pd.Series(-1, index=pd.Index(account_id, dtype="str"), dtype=np.int64)
    if holds is None or holds.empty:
        return out.to_numpy()
    on = holds[(holds["start"] <= day) & (holds["end"].isna() | (holds["end"] > day))]
    code = {k: i for i, k in enumerate(HOLD_KINDS)}
    kinds = on.drop_duplicates("account_id", keep="last").set_index(
        on.drop_duplicates("account_id", keep="last")["account_id"].astype("str"))["hold"]
    mapped = kinds.astype("str").map(code).fillna(-1).astype(np.int64)
    return mapped.reindex(out.index).fillna(-1).astype(np.int64).to_numpy()


@dataclass
class _Night:
    """Night D's delinquent accounts in account order, what was decided for them and their
    traits from the world's state."""
    t: pd.DataFrame
    aid: pd.Series
    queue: np.ndarray
    prop: np.ndarray
    pos: np.ndarray            # row of each account in truth/state
    pool_codes: np.ndarray     # account_codes of truth/state's rows
    w: np.ndarray
    a: np.ndarray
    ring: np.ndarray
    reach: np.ndarray
    stage: np.ndarray


@dataclass
class _Answer:
    """The world's answer to the night's decisions over the window."""
    kind: np.ndarray
    p_q: np.ndarray
    reached: np.ndarray
    promised: np.ndarray
    repaid: np.ndarray
    recovered: np.ndarray
    pay_day: np.ndarray


def draw_month(world: World, tonight: pd.DataFrame, decisions: pd.DataFrame,
               holds: pd.DataFrame | None, date: pd.Timestamp, days: int, draw: int,
               costs: dict[str, tuple[float, float]] | None = None) -> Month:
    """tonight: DATA accounts on D with truth `p_repay`; decisions: account_id, queue ('' or
    not_worked: none), optional propensity; costs: queue -> (cost_per_account, commission) for
    the realised money (the strategy's; absent: none)."""
    date = pd.Timestamp(date)
    nxt = next_business_day(date + pd.Timedelta(days=days))
    gap = int((nxt - date).days)
    night = _night_of(world, tonight, decisions, date)
    ans = _answer(world, night, date, gap, draw)
    state = _aged_pool(world, night, ans, nxt, gap, draw)
    opened = originate(world.params, state, origination_plan(world.params, state)[2], nxt,
                       world.seed, draw)
    state = pd.concat([state, opened.state], ignore_index=True)
    accounts, truth_accounts = _next_snapshot(world, state, holds, nxt, draw)
    history, outcomes, payments, contacts = _night_tables(
        world, night, ans, date, nxt, gap, draw)
    return Month(date=date, next_date=nxt, placement_history=history, outcomes=outcomes,
                 payments=payments, contacts=contacts, accounts=accounts,
                 truth_accounts=truth_accounts,
                 p_queue=pd.DataFrame({"account_id": night.aid, "p_queue": np.round(ans.p_q, 4)}),
                 state=state, realised=_realised(night, ans, costs),
                 customers=opened.customers, identifiers=opened.identifiers,
                 sources=opened.sources, opened=len(opened.state))


def _night_of(world: World, tonight: pd.DataFrame, decisions: pd.DataFrame,
              date: pd.Timestamp) -> _Night:
    """Night D's accounts, their queue (not worked when the night decided none) and traits."""
    st = world.state.frame
    t = tonight.sort_values("account_id", kind="stable").reset_index(drop=True)
    aid = t["account_id"].astype("str")
    dec = decisions.assign(account_id=decisions["account_id"].astype("str")).set_index("account_id")
    queue = dec["queue"].reindex(aid).fillna("").astype("str").to_numpy()
    queue = np.where((queue == "") | (queue == "nan"), NOT_WORKED, queue)
    prop = (dec["propensity"].reindex(aid).to_numpy(np.float64) if "propensity" in dec.columns
            else np.full(len(t), np.nan))
    pool_codes = account_codes(st["account_id"])
    pos = pd.Index(pool_codes).get_indexer(account_codes(aid))
    if (pos < 0).any():
        raise ValueError(f"{int((pos < 0).sum())} accounts of {date.date()} are not in truth/state")
    return _Night(t=t, aid=aid, queue=queue, prop=prop, pos=pos, pool_codes=pool_codes,
                  w=st["w"].to_numpy()[pos], a=st["a"].to_numpy()[pos],
                  ring=st["ring"].to_numpy()[pos],
                  reach=~st["lost"].to_numpy()[pos] | st["repaired"].to_numpy()[pos],
                  stage=_stage_names(world.book, t["dpd"].to_numpy(np.int64)))


def _answer(world: World, night: _Night, date: pd.Timestamp, gap: int, draw: int) -> _Answer:
    """Contact, promise and repayment through world v2's response on the night's true log-odds;
    the amount recovered and the day it is paid (common random numbers per account)."""
    t, book = night.t, world.book
    horizon = int(book["horizon_days"])
    dpd = t["dpd"].to_numpy(np.int64)
    od = t["overdue_amount"].to_numpy(np.float64)
    new = _age_months(t["open_date"].to_numpy(), date) <= int(book["new_customer_max_age_months"])
    kind, lift = world.queue_kind_lift(night.queue, night.stage)
    p0 = np.clip(t["p_repay"].to_numpy(np.float64), 1e-4, 1 - 1e-4)
    logit = np.log(p0 / (1 - p0))
    resp = queue_response(kind, lift, od, new, dpd, night.reach, night.w, night.ring)
    p_q = resp.probability(logit)
    codes = account_codes(night.aid)
    u = {k: uniforms(world.seed, draw, codes, date.to_datetime64(), k)
         for k in ("rpc", "promise", "repay", "partial", "fraction", "pay_day")}
    reached, promised, repaid = resp.draw(logit, u["rpc"], u["promise"], u["repay"])
    if gap < horizon:       # the window is part of the horizon: scale the month's chance
        p_win = 1 - (1 - resp.probability(logit)) ** (gap / horizon)
        repaid = u["repay"] < p_win
    recovered = partial_recovery(repaid, promised, od, night.w, night.a, u["partial"],
                                 0.1 + 0.6 * u["fraction"],
                                 window=gap / horizon if gap < horizon else 1.0)
    span = max(1, min(horizon, gap - 1))
    pay_off = 1 + np.floor(u["pay_day"] * span).astype(np.int64)
    pay_day = date.to_datetime64().astype("datetime64[D]") + pay_off * DAY
    return _Answer(kind=kind, p_q=p_q, reached=reached, promised=promised, repaid=repaid,
                   recovered=recovered, pay_day=pay_day)


def _realised(night: _Night, ans: _Answer, costs: dict[str, tuple[float, float]] | None
              ) -> pd.DataFrame:
    """The realised money of the night's decisions, per account."""
    cost = np.zeros(len(night.t))
    comm = np.zeros(len(night.t))
    for q, (c, m) in (costs or {}).items():
        on = night.queue == q
        cost[on] = c
        comm[on] = m
    return pd.DataFrame({"account_id": night.aid, "queue": night.queue, "stage": night.stage,
                         "recovered": ans.recovered, "commission": ans.recovered * comm,
                         "cost": cost, "p_queue": ans.p_q})


def _aged_pool(world: World, night: _Night, ans: _Answer, nxt: pd.Timestamp, gap: int,
               draw: int) -> pd.DataFrame:
    """truth/state after the window: the night's accounts cure or age (written off past the
    product's limit); current accounts enter with the world's hazard scaled to the window."""
    st, book, pos = world.state.frame, world.book, night.pos
    dpd_all = st["dpd"].to_numpy(np.int64).copy()
    closed = st["closed"].to_numpy(bool).copy()
    ever = st["ever"].to_numpy(bool).copy()
    cures = st["cures"].to_numpy().copy()
    card = st["card"].to_numpy(bool)
    cured = pos[ans.repaid]
    dpd_all[pos] = np.where(ans.repaid, 0, night.t["dpd"].to_numpy(np.int64) + gap)
    cures[cured] += 1
    limit = np.where(card, int(book["write_off_dpd"]["card"]), int(book["write_off_dpd"]["loan"]))
    wo = dpd_all > limit
    closed |= wo
    dpd_all[wo] = 0
    age = _age_months(st["open_date"].to_numpy(), nxt)
    new_all = age <= int(book["new_customer_max_age_months"])
    all_codes = night.pool_codes
    cand = (dpd_all == 0) & ~closed & (age >= 1)
    cand[cured] = False
    h = entry_hazard_of(st["a"].to_numpy(), st["w"].to_numpy(), st["s"].to_numpy(),
                        st["fpd"].to_numpy(bool), st["ring"].to_numpy(bool), age, new_all,
                        ever)
    p_enter = 1 - (1 - h) ** (gap / 30.0)
    ue = uniforms(world.seed, draw, all_codes, nxt.to_datetime64(), "enter")
    enter = cand & (ue < p_enter)
    ud = uniforms(world.seed, draw, all_codes, nxt.to_datetime64(), "enter_dpd")
    dpd_all[enter] = 1 + np.floor(ud[enter] * min(gap, 30)).astype(np.int64)
    ever |= enter
    state = st.copy()
    state["dpd"], state["closed"], state["ever"], state["cures"] = dpd_all, closed, ever, cures
    return state


def _next_snapshot(world: World, state: pd.DataFrame, holds: pd.DataFrame | None,
                   nxt: pd.Timestamp, draw: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The next snapshot's accounts (every delinquent account of the pool) and their truth, with
    a fresh monthly shock."""
    book = world.book
    dpd_all = state["dpd"].to_numpy(np.int64)
    idx = np.flatnonzero(dpd_all > 0)
    d2 = dpd_all[idx]
    col = {c: state[c].to_numpy()[idx] for c in ("w", "a", "s", "u", "fpd", "ring", "cures",
                                                 "balance", "instalment")}
    new = _age_months(state["open_date"].to_numpy()[idx], nxt) <= int(
        book["new_customer_max_age_months"])
    od2, bal2 = overdue_of(col["balance"], col["instalment"], d2)
    ids2 = state["account_id"].astype("str").iloc[idx].reset_index(drop=True)
    hk = _hold_kind(holds, ids2, nxt)
    base = logit_no_action(d2, new, col["w"], col["a"], col["s"], col["cures"], col["u"],
                           new & col["fpd"], col["ring"], hk)
    shock = SHOCK_SD * normals(world.seed, draw, account_codes(ids2), nxt.to_datetime64(),
                               "shock")
    p_next = 1 / (1 + np.exp(-(base + shock)))
    snap = pd.Series(np.full(len(idx), nxt.to_datetime64()).astype("datetime64[ns]"))
    accounts = pd.DataFrame({
        "snapshot_date": snap,
        "account_id": ids2,
        "customer_id": state["customer_id"].astype("str").iloc[idx].reset_index(drop=True),
        "product": pd.Series(np.where(state["card"].to_numpy(bool)[idx], "card", "loan"),
                             dtype="str"),
        "open_date": pd.Series(state["open_date"].to_numpy()[idx]).astype("datetime64[ns]"),
        "dpd": d2.astype(np.int64),
        "overdue_amount": od2.astype(np.float64),
        "balance": bal2.astype(np.float64),
        "credit_limit": state["credit_limit"].to_numpy(np.float64)[idx],
    })
    rp = np.clip(np.round(p_next, 4), 0.0001, 0.9999)
    truth_accounts = pd.DataFrame({
        "account_id": ids2, "snapshot_date": snap,
        "p_repay": rp,
        "p_observable": np.clip(np.round(p_observable(base), 4), 0.0001, 0.9999),
        "p_queue": rp,
        "willingness": np.round(col["w"], 4),
        "ability": np.round(col["a"], 4),
    })
    return accounts, truth_accounts


def _night_tables(world: World, night: _Night, ans: _Answer, date: pd.Timestamp,
                  nxt: pd.Timestamp, gap: int, draw: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """placement_history and outcomes of night D (no outcomes when the window is shorter than
    the horizon), the payments and the contact log of the window (D, next]."""
    aid, recovered = night.aid, ans.recovered
    dcol = pd.Series(np.full(len(aid), date.to_datetime64()).astype("datetime64[ns]"))
    history = pd.DataFrame({"account_id": aid, "snapshot_date": dcol,
                            "queue": pd.Series(night.queue, dtype="str"),
                            "propensity": np.round(night.prop, 6)})
    outcomes = pd.DataFrame({"account_id": aid, "snapshot_date": dcol,
                             "repaid": ans.repaid.astype(np.int8),
                             "recovered_amount": recovered.astype(np.float64)})
    if gap < int(world.book["horizon_days"]):
        outcomes = outcomes.iloc[:0]
    paid = recovered > 0
    o = np.lexsort((recovered[paid], ans.pay_day[paid], aid.to_numpy()[paid]))
    payments = pd.DataFrame({
        "account_id": aid[paid].reset_index(drop=True).iloc[o].reset_index(drop=True),
        "paid_on": pd.Series(ans.pay_day[paid][o].astype("datetime64[ns]")),
        "amount": recovered[paid][o].astype(np.float64),
    })
    rng = np.random.Generator(np.random.PCG64([world.seed, draw,
                                               int(date.value // 86_400_000_000_000)]))
    n = len(aid)
    con = draw_contacts(np.arange(n), np.full(n, date.to_datetime64()).astype("datetime64[D]"),
                        ans.kind, ans.reached, ans.promised, ans.repaid,
                        np.where(paid, ans.pay_day, np.datetime64("NaT")).astype("datetime64[D]"),
                        ~night.reach, night.ring, rng)
    # the window is (D, next]: a contact made on the next snapshot's own day is in its log
    keep = con["contacted_on"] <= nxt.to_datetime64().astype("datetime64[D]")
    c_df = pd.DataFrame({"account_id": aid.to_numpy()[con["acc"][keep]],
                         "contacted_on": con["contacted_on"][keep].astype("datetime64[ns]"),
                         "channel": CHANNELS[con["channel"][keep]],
                         "outcome": OUTCOMES[con["outcome"][keep]]})
    c_df = c_df.drop_duplicates().sort_values(["account_id", "contacted_on", "channel", "outcome"],
                                              kind="stable").reset_index(drop=True)
    for c in ("account_id", "channel", "outcome"):
        c_df[c] = c_df[c].astype("str")
    return history, outcomes, payments, c_df
