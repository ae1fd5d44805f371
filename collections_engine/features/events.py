"""Point-in-time aggregates over dated event streams, vectorised with sorted keys.

Every event (a payment, a contact, a source row) gets an integer key `code * SPAN + day`,
where `code` numbers the entity (account or customer) among the rows being featurised and
`day` counts days since the epoch. With the events sorted by that key, "events of this entity
dated in (lo, hi]" is the slice between two `searchsorted` positions, and any cumulative sum
over the sorted events gives sums over that slice by subtraction. No per-account loop, and
nothing dated after a row's snapshot date can reach it, because every window ends at `hi`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from collections_engine.codes import encode_arrow, lookup

__all__ = ["Entities", "EventIndex", "SPAN", "day_numbers", "entity_codes"]

# More days than any calendar date we will see (~2870 years). An np.int64, not a Python int:
# entity codes are int32, and code * SPAN must come out int64.
SPAN = np.int64(1 << 20)


def day_numbers(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as int64 (NaT -> a very negative number, never inside a window)."""
    if isinstance(dates, pd.Series) and dates.dtype == np.dtype("datetime64[ns]"):
        values = dates.to_numpy()
    else:
        values = np.asarray(pd.to_datetime(dates).values if not isinstance(dates, np.ndarray) else dates)
    if values.dtype == np.dtype("datetime64[ns]"):  # integer floor division: no calendar work
        i = values.view(np.int64)
        out = np.floor_divide(i, np.int64(86_400_000_000_000))
        out[i == np.iinfo(np.int64).min] = -(SPAN // 2)
        return out
    d = values.astype("datetime64[D]")
    out = d.astype(np.int64)
    out[np.isnat(d)] = -(SPAN // 2)
    return out


class Entities:
    """The rows' entities (accounts or customers) numbered by first appearance, hashed once and
    shared by every event table looked up against them (`collections_engine.codes`)."""

    def __init__(self, row_ids: pd.Series) -> None:
        # int32 codes: half the memory of int64 over tens of millions of events; keys built from
        # them (code * SPAN + day) are int64.
        (self.codes,), self.uniq = encode_arrow(row_ids, sort=False)

    def of(self, event_ids: pd.Series) -> np.ndarray:
        """Each event's entity code (-1: not among the rows). Event tables are usually sorted
        by id: one look-up per run of equal ids."""
        return lookup(event_ids, self.uniq)


def entity_codes(row_ids: pd.Series, event_ids: pd.Series,
                 entities: Entities | None = None) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Integer codes of the rows' entities (numbered by first appearance), and of each event's
    entity (-1: not among the rows). Arrow hash look-ups: ids never become Python strings.
    `entities`: the rows' codes already made (`Entities(row_ids)`), reused."""
    e = entities if entities is not None else Entities(row_ids)
    return e.codes, e.of(event_ids), e.uniq


@dataclass
class EventIndex:
    """Events of the rows' entities, sorted by (entity, day), with cumulative sums of values."""

    keys: np.ndarray              # sorted int64 code*SPAN+day
    order: np.ndarray             # positions into the filtered input events, in key order
    cums: dict[str, np.ndarray]   # name -> cumulative sum with a leading 0 (len = n + 1)

    @classmethod
    def build(cls, ev_codes: np.ndarray, ev_days: np.ndarray,
              values: dict[str, np.ndarray] | None = None) -> "EventIndex":
        keep = (ev_codes >= 0) & (ev_days > -(SPAN // 4))  # unknown entity or NaT date: out
        keys = ev_codes[keep] * SPAN + ev_days[keep]
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        cums = {}
        entity = keys // SPAN
        for name, v in (values or {}).items():
            vv = np.nan_to_num(np.asarray(v, dtype=np.float64)[keep][order])
            # Running sums restart at each entity's first event: a window's total then adds only
            # that entity's own events, in the same order, whatever other entities the table
            # holds (one bucket of customers or the whole book: the same bits, STYLE's chunk rule).
            cums[name] = np.concatenate([[0.0], pd.Series(vv).groupby(entity, sort=False).cumsum().to_numpy()])
        idx = np.flatnonzero(keep)[order]
        del order
        if len(keep) < 2**31:
            idx = idx.astype(np.int32)  # positions: half the memory while the features are made
        return cls(keys=keys, order=idx, cums=cums)

    def subset(self, mask: np.ndarray) -> "EventIndex":
        """The events where `mask` (over the input events) holds, still sorted: no new sort."""
        m = mask[self.order]
        return EventIndex(keys=self.keys[m], order=self.order[m], cums={})

    def position(self, codes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Number of sorted events with key <= code*SPAN+day (a slice end)."""
        return np.searchsorted(self.keys, codes * SPAN + days, side="right")

    def count(self, codes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Events of each row's entity dated in (lo, hi]."""
        return (self.position(codes, hi) - self.position(codes, lo)).astype(np.int64)

    def total(self, name: str, codes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum of the value over each row's entity's events dated in (lo, hi]."""
        return self._upto(name, codes, self.position(codes, hi)) - self._upto(name, codes, self.position(codes, lo))

    def _upto(self, name: str, codes: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """The entity's own running sum before slice end `pos` (0 when no event of it lies before)."""
        ok = pos > 0
        ok[ok] = (self.keys[pos[ok] - 1] // SPAN) == codes[ok]
        return np.where(ok, self.cums[name][pos], 0.0)

    def last(self, codes: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Position (in the filtered input events) of the latest event on or before `day`, or -1."""
        i = self.position(codes, day) - 1
        ok = i >= 0
        ok[ok] = (self.keys[i[ok]] // SPAN) == codes[ok]
        out = np.full(len(codes), -1, dtype=np.int64)
        out[ok] = self.order[i[ok]]
        return out

    def last_day(self, codes: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Day number of the latest event on or before `day` (NaN if none)."""
        i = self.position(codes, day) - 1
        ok = i >= 0
        ok[ok] = (self.keys[i[ok]] // SPAN) == codes[ok]
        out = np.full(len(codes), np.nan)
        out[ok] = (self.keys[i[ok]] % SPAN).astype(np.float64)
        return out
