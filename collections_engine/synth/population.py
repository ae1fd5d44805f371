"""Customers and accounts of the at-risk book, with their latent state.

Everything here is integer-indexed numpy arrays (customer c, account i); strings are built only
when the tables are assembled. The latent state:
- willingness w and ability a, standard normal with correlation 0.3, per customer;
- s, a start-up shock that matters only while an account is new (what the telco source sees);
- fraud-ring members (w pulled far down, accounts opened in the ring's active window);
- honest first-payment defaulters (ability hit at the start of a new account).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collections_engine.synth.params import SynthParams

__all__ = ["Population", "make_population", "history_dates", "night_dates", "recent_window",
           "openings_per_day", "pool_size", "RECENT_SHARE",
           "accounts_per_customer", "customer_traits", "account_terms", "contact_state"]

DAY = np.timedelta64(1, "D")


@dataclass
class Population:
    # customers
    w: np.ndarray
    a: np.ndarray
    s: np.ndarray
    ring: np.ndarray            # ring id per customer, -1 honest
    birth_year: np.ndarray
    income: np.ndarray
    # accounts
    cust: np.ndarray            # customer index of each account
    card: np.ndarray            # True = card, False = loan
    open_date: np.ndarray       # datetime64[D]
    credit_limit: np.ndarray    # NaN for loans
    balance: np.ndarray
    instalment: np.ndarray      # the amount that falls due each month
    fpd: np.ndarray             # honest first-payment defaulter (account level)
    u: np.ndarray               # account-level persistent noise of the repayment logit
    lost: np.ndarray            # customer: phone contact lost (world v2)
    repair_covered: np.ndarray  # account: the contact_repair source has a record
    repaired: np.ndarray        # account: the source found a working number

    @property
    def reachable(self) -> np.ndarray:
        """Per account: phone queues can reach the customer (not lost, or repaired)."""
        return ~self.lost[self.cust] | self.repaired

    @property
    def n_customers(self) -> int:
        return len(self.w)

    @property
    def n_accounts(self) -> int:
        return len(self.cust)


def history_dates(p: SynthParams) -> np.ndarray:
    """Month-ends of the warm-up and history steps, then the first night (datetime64[D])."""
    first = night_dates(p)[0]
    last_month_end = (pd.Timestamp(first) - pd.offsets.MonthEnd(2)).normalize()
    n = p.warmup_months + p.history_months
    ends = pd.date_range(end=last_month_end, periods=n, freq="ME")
    return np.asarray(ends.values.astype("datetime64[D]"))


def night_dates(p: SynthParams) -> np.ndarray:
    start = pd.Timestamp(p.first_night)
    nights = pd.bdate_range(start=start, periods=max(p.days, 1))
    return np.asarray(nights.values.astype("datetime64[D]"))


def _ring_sizes(rng: np.random.Generator, total: int) -> np.ndarray:
    """Ring sizes 3..30, most small (3 + negative binomial, mean about 7), summing to >= total."""
    if total < 3:
        return np.zeros(0, dtype=np.int64)
    draw = 3 + rng.negative_binomial(1.2, 0.22, size=total // 3 + 1)
    draw = np.minimum(draw, 30)
    k = int(np.searchsorted(np.cumsum(draw), total)) + 1
    return draw[:k].astype(np.int64)


RECENT_SHARE = 0.45      # of the pool's accounts opened in the recent window


def pool_size(p: SynthParams) -> int:
    """Accounts in the at-risk pool (delinquent or current)."""
    return max(int(round(p.accounts * p.pool_factor)), 50)


def recent_window(p: SynthParams) -> tuple[np.datetime64, np.datetime64]:
    """The opening days of the pool's recent accounts: from 300 days before the first history
    snapshot to 32 days before the last night (so each has had a due date by then)."""
    first_history = history_dates(p)[p.warmup_months]
    return (first_history - np.timedelta64(300, "D"),
            night_dates(p)[-1] - np.timedelta64(32, "D"))


def openings_per_day(p: SynthParams) -> float:
    """The book's rate of new accounts: the recent accounts spread evenly over their window.
    `simulate` opens accounts at this rate, so the new-customer line keeps its share."""
    lo, hi = recent_window(p)
    return RECENT_SHARE * pool_size(p) / int((hi - lo) / DAY)


def make_population(p: SynthParams, rng: np.random.Generator) -> Population:
    n_acc = pool_size(p)
    cust = accounts_per_customer(rng, n_acc)
    n_cust = int(cust[-1]) + 1

    w, a, s, birth_year, income = customer_traits(rng, n_cust)

    nights = night_dates(p)

    # Fraud rings: members drawn at random among customers (ids carry no hint).
    ring = np.full(n_cust, -1, dtype=np.int64)
    sizes = _ring_sizes(rng, int(round(p.ring_customer_share * n_cust)))
    members = rng.choice(n_cust, size=int(sizes.sum()), replace=False) if len(sizes) else \
        np.zeros(0, dtype=np.int64)
    ring_of_member = np.repeat(np.arange(len(sizes)), sizes)
    ring[members] = ring_of_member
    is_ring = ring >= 0
    w = np.where(is_ring, -2.2 + 0.5 * rng.standard_normal(n_cust), w)

    # Account open dates: 45 % recent (new customers at every snapshot), the rest seasoned.
    n = n_acc
    lo_recent, hi_recent = recent_window(p)
    span_recent = int((hi_recent - lo_recent) / DAY)
    recent = rng.random(n) < RECENT_SHARE
    off_recent = rng.integers(0, span_recent, n)
    off_old = rng.integers(0, 365 * 9, n)
    open_date = np.where(recent, lo_recent + off_recent * DAY,
                         lo_recent - (1 + off_old) * DAY)
    # Ring members open their accounts within 75 days of the ring's start (and before the
    # last opening date); 15 % of rings start 30-70 days before the first night, so that their
    # late members miss their first due date during the nights: rings gain members then.
    if len(sizes):
        ring_start = lo_recent + rng.integers(0, span_recent - 40, len(sizes)) * DAY
        late = rng.random(len(sizes)) < 0.15
        ring_start = np.where(late, nights[0] - rng.integers(30, 71, len(sizes)) * DAY, ring_start)
        acc_ring = ring[cust]
        r = acc_ring >= 0
        start = ring_start[acc_ring[r]]
        room = np.minimum(75, (hi_recent - start) / DAY + 1).astype(np.int64)
        open_date[r] = start + (rng.random(int(r.sum())) * room).astype(np.int64) * DAY
    open_date = np.minimum(open_date, hi_recent)
    open_date = open_date.astype("datetime64[D]")

    return Population(w=w, a=a, s=s, ring=ring, birth_year=birth_year, income=income,
                      cust=cust, open_date=open_date,
                      **account_terms(rng, a[cust], is_ring[cust]),
                      **contact_state(rng, is_ring, cust))


def accounts_per_customer(rng: np.random.Generator, n_acc: int) -> np.ndarray:
    """The customer index of each of n_acc accounts: customers hold 1-3 accounts."""
    per_cust = 1 + rng.binomial(2, 0.14, size=n_acc)          # 1..3 accounts
    n_cust = int(np.searchsorted(np.cumsum(per_cust), n_acc)) + 1
    per_cust = per_cust[:n_cust]
    per_cust[-1] -= per_cust.sum() - n_acc
    return np.repeat(np.arange(n_cust, dtype=np.int64), per_cust)


def customer_traits(rng: np.random.Generator, n_cust: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Willingness w and ability a (standard normal, correlation 0.3), the start-up shock s,
    birth year and income of n_cust customers (before any ring pulls w down)."""
    z1, z2 = rng.standard_normal(n_cust), rng.standard_normal(n_cust)
    w = z1
    a = 0.3 * z1 + np.sqrt(1 - 0.09) * z2
    s = rng.standard_normal(n_cust)
    birth_year = rng.integers(1955, 2004, n_cust)
    income = np.round(np.exp(8.6 + 0.45 * a + 0.25 * rng.standard_normal(n_cust)), -1)
    return w, a, s, birth_year, income


def account_terms(rng: np.random.Generator, ability: np.ndarray, ring: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Product, limit, balance, instalment, first-payment default and the account's own noise of
    accounts whose holders have `ability` (ring members are never honest first-payment
    defaulters)."""
    n = len(ability)
    card = rng.random(n) < 0.6
    limit = np.round(np.exp(9.6 + 0.35 * ability + 0.4 * rng.standard_normal(n)), -2)
    principal = np.round(np.exp(10.4 + 0.3 * ability + 0.5 * rng.standard_normal(n)), -2)
    balance = np.where(card, limit * rng.uniform(0.55, 1.05, n),
                       principal * rng.uniform(0.3, 1.0, n))
    balance = np.round(balance, 2)
    term = rng.choice(np.array([12, 24, 36]), n)
    instalment = np.where(card, np.maximum(100.0, 0.1 * balance), principal / term)
    instalment = np.round(instalment, 2)
    fpd = (~ring) & (rng.random(n) < 0.03)
    u = 0.35 * rng.standard_normal(n)
    return dict(card=card, credit_limit=np.where(card, limit, np.nan), balance=balance,
                instalment=instalment, fpd=fpd, u=u)


def contact_state(rng: np.random.Generator, ring: np.ndarray, cust: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Lost contact: 15 % of honest customers, half of ring members (per customer); the
    contact_repair source covers 60 % of accounts and finds a working number for 60 % of the
    lost ones it covers (per account of `cust`)."""
    n = len(cust)
    lost = rng.random(len(ring)) < np.where(ring, 0.5, 0.15)
    repair_covered = rng.random(n) < 0.6
    repaired = repair_covered & lost[cust] & (rng.random(n) < 0.6)
    return dict(lost=lost, repair_covered=repair_covered, repaired=repaired)
