"""Communities of the customer graph with python-igraph, deterministic and connected.

Per-component modularity, one Leiden call per component. Modularity compares a community's
internal weight with what a random graph of the same degrees would give, and the null model
uses the total weight m of the graph: on a book with a million customers in many small
components, m is so large that any link between two small rings is "worth" merging them (the
resolution limit). Running modularity per connected component fixes that. Leiden's CPM quality
sum_ij (A_ij - gamma * n_i * n_j) [same community] with node weights n_i = k_i / sqrt(2 m_c)
(k_i the node's strength, 2 m_c its component's total strength) equals the component's own
modularity at resolution gamma times 2 m_c. With `objective: CPM` the plain CPM (node weights
1) is used; it has no resolution limit anyway. `method: louvain` (igraph's multilevel,
modularity only) runs component by component too.

One call per component (and per community in the refinement), each with igraph's generator
seeded afresh, so a component's communities depend on that component alone: not on the rest of
the graph, the batching, the process that computes it (`parallel` deals components out to
forked processes), an incremental night's recompute of it or a Spark part holding it. Until
session 10 one call covered the whole graph, where Leiden's random node order made every
component's result depend on every other one (docs/notes/issue-17-first.md).

Determinism: igraph draws from Python's `random` through `set_random_number_generator`; a
dedicated `random.Random(seed)` is installed for the calls and the default restored after.
Nodes and edges arrive sorted, so the same input gives the same communities.

Every community is finally split into its connected parts (Louvain can produce disconnected
ones; Leiden should not, and the split costs one linear pass), so no flagged ring is ever
disconnected.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from contextlib import contextmanager

import igraph as ig
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from collections_engine.config.graph import Community
from collections_engine.codes import is_sorted
from collections_engine.rings.codes import dense, sorted_unique, unique_inverse

__all__ = ["MAX_CROSS_SHARE", "MIN_LINK_STRENGTH", "REFINE_ABOVE", "by_smallest_node", "communities_and_leiden", "components", "merge_entangled", "find_communities", "seeded_igraph", "trim_weak_members"]

# The constants below are the defaults of the graph keys `community.trim_min_strong_members`,
# `trim_min_strength`, `merge_cross_share`, `merge_mutual_share`, `refine_above` and `iterations`
# (config/graph.py; a test checks they agree); why these values: the comments here.
# A member tied to the rest of its community through a single neighbour must be tied with at
# least this link strength (in kind-weight units: a device or phone shared by two gives 1.0,
# an address shared by two 0.5); weaker pendants (a relative sharing one household address
# with a ring member) are left out of the ring. In a community with at least
# MIN_STRONG_MEMBERS members at or above it, every weaker member is peeled (co-workers of a ring
# member through an employer, a household of three hanging on a ring member), while a ring
# linked only by one shared address (every member at 0.5) keeps everyone.
MIN_STRONG_MEMBERS = 2
MIN_LINK_STRENGTH = 0.6
# Neighbouring communities are merged when more than this share of their combined link weight
# runs between them: per-component modularity otherwise cuts sparse rings into pieces (a
# component kept whole scores Q = 0, so any structure inside it is split off).
MAX_CROSS_SHARE = 0.1
# ... and only when those cross links are at least this share of the outside links of the
# less-linked of the two (LFR-style mixing spreads outside links over many communities).
MUTUAL_SHARE = 0.25
# Communities larger than this (the largest ring we expect) are split again by modularity of
# their own subgraph: inside a giant component (employers tie thousands of customers together)
# per-component modularity has the resolution limit again and puts a ring of 6 sharing one
# device into one community with 100 co-workers, where trimming then loses it.
REFINE_ABOVE = 30
# Leiden passes: 2, where igraph's default is 2 as well; each pass costs about as much as the
# first on a large graph, and 4 passes found the same planted rings on generated books with the
# same LFR NMI, "until stable" (-1) far longer for no measurable gain (measured: docs/notes/issue-10.md).
LEIDEN_ITERATIONS = 2


@contextmanager
def seeded_igraph(seed: int) -> Iterator[None]:
    """igraph's randomness from `random.Random(seed)` inside the block; the default after."""
    ig.set_random_number_generator(random.Random(seed))
    try:
        yield
    finally:
        ig.set_random_number_generator(random)


def components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected-component label of each of n nodes (labels ordered by smallest node)."""
    if n == 0:
        return np.array([], np.int64)
    if len(u) and is_sorted(u):
        # Edges sorted by their first node (the customer graph's are, and every subset of
        # them): the CSR arrays are the counts and the second nodes as they are, no sort.
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
        m = csr_matrix((np.ones(len(u), np.int8), np.asarray(v), indptr), shape=(n, n))
    else:
        m = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n, n)).tocsr()
    _, labels = connected_components(m, directed=False)
    return labels.astype(np.int64)


def by_smallest_node(labels: np.ndarray) -> np.ndarray:
    """Labels (any non-negative integers; -1: none) renumbered 0..k-1 by each label's smallest
    node, as `components` numbers them."""
    inside = np.flatnonzero(labels >= 0)
    if len(inside) == 0:
        return labels
    inv = dense(labels[inside])  # (np.unique is slow on large int64 arrays: codes.py)
    first = np.full(int(inv.max()) + 1, len(labels), np.int64)
    np.minimum.at(first, inv, inside)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    out = np.full(len(labels), -1, np.int64)
    out[inside] = rank[inv]
    return out


def find_communities(
    n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, community: Community, min_size: int
) -> np.ndarray:
    """Community label per node; -1 for nodes in components smaller than `min_size`.

    Labels are numbered by each community's smallest node, every community is connected.
    """
    return communities_and_leiden(n, u, v, w, community, min_size)[0]


def communities_and_leiden(
    n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, community: Community, min_size: int,
    initial: np.ndarray | None = None, node_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`find_communities`, the optimiser's own membership before the repairs and the membership
    after the merge of entangled neighbours (before the refinement of large communities); both
    -1 outside the components the optimiser ran on. The next night warm-starts from the first
    and recomputes whole merged communities (`incremental`).

    `initial` (one label per node, any integers; None: every node alone) is the starting
    partition of Leiden (python-igraph's `initial_membership`); Louvain has no warm start and
    ignores it. `node_weights` (per node; modularity objective only) replaces each node's
    strength / sqrt(its component's total strength): a part of a larger graph keeps the weights
    it has there. The result is deterministic for the same graph, seed, `initial` and weights.
    """
    comp = components(n, u, v)
    if n == 0:
        return comp, comp.copy(), comp.copy()
    comp_size = np.bincount(comp)
    keep = comp_size[comp] >= min_size
    sub = np.flatnonzero(keep)
    remap = np.full(n, -1, np.int64)
    remap[sub] = np.arange(len(sub))
    e = keep[u] & keep[v]
    su, sv, sw = remap[u[e]], remap[v[e]], w[e]
    labels = np.full(n, -1, np.int64)
    raw = np.full(n, -1, np.int64)
    merged = np.full(n, -1, np.int64)
    if len(sub) == 0:
        return labels, raw, merged
    sub_comp = comp[sub]
    if community.method == "leiden":
        start = None if initial is None else _start_partition(np.asarray(initial, np.int64)[sub], sub_comp)
        nw = None if node_weights is None else np.asarray(node_weights, np.float64)[sub]
        member = _leiden(len(sub), su, sv, sw, sub_comp, community, start, nw)
    else:
        member = _louvain(len(sub), su, sv, sw, sub_comp, community)
    raw[sub] = member
    if community.objective == "modularity":
        member = merge_entangled(member, su, sv, sw, community.merge_cross_share, community.merge_mutual_share)
    # Split into connected parts: components of the graph of intra-community edges.
    intra = member[su] == member[sv]
    member = components(len(sub), su[intra], sv[intra])
    merged[sub] = member
    if community.objective == "modularity":
        member = _refine_large(member, su, sv, sw, community)
    labels[sub] = member
    return labels, raw, merged


def _start_partition(initial: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """A starting partition for Leiden: the given labels, split by tonight's components (a
    community of last night whose component fell apart must not start as one), numbered
    0..k-1 in order of first appearance."""
    pairs = np.column_stack([initial, comp])
    _, first, inv = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.ravel()]


def _refine_large(member: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray,
                  community: Community) -> np.ndarray:
    """Communities above `community.refine_above` members split again: Leiden on their
    intra-community edges, modularity per community (one call per community), merge_entangled,
    connected parts. Labels by smallest node."""
    n = len(member)
    size = np.bincount(member)
    big = size[member] > community.refine_above
    if not big.any():
        return member
    sub = np.flatnonzero(big)
    remap = np.full(n, -1, np.int64)
    remap[sub] = np.arange(len(sub))
    e = big[u] & big[v] & (member[u] == member[v])
    su, sv, sw = remap[u[e]], remap[v[e]], w[e]
    parent = dense(member[sub])
    part = merge_entangled(_leiden(len(sub), su, sv, sw, parent, community), su, sv, sw,
                           community.merge_cross_share, community.merge_mutual_share)
    out = member.copy()
    out[sub] = int(member.max()) + 1 + part
    intra = out[u] == out[v]
    return components(n, u[intra], v[intra])


def trim_weak_members(labels: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray,
                      min_strength: float = MIN_LINK_STRENGTH,
                      min_strong: int = MIN_STRONG_MEMBERS) -> np.ndarray:
    """Peel weak members: strength into their community below `min_strength`, and either one
    neighbour there only or a community with at least MIN_STRONG_MEMBERS strong members.

    Repeats until no member is below (removing one lowers its neighbours' strength), then
    splits communities into connected parts again; peeled nodes get -1. Labels renumbered by
    smallest node.
    """
    labels = labels.copy()
    n = len(labels)
    # Labels only ever turn to -1, so the intra-community edges only shrink: each round looks
    # at the previous round's (same order, so the same sums) instead of every edge.
    live = np.flatnonzero((labels[u] >= 0) & (labels[u] == labels[v]))
    eu, ev, ew = u[live], v[live], w[live]
    while True:
        intra = (labels[eu] >= 0) & (labels[eu] == labels[ev])
        eu, ev, ew = eu[intra], ev[intra], ew[intra]
        s = (np.bincount(eu, weights=ew, minlength=n)
             + np.bincount(ev, weights=ew, minlength=n))
        nb = np.bincount(eu, minlength=n) + np.bincount(ev, minlength=n)
        inside = labels >= 0
        strong = np.zeros(n, np.int64)
        if inside.any():
            count = np.bincount(labels[inside], weights=(s[inside] >= min_strength - 1e-12))
            strong[inside] = count[labels[inside]]
        # Among strong members, a weak one goes only when it is also well below the community's
        # typical member (half its median strength): co-workers hanging on a ring go, an
        # address-only ring (everyone at 0.5) next to a strong household stays.
        typical = np.zeros(n)
        if inside.any():
            med = pd.Series(s[inside]).groupby(labels[inside]).median()
            typical[inside] = med.reindex(labels[inside]).to_numpy()
        weak = inside & (s < min_strength - 1e-12) & (
            (nb < 2) | ((strong >= min_strong) & (s < 0.5 * typical - 1e-12)))
        if not weak.any():
            break
        labels[weak] = -1
    intra = (labels[eu] >= 0) & (labels[eu] == labels[ev])
    comp = components(n, eu[intra], ev[intra])
    out = np.full(n, -1, np.int64)
    keep = labels >= 0
    out[keep] = dense(comp[keep])
    return out


def keep_cores(labels: np.ndarray, u: np.ndarray, v: np.ndarray,
               w: np.ndarray | None = None) -> np.ndarray:
    """Keep each community's largest biconnected block: members hanging on the ring through a
    single member (a ring member's household, a lone contact) are dropped (-1). With link
    weights `w`, "largest" is the block whose members' summed link strength inside the
    community is largest (then size): a ring of 8 sharing an address outweighs a clique of 15
    co-workers tied by one employer.

    Blocks use intra-community edges only, so each lies in one community; a community without a
    block of 3 or more (a path, a star) keeps all its members. Labels renumbered by smallest node.
    """
    n = len(labels)
    intra = (labels[u] >= 0) & (labels[u] == labels[v])
    if not intra.any():
        return labels
    ui, vi = u[intra], v[intra]
    # A community of three or fewer is its own block or has none of 3 or more: it keeps every
    # member either way, so only larger communities' edges go through the block search. So does
    # a community whose every member is linked to at least half of it: by Dirac's theorem it
    # has a Hamiltonian cycle, so it is one block (cliques and near-cliques: half the edges of
    # the 1M book's communities, and half the search's time).
    csize = np.bincount(labels[labels >= 0])
    degree = np.bincount(ui, minlength=n) + np.bincount(vi, minlength=n)
    members = np.flatnonzero(labels >= 0)
    min_degree = np.full(len(csize), n, np.int64)  # above any degree
    np.minimum.at(min_degree, labels[members], degree[members])
    search = (csize > 3) & (2 * min_degree < csize)  # per community
    large = search[labels[ui]]
    blk, node = _blocks(n, ui[large], vi[large])
    n_blk = int(blk.max()) + 1 if len(blk) else 0
    size = np.bincount(blk, minlength=n_blk)
    starts = np.r_[0, np.cumsum(size)[:-1]].astype(np.int64)
    if w is None:
        weight = np.zeros(n_blk)
    else:
        strength = (np.bincount(ui, weights=w[intra], minlength=n)
                    + np.bincount(vi, weights=w[intra], minlength=n))
        weight = np.round(np.add.reduceat(strength[node], starts), 9) if n_blk else np.zeros(0)
    first = node[starts] if n_blk else np.zeros(0, np.int64)  # smallest node of each block
    big = np.flatnonzero(size >= 3)
    # Largest first (summed strength, then size), ties by smallest node: each community keeps
    # the first of its blocks in that order.
    order = big[np.lexsort((first[big], -size[big], -weight[big]))]
    comm = labels[first[order]]
    seen = np.full(n, len(comm), np.int64)  # first place of each community in `order`
    np.minimum.at(seen, comm, np.arange(len(comm)))
    at = seen[seen < len(comm)]
    chosen = np.zeros(n_blk, bool)
    chosen[order[at]] = True
    best_id = np.full(n, -1, np.int64)
    best_id[comm[at]] = order[at]
    in_core = np.zeros(n, bool)
    in_core[node[chosen[blk]]] = True
    keep = labels >= 0
    has_core = best_id[np.maximum(labels, 0)] >= 0
    keep &= ~has_core | in_core
    out = np.where(keep, labels, -1)
    inside = out >= 0
    comp = components(n, u[intra & inside[u] & inside[v]], v[intra & inside[u] & inside[v]])
    res = np.full(n, -1, np.int64)
    res[inside] = dense(comp[inside])
    return res


def _blocks(n: int, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Biconnected blocks of the graph (n nodes, edges u-v) as (block, node) pairs sorted by
    block then node. igraph's C routine gives a spanning tree (edge ids) per block; its Python
    wrapper then walks every edge in Python, so the vertex sets are taken here with numpy."""
    g = _graph(n, u, v)
    trees = ig.GraphBase.biconnected_components(g, False)
    if not trees:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    count = np.fromiter(map(len, trees), np.int64, len(trees))
    eid = np.fromiter(itertools.chain.from_iterable(trees), np.int64, int(count.sum()))
    bid = np.repeat(np.arange(len(trees), dtype=np.int64), count)
    key = sorted_unique(np.concatenate([bid * n + u[eid], bid * n + v[eid]]))
    return key // n, key % n


def merge_entangled(member: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray,
                    max_cross: float = MAX_CROSS_SHARE, mutual_share: float = MUTUAL_SHARE) -> np.ndarray:
    """Merge neighbouring communities whose cross links carry more than `max_cross` of the
    pair's link weight (internal A + internal B + between) and at least MUTUAL_SHARE of the outside
    links of the smaller-linked of the two (each is the other's main neighbour, as the halves of
    a cut ring are; in a well-mixed graph a community's outside links spread over many
    communities), most entangled pairs first.

    For two equal halves this is the pair's own two-community modularity falling below
    0.5 - max_cross: they are not two structures but one ring cut in two.
    """
    member = dense(member)
    while True:
        cu, cv = member[u], member[v]
        inside = cu == cv
        n_comm = int(member.max()) + 1
        w_in = np.bincount(cu[inside], weights=w[inside], minlength=n_comm)
        a, b = np.minimum(cu[~inside], cv[~inside]), np.maximum(cu[~inside], cv[~inside])
        if len(a) == 0:
            return member
        key, inv = unique_inverse(a * n_comm + b)
        cross = np.bincount(inv.ravel(), weights=w[~inside])
        pa, pb = key // n_comm, key % n_comm
        share = cross / (w_in[pa] + w_in[pb] + cross)
        ext = np.bincount(pa, weights=cross, minlength=n_comm) + np.bincount(pb, weights=cross, minlength=n_comm)
        mutual = cross >= mutual_share * np.minimum(ext[pa], ext[pb])
        hot = np.flatnonzero((share > max_cross) & mutual)
        if len(hot) == 0:
            return member
        order = hot[np.lexsort((pb[hot], pa[hot], -share[hot]))]
        target = np.arange(n_comm)
        used = np.zeros(n_comm, bool)
        for i in order:  # one merge per community per round; rounds repeat until none is left
            x, y = pa[i], pb[i]
            if not used[x] and not used[y]:
                target[y] = x
                used[x] = used[y] = True
        member = dense(target[member])


def _graph(n: int, u: np.ndarray, v: np.ndarray) -> ig.Graph:
    g = ig.Graph(n=n, directed=False)
    g.add_edges(np.column_stack([u, v]))
    return g


def _leiden(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, comp: np.ndarray,
            community: Community, initial: np.ndarray | None = None,
            weights_of_nodes: np.ndarray | None = None) -> np.ndarray:
    """Leiden with one igraph call per group of `comp` (a component, or a community being
    refined), the random number generator seeded afresh for each call.

    Why one call per group: Leiden draws a random node order (and random choices in its
    refinement) for the graph it is given, so in one call over the whole graph a change anywhere
    moved the draws everywhere, and the result of a component depended on every other one. Called
    per group, a group's result depends on the group alone (its nodes in increasing order, its
    edges in the given order, the seed): the same whatever else is in the graph, whichever
    process computes it, and in the incremental night, a Spark part or a full recompute alike.
    Labels: each group's own, offset by the group's first position in node order (so unique).
    """
    if community.objective == "modularity" and weights_of_nodes is not None:
        node_weights = np.asarray(weights_of_nodes, np.float64)
    elif community.objective == "modularity":
        strength = np.bincount(u, weights=w, minlength=n) + np.bincount(v, weights=w, minlength=n)
        total = np.bincount(comp, weights=strength)
        node_weights = strength / np.sqrt(total[comp])
    else:
        node_weights = np.ones(n)
    groups = _Groups(comp, u, v)
    start = None if initial is None else groups.local_labels(np.asarray(initial, np.int64))
    member = np.empty(n, np.int64)
    rng = random.Random(community.seed)
    ig.set_random_number_generator(rng)
    try:
        for i in range(groups.count):
            nodes, es, first = groups.nodes(i), groups.edges(i), int(groups.node_start[i])
            if len(nodes) == 1:
                member[nodes] = first
                continue
            g = ig.Graph(len(nodes), list(zip(groups.lu[es].tolist(), groups.lv[es].tolist())))
            rng.seed(community.seed)
            part = g.community_leiden(
                objective_function="CPM", weights=w[groups.edge_order[es]].tolist(),
                resolution=community.resolution, node_weights=node_weights[nodes].tolist(),
                n_iterations=community.iterations,
                initial_membership=None if start is None else start[nodes].tolist(),
            )
            member[nodes] = np.asarray(part.membership, np.int64) + first
    finally:
        ig.set_random_number_generator(random)
    return member


class _Groups:
    """Nodes and edges grouped by a label per node (`comp`; every edge inside one group): each
    group's nodes in increasing order, its edges in their given order, and each edge's ends as
    positions within its group."""

    def __init__(self, comp: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        self.comp = dense(comp)
        self.count = int(self.comp.max()) + 1 if len(self.comp) else 0
        self.node_order = np.argsort(self.comp, kind="stable")
        size = np.bincount(self.comp, minlength=self.count)
        self.node_start = np.r_[0, np.cumsum(size)].astype(np.int64)
        local = np.empty(len(self.comp), np.int64)
        local[self.node_order] = np.arange(len(self.comp)) - np.repeat(self.node_start[:-1], size)
        self.local = local
        edge_comp = self.comp[u]
        self.edge_order = np.argsort(edge_comp, kind="stable")
        self.edge_start = np.r_[0, np.cumsum(np.bincount(edge_comp, minlength=self.count))].astype(np.int64)
        self.lu = local[u[self.edge_order]]
        self.lv = local[v[self.edge_order]]

    def nodes(self, i: int) -> np.ndarray:
        return self.node_order[self.node_start[i]:self.node_start[i + 1]]

    def edges(self, i: int) -> slice:
        """Positions in `edge_order` (and in `lu`, `lv`) of group i's edges."""
        return slice(int(self.edge_start[i]), int(self.edge_start[i + 1]))

    def local_labels(self, labels: np.ndarray) -> np.ndarray:
        """`labels` renumbered within each group 0..k-1 in order of first appearance along the
        group's nodes (a starting partition igraph accepts, the same however groups are batched)."""
        node = self.node_order
        _, first, inv = np.unique(np.column_stack([self.comp[node], labels[node]]), axis=0,
                                  return_index=True, return_inverse=True)
        inv = inv.ravel()
        rank = np.empty(len(first), np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))  # order along the nodes
        # a group's labels first appear at positions between its start and end, so a rank
        # minus the number of labels of earlier groups is the label's number within its group
        label_group = self.comp[node[first]]
        before = np.r_[0, np.cumsum(np.bincount(label_group, minlength=self.count))][:-1]
        out = np.empty(len(labels), np.int64)
        out[node] = rank[inv] - before[label_group[inv]]
        return out


def _louvain(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, comp: np.ndarray,
             community: Community) -> np.ndarray:
    member = np.empty(n, np.int64)
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    edge_comp = comp[u]
    e_order = np.argsort(edge_comp, kind="stable")
    e_bounds = np.searchsorted(edge_comp[e_order], np.unique(comp))
    e_bounds = np.append(e_bounds, len(e_order))
    offset = 0
    rng = random.Random(community.seed)
    ig.set_random_number_generator(rng)
    try:
        for i, nodes in enumerate(np.split(order, bounds)):
            es = e_order[e_bounds[i]:e_bounds[i + 1]]
            local = np.searchsorted(nodes, np.concatenate([u[es], v[es]]))
            g = _graph(len(nodes), local[: len(es)], local[len(es):])
            rng.seed(community.seed)  # per component: its result depends on it alone (`_leiden`)
            part = g.community_multilevel(weights=w[es].tolist(), resolution=community.resolution)
            m = np.asarray(part.membership, np.int64)
            member[nodes] = m + offset
            offset += int(m.max()) + 1
    finally:
        ig.set_random_number_generator(random)
    return member
