"""The ring step's first phase: customer codes and the customer graph of one night, built from
the whole book (`full_graph_phase`) or from last night's carry and tonight's rows
(`carried_graph_phase`, see `carry`). Both return the same phase (tested against each other)
and the carry for the next night.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import partial
from threading import Lock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.book import Book
from collections_engine.config.graph import GraphConfig
from collections_engine.rings.carry import Carry, digest, past_mask, row_hashes, table_hashes
from collections_engine.codes import encode_arrow, to_arrow, to_object
from collections_engine.rings.codes import fingerprints, take_rows
from collections_engine.rings.graph import CustomerGraph, clean_identifiers, link_codes, usable_at, usable_rows, value_groups
from collections_engine.rings.incremental import state_key
from collections_engine.rings.propensity import confirmed_on, id_hash

__all__ = ["GraphPhase", "Hashes", "blocked_digests", "blocked_row_hashes", "graph_phase"]

_NAT = np.iinfo(np.int64).min
_DAY_NS = 86_400e9


@dataclass
class GraphPhase:
    """The customer code space (customers of usable identifier rows, of accounts on or before
    the date and of labels, sorted ids), the customer graph, and what later phases need."""

    cg: CustomerGraph
    customer_ids: np.ndarray
    c_lab: np.ndarray         # customer code per confirmed label
    first_seen: np.ndarray    # earliest identifier first_seen per customer (day number)
    warnings: list[str]
    id_stats: dict[str, int]
    # customer code of each account row in a mask of account rows (-1: none or not known)
    acc_cust: Callable[[np.ndarray], np.ndarray]
    carry: Carry | None = None       # what the next night starts from
    carry_info: dict[str, object] | None = None
    carry_pos: np.ndarray | None = None   # per customer code: its row in `carry.customers` (-1: none)
    old_code: np.ndarray | None = None    # per row of the carry read tonight: tonight's code (-1: none)
    id_hash: np.ndarray | None = None     # per customer code: propensity.id_hash of its id

    @property
    def c_acc(self) -> np.ndarray:
        """Customer code per account row (-1: a row after the date)."""
        return self.acc_cust(np.ones(self.n_account_rows, bool))

    n_account_rows: int = 0


class Hashes:
    """The row hashes the carry's digests are made of (`carry.table_hashes`) and the identifier
    values' fingerprints, per name: "value_fp", "identifiers", "accounts", "payments",
    "contacts". With an executor they are computed there, in that order, beside the graph
    phase (numpy and Arrow release the GIL: the 64M rows of the 1M book's four tables take
    the second core); without one, here when first asked for. Pure: the same values either way.

    `dates`: the nights whose digests (`digest`) will be asked for. Of each table's row hashes
    only those digests are kept, summed a block of rows at a time (`blocked_digests`): the
    whole table's hashes (8 bytes a row: 0.5 GiB over the 1M book's four tables) are never
    made, unless asked for by `get`. The values' fingerprints go once both the identifier
    row hashes and the graph phase's value keys (`used("value_fp", "vkey")`) have read them;
    made again if asked for later (a carried build refused after the fact)."""

    NAMES = ("value_fp", "identifiers", "accounts", "payments", "contacts")
    TABLES = NAMES[1:]

    def __init__(self, book: Book, side: Executor | None = None, dates: tuple = ()):
        ident = book.identifiers if book.identifiers is not None else _EMPTY_IDENT
        self._tables: dict[str, pd.DataFrame | None] = {
            "identifiers": ident, **{name: getattr(book, name) for name in ("accounts", "payments", "contacts")}}
        tasks: dict[str, Callable[[], np.ndarray]] = {"value_fp": lambda: fingerprints(ident["value"])}
        for name in self.TABLES:
            tasks[name] = partial(self._hashes, name, ())
        self._tasks = tasks
        self._dates = tuple(dict.fromkeys(pd.Timestamp(d) for d in dates))
        self._digests: dict[tuple[str, pd.Timestamp], str] = {}
        self._readers = {"value_fp": {"identifiers", "vkey"}}  # who reads the fingerprints still
        self._lock = Lock()
        self._done: dict[str, object] = {}
        for name in self.NAMES if side is not None else ():
            self._done[name] = side.submit(self._make, name)  # (in order: "identifiers" reads "value_fp")

    def _hashes(self, name: str, dates: tuple) -> np.ndarray | None:
        """Table `name`'s row hashes (no `dates`), or with `dates` their digests, stored, and
        None: a block at a time (`blocked_row_hashes`, `blocked_digests`)."""
        table = self._tables[name]
        known = {"value": self.get("value_fp")} if name == "identifiers" else None
        try:
            if not dates:
                return blocked_row_hashes(table, name, known)
            for d, got in blocked_digests(table, name, dates, known).items():
                self._digests[(name, d)] = got
            return None
        finally:
            if name == "identifiers":
                self.used("value_fp", "identifiers")

    def _make(self, name: str) -> np.ndarray | None:
        """The hashes of `name`; for a table with `dates`, its digests taken and None kept
        (the whole table's hashes never made: 8 bytes a row of fresh memory)."""
        if name in self.TABLES and self._dates:
            return self._hashes(name, self._dates)
        return self._tasks[name]()

    def _result(self, name: str) -> np.ndarray | None:
        with self._lock:
            got = self._done.get(name, _MISSING)
        if got is _MISSING:  # no executor, or let go of: made here
            got = self._make(name)
            with self._lock:
                self._done[name] = got
        return got.result() if isinstance(got, Future) else got

    def used(self, name: str, reader: str) -> None:
        """`reader` has read `name` for the last time: let go of it when nobody else is left
        (a later `get` makes it again)."""
        with self._lock:
            left = self._readers.get(name)
            if left is None:
                return
            left.discard(reader)
            if not left and name in self._done:
                del self._done[name]

    def forget(self, *names: str) -> None:
        """Let go of these hashes and of the tables their tasks read (asked for already: a
        caller about to release the book's tables; a later `get` or `digest` of them fails).
        The side thread's work on them is waited for, and a table's digests taken if they were
        not; nothing already let go of is made again (the fingerprints, once both readers are
        done, would be a needless pass over every identifier value)."""
        for name in names:  # first every wait: a later one may read an earlier one's table
            with self._lock:
                got = self._done.get(name, _MISSING)
            if isinstance(got, Future):
                got.result()
            elif got is _MISSING and name in self.TABLES and self._dates and any(
                    (name, d) not in self._digests for d in self._dates):
                self._result(name)
        for name in names:
            self._tasks.pop(name, None)
            self._tables.pop(name, None)
            self._done[name] = None

    def get(self, name: str) -> np.ndarray:
        got = self._result(name)
        return got if got is not None else self._tasks[name]()

    def digest(self, name: str, date: pd.Timestamp) -> str:
        """`carry.digest` of the rows of table `name` dated on or before `date`."""
        self._result(name)
        got = self._digests.get((name, pd.Timestamp(date)))
        if got is None:
            table = self._tables[name]
            got = digest(self.get(name), past_mask(table, name, date)) if table is not None else "0:0"
        return got


# Rows per block of `blocked_row_hashes`.
HASH_BLOCK = 1 << 21


def blocked_row_hashes(table: pd.DataFrame | None, name: str, known: dict[str, np.ndarray] | None = None,
                       block: int = HASH_BLOCK) -> np.ndarray:
    """`carry.row_hashes` (`table_hashes` of a table that may be missing), a block of rows at a
    time: the same values (a row's hash reads only that row), but only one block's column
    hashes at once instead of each digest column's over the whole table (at 1M accounts five
    arrays of 107 MB for the accounts, three of 186 MB for the contacts, beside the graph)."""
    if table is None:
        return table_hashes(None, name)
    n = len(table)
    if n <= block:
        return row_hashes(table, name, known)
    out = np.empty(n, np.uint64)
    for lo, rows, h in _hash_blocks(table, name, known, block):
        out[lo:lo + len(rows)] = h
    return out


def blocked_digests(table: pd.DataFrame | None, name: str, dates: tuple, known: dict[str, np.ndarray] | None = None,
                    block: int = HASH_BLOCK) -> dict[pd.Timestamp, str]:
    """Per date, `carry.digest(row_hashes(table), past_mask(table, name, date))` ("0:0" for a
    missing table), summed a block at a time without the whole table's hashes or masks."""
    dates = tuple(dict.fromkeys(dates))
    count = dict.fromkeys(dates, 0)
    total = dict.fromkeys(dates, 0)
    for _, rows, h in _hash_blocks(table, name, known, block) if table is not None else ():
        for d in dates:
            mask = past_mask(rows, name, d)
            count[d] += int(np.count_nonzero(mask))
            total[d] += int(np.sum(h, where=mask, dtype=np.uint64))
    return {d: f"{count[d]}:{total[d] % 2**64}" for d in dates}


def _hash_blocks(table: pd.DataFrame, name: str, known: dict[str, np.ndarray] | None, block: int):
    """(first row, the block's rows, their `row_hashes`) per block of `block` rows."""
    for lo in range(0, max(len(table), 1), block):
        part = {c: x[lo:lo + block] for c, x in known.items()} if known else None
        rows = table.iloc[lo:lo + block]
        yield lo, rows, row_hashes(rows, name, part)


_MISSING = object()
_EMPTY_IDENT = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("customer_id", "kind", "value")})


@dataclass
class _Night:
    """What both ways of building the phase read from tonight's book."""

    ident: pd.DataFrame
    accounts: pd.DataFrame
    keep: np.ndarray
    kind_codes: np.ndarray
    kinds: list[str]
    warnings: list[str]
    id_stats: dict[str, int]
    a_known: np.ndarray
    labelled: pd.Series
    hashes: Hashes
    rows: np.ndarray | None = None    # the identifier rows `keep` checked (None: all of them)
    _vkey: np.ndarray | None = None

    @property
    def vkey(self) -> np.ndarray:
        """Per identifier row: its value's fingerprint plus its kind (value_groups' key)."""
        if self._vkey is None:
            key = self.kind_codes.astype(np.uint64)  # in place: one array of fresh memory, not three
            key *= np.uint64(0x9E3779B97F4A7C15)
            key += self.hashes.get("value_fp")
            self._vkey = key
            self.hashes.used("value_fp", "vkey")
        return self._vkey


def graph_phase(book: Book, graph: GraphConfig, date: pd.Timestamp, carry: Carry | None,
                why: str = "no carried identifier graph", hashes: Hashes | None = None,
                release_carry: bool = False) -> GraphPhase:
    """Tonight's graph phase: from `carry` when it is usable for tonight's book (the reason
    recorded in `carry_info` otherwise), else from the whole book. `hashes`: the row hashes,
    possibly being computed beside this phase (`Hashes`). `release_carry`: the carried build
    lets go of the carry's customers and links (`carry.customers`, `carry.links` set to None)
    once it has read them, before the graph's pairs are made (nothing after reads them).

    The carried build starts before the digests proving the past unchanged are known (they
    are computed beside it); when they differ, its result is dropped and the night built in
    full, as if the carry had been refused up front."""
    hashes = hashes if hashes is not None else Hashes(book)
    reason = why if carry is None else _refused(carry, graph, date)
    if not reason:
        night = _read_night(book, graph, date, hashes, carry)
        gp = carried_graph_phase(night, graph, date, carry, release_carry)
        reason = _past_refused(carry, night)
        if not reason:
            gp.carry_info = {"mode": "carried", "reason": "", "carried_from": carry.date.strftime("%Y-%m-%d")}
            return gp
    gp = full_graph_phase(_read_night(book, graph, date, hashes), graph, date)
    gp.carry_info = {"mode": "full", "reason": reason}
    return gp


def _read_night(book: Book, graph: GraphConfig, date: pd.Timestamp, hashes: Hashes,
                carry: Carry | None = None) -> _Night:
    """Tonight's book as both builds read it. With `carry` (accepted by `_refused`), only the
    identifier rows dated after its night are checked (`usable_rows` with the carried counts of
    the others; `_Night.rows`), unless the carried rows held an unknown kind (whose warning
    names row numbers)."""
    ident = book.identifiers
    rows = None
    if ident is None or len(ident) == 0:
        _, warnings, id_stats = clean_identifiers(None, graph, date)
        ident = _EMPTY_IDENT if ident is None else ident
        keep, kind_codes, kinds = np.zeros(len(ident), bool), np.zeros(len(ident), np.int32), []
    else:
        if carry is not None and carry.ident_counts and carry.ident_counts["unknown_kind"] == 0:
            rows = np.flatnonzero(~past_mask(ident, "identifiers", carry.date))
        keep, kind_codes, kinds, warnings, id_stats = usable_rows(
            ident, graph, date, rows, carry.ident_counts if rows is not None else None)
    accounts = book.accounts
    # Account rows known on the date, as a mask (no copy of the 12-month history frame).
    if "snapshot_date" in accounts.columns:
        a_known = accounts["snapshot_date"].to_numpy("datetime64[ns]") <= date.to_datetime64()
    else:
        a_known = np.ones(len(accounts), bool)
    return _Night(ident, accounts, keep, kind_codes, kinds, warnings, id_stats, a_known,
                  confirmed_on(book.fraud_labels, date), hashes, rows)


def _refused(carry: Carry, graph: GraphConfig, date: pd.Timestamp) -> str:
    """Why the carry cannot serve tonight, from its keys and night ("" when it can)."""
    if carry.key != state_key(graph):
        return "carried identifier graph was made with other graph keys"
    if carry.date > date:
        return f"carried identifier graph is of a later night ({carry.date:%Y-%m-%d})"
    return ""


def _past_refused(carry: Carry, night: _Night) -> str:
    """Why the carry cannot serve tonight's book: its past rows differ ("" when they do not)."""
    for name in ("identifiers", "accounts"):
        if night.hashes.digest(name, carry.date) != carry.digests.get(name):
            return (f"the {name} rows dated on or before {carry.date:%Y-%m-%d} differ from that night's "
                    "(history rewritten or late rows)")
    return ""


def _tonight_digests(night: _Night, date: pd.Timestamp) -> dict[str, str]:
    return {name: night.hashes.digest(name, date) for name in ("identifiers", "accounts")}


def full_graph_phase(night: _Night, graph: GraphConfig, date: pd.Timestamp) -> GraphPhase:
    """Everything from the whole book; also the carry for the next night."""
    ident, keep = night.ident, night.keep
    # One code space for customers, numbered in sorted id order, so joins become indexing.
    # Encoded on the whole columns, then narrowed to those customers.
    (ci_all, ca_all, cl_all), cust_dict = encode_arrow(ident["customer_id"], night.accounts["customer_id"],
                                                       night.labelled)
    n_dict = len(cust_dict)
    known_i = past_mask(ident, "identifiers", date)
    ident_acc = np.zeros(n_dict + 1, bool)  # slot -1: a missing id
    ident_acc[ci_all[keep]] = True
    ident_acc[ca_all[night.a_known]] = True
    appear = ident_acc.copy()
    appear[ci_all[known_i]] = True
    used = ident_acc.copy()
    used[cl_all] = True
    used[-1] = appear[-1] = ident_acc[-1] = False
    remap = (np.cumsum(used) - 1).astype(np.int32)
    remap[~used] = -1
    first_ns = _first_seen_ns(ident, ci_all, known_i, n_dict)
    customer_ids = to_object(cust_dict, np.flatnonzero(used[:-1]))
    vcode = value_groups(ident["value"], night.kind_codes, keep, key=night.vkey)
    ci = remap[ci_all]
    cg = link_codes(night.kind_codes, night.kinds, vcode, np.where(keep, ci, -1), customer_ids, graph)
    c_acc = np.where(night.a_known, remap[ca_all], -1)
    shown = appear[:-1]
    pos_of = np.where(shown, np.cumsum(shown) - 1, -1)
    multi = np.flatnonzero(vcode >= 0)
    fold = np.zeros(n_dict, np.uint64)
    fold[used[:-1]] = id_hash(customer_ids)
    only_shown = shown & ~used[:-1]
    fold[only_shown] = id_hash(to_object(cust_dict, np.flatnonzero(only_shown)))
    carry = _carry(night, graph, date, cust_dict.filter(pa.array(shown)), ident_acc[:-1][shown],
                   first_ns[:-1][shown], _link_rows(ident, night, multi, pos_of[ci_all[multi]]), fold[shown])
    carry_pos = pos_of[np.flatnonzero(used[:-1])]
    return GraphPhase(cg, customer_ids, remap[cl_all], _days(first_ns[:-1][used[:-1]]), night.warnings,
                      night.id_stats, lambda mask: c_acc[mask], carry, carry_pos=carry_pos,
                      n_account_rows=len(c_acc), id_hash=fold[used[:-1]])


def carried_graph_phase(night: _Night, graph: GraphConfig, date: pd.Timestamp, carry: Carry,
                        release_carry: bool = False) -> GraphPhase:
    """The same phase from `carry` (checked by `_refused`) and the rows dated after its night;
    `release_carry`: as `graph_phase`'s."""
    ident, accounts = night.ident, night.accounts
    past_i = past_mask(ident, "identifiers", carry.date)
    new_known = past_mask(ident, "identifiers", date) & ~past_i
    new_keep = night.keep & ~past_i
    new_acc = night.a_known & ~past_mask(accounts, "accounts", carry.date)
    r_known, r_acc, r_keep = np.flatnonzero(new_known), np.flatnonzero(new_acc), np.flatnonzero(new_keep)
    single = _matched_singles(night, new_keep, r_keep, past_i)
    night._vkey = None  # read (a build refused after the fact reads the night again)
    cid = to_arrow(ident["customer_id"])
    cc = _customer_codes(carry, [take_rows(cid, r_known), take_rows(accounts["customer_id"], r_acc),
                                 to_arrow(night.labelled), take_rows(cid, single)])
    c_known, c_acc_new, lab_codes, c_single = cc.codes
    n = len(cc.ids)
    ident_acc = np.zeros(n, bool)
    ident_acc[cc.at_old] = carry.customers["used"].to_numpy(bool)
    first_ns = np.full(n, _NAT, np.int64)
    first_ns[cc.at_old] = carry.customers["first_seen"].to_numpy(np.int64)
    fold = np.zeros(n, np.uint64)
    fresh = np.ones(n, bool)
    fresh[cc.at_old] = False
    fold[cc.at_old] = carry.customers["id_hash"].to_numpy(np.uint64)
    if release_carry:
        carry.customers = None
    fold[fresh] = id_hash(cc.objects[fresh])
    c_keep = c_known[new_keep[r_known]]
    for c in (c_keep, c_acc_new):
        ident_acc[c[c >= 0]] = True
    appear = ident_acc.copy()
    appear[cc.at_old] = True
    appear[c_known[c_known >= 0]] = True
    _min_first_seen(first_ns, c_known, ident, r_known)
    used = ident_acc.copy()
    used[lab_codes[lab_codes >= 0]] = True
    remap = np.r_[(np.cumsum(used) - 1).astype(np.int32), -1]  # last slot: a missing id
    remap[:-1][~used] = -1
    customer_ids = cc.objects[used]
    cc.objects = None  # every customer's id as a Python string (3.4M at 1M accounts): those used kept
    order = np.argsort(np.r_[r_keep, single], kind="stable")
    rows, row_codes = np.r_[r_keep, single][order], remap[np.r_[c_keep, c_single]][order]
    cg, link_rows = _carried_links(night, graph, carry, rows, row_codes, customer_ids, remap[cc.at_old],
                                   release_carry)
    carry_pos = np.where(appear, np.cumsum(appear) - 1, -1)
    used_pos = carry_pos[np.flatnonzero(used)]
    links = link_rows.assign(cust_pos=used_pos[link_rows["cust_pos"].to_numpy()])
    out = _carry(night, graph, date, cc.ids.filter(pa.array(appear)), ident_acc[appear], first_ns[appear], links,
                 fold[appear], carry)
    return GraphPhase(cg, customer_ids, remap[lab_codes], _days(first_ns[used]), night.warnings,
                      night.id_stats, _acc_cust(night, r_acc, remap[c_acc_new], cc.ids, remap), out,
                      carry_pos=used_pos, old_code=remap[cc.at_old], n_account_rows=len(accounts), id_hash=fold[used])


def _matched_singles(night: _Night, new_keep: np.ndarray, rows: np.ndarray, past_i: np.ndarray) -> np.ndarray:
    """Usable past rows whose value key is one of tonight's rows', and whose value no other past
    row holds (the values of two or more past rows are in the carried links already)."""
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    hit = pc.is_in(pa.array(night.vkey), value_set=pa.array(np.unique(night.vkey[rows])))
    if night.rows is None:
        past = np.flatnonzero(hit.to_numpy(zero_copy_only=False) & night.keep & ~new_keep)
    else:  # only the rows after the carry's night were checked: check the past rows hit here
        past = np.flatnonzero(hit.to_numpy(zero_copy_only=False) & past_i)
        past = past[usable_at(night.ident, night.kind_codes, past)]
    if len(past) == 0:
        return past
    vg = value_groups(take_rows(night.ident["value"], past), night.kind_codes[past],
                      np.ones(len(past), bool))
    return past[vg < 0]


@dataclass
class _Codes:
    ids: pa.Array            # tonight's customers known to the carry, sorted
    objects: np.ndarray      # the same as Python strings
    at_old: np.ndarray       # position of each carried customer in `ids`
    codes: list[np.ndarray]  # position in `ids` of each value of each column (-1: missing)


def _customer_codes(carry: Carry, columns: list) -> _Codes:
    """The carried customers and the new ones among `columns` (tonight's rows), merged in
    sorted order, and each column value's position: one hash look-up against the carried ids."""
    old = to_arrow(carry.customers["customer_id"]).combine_chunks().cast(pa.large_string())
    every = pa.chunked_array([ch for col in columns for ch in col.chunks], pa.large_string())
    idx = pc.index_in(every, value_set=old).to_numpy(zero_copy_only=False)
    miss = np.isnan(idx) if idx.dtype.kind == "f" else np.zeros(len(idx), bool)
    idx = np.where(miss, -1, idx).astype(np.int64)
    absent = every.filter(pa.array(miss))
    fresh = pc.drop_null(pc.unique(absent)) if len(absent) else pa.array([], pa.large_string())
    fresh = fresh.take(pc.array_sort_indices(fresh))
    old_obj = to_object(old)
    pos = np.searchsorted(old_obj, to_object(fresh)) if len(fresh) else np.zeros(0, np.int64)
    at_new = pos + np.arange(len(fresh))
    at_old = np.arange(len(old)) + np.searchsorted(pos, np.arange(len(old)), side="right")
    objects = np.insert(old_obj, pos, to_object(fresh)) if len(fresh) else old_obj
    order = np.empty(len(objects), np.int64)
    order[at_old] = np.arange(len(old))
    order[at_new] = len(old) + np.arange(len(fresh))
    ids = pa.concat_arrays([old, fresh.cast(pa.large_string())]).take(pa.array(order)) if len(fresh) else old
    code = np.full(len(idx), -1, np.int64)
    code[idx >= 0] = at_old[idx[idx >= 0]]
    if len(fresh) and miss.any():
        f = pc.fill_null(pc.index_in(absent, value_set=fresh), -1).to_numpy(zero_copy_only=False).astype(np.int64)
        found = np.full(len(f), -1, np.int64)
        found[f >= 0] = at_new[f[f >= 0]]
        code[miss] = found
    cuts = np.cumsum([0, *(len(c) for c in columns)])
    return _Codes(ids, objects, at_old, [code[cuts[i]:cuts[i + 1]] for i in range(len(columns))])


def _acc_cust(night: _Night, r_acc: np.ndarray, c_new: np.ndarray, ids: pa.Array, remap: np.ndarray):
    """acc_cust of `GraphPhase` on the carried way: tonight's account rows are coded already;
    other rows (only asked for when the account aggregates are not carried) are looked up."""
    a_known, accounts = night.a_known, night.accounts
    new = np.zeros(len(a_known), bool)
    new[r_acc] = True
    full = np.full(len(a_known), -1, np.int32)
    full[r_acc] = c_new

    def acc_cust(mask: np.ndarray) -> np.ndarray:
        if not (mask & a_known & ~new).any():
            return full[mask]
        out = full[mask].copy()
        rest = mask & a_known & ~new
        code = pc.fill_null(pc.index_in(to_arrow(accounts["customer_id"]).filter(pa.array(rest)), value_set=ids), -1)
        out[rest[mask]] = remap[code.to_numpy(zero_copy_only=False).astype(np.int64)]
        return out

    return acc_cust


def _carried_links(night: _Night, graph: GraphConfig, carry: Carry, rows: np.ndarray, row_codes: np.ndarray,
                   customer_ids: np.ndarray, old_code: np.ndarray,
                   release_carry: bool = False) -> tuple[CustomerGraph, pd.DataFrame]:
    """The graph from the candidate rows (module doc of `carry`): the carried link rows and the
    identifier `rows` (tonight's usable rows and `_matched_singles`; `row_codes`: their
    customers' codes; `old_code`: tonight's code of each carried customer); and tonight's link
    rows for the next carry (`cust_pos`: the customer's code, for the caller to turn into a
    row of the carried customers). `release_carry`: `carry.links` let go of once read, before
    the pairs are made."""
    ident, kinds = night.ident, night.kinds
    links = carry.links
    kind_of = {k: i for i, k in enumerate(kinds)}
    (lk,), lk_levels = encode_arrow(links["kind"], sort=False)
    lk_map = np.array([kind_of.get(str(k), -1) for k in lk_levels.to_pylist()] + [-1], np.int32)
    values = pa.chunked_array([*to_arrow(links["value"]).chunks, *take_rows(ident["value"], rows).chunks],
                              pa.large_string())
    kind_codes = np.r_[lk_map[lk], night.kind_codes[rows]].astype(np.int32)
    vcode = value_groups(values, kind_codes, kind_codes >= 0)
    pos = links["cust_pos"].to_numpy(np.int64)
    codes = np.r_[old_code[pos], np.asarray(row_codes, np.int64)]  # (check_carry: every pos >= 0)
    multi = np.flatnonzero(vcode >= 0)
    kind_names = pa.array(kinds, pa.large_string()).take(pa.array(kind_codes[multi]))
    out = pd.DataFrame({"cust_pos": codes[multi], "kind": pd.Categorical(pd.array(kind_names, dtype="str")),
                        "value": pd.array(take_rows(values, multi), dtype="str")})
    del values, links, lk, pos
    if release_carry:
        carry.links = None
    return link_codes(kind_codes, kinds, vcode, codes, customer_ids, graph), out


def _link_rows(ident: pd.DataFrame, night: _Night, rows: np.ndarray, cust_pos: np.ndarray) -> pd.DataFrame:
    kinds = pa.array(night.kinds, pa.large_string()).take(pa.array(night.kind_codes[rows]))
    return pd.DataFrame({"cust_pos": cust_pos.astype(np.int64), "kind": pd.Categorical(pd.array(kinds, dtype="str")),
                         "value": pd.array(take_rows(ident["value"], rows), dtype="str")})


def _carry(night: _Night, graph: GraphConfig, date: pd.Timestamp, ids: pa.Array, ident_acc: np.ndarray,
           first_ns: np.ndarray, links: pd.DataFrame, fold: np.ndarray, carried: Carry | None = None) -> Carry:
    customers = pd.DataFrame({"customer_id": pd.array(ids, dtype="str") if len(ids) else pd.Series([], dtype="str"),
                              "used": np.asarray(ident_acc, bool), "first_seen": np.asarray(first_ns, np.int64),
                              "id_hash": np.asarray(fold, np.uint64)})
    return Carry(pd.Timestamp(date), state_key(graph), _tonight_digests(night, date), customers, links,
                 ident_counts=_ident_counts(night, date, carried))


def _ident_counts(night: _Night, date: pd.Timestamp, carried: Carry | None) -> dict[str, int]:
    """`usable_rows`' counts (carry.IDENT_COUNTS) of the identifier rows dated on or before
    `date`: over the whole table, or the carried ones plus those of the rows checked tonight."""
    known = past_mask(night.ident, "identifiers", date)
    at = np.flatnonzero(known) if night.rows is None else night.rows[known[night.rows]]
    kind_ok, keep = night.kind_codes[at] >= 0, night.keep[at]
    out = {"rows": len(at), "unknown_kind": int((~kind_ok).sum()), "empty": int((kind_ok & ~keep).sum()),
           "used": int(keep.sum())}
    if night.rows is not None:
        out = {k: v + int(carried.ident_counts[k]) for k, v in out.items()}
    return out


def _min_first_seen(first_ns: np.ndarray, codes: np.ndarray, ident: pd.DataFrame, rows: np.ndarray) -> None:
    if "first_seen" not in ident.columns or len(rows) == 0:
        return
    seen = ident["first_seen"].to_numpy("datetime64[ns]").view(np.int64)[rows]
    ok = (seen != _NAT) & (codes >= 0)
    best = np.where(first_ns == _NAT, np.iinfo(np.int64).max, first_ns)
    np.minimum.at(best, codes[ok], seen[ok])
    first_ns[:] = np.where(best == np.iinfo(np.int64).max, _NAT, best)


def _first_seen_ns(ident: pd.DataFrame, codes: np.ndarray, known: np.ndarray, n: int) -> np.ndarray:
    """Earliest identifier first_seen (int64 ns, the smallest int64: none) per customer code of
    the dictionary, over the rows known on the night."""
    out = np.full(n + 1, _NAT, np.int64)
    if "first_seen" not in ident.columns or len(ident) == 0:
        return out
    seen = ident["first_seen"].to_numpy("datetime64[ns]").view(np.int64)
    ok = known & (seen != _NAT) & (codes >= 0)
    best = np.full(n + 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(best, codes[ok], seen[ok])
    out[best != np.iinfo(np.int64).max] = best[best != np.iinfo(np.int64).max]
    return out


def _days(first_ns: np.ndarray) -> np.ndarray:
    """Day numbers (NaN: none), as `detect` used them."""
    out = np.full(len(first_ns), np.nan)
    ok = first_ns != _NAT
    out[ok] = first_ns[ok] / _DAY_NS
    return out
