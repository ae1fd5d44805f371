"""Holds, payments and contact attempts, consistent with the latent state and the lifecycle.

- holds: a share of accounts get one hold (dispute, bankruptcy, deceased, do_not_contact,
  legal) with a start date over the window (a tenth of them during the nights) and an end that
  depends on the kind (disputes end, deaths do not);
- payments: the last regular instalment before an account's first delinquency; within the
  horizon after each history snapshot the cure payment (the overdue amount) or, for some that do
  not cure, a partial payment; cures during the nights are paid on the night they happen;
- contacts: after each history snapshot, attempts whose number and channel follow the queue the
  account was in, and the right-party contacts and promises the world drew (world.py), so the
  log says what acted on the account; every promise gets a follow-up: kept when the account
  repaid, broken otherwise.
"""

from __future__ import annotations

import numpy as np

from collections_engine.synth.lifecycle import HOLD_KINDS, Holds, Lifecycle
from collections_engine.synth.params import SynthParams
from collections_engine.synth.population import Population, history_dates, night_dates

__all__ = ["make_holds", "make_payments", "make_contacts", "draw_contacts", "CHANNELS",
           "OUTCOMES"]

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


def make_contacts(pop: Population, lc: Lifecycle, queue_kinds: np.ndarray,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """(acc, contacted_on, channel index, outcome index) arrays for the history snapshots."""
    hist = np.flatnonzero(~lc.night)
    acc = lc.acc[hist]
    return draw_contacts(acc, lc.date[hist], queue_kinds[lc.queue[hist]], lc.reached[hist],
                         lc.promised[hist], lc.repaid[hist] == 1, lc.pay_date[hist],
                         ~pop.reachable[acc], pop.ring[pop.cust[acc]] >= 0, rng)


def draw_contacts(acc: np.ndarray, snap: np.ndarray, kind: np.ndarray, reached: np.ndarray,
                  promised: np.ndarray, repaid: np.ndarray, pay_date: np.ndarray,
                  unreachable: np.ndarray, ring: np.ndarray, rng: np.random.Generator
                  ) -> dict[str, np.ndarray]:
    """The contact log of one month per account row, consistent with what the world drew:
    attempts by the queue's kind (Poisson: not worked 0.3, channel 2, in-house 3, vendor 2.5,
    legal 1.5; at most 8) that do not reach anyone (no answer, or a wrong number, mostly for lost
    contacts), one right-party contact for each reached row (a promise when one was made, else a
    talk or a refusal), and a follow-up for each promise: kept when the account repaid."""
    n = len(acc)
    rate = np.array([0.3, 2.0, 3.0, 2.5, 1.5])
    cnt = np.minimum(rng.poisson(rate[kind]), 8)
    row = np.repeat(np.arange(n), cnt)
    m = len(row)
    kind_row = kind[row]
    u = rng.random(m)
    # channel (sms 0, call 1, visit 2, letter 3) by the queue's kind
    first_ch = np.array([[0, 3, 3],          # not worked: reminders (60 % sms, letters)
                         [0, 0, 0],          # channel: sms
                         [1, 0, 0],          # in-house: 85 % calls, sms
                         [1, 2, 3],          # vendor: 70 % calls, 20 % visits, letters
                         [3, 1, 1]])         # legal: 70 % letters, calls
    cuts = np.array([[0.6, 2.0], [2.0, 2.0], [0.85, 2.0], [0.7, 0.9], [0.7, 2.0]])
    bucket = (u >= cuts[kind_row, 0]).astype(np.int64) + (u >= cuts[kind_row, 1])
    ch = first_ch[kind_row, bucket]
    wrong_p = np.where(unreachable[row], 0.6, np.where(ring[row], 0.25, 0.04))
    v = rng.random(m)
    voice = (ch == 1) | (ch == 2)
    oc = np.where(v < wrong_p, 6, np.where(voice, 0, 7))
    day = snap[row] + rng.integers(1, 29, m) * DAY
    # the right-party contacts
    rp = np.flatnonzero(reached)
    k = len(rp)
    rp_ch = np.where((kind[rp] == 3) & (rng.random(k) < 0.3), 2, 1)
    rp_oc = np.where(promised[rp], 2, np.where(rng.random(k) < 0.3, 5, 1))
    rp_day = snap[rp] + rng.integers(1, 22, k) * DAY
    # each promise gets a follow-up: kept when the account repaid within the horizon
    pr = rp[promised[rp]]
    pr_day = rp_day[promised[rp]]
    rep = repaid[pr]
    f_day = np.where(rep & ~np.isnat(pay_date[pr]), pay_date[pr], pr_day + 7 * DAY)
    f_day = np.minimum(np.maximum(f_day, pr_day), snap[pr] + 30 * DAY)
    return dict(
        acc=np.concatenate([acc[row], acc[rp], acc[pr]]),
        contacted_on=np.concatenate([day, rp_day, f_day]).astype("datetime64[D]"),
        channel=np.concatenate([ch, rp_ch, np.ones(len(pr), dtype=np.int64)]).astype(np.int64),
        outcome=np.concatenate([oc, rp_oc, np.where(rep, 3, 4)]).astype(np.int64))
