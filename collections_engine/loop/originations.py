"""New customers and accounts in `simulate`: the book keeps opening accounts at the world's rate.

Without them the pool only ages: on the 20k book the new-customer line fell from 13.2 % of the
pool to 0 % in six monthly cycles, and with it everything world v2 planted for new customers
(the start-up shock the telco source sees, the new line's own repayment relationship).

Each simulated window (opened_through, next] opens Poisson(rate x days) accounts, `rate` the
generator's own (truth/world.json `originations.accounts_per_day`: the book's recent accounts
spread over their opening window, `synth.population.openings_per_day`). They belong to new
customers drawn by the generator's own functions: accounts per customer, the customers' latent
traits, each account's terms and contact state (`synth.population`), identity codes as the
generator gives a customer living alone (`synth.rings.newcomer_codes`), personal fields
(`synth.book.customer_rows`) and the third-party sources' rows (`synth.sources.make_sources`,
with their hit rates). Ids continue after the largest in truth/state. Every draw comes from one
stream keyed by (seed, draw, the window's last day): the same for every policy of a backtest.

Left out: new customers join no household, hub or fraud ring (rings do not grow), get no hold
and no fraud label; accounts never close except by write-off (the pool grows by the new ones).
A source table missing from DATA gets no rows (the bank did not buy it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.loop.world import account_codes
from collections_engine.synth.book import customer_rows, identifier_rows, source_rows
from collections_engine.synth.ids import format_ids
from collections_engine.synth.params import SynthParams
from collections_engine.synth.population import Population, account_terms, \
    accounts_per_customer, contact_state, customer_traits, openings_per_day
from collections_engine.synth.rings import make_identifiers, newcomer_codes
from collections_engine.synth.sources import make_sources
from collections_engine.synth.state import STATE_COLUMNS

__all__ = ["Originations", "originate", "origination_plan"]

DAY = np.timedelta64(1, "D")
_STREAM = 0x6F726967          # "orig": this module's stream key


@dataclass
class Originations:
    """What a window's openings add: truth/state rows and the tables' new rows."""
    state: pd.DataFrame
    customers: pd.DataFrame
    identifiers: pd.DataFrame
    sources: dict[str, pd.DataFrame]


def origination_plan(params: dict, state: pd.DataFrame) -> tuple[float, int, pd.Timestamp]:
    """(accounts opened per day, the book's employer count, the last day already opened) from
    truth/world.json; a world written before originations existed gets the generator's rate for
    its size, employers for 70 % of its customers at 25 a firm, and openings from 32 days
    before its state date (the generator's last opening day)."""
    o = params.get("originations")
    if o:
        return float(o["accounts_per_day"]), int(o["employers"]), pd.Timestamp(o["opened_through"])
    rate = openings_per_day(SynthParams(accounts=int(params["accounts"])))
    employers = max(1, int(0.7 * state["customer_id"].nunique()) // 25)
    return rate, employers, pd.Timestamp(params["state_date"]) - pd.Timedelta(days=32)


def _next_codes(ids: pd.Series) -> tuple[int, int]:
    """(the largest integer code, the digits' width) of ids like 'A0001234'."""
    width = pc.max(pc.utf8_length(pa.array(pd.Series(ids, dtype="str")))).as_py()
    return int(account_codes(ids).max()), int(width) - 1


def originate(params: dict, state: pd.DataFrame, after: pd.Timestamp, through: pd.Timestamp,
              seed: int, draw: int) -> Originations:
    """The accounts opened on the days (after, through], with their new customers."""
    rate, n_emp, _ = origination_plan(params, state)
    days = int((through - after).days)
    rng = np.random.Generator(np.random.PCG64(
        [seed, draw, int(through.value // 86_400_000_000_000), _STREAM]))
    n = int(rng.poisson(rate * days)) if days > 0 else 0
    if n == 0:
        return Originations(state=state.iloc[:0][STATE_COLUMNS].copy(),
                            customers=pd.DataFrame(), identifiers=pd.DataFrame(), sources={})
    cust = accounts_per_customer(rng, n)
    n_cust = int(cust[-1]) + 1
    w, a, s, birth_year, income = customer_traits(rng, n_cust)
    after_d = np.datetime64(after.date(), "D")
    open_date = (after_d + rng.integers(1, days + 1, n) * DAY).astype("datetime64[D]")
    honest = np.zeros(n_cust, dtype=bool)
    pop = Population(w=w, a=a, s=s, ring=np.full(n_cust, -1, dtype=np.int64),
                     birth_year=birth_year, income=income, cust=cust, open_date=open_date,
                     **account_terms(rng, a[cust], honest[cust]),
                     **contact_state(rng, honest, cust))
    last_acc, acc_w = _next_codes(state["account_id"])
    last_cust, cust_w = _next_codes(state["customer_id"])
    acc_ids = pa.array(format_ids("A", last_acc + np.arange(n), acc_w).array)
    cust_ids = pa.array(format_ids("C", last_cust + np.arange(n_cust), cust_w).array)
    codes = newcomer_codes(rng, last_cust + np.arange(n_cust, dtype=np.int64), n_emp)
    first_seen = pd.Series(open_date).groupby(cust).min().to_numpy().astype("datetime64[D]")
    cust_id_s = pd.Series(cust_ids, dtype="str")
    customers = customer_rows(cust_id_s, rng, birth_year, income, codes.phone, codes.address)
    identifiers = identifier_rows(
        make_identifiers(codes, np.ones(n_cust, dtype=bool), first_seen), cust_ids)
    src = make_sources(pop, rng, np.arange(n_cust), np.arange(n))
    sources = {name.split("/", 1)[1]: frame for name, frame in source_rows(src, acc_ids, cust_ids)}
    return Originations(state=_state_rows(pop, acc_ids, cust_ids, state),
                        customers=customers, identifiers=identifiers, sources=sources)


def _state_rows(pop: Population, acc_ids: pa.Array, cust_ids: pa.Array, like: pd.DataFrame
                ) -> pd.DataFrame:
    """truth/state rows of the new accounts: current, never delinquent, in account id order."""
    c, n = pop.cust, pop.n_accounts
    rows = pd.DataFrame({
        "account_id": pd.Series(acc_ids, dtype="str"),
        "customer_id": pd.Series(cust_ids.take(pa.array(c)), dtype="str"),
        "card": pop.card,
        "open_date": pd.Series(pop.open_date.astype("datetime64[ns]")),
        "balance": pop.balance, "instalment": pop.instalment, "credit_limit": pop.credit_limit,
        "w": pop.w[c], "a": pop.a[c], "s": pop.s[c], "u": pop.u,
        "fpd": pop.fpd, "ring": np.zeros(n, dtype=bool), "lost": pop.lost[c],
        "repaired": pop.repaired,
        "dpd": np.zeros(n, dtype=np.int64), "closed": np.zeros(n, dtype=bool),
        "ever": np.zeros(n, dtype=bool), "cures": np.zeros(n, dtype=np.int64),
    })
    return rows.astype(like[STATE_COLUMNS].dtypes.to_dict())
