"""A book of several parts: `generate --parts K` for books larger than one process's memory.

The book is drawn as K parts of disjoint customers and accounts, one part in memory at a time:
part i is the generator's book of about ACCOUNTS / K delinquent accounts on the first night
(exactly ACCOUNTS in all), drawn from its own seed streams (SeedSequence(seed, spawn_key=(K, i))),
with global ids (its accounts, customers, rings and households numbered after the parts before
it, so ids and own identifier values never collide). Everything planted per customer stays
within its part: rings, households, fraud labels, holds, sources. What is one thing for the
whole book is made once from the parts: truth/effects from every part's history rows,
truth/sources from their added sums, truth/world.json for the whole ACCOUNTS (with the parts
listed). Shared values cross parts as they cross a real book: the hubs (a call-centre number,
an office address, a big employer) and the employers, drawn by every part over as many firms
as the whole book's employed fill at 25 a firm.

One part (the default) is `iter_book` itself: the same bytes as before parts existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.synth.answers import round_source_values
from collections_engine.synth.book import Placement, effects_of_sample, iter_book, iter_part, \
    whole_book_world
from collections_engine.synth.params import SynthParams
from collections_engine.synth.population import pool_size

__all__ = ["iter_parts", "part_sizes", "DATE_MAJOR"]

# tables whose rows come by date, then account: a writer interleaves the parts date by date so
# that the whole table keeps that order (the others come by account or customer, so the parts
# one after another are already in order)
DATE_MAJOR = {"accounts": "snapshot_date", "truth/accounts": "snapshot_date",
              "placement_history": "snapshot_date", "outcomes": "snapshot_date"}


def part_sizes(accounts: int, parts: int) -> list[int]:
    """Delinquent accounts on the first night per part: as even as can be, adding up."""
    if parts < 1 or parts > accounts:
        raise ValueError(f"parts must be between 1 and the accounts ({accounts}); got {parts}")
    base, extra = divmod(accounts, parts)
    return [base + (i < extra) for i in range(parts)]


def iter_parts(p: SynthParams, strategy: Strategy, parts: int
               ) -> Iterator[tuple[str, pd.DataFrame | dict, int | None]]:
    """(table name, frame or truth/world's dict, part index or None for a whole-book table).

    Parts come one after another, each part's tables in `iter_book`'s order; the whole book's
    truth/effects, truth/sources and truth/world come last. With one part: `iter_book`."""
    sizes = part_sizes(p.accounts, parts)
    if parts == 1:
        for name, frame in iter_book(p, strategy):
            yield name, frame, 0
        return
    params = [replace(p, accounts=a) for a in sizes]
    width = max(7, len(str(sum(pool_size(q) for q in params))))   # customers <= accounts
    acc0 = cust0 = ring0 = house0 = 0
    samples, sources, employers = [], [], 0
    for i, q in enumerate(params):
        place = Placement(key=(parts, i), acc0=acc0, cust0=cust0, ring0=ring0, house0=house0,
                          width=width, firm_scale=(p.accounts, q.accounts))
        out: dict = {"parts": parts}
        for name, frame in iter_part(q, strategy, place, out):
            yield name, frame, i
        acc0 += out["accounts"]
        cust0 += out["customers"]
        ring0 += out["rings"]
        house0 += out["households"]
        samples.append(out["effect_sample"])
        sources.append(out["sources"])
        employers = max(employers, out["employers"])
        del out
    yield "truth/effects", effects_of_sample(strategy, p, samples), None
    yield "truth/sources", round_source_values(sources), None
    yield "truth/world", whole_book_world(p, strategy, employers, {"parts": {
        "count": parts, "accounts": sizes, "seed_key": "SeedSequence(seed, spawn_key=(parts, i))",
        "pool_accounts": acc0, "pool_customers": cust0, "rings": ring0}}), None
