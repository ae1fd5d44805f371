"""Holds, payments and contact attempts, consistent with the latent state and the lifecycle.

- holds: a share of accounts get one hold (dispute, bankruptcy, deceased, do_not_contact,
  legal) with a start date over the window (a tenth of them during the nights) and an end that
  depends on the kind (disputes end, deaths do not);
- payments: the last regular instalment before an account's first delinquency; within the
  horizon after each history snapshot the cure payment (the overdue amount) or, for some that do
  not cure, a partial payment; cures during the nights are paid on the night they happen;
- contacts: after each history snapshot, attempts whose number and channel follow the queue the
  account was in; calls and visits reach the customer with a probability rising with willingness,
  reached customers refuse or promise, and every promise gets a follow-up: kept when the account
  repaid, broken otherwise.
"""

from __future__ import annotations

import numpy as np

from collections_engine.config.strategy import Strategy
from collections_engine.synth.lifecycle import HOLD_KINDS, Holds, Lifecycle
from collections_engine.synth.params import SynthParams
from collections_engine.synth.population import Population, history_dates, night_dates

__all__ = ["make_holds", "make_payments", "make_contacts", "CHANNELS", "OUTCOMES"]

DAY = np.timedelta64(1, "D")
CHANNELS = np.array(["sms", "call", "visit", "letter"])
OUTCOMES = np.array(["no_answer", "right_party", "promise_to_pay", "promise_kept",
                     "promise_broken", "refused", "wrong_number", "other"])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_holds(pop: Population, p: SynthParams, rng: np.random.Generator) -> Holds:
    n = pop.n_accounts
    acc = np.flatnonzero(rng.random(n) < p.hold_share)
    k = len(acc)
    kind = rng.choice(len(HOLD_KINDS), size=k, p=[0.40, 0.12, 0.05, 0.23, 0.20])
    dates = history_dates(p)
    nights = night_dates(p)
    lo = dates[p.warmup_months] - np.timedelta64(60, "D")
    span = int((nights[-1] - lo) / DAY)
    start = lo + rng.integers(0, span + 1, k) * DAY
    in_nights = rng.random(k) < 0.10
    nspan = int((nights[-1] - nights[0]) / DAY)
    start = np.where(in_nights, nights[0] + rng.integers(1, nspan + 2, k) * DAY, start)
    # nothing is held before the account exists: at the earliest a month after opening
    start = np.maximum(start, pop.open_date[acc] + np.timedelta64(30, "D"))
    dur = np.select(
        [kind == 0, kind == 3, kind == 4],
        [rng.integers(7, 90, k), rng.integers(30, 240, k), rng.integers(60, 400, k)],
        default=0,
    )
    ends = rng.random(k) < np.select([kind == 0, kind == 3, kind == 4], [0.9, 0.5, 0.3], 0.0)
    end = np.where(ends, start + dur * DAY, np.datetime64("NaT"))
    return Holds(acc=acc.astype(np.int64), kind=kind.astype(np.int64),
                 start=start.astype("datetime64[D]"), end=end.astype("datetime64[D]"))


def make_payments(pop: Population, lc: Lifecycle, rng: np.random.Generator
                  ) -> dict[str, np.ndarray]:
    """(acc, paid_on, amount) arrays."""
    # last regular instalment before the first delinquent snapshot of each account
    # rows come in (date, account) order, so an account's first occurrence is its earliest row
    first = np.unique(lc.acc, return_index=True)[1]
    reg_acc = lc.acc[first]
    reg_date = lc.date[first] - (lc.dpd[first] + 30 - rng.integers(0, 4, len(first))) * DAY
    opened = reg_date > pop.open_date[reg_acc]
    reg_acc, reg_date = reg_acc[opened], reg_date[opened]
    reg_amt = pop.instalment[reg_acc]
    paid = ~np.isnat(lc.pay_date)
    acc = np.concatenate([reg_acc, lc.acc[paid], lc.night_pay_acc])
    day = np.concatenate([reg_date, lc.pay_date[paid], lc.night_pay_date]).astype("datetime64[D]")
    amt = np.concatenate([reg_amt, lc.recovered[paid], lc.night_pay_amount])
    keep = amt > 0
    return dict(acc=acc[keep], paid_on=day[keep], amount=np.round(amt[keep], 2))


def make_contacts(pop: Population, lc: Lifecycle, queue_names: list[str], strategy: Strategy,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """(acc, contacted_on, channel index, outcome index) arrays for the history snapshots."""
    hist = np.flatnonzero(~lc.night)
    kinds = {q.name: q.kind for q in strategy.work_queues()}
    codes = {"none": 0, "channel": 1, "inhouse": 2, "vendor": 3, "legal": 4}
    qkind = np.array([codes.get(kinds.get(n, "none"), 0) for n in queue_names])
    rate = np.array([0.3, 2.0, 3.0, 2.5, 1.5])[qkind]
    qrow = lc.queue[hist]
    cnt = np.minimum(rng.poisson(rate[qrow]), 8)
    row = np.repeat(hist, cnt)
    m = len(row)
    kind_row = qkind[lc.queue[row]]
    u = rng.random(m)
    # channel (sms 0, call 1, visit 2, letter 3) by the queue's kind: the first channel below
    # cut 1, the second below cut 2, else the third
    first_ch = np.array([[0, 3, 3],          # not worked: reminders (60 % sms, letters)
                         [0, 0, 0],          # channel: sms
                         [1, 0, 0],          # in-house: 85 % calls, sms
                         [1, 2, 3],          # vendor: 70 % calls, 20 % visits, letters
                         [3, 1, 1]])         # legal: 70 % letters, calls
    cuts = np.array([[0.6, 2.0], [2.0, 2.0], [0.85, 2.0], [0.7, 0.9], [0.7, 2.0]])
    bucket = (u >= cuts[kind_row, 0]).astype(np.int64) + (u >= cuts[kind_row, 1])
    ch = first_ch[kind_row, bucket]
    del bucket, u
    acc = lc.acc[row]
    c = pop.cust[acc]
    w = pop.w[c]
    ring = pop.ring[c] >= 0
    wrong_p = np.where(ring, 0.25, 0.04)
    v = rng.random(m)
    reach = _sigmoid(0.2 + 0.6 * w)
    refuse = _sigmoid(-1.2 - 0.8 * w)
    promise = _sigmoid(0.2 + 0.8 * w)
    r2, r3 = rng.random(m), rng.random(m)
    spoken = np.where(r2 < refuse, 5, np.where(r3 < promise, 2, 1))
    oc_voice = np.where(v < wrong_p, 6, np.where(v < wrong_p + (1 - wrong_p) * reach, spoken, 0))
    oc_written = np.where(v < wrong_p, 6, 7)
    voice = (ch == 1) | (ch == 2)
    oc = np.where(voice, oc_voice, oc_written)
    day = lc.date[row] + rng.integers(1, 29, m) * DAY
    # each promise gets a follow-up: kept when the account repaid within the horizon
    pr = np.flatnonzero(oc == 2)
    rep = lc.repaid[row[pr]] == 1
    f_day = np.where(rep & ~np.isnat(lc.pay_date[row[pr]]),
                     lc.pay_date[row[pr]], day[pr] + 7 * DAY)
    f_day = np.minimum(f_day, lc.date[row[pr]] + 30 * DAY)
    acc = np.concatenate([acc, acc[pr]])
    day = np.concatenate([day, f_day]).astype("datetime64[D]")
    ch = np.concatenate([ch, ch[pr]])
    oc = np.concatenate([oc, np.where(rep, 3, 4)])
    return dict(acc=acc, contacted_on=day, channel=ch.astype(np.int64), outcome=oc.astype(np.int64))


