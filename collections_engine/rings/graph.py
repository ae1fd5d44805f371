"""The customer-identifier graph, projected to a weighted customer-customer graph.

Pure steps: `clean_identifiers` (what is usable on the snapshot date) and `link_customers`
(who is linked to whom, and how strongly).

Weights. A value (kind, value) held by n distinct customers, 2 <= n <= hub_max_customers,
links them; n > hub_max_customers links nobody (a call-centre phone, an office address); n = 1
links nobody either (a customer linked only to itself). Every member receives a total link
strength of `kinds[kind]` from the value, spread evenly over the others (Newman's
collaboration weighting of a bipartite projection): each pair of a clique weighs
`kinds[kind] / (n - 1)`, so a phone shared by two customers weighs 1.0 per pair and one
shared by fifty weighs 0.02 per pair. Pairs linked by several values add up.

Projection without quadratic blow-up. A value with n <= CLIQUE_MAX_DEGREE + 1 members becomes
a clique (at most 136 pairs); a larger one (only when hubs are allowed to be large) becomes a
circulant graph: members in customer-id order, each linked to the CIRCULANT_HALF_DEGREE next
ones around the circle, each pair weighing `kinds[kind] / (2 * CIRCULANT_HALF_DEGREE)` so
every member keeps the strength `kinds[kind]`. The circulant is connected, symmetric (no member
is a centre, unlike a star, which would make one arbitrary member a hub) and has n * 8 pairs,
so the number of pairs is at most 8 per identifier row whatever the value sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.frames import run_heads
from collections_engine.codes import category_codes, encode, encode_arrow, to_arrow, to_object
from collections_engine.rings.codes import dense, fingerprints, take_rows

__all__ = [
    "CLIQUE_MAX_DEGREE", "CIRCULANT_HALF_DEGREE", "CustomerGraph",
    "clean_identifiers", "link_codes", "link_customers", "sorted_linking_groups", "usable_at", "usable_rows",
    "value_groups",
]

CLIQUE_MAX_DEGREE = 16
CIRCULANT_HALF_DEGREE = CLIQUE_MAX_DEGREE // 2


@dataclass(frozen=True)
class CustomerGraph:
    """Linked customers (node i is `customers[i]`, sorted) and weighted undirected edges u < v.

    `shared` holds one row per (node, kind, value group) of every linking value, for evidence.
    """

    customers: np.ndarray
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    shared: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)
    codes: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # customer codes

    @property
    def n_nodes(self) -> int:
        return len(self.customers)


def clean_identifiers(
    identifiers: pd.DataFrame | None, graph: GraphConfig, date: pd.Timestamp
) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """The identifier rows usable on `date`: (customer_id, kind, value), one row each.

    Drops rows with an empty customer or value and rows first seen after `date` (a missing
    `first_seen` counts as known); duplicates are dropped (and counted) by `link_customers`. Unknown kinds: ignored with a warning, or an
    InputError naming every unknown kind and its first row numbers (`unknown_kinds: error`).
    Returns the rows, the warnings and counts of what was dropped.
    """
    cols = ["customer_id", "kind", "value"]
    if identifiers is None or len(identifiers) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in cols}), [], {"rows": 0}
    keep, kind_codes, kinds, warnings, stats = usable_rows(identifiers, graph, date)
    rows = np.flatnonzero(keep)
    take = pa.array(rows)
    out = pd.DataFrame({
        "customer_id": pd.array(to_arrow(identifiers["customer_id"]).take(take), dtype="str"),
        "kind": pd.array(pa.array(kinds, pa.large_string()).take(pa.array(kind_codes[rows])), dtype="str"),
        "value": pd.array(to_arrow(identifiers["value"]).take(take), dtype="str"),
    })
    return out, warnings, stats


def usable_rows(
    identifiers: pd.DataFrame, graph: GraphConfig, date: pd.Timestamp, rows: np.ndarray | None = None,
    others: dict[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], dict[str, int]]:
    """What `clean_identifiers` keeps, without building the frame: the row mask, every row's
    kind code into the sorted list of the graph kinds present (blanks around a kind removed;
    -1: unknown or missing), that list, the warnings and the counts.

    Vectorised on the Arrow columns: the few distinct kinds are stripped and checked once, not
    per row; a value or customer is empty when it is missing, "" or only whitespace.

    `rows` (sorted row numbers): only those rows are checked (the mask is False elsewhere); the
    kind codes are every row's; `others`: what the other rows count (`unknown_kind`, `empty`,
    `used`; none of them of an unknown kind, and none dated after `date`), added to the counts
    and the warnings, so both are the whole table's. A carried night checks only the rows dated
    after the carry's night (`graph_phase`), whose past counts it carries.
    """
    if rows is not None and (others is None or others.get("unknown_kind", 0)):
        raise ValueError("usable_rows: rows without the other rows' counts, or with unknown kinds among them")
    df = identifiers
    warnings: list[str] = []
    stats = {"rows": len(df)}
    cat = category_codes(df["kind"])
    if cat is not None:  # a categorical column: its codes and categories as they are
        raw, uniq = cat
        raw = np.where(raw < 0, len(uniq), raw)
    else:
        enc = pc.dictionary_encode(to_arrow(df["kind"])).combine_chunks()
        uniq = enc.dictionary.to_pylist()
        ind = enc.indices
        raw = (pc.fill_null(ind, len(uniq)) if ind.null_count else ind).to_numpy()
    stripped = [u.strip() for u in uniq]
    kinds = sorted({k for k in stripped if k in graph.kinds})
    code_of = np.array([kinds.index(k) if k in graph.kinds else -1 for k in stripped] + [-1], np.int32)
    kind_codes = code_of[raw]  # the last entry of code_of: a missing kind
    known = kind_codes >= 0 if rows is None else (kind_codes >= 0)[rows]
    if not known.all():
        bad_rows = np.flatnonzero(~known) if rows is None else rows[~known]
        bad_kind = np.asarray(stripped + [None], dtype=object)[raw[bad_rows]]  # missing: not listed
        bad = pd.DataFrame({"kind": bad_kind, "row": np.asarray(bad_rows) + 1})
        problems = []
        for k, at in bad.groupby("kind", sort=True)["row"]:
            first = ", ".join(str(r) for r in at.head(5))
            more = f" and {len(at) - 5} more" if len(at) > 5 else ""
            problems.append(
                f"identifiers.kind: unknown kind {k!r} in {len(at)} row(s) (rows {first}{more}); "
                f"expected one of the graph file's kinds: {', '.join(sorted(graph.kinds))}"
            )
        if graph.unknown_kinds == "error":
            raise InputError("identifiers", problems)
        warnings += [p + "; ignored" for p in problems]
    stats["unknown_kind"] = int((~known).sum())
    add = others if rows is not None else {}

    if rows is None:
        empty = _blank(df["value"]) | _blank(df["customer_id"])
    else:
        empty = _blank(take_rows(df["value"], rows)) | _blank(take_rows(df["customer_id"], rows))
    stats["empty"] = int((empty & known).sum()) + add.get("empty", 0)
    if stats["empty"]:
        warnings.append(f"identifiers: {stats['empty']} row(s) with an empty value or customer_id ignored")
    keep = known & ~empty
    if "first_seen" in df.columns:
        first_seen = pd.to_datetime(df["first_seen"]).to_numpy("datetime64[ns]")
        first_seen = first_seen if rows is None else first_seen[rows]
        late = ~np.isnat(first_seen) & (first_seen > np.datetime64(pd.Timestamp(date).to_datetime64(), "ns"))
        stats["not_yet_seen"] = int((late & keep).sum())
        keep &= ~late
    stats["used"] = int(keep.sum()) + add.get("used", 0)
    if rows is not None:
        keep = _on(keep, rows, len(df))
    return keep, kind_codes, kinds, warnings, stats


def usable_at(identifiers: pd.DataFrame, kind_codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per row of `rows` (row numbers, known on the night): usable as `usable_rows` decides, a
    known kind and neither the value nor the customer empty."""
    rows = np.asarray(rows, np.int64)
    if len(rows) == 0:
        return np.zeros(0, bool)
    ok = kind_codes[rows] >= 0
    return ok & ~(_blank(take_rows(identifiers["value"], rows)) | _blank(take_rows(identifiers["customer_id"], rows)))


def _on(sub: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """A mask of n rows, True at the `rows` where `sub` is."""
    out = np.zeros(n, bool)
    out[rows[sub]] = True
    return out


def value_groups(values: pd.Series, kind_codes: np.ndarray, keep: np.ndarray,
                 key: np.ndarray | None = None, key_bits: int | None = None) -> np.ndarray:
    """Per row, a code shared by exactly the kept rows of the same kind and value; -1 for rows
    not kept and for a value on a single row (it links nobody). Feeds `link_codes`. Codes are
    numbered by the value's first row, then by kind.

    On the 1M book there are 19.5M rows and some 17M distinct values (a customer's own phone,
    device, e-mail), of which only the 16% of rows holding a shared value matter. A 64-bit
    fingerprint of each string (`codes.fingerprints`, read from the Arrow buffers) finds the
    rows whose (kind, fingerprint) repeats (`_repeated`); only those are dictionary-encoded, so
    the result is exact (a fingerprint collision only adds a candidate that the exact codes
    then drop). `key_bits`: how many high bits of the key the pre-filter compares (None: all
    but those a row position needs; fewer only add candidates, for tests; 0: every kept row).
    """
    out = np.full(len(kind_codes), -1, np.int32)
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        return out
    if key is not None:  # the caller's: fingerprints(values) + kind_codes * 0x9E3779B97F4A7C15
        key = key[rows]
    else:
        key = kind_codes[rows].astype(np.uint64)
        key *= np.uint64(0x9E3779B97F4A7C15)
        key += fingerprints(values)[rows]
    cand = rows[_repeated(key, key_bits)]
    del key
    if len(cand) == 0:
        return out
    (vcode,), _ = encode_arrow(take_rows(values, cand), sort=False)
    n_kinds = int(kind_codes[cand].max()) + 1
    code = dense(vcode.astype(np.int64) * n_kinds + kind_codes[cand])
    multi = np.bincount(code)[code] >= 2
    out[cand[multi]] = dense(code[multi])  # numbered without the candidates a collision added
    return out


def _repeated(key: np.ndarray, key_bits: int | None = None) -> np.ndarray:
    """Positions (increasing) of the keys (uint64, overwritten) whose high bits repeat: at least
    every key that repeats. One sort of the keys with their positions packed into the low bits
    (numpy's vectorised sort: a tenth of an argsort's time on 19.5M keys, and no permutation
    array to gather through)."""
    n = len(key)
    if key_bits == 0:
        return np.arange(n)
    pos_bits = max(int(n - 1).bit_length(), 1)
    if not pos_bits < 48:
        raise ValueError(f"value_groups: {n} rows; at most 2**48 expected")
    drop = max(pos_bits, 64 - key_bits if key_bits is not None else 0)
    key >>= np.uint64(drop)
    key <<= np.uint64(drop)
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    same = (key[1:] ^ key[:-1]) < np.uint64(1 << drop)  # equal high bits
    hit = np.zeros(n, bool)
    hit[:-1] = same
    hit[1:] |= same
    del same
    key &= np.uint64((1 << drop) - 1)
    pos = key[hit].astype(np.int64)
    pos.sort()
    return pos


def _blank(col: pd.Series) -> np.ndarray:
    """Missing, "" or only whitespace, per row (checked once per run of equal rows)."""
    parts = []
    for ch in to_arrow(col).chunks:
        heads = run_heads(ch)
        a = ch if heads is None else ch.filter(pa.array(heads))
        blank = _blank_chunk(a)
        parts.append(blank if heads is None else blank[np.cumsum(heads, dtype=np.int32) - 1])
    return np.concatenate(parts) if parts else np.zeros(0, bool)


# Bytes a whitespace-only UTF-8 string can start with: ASCII blanks and any non-ASCII lead byte.
_MAY_START_BLANK = np.zeros(256, bool)
_MAY_START_BLANK[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_MAY_START_BLANK[128:] = True


def _blank_chunk(a: pa.Array) -> np.ndarray:
    """Missing, "" or only whitespace. From the buffers: lengths from the offsets, and Arrow's
    utf8_is_space only on the strings whose first byte could start a blank string."""
    n = len(a)
    blank = np.zeros(n, bool)
    if n == 0:
        return blank
    bufs = a.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1, offset=a.offset * 8)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    length = np.diff(off)
    blank[length == 0] = True
    has = np.flatnonzero(length > 0)
    maybe = has[_MAY_START_BLANK[data[off[:-1][has]]]]
    if len(maybe):
        sp = pc.utf8_is_space(a.take(pa.array(maybe)))
        blank[maybe] = pc.fill_null(sp, False).to_numpy(zero_copy_only=False).astype(bool)
    if a.null_count:
        blank |= ~a.is_valid().to_numpy(zero_copy_only=False)
    return blank


def _empty_graph() -> CustomerGraph:
    empty_shared = pd.DataFrame({"node": np.array([], np.int64), "kind": pd.Series([], dtype="str"),
                                 "group": np.array([], np.int64)})
    return CustomerGraph(np.array([], dtype=object), np.array([], np.int64), np.array([], np.int64),
                         np.array([], np.float64), empty_shared,
                         {"edges": 0, "hub_values": 0, "duplicates": 0}, np.array([], np.int64))


def link_customers(
    clean: pd.DataFrame, graph: GraphConfig, *,
    customer_codes: np.ndarray | None = None, customer_ids: np.ndarray | None = None,
) -> CustomerGraph:
    """Project clean identifier rows to the weighted customer-customer graph (see module doc).

    `customer_codes` (one per row, into the sorted `customer_ids`) may be given when the caller
    has already encoded customers; otherwise they are computed here.
    """
    if len(clean) == 0:
        return _empty_graph()
    if customer_codes is None or customer_ids is None:
        (customer_codes,), customer_ids = encode(clean["customer_id"])
    (kind_codes,), kinds = encode(clean["kind"])
    (vcode,), _ = encode_arrow(clean["value"], sort=False)
    return link_codes(kind_codes, list(kinds), vcode, customer_codes, customer_ids, graph)


def link_codes(kind_codes: np.ndarray, kinds: list[str], vcode: np.ndarray, customer_codes: np.ndarray,
               customer_ids: np.ndarray, graph: GraphConfig) -> CustomerGraph:
    """`link_customers` on integer codes, one per clean row: the kind (into `kinds`), the value
    (any numbering: groups do not depend on it, and nothing below depends on it either, see
    the sum at the end) and the customer (into the sorted `customer_ids`). Rows with a code -1
    (not usable) are ignored. Phases: the linking groups (`_linking_groups`), their pairs
    (`_group_pairs`), the pairs summed per customer pair (`_sum_pairs`)."""
    ok = (kind_codes >= 0) & (vcode >= 0) & (customer_codes >= 0)
    if len(ok) == 0 or not ok.any():
        return _empty_graph()
    lg = _linking_groups(kind_codes, vcode, customer_codes, ok, graph.hub_max_customers)
    kind_w = np.array([graph.kinds[x] for x in kinds], np.float64)[lg.k]
    nodes, keys, nn, w, remap = _sum_pairs(_group_pairs(lg.c, lg.group, lg.n, kind_w), lg.c)
    k, c, group = lg.k, lg.c, lg.group
    kind_col = pa.array(list(kinds), pa.large_string()).take(pa.array(k)) if len(k) else pa.array([], pa.large_string())
    shared = pd.DataFrame({"node": remap[c], "kind": pd.array(kind_col, dtype="str"),
                           "group": group.astype(np.int64)})
    stats = {"edges": int(len(keys)), "hub_values": int(lg.hub.sum()),
             "hub_rows": int(lg.sizes[lg.hub].sum()), "linking_values": int(group.max() + 1 if len(group) else 0),
             "linked_customers": int(len(nodes)), "duplicates": lg.n_dup}
    customers = (to_object(customer_ids, nodes) if isinstance(customer_ids, pa.Array)
                 else np.asarray(customer_ids, dtype=object)[nodes])
    return CustomerGraph(customers, keys // nn, keys % nn, w, shared, stats, nodes)


@dataclass
class _LinkingGroups:
    """The rows of linking values sorted by (kind, value, customer), duplicates dropped: kind
    `k`, customer `c`, dense `group` and its size `n` per row; all values' sizes and hubs."""

    k: np.ndarray
    c: np.ndarray
    group: np.ndarray
    n: np.ndarray
    sizes: np.ndarray
    hub: np.ndarray
    n_dup: int


def sorted_linking_groups(k: np.ndarray, h: np.ndarray, c: np.ndarray, hub_max: int) -> tuple[_LinkingGroups, np.ndarray]:
    """On rows sorted by (kind k, value h, customer c): the linking groups (a customer's repeats
    within a (kind, value) group dropped, n distinct customers, 2 <= n <= hub_max, groups
    numbered densely) and which of the sorted rows they keep (used in process and by the Spark
    engine's groups per partition)."""
    new_group = np.ones(len(k), bool)
    new_group[1:] = (k[1:] != k[:-1]) | (h[1:] != h[:-1])
    dup = np.zeros(len(k), bool)
    dup[1:] = ~new_group[1:] & (c[1:] == c[:-1])
    kept = np.flatnonzero(~dup)
    k, c, new_group = k[kept], c[kept], new_group[kept]
    group = np.cumsum(new_group) - 1
    sizes = np.bincount(group)
    n = sizes[group]
    linking = (n >= 2) & (n <= hub_max)
    k, c, group, n = k[linking], c[linking], group[linking], n[linking]
    # Renumber linking groups densely.
    group = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1 if len(group) else group
    return _LinkingGroups(k, c, group, n, sizes, sizes > hub_max, int(dup.sum())), kept[linking]


def _linking_groups(kind_codes: np.ndarray, vcode: np.ndarray, customer_codes: np.ndarray, ok: np.ndarray,
                    hub_max: int) -> _LinkingGroups:
    # A value on one row links nobody whatever its kind: most rows (own phone, device, email)
    # leave before the sort.
    vcount = np.bincount(vcode[ok], minlength=int(vcode.max()) + 1)
    rows = np.flatnonzero(ok & (vcount[np.maximum(vcode, 0)] >= 2))
    kind_codes, vcode = np.asarray(kind_codes)[rows].astype(np.int64), np.asarray(vcode)[rows].astype(np.int64)
    customer_codes = np.asarray(customer_codes)[rows].astype(np.int64)
    # Sort by (kind, value, customer): one int64 key when it fits (an argsort is ~10x faster
    # than a three-key lexsort on millions of rows).
    n_k, n_v, n_c = int(kind_codes.max(initial=0)) + 1, int(vcode.max(initial=0)) + 1, int(customer_codes.max(initial=0)) + 1
    if n_k * n_v * n_c < 2**62:
        order = np.argsort((kind_codes * n_v + vcode) * n_c + customer_codes)
    else:
        order = np.lexsort((customer_codes, vcode, kind_codes))
    return sorted_linking_groups(kind_codes[order], vcode[order], customer_codes[order], hub_max)[0]


def _group_pairs(c: np.ndarray, group: np.ndarray, n: np.ndarray, kind_w: np.ndarray) -> list[np.ndarray]:
    """Each linking group's pairs (a clique, or the circulant of a large group) and weights:
    [first ends, second ends, weights], a list `_sum_pairs` empties as it reads it (memory
    only: the pairs are the largest arrays of the graph phase)."""
    idx = np.arange(len(group))
    start = np.zeros(len(group), np.int64)
    if len(group):
        first = np.ones(len(group), bool)
        first[1:] = group[1:] != group[:-1]
        start = np.maximum.accumulate(np.where(first, idx, 0))
    pos = idx - start
    us, vs, ws = [], [], []
    clique = n <= CLIQUE_MAX_DEGREE + 1
    for d in range(1, CLIQUE_MAX_DEGREE + 1):
        sel = np.flatnonzero(clique & (pos + d < n))
        us.append(c[sel]); vs.append(c[sel + d]); ws.append(kind_w[sel] / (n[sel] - 1))
        if d <= CIRCULANT_HALF_DEGREE:
            sel = np.flatnonzero(~clique)
            partner = start[sel] + (pos[sel] + d) % n[sel]
            us.append(c[sel]); vs.append(c[partner])
            ws.append(kind_w[sel] / (2 * CIRCULANT_HALF_DEGREE))
    out = []
    for parts in (us, vs, ws):  # each list let go of once joined
        out.append(np.concatenate(parts))
        parts.clear()
    return out


def _sum_pairs(pairs: list[np.ndarray], c: np.ndarray):
    """Nodes (linked customers' codes), the pair keys lo * nn + hi over node numbers, nn, the
    summed weights, and the customer code -> node map, of `_group_pairs`' `pairs` (emptied)."""
    a, b, wt = pairs
    pairs.clear()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    del a, b
    # Re-index nodes to linked customers only (ascending customer code = sorted ids).
    nodes = np.flatnonzero(np.bincount(c)) if len(c) else c
    remap = np.full(int(c.max()) + 1 if len(c) else 0, -1, np.int64)
    remap[nodes] = np.arange(len(nodes))
    lo, hi = remap[lo], remap[hi]
    nn = np.int64(max(len(nodes), 1))
    key = lo * nn + hi
    del lo, hi
    # Sum each pair's weights in a fixed order (by key, then weight): the same bits whatever
    # the input row order.
    o = np.argsort(key)
    key = key[o]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    # Pairs linked by several values (a minority) have their weights put in increasing order.
    multi = np.flatnonzero(~first | np.r_[first[1:] == 0, False]) if len(key) else first
    if len(multi):
        o[multi] = o[multi][np.lexsort((wt[o[multi]], key[multi]))]
    wt = wt[o]
    first_ix = np.flatnonzero(first)
    w = np.add.reduceat(wt, first_ix) if len(wt) else wt
    return nodes, key[first_ix], nn, w, remap
