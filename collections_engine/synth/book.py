"""Assemble the synthetic book: the pure generator behind `collections-engine generate`.

`generate_book(params, strategy)` returns every table as a frame, keyed by its path inside
DATA without the extension ("accounts", "sources/bureau", "truth/accounts", ...); the command
only writes them. Each part draws from its own child stream of one seed, so the same seed gives
the same book, and a change in one part leaves the draws of the others alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from collections_engine.config.strategy import Strategy
from collections_engine.synth.behaviour import CHANNELS, OUTCOMES, make_contacts, make_holds, \
    make_payments
from collections_engine.synth.ids import fake_addresses, fake_names, fake_national_ids, \
    fake_phones, format_ids, sort_order, tokens
from collections_engine.synth.lifecycle import HOLD_KINDS, WRITE_OFF, Holds, Lifecycle, \
    queue_table, run_lifecycle
from collections_engine.synth.params import SOURCE_ROLES, SynthParams
from collections_engine.synth.population import Population, make_population, night_dates, \
    openings_per_day, recent_window
from collections_engine.synth.rings import KINDS, IdentityCodes, assign_codes, household_of, \
    make_fraud_labels, make_identifiers
from collections_engine.synth.sources import make_sources
from collections_engine.synth.answers import effects_by_trait, source_values
from collections_engine.synth.lifecycle import _active_hold
from collections_engine.synth.state import state_frame
from collections_engine.synth.world import world_parameters

__all__ = ["generate_book", "iter_book", "Placement", "iter_part", "effect_sample",
           "effects_of_sample", "whole_book_world", "EFFECT_ROWS"]

EFFECT_ROWS = 400_000     # history rows truth/effects is computed on (a fixed stride above it)

# token prefix and value family per identifier kind (phone and emergency contact share one)
_PREFIX = np.array(["ph", "dv", "ad", "em", "ph", "co"])
_FAMILY = np.array([1, 2, 3, 4, 1, 5], dtype=np.uint64)


def _ids(prefix: str, n: int, start: int = 0, width: int | None = None) -> pa.Array:
    """Ids of indices start..start+n-1 ('A0000001' is index 0); the digits' width is that of n
    unless given (a part of a book takes the whole book's width)."""
    width = width or max(7, len(str(n)))
    return pa.array(format_ids(prefix, start + np.arange(n), width).array)


@dataclass(frozen=True)
class Placement:
    """Where one part of a book of several parts (`synth.parts`) sits in the whole book: its
    seed key (the part's streams are the children of SeedSequence(seed, spawn_key=key)), the
    first global index of its accounts, customers, rings and households (ids and identity codes
    are global, so the parts' ids and own identifier values are disjoint), the ids' digits, and
    `firm_scale` (whole book's accounts, this part's): the part draws its employees over as
    many firms as the whole book has, shared by every part. The default is a one-part book."""
    key: tuple[int, ...] = ()
    acc0: int = 0
    cust0: int = 0
    ring0: int = 0
    house0: int = 0
    width: int | None = None
    firm_scale: tuple[int, int] = (1, 1)

    def seeds(self, seed: int, n: int) -> list[np.random.SeedSequence]:
        return np.random.SeedSequence(seed, spawn_key=self.key).spawn(n)


def _take(arr: pa.Array, idx: np.ndarray) -> pd.Series:
    return pd.Series(arr.take(pa.array(np.asarray(idx, dtype=np.int64))), dtype="str")


def _cat(names: np.ndarray, codes: np.ndarray) -> pd.Series:
    return pd.Series(pa.array([str(x) for x in names], pa.string()).take(
        pa.array(np.asarray(codes, dtype=np.int64))), dtype="str")


def _dates(x: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(x, dtype="datetime64[D]").astype("datetime64[ns]"))


def world_book(strategy: Strategy, p: SynthParams) -> dict:
    """The bank as the world knows it (truth/world.json "book"): stages, the new-customer window,
    the outcome horizon and each queue's kind and planted lift, so `simulate` needs no strategy."""
    return {
        "stages": [{"name": s.name, "dpd_min": s.dpd_min, "dpd_max": s.dpd_max}
                   for s in strategy.stages],
        "new_customer_max_age_months": strategy.new_customer.max_account_age_months,
        "horizon_days": strategy.outcome.horizon_days,
        "write_off_dpd": {"card": WRITE_OFF[True], "loan": WRITE_OFF[False]},
        "queues": {q.name: {"kind": q.kind, "lift": {st: p.lift_base.get(q.name, {}).get(st, 0.0)
                                                     for st in q.stages}}
                   for q in strategy.work_queues()},
    }


def generate_book(p: SynthParams, strategy: Strategy) -> dict[str, pd.DataFrame]:
    """Every table of the book at once (small books, tests)."""
    return dict(iter_book(p, strategy))


@dataclass
class _Book:
    """What the phases of `iter_book` share: the drawn world and the ids, plus what an earlier
    phase found that a later one needs (the customers' codes, households, first sightings)."""
    p: SynthParams
    strategy: Strategy
    streams: list[np.random.Generator]
    pop: Population
    holds: Holds
    lc: Lifecycle
    names: list[str]
    elig: np.ndarray
    lift: np.ndarray
    qkind: np.ndarray
    nights: np.ndarray
    acc_ids: pa.Array
    cust_ids: pa.Array
    appears: np.ndarray          # per pool account: in the book's tables
    alive: np.ndarray            # per customer: the bank's customer (any account in the window)
    cust: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hh: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    codes: IdentityCodes | None = None
    first_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"))
    src_keys: dict = field(default_factory=dict)
    place: Placement = field(default_factory=Placement)


def iter_book(p: SynthParams, strategy: Strategy) -> Iterator[tuple[str, pd.DataFrame]]:
    """The tables one at a time, so that a writer can drop each after writing it (big books).
    The phases run in this order because they share the seed's child streams (a phase's draws
    depend on how much the phases before it drew from the same stream)."""
    b = _draw_world(p, strategy, Placement())
    yield from _part_tables(b)
    yield from _answer_key(b)


def iter_part(p: SynthParams, strategy: Strategy, place: Placement, out: dict
              ) -> Iterator[tuple[str, pd.DataFrame]]:
    """One part of a book of several parts: every table whose rows belong to the part's own
    customers and accounts (truth/state and truth/rings included), with global ids. What the
    whole book's answer key needs from the part is left in `out` when the tables are done:
    "effect_sample" (`effect_sample`), "sources" (truth/sources' unrounded sums), "employers",
    "rings" and "households" (how many the part planted)."""
    b = _draw_world(p, strategy, place)
    yield from _part_tables(b)
    yield from _ring_and_state_tables(b)
    out["sources"] = _source_values(b, rounded=False)
    out["effect_sample"] = effect_sample(b, EFFECT_ROWS // max(1, out.get("parts", 1)))
    assert b.codes is not None
    out["employers"] = int(b.codes.employers)
    out["rings"] = int(b.pop.ring.max()) + 1 if (b.pop.ring >= 0).any() else 0
    out["households"] = int(b.hh.max()) + 1 if len(b.hh) and (b.hh >= 0).any() else 0
    out["customers"], out["accounts"] = b.pop.n_customers, b.pop.n_accounts


def _part_tables(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    yield from _account_tables(b)
    yield from _history_tables(b)
    yield from _customer_table(b)
    yield from _activity_tables(b)
    yield from _holds_table(b)
    yield from _identifier_table(b)
    yield from _label_and_source_tables(b)


def _draw_world(p: SynthParams, strategy: Strategy, place: Placement) -> _Book:
    """The population, its holds and its lifecycle, drawn from the seed's child streams."""
    if p.accounts < 1 or p.days < 1 or p.history_months < 1:
        raise ValueError("accounts, days and history_months must be at least 1")
    streams = [np.random.Generator(np.random.PCG64(s)) for s in place.seeds(p.seed, 8)]
    pop = make_population(p, streams[0])
    holds = make_holds(pop, p, streams[1])
    lc = run_lifecycle(pop, holds, p, strategy, streams[2])
    names, elig, lift, qkind = queue_table(strategy, p)
    appears = np.zeros(pop.n_accounts, dtype=bool)
    appears[lc.acc] = True
    # the bank's customers: everyone with an account in the book's window, delinquent or not
    # (so that a customer without delinquent accounts says nothing about fraud)
    alive = np.zeros(pop.n_customers, dtype=bool)
    alive[pop.cust[lc.keep]] = True
    return _Book(p=p, strategy=strategy, streams=streams, pop=pop, holds=holds, lc=lc,
                 names=names, elig=elig, lift=lift, qkind=qkind, nights=night_dates(p),
                 acc_ids=_ids("A", pop.n_accounts, place.acc0, place.width),
                 cust_ids=_ids("C", pop.n_customers, place.cust0, place.width),
                 appears=appears, alive=alive, place=place)


def _account_tables(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """accounts and truth/accounts (rows come sorted by snapshot date, then account)."""
    pop, lc = b.pop, b.lc
    rows_acc = lc.acc
    accounts = pd.DataFrame({
        "snapshot_date": _dates(lc.date),
        "account_id": _take(b.acc_ids, rows_acc),
        "customer_id": _take(b.cust_ids, pop.cust[rows_acc]),
        "product": _cat(np.array(["loan", "card"]), pop.card[rows_acc].astype(np.int64)),
        "open_date": _dates(pop.open_date[rows_acc]),
        "dpd": lc.dpd.astype(np.int64),
        "overdue_amount": lc.overdue.astype(np.float64),
        "balance": lc.balance.astype(np.float64),
        "credit_limit": pop.credit_limit[rows_acc].astype(np.float64),
    })
    yield "accounts", accounts
    truth_acc = pd.DataFrame({
        "account_id": accounts["account_id"],
        "snapshot_date": accounts["snapshot_date"],
        "p_repay": np.clip(np.round(lc.p0, 4), 0.0001, 0.9999),
        "p_observable": np.clip(np.round(lc.p_obs, 4), 0.0001, 0.9999),
        "p_queue": np.clip(np.round(lc.p_queue, 4), 0.0001, 0.9999),
        "willingness": np.round(pop.w[pop.cust[rows_acc]], 4),
        "ability": np.round(pop.a[pop.cust[rows_acc]], 4),
    })
    yield "truth/accounts", truth_acc


def _history_tables(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """placement_history and outcomes (history snapshots only)."""
    lc = b.lc
    h = np.flatnonzero(~lc.night)
    hist_key = {"account_id": _take(b.acc_ids, lc.acc[h]), "snapshot_date": _dates(lc.date[h])}
    yield "placement_history", pd.DataFrame({
        **hist_key,
        "queue": _cat(np.array(b.names), lc.queue[h]),
        "propensity": np.round(lc.propensity[h], 6),
    })
    yield "outcomes", pd.DataFrame({
        **hist_key,
        "repaid": lc.repaid[h].astype(np.int8),
        "recovered_amount": lc.recovered[h].astype(np.float64),
    })


def _customer_table(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """customers; draws the households and identity codes the later phases use."""
    pop = b.pop
    b.cust = cust = np.flatnonzero(b.alive)
    rng_c = b.streams[3]
    b.hh = household_of(pop, b.p, rng_c, b.alive)
    pl = b.place
    b.codes = codes = assign_codes(pop, b.streams[5], b.alive, b.hh, own0=pl.cust0,
                                   house0=pl.house0, ring0=pl.ring0, firm_scale=pl.firm_scale)
    yield "customers", customer_rows(_take(b.cust_ids, cust), rng_c, pop.birth_year[cust],
                                     pop.income[cust], codes.phone[cust], codes.address[cust])


def customer_rows(customer_id: pd.Series, rng: np.random.Generator, birth_year: np.ndarray,
                  income: np.ndarray, phone_code: np.ndarray, address_code: np.ndarray
                  ) -> pd.DataFrame:
    """The customers table's rows (fake personal fields drawn from `rng`, phone and address the
    fixed text of their identity codes); `simulate`'s originations call it too."""
    n = len(customer_id)
    return pd.DataFrame({
        "customer_id": customer_id,
        "name": fake_names(rng, n),
        "phone": pd.Series(fake_phones(phone_code), dtype="str"),
        "national_id": fake_national_ids(rng, birth_year, n),
        "address": pd.Series(fake_addresses(address_code), dtype="str"),
        "birth_year": birth_year.astype(np.int64),
        "income": income.astype(np.float64),
    })


def _activity_tables(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """payments and contacts (one row per account, day, channel and outcome)."""
    pay = make_payments(b.pop, b.lc, b.streams[4])
    o = sort_order(pay["amount"], pay["paid_on"], pay["acc"])
    yield "payments", pd.DataFrame({
        "account_id": _take(b.acc_ids, pay["acc"][o]),
        "paid_on": _dates(pay["paid_on"][o]),
        "amount": pay["amount"][o].astype(np.float64),
    })
    del pay
    con = make_contacts(b.pop, b.lc, b.qkind, b.streams[4])
    o = sort_order(con["outcome"], con["channel"], con["contacted_on"], con["acc"])
    same = np.zeros(len(o), dtype=bool)
    if len(o) > 1:
        same[1:] = np.logical_and.reduce([con[k][o][1:] == con[k][o][:-1] for k in
                                          ("acc", "contacted_on", "channel", "outcome")])
    o = o[~same]
    yield "contacts", pd.DataFrame({
        "account_id": _take(b.acc_ids, con["acc"][o]),
        "contacted_on": _dates(con["contacted_on"][o]),
        "channel": _cat(CHANNELS, con["channel"][o]),
        "outcome": _cat(OUTCOMES, con["outcome"][o]),
    })


def _holds_table(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """holds of the accounts in the book."""
    holds = b.holds
    m = b.appears[holds.acc]
    o = np.lexsort((holds.kind[m], holds.start[m], holds.acc[m]))
    yield "holds", pd.DataFrame({
        "account_id": _take(b.acc_ids, holds.acc[m][o]),
        "hold": _cat(HOLD_KINDS, holds.kind[m][o]),
        "start": _dates(holds.start[m][o]),
        "end": _dates(holds.end[m][o]),
    })


def _identifier_table(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """identifiers: first seen at the first opening; ring members joining during the nights
    are first seen on the night they first appear delinquent."""
    pop, lc = b.pop, b.lc
    big = np.iinfo(np.int64).max
    first_open = np.full(pop.n_customers, big, dtype=np.int64)
    np.minimum.at(first_open, pop.cust[lc.keep], pop.open_date[lc.keep].astype(np.int64))
    first_seen = first_open.astype("datetime64[D]")
    first_row = np.full(pop.n_customers, big, dtype=np.int64)
    np.minimum.at(first_row, pop.cust[lc.acc], lc.date.astype(np.int64))
    joins = (pop.ring >= 0) & (first_row != big) & (first_row > b.nights[0].astype(np.int64))
    first_seen[joins] = first_row[joins].astype("datetime64[D]")
    b.first_seen = first_seen
    assert b.codes is not None
    yield "identifiers", identifier_rows(make_identifiers(b.codes, b.alive, first_seen),
                                         b.cust_ids)


def identifier_rows(ids: dict[str, np.ndarray], cust_ids: pa.Array) -> pd.DataFrame:
    """The identifiers table's rows from `make_identifiers`' arrays, sorted by customer, kind
    and value code; `simulate`'s originations call it too."""
    o = sort_order(ids["code"], ids["kind"], ids["cust"])
    kind = ids["kind"][o]
    return pd.DataFrame({
        "customer_id": _take(cust_ids, ids["cust"][o]),
        "kind": _cat(KINDS, kind),
        "value": pd.Series(tokens(_PREFIX[kind], ids["code"][o], _FAMILY[kind]), dtype="str"),
        "first_seen": _dates(ids["first_seen"][o]),
    })


def _label_and_source_tables(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """fraud_labels and the third-party sources."""
    pop = b.pop
    suspects = np.unique(pop.cust[pop.fpd & b.appears])
    lab = make_fraud_labels(pop, b.p, b.streams[6], b.alive, b.first_seen, suspects, b.hh)
    o = np.argsort(lab["cust"], kind="stable")
    yield "fraud_labels", pd.DataFrame({
        "customer_id": _take(b.cust_ids, lab["cust"][o]),
        "confirmed_on": _dates(lab["confirmed_on"][o]),
    })
    src = make_sources(pop, b.streams[7], b.cust, np.flatnonzero(b.appears))
    b.src_keys = {name: ("cust", cols["cust"]) if "cust" in cols else ("acc", cols["acc"])
                  for name, cols in src.items()}
    yield from source_rows(src, b.acc_ids, b.cust_ids)


def source_rows(src: dict[str, dict[str, np.ndarray]], acc_ids: pa.Array, cust_ids: pa.Array
                ) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each source's table from `make_sources`' arrays (keyed by customer or account id);
    `simulate`'s originations call it too."""
    for name, cols in src.items():
        cols = dict(cols)
        if "cust" in cols:
            key = {"customer_id": _take(cust_ids, cols.pop("cust"))}
        else:
            key = {"account_id": _take(acc_ids, cols.pop("acc"))}
        yield f"sources/{name}", pd.DataFrame({**key, **cols})


def _answer_key(b: _Book) -> Iterator[tuple[str, pd.DataFrame | dict]]:
    """truth/effects, truth/rings, truth/sources, truth/state and truth/world."""
    yield "truth/effects", effects_of_sample(b.strategy, b.p, [effect_sample(b, EFFECT_ROWS)])
    yield from _ring_and_state_tables(b)
    yield "truth/sources", _source_values(b)
    assert b.codes is not None
    yield "truth/world", whole_book_world(b.p, b.strategy, int(b.codes.employers))


def _ring_and_state_tables(b: _Book) -> Iterator[tuple[str, pd.DataFrame]]:
    """truth/rings (ring ids global: a part's rings follow the parts before it) and truth/state."""
    pop, place = b.pop, b.place
    rc = b.cust[pop.ring[b.cust] >= 0]
    n_rings = int(pop.ring.max()) + 1 if len(rc) else 0
    yield "truth/rings", pd.DataFrame({
        "customer_id": _take(b.cust_ids, rc),
        "ring_id": _take(_ids("R", n_rings, place.ring0, place.width), pop.ring[rc]),
    })
    yield "truth/state", state_frame(pop, b.lc, b.acc_ids, b.cust_ids, b.nights[-1])


def effect_sample(b: _Book, rows: int) -> dict[str, np.ndarray]:
    """The history rows truth/effects is computed on (a fixed stride when there are more than
    `rows`: the ratios need no more), with the traits the world's response depends on."""
    pop, lc = b.pop, b.lc
    h = np.flatnonzero(~lc.night)
    if len(h) > rows:
        h = h[:: len(h) // rows + 1]
    ha = lc.acc[h]
    hc = pop.cust[ha]
    return {"stage": lc.stage[h].astype(np.int64), "p0": lc.p0[h], "od": lc.overdue[h],
            "new": lc.new[h], "dpd": lc.dpd[h].astype(np.int64), "reach": pop.reachable[ha],
            "w": pop.w[hc], "ring": pop.ring[hc] >= 0}


def effects_of_sample(strategy: Strategy, p: SynthParams, samples: list[dict[str, np.ndarray]]
                      ) -> pd.DataFrame:
    """truth/effects from the history rows of every part (`effect_sample`)."""
    names, elig, lift, qkind = queue_table(strategy, p)
    s = {k: np.concatenate([x[k] for x in samples]) for k in samples[0]}
    return effects_by_trait(names, strategy.stage_names(), elig, lift, qkind, s["stage"], s["p0"],
                            s["od"], s["new"], s["dpd"], s["reach"], s["w"], s["ring"])


def whole_book_world(p: SynthParams, strategy: Strategy, employers: int,
                     extra: dict | None = None) -> dict:
    """truth/world.json of the book `p` asks for (every part's accounts together)."""
    return {**world_parameters(), "seed": p.seed, "accounts": p.accounts,
            "state_date": str(night_dates(p)[-1]), "simulated_nights": [],
            "book": world_book(strategy, p),
            "originations": {"accounts_per_day": round(openings_per_day(p), 6),
                             "employers": employers,
                             "opened_through": str(recent_window(p)[1])},
            **(extra or {})}


def _source_values(b: _Book, rounded: bool = True) -> pd.DataFrame:
    """truth/sources: each source's true monthly value per line on the first night (`rounded`
    False: the sums unrounded, for a book of several parts to add up)."""
    pop, lc = b.pop, b.lc
    f = np.flatnonzero(lc.night & (lc.date == b.nights[0]))
    fa = lc.acc[f]
    fc = pop.cust[fa]
    covered = {s: np.isin(fc, cols) if k == "cust" else np.isin(fa, cols)
               for s, (k, cols) in b.src_keys.items()}
    return source_values(
        b.strategy, b.names, b.elig, b.lift, b.qkind, SOURCE_ROLES, covered,
        lc.stage[f].astype(np.int64), lc.new[f], lc.dpd[f].astype(np.int64), lc.overdue[f],
        {"w": pop.w[fc], "a": pop.a[fc], "s": pop.s[fc], "cures": lc.final["cures"][fa],
         "u": pop.u[fa], "fpd": pop.fpd[fa], "ring": pop.ring[fc] >= 0},
        pop.reachable[fa], ~pop.lost[fc],
        _active_hold(b.holds, pop.n_accounts, b.nights[0])[fa],
        np.random.Generator(np.random.PCG64(b.place.seeds(b.p.seed, 9)[8])), rounded=rounded)
