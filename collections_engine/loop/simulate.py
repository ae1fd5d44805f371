"""`simulate`, the pure step: what follows night D in the generator's world under what the engine
actually decided.

Each account delinquent on D is where the night put it (a team, a vendor, a channel, legal, the
fraud team, held or not worked). The world answers through world v2's response (synth/world.py:
right-party contact, promise, promise kept, on the log-odds, with the account's traits), from
the night's true no-action probability (truth/accounts `p_repay` on D). Over the next N days:
repaid accounts pay (the overdue amount; others may pay part) and are current at the next
snapshot; the rest age by N days and are written off past the product's limit; current accounts
of the pool become delinquent with the world's monthly hazard (scaled to N days). The next
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

from collections_engine.loop.world import World, account_codes, normals, uniforms
from collections_engine.synth.behaviour import draw_contacts
from collections_engine.synth.lifecycle import HOLD_KINDS, entry_hazard_of, overdue_of, \
    partial_recovery
from collections_engine.synth.world import logit_no_action, p_observable, queue_response, \
    SHOCK_SD

__all__ = ["Month", "draw_month", "next_business_day", "NOT_WORKED"]

NOT_WORKED = "not_worked"
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


def draw_month(world: World, tonight: pd.DataFrame, decisions: pd.DataFrame,
               holds: pd.DataFrame | None, date: pd.Timestamp, days: int, draw: int,
               costs: dict[str, tuple[float, float]] | None = None) -> Month:
    """tonight: DATA accounts on D with truth `p_repay`; decisions: account_id, queue ('' or
    not_worked: none), optional propensity; costs: queue -> (cost_per_account, commission) for
    the realised money (the strategy's; absent: none)."""
    date = pd.Timestamp(date)
    nxt = next_business_day(date + pd.Timedelta(days=days))
    gap = int((nxt - date).days)
    book = world.book
    horizon = int(book["horizon_days"])
    st = world.state.frame
    seed = world.seed

    t = tonight.sort_values("account_id", kind="stable").reset_index(drop=True)
    aid = t["account_id"].astype("str")
    dec = decisions.assign(account_id=decisions["account_id"].astype("str")).set_index("account_id")
    queue = dec["queue"].reindex(aid).fillna("").astype("str").to_numpy()
    queue = np.where((queue == "") | (queue == "nan"), NOT_WORKED, queue)
    prop = (dec["propensity"].reindex(aid).to_numpy(np.float64) if "propensity" in dec.columns
            else np.full(len(t), np.nan))

    pos = pd.Index(st["account_id"].astype("str")).get_indexer(aid)
    if (pos < 0).any():
        raise ValueError(f"{int((pos < 0).sum())} accounts of {date.date()} are not in truth/state")
    codes = account_codes(aid)
    col = {c: st[c].to_numpy() for c in ("w", "a", "s", "u", "fpd", "ring", "lost", "repaired",
                                         "cures", "balance", "instalment")}
    w, ring = col["w"][pos], col["ring"][pos]
    reach = ~col["lost"][pos] | col["repaired"][pos]
    dpd = t["dpd"].to_numpy(np.int64)
    od = t["overdue_amount"].to_numpy(np.float64)
    new = _age_months(t["open_date"].to_numpy(), date) <= int(book["new_customer_max_age_months"])
    stage = _stage_names(book, dpd)
    kind, lift = world.queue_kind_lift(queue, stage)

    p0 = np.clip(t["p_repay"].to_numpy(np.float64), 1e-4, 1 - 1e-4)
    logit = np.log(p0 / (1 - p0))
    resp = queue_response(kind, lift, od, new, dpd, reach, w, ring)
    p_q = resp.probability(logit)
    u = {k: uniforms(seed, draw, codes, date.to_datetime64(), k)
         for k in ("rpc", "promise", "repay", "partial", "fraction", "pay_day")}
    reached, promised, repaid = resp.draw(logit, u["rpc"], u["promise"], u["repay"])
    if gap < horizon:       # the window is part of the horizon: scale the month's chance
        p_win = 1 - (1 - resp.probability(logit)) ** (gap / horizon)
        repaid = u["repay"] < p_win
    recovered = partial_recovery(repaid, promised, od, w, col["a"][pos], u["partial"],
                                 0.1 + 0.6 * u["fraction"],
                                 window=gap / horizon if gap < horizon else 1.0)
    span = max(1, min(horizon, gap - 1))
    pay_off = 1 + np.floor(u["pay_day"] * span).astype(np.int64)
    pay_day = date.to_datetime64().astype("datetime64[D]") + pay_off * DAY

    # realised money of the night's decisions
    cost = np.zeros(len(t))
    comm = np.zeros(len(t))
    for q, (c, m) in (costs or {}).items():
        on = queue == q
        cost[on] = c
        comm[on] = m
    realised = pd.DataFrame({"account_id": aid, "queue": queue, "stage": stage,
                             "recovered": recovered, "commission": recovered * comm,
                             "cost": cost, "p_queue": p_q})

    # the pool after the window
    dpd_all = st["dpd"].to_numpy(np.int64).copy()
    closed = st["closed"].to_numpy(bool).copy()
    ever = st["ever"].to_numpy(bool).copy()
    cures = col["cures"].copy()
    card = st["card"].to_numpy(bool)
    cured = pos[repaid]
    dpd_all[pos] = np.where(repaid, 0, dpd + gap)
    cures[cured] += 1
    limit = np.where(card, int(book["write_off_dpd"]["card"]), int(book["write_off_dpd"]["loan"]))
    wo = dpd_all > limit
    closed |= wo
    dpd_all[wo] = 0
    age = _age_months(st["open_date"].to_numpy(), nxt)
    new_all = age <= int(book["new_customer_max_age_months"])
    all_codes = account_codes(st["account_id"])
    cand = (dpd_all == 0) & ~closed & (age >= 1)
    cand[cured] = False
    h = entry_hazard_of(st["a"].to_numpy(), st["w"].to_numpy(), st["s"].to_numpy(),
                        st["fpd"].to_numpy(bool), st["ring"].to_numpy(bool), age, new_all,
                        ever)
    p_enter = 1 - (1 - h) ** (gap / 30.0)
    ue = uniforms(seed, draw, all_codes, nxt.to_datetime64(), "enter")
    enter = cand & (ue < p_enter)
    ud = uniforms(seed, draw, all_codes, nxt.to_datetime64(), "enter_dpd")
    dpd_all[enter] = 1 + np.floor(ud[enter] * min(gap, 30)).astype(np.int64)
    ever |= enter
    state = st.copy()
    state["dpd"], state["closed"], state["ever"], state["cures"] = dpd_all, closed, ever, cures

    # the next snapshot
    idx = np.flatnonzero(dpd_all > 0)
    d2 = dpd_all[idx]
    od2, bal2 = overdue_of(col["balance"][idx], col["instalment"][idx], d2)
    ids2 = st["account_id"].astype("str").iloc[idx].reset_index(drop=True)
    hk = _hold_kind(holds, ids2, nxt)
    base = logit_no_action(d2, new_all[idx], col["w"][idx], col["a"][idx], col["s"][idx],
                           cures[idx], col["u"][idx], new_all[idx] & col["fpd"][idx],
                           col["ring"][idx], hk)
    shock = SHOCK_SD * normals(seed, draw, all_codes[idx], nxt.to_datetime64(), "shock")
    p_next = 1 / (1 + np.exp(-(base + shock)))
    snap = pd.Series(np.full(len(idx), nxt.to_datetime64()).astype("datetime64[ns]"))
    accounts = pd.DataFrame({
        "snapshot_date": snap,
        "account_id": ids2,
        "customer_id": st["customer_id"].astype("str").iloc[idx].reset_index(drop=True),
        "product": pd.Series(np.where(card[idx], "card", "loan"), dtype="str"),
        "open_date": pd.Series(st["open_date"].to_numpy()[idx]).astype("datetime64[ns]"),
        "dpd": d2.astype(np.int64),
        "overdue_amount": od2.astype(np.float64),
        "balance": bal2.astype(np.float64),
        "credit_limit": st["credit_limit"].to_numpy(np.float64)[idx],
    })
    rp = np.clip(np.round(p_next, 4), 0.0001, 0.9999)
    truth_accounts = pd.DataFrame({
        "account_id": ids2, "snapshot_date": snap,
        "p_repay": rp,
        "p_observable": np.clip(np.round(p_observable(base), 4), 0.0001, 0.9999),
        "p_queue": rp,
        "willingness": np.round(col["w"][idx], 4),
        "ability": np.round(col["a"][idx], 4),
    })

    # the night's tables
    dcol = pd.Series(np.full(len(t), date.to_datetime64()).astype("datetime64[ns]"))
    history = pd.DataFrame({"account_id": aid, "snapshot_date": dcol,
                            "queue": pd.Series(queue, dtype="str"),
                            "propensity": np.round(prop, 6)})
    outcomes = pd.DataFrame({"account_id": aid, "snapshot_date": dcol,
                             "repaid": repaid.astype(np.int8),
                             "recovered_amount": recovered.astype(np.float64)})
    if gap < horizon:
        outcomes = outcomes.iloc[:0]
    paid = recovered > 0
    o = np.lexsort((recovered[paid], pay_day[paid], aid.to_numpy()[paid]))
    payments = pd.DataFrame({
        "account_id": aid[paid].reset_index(drop=True).iloc[o].reset_index(drop=True),
        "paid_on": pd.Series(pay_day[paid][o].astype("datetime64[ns]")),
        "amount": recovered[paid][o].astype(np.float64),
    })
    rng = np.random.Generator(np.random.PCG64([seed, draw, int(date.value // 86_400_000_000_000)]))
    con = draw_contacts(np.arange(len(t)), np.full(len(t), date.to_datetime64()).astype(
        "datetime64[D]"), kind, reached, promised, repaid,
        np.where(paid, pay_day, np.datetime64("NaT")).astype("datetime64[D]"), ~reach, ring, rng)
    from collections_engine.synth.behaviour import CHANNELS, OUTCOMES

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
    return Month(date=date, next_date=nxt, placement_history=history, outcomes=outcomes,
                 payments=payments, contacts=c_df, accounts=accounts,
                 truth_accounts=truth_accounts,
                 p_queue=pd.DataFrame({"account_id": aid, "p_queue": np.round(p_q, 4)}),
                 state=state, realised=realised)
