"""The community step on groups of whole components, in forked processes.

Every piece of the community step acts within one connected component (`incremental`), and
since Leiden runs one call per component with its generator seeded afresh (`community._leiden`),
a component's communities depend on that component alone. So the components can be dealt out
to processes in any way and the results put back together give the same bytes as one process:
the grouping below only balances the work, it never shapes a result. The two cores of a small
box otherwise sit one idle while igraph's single-threaded C code holds the GIL (the first night
at 1M spent about 27 s of CPU there).

The processes are forked (`forked.Forked`): the graph is seen copy-on-write, only each group's
three label arrays come back (pickled through a pipe). Every group goes to a worker and the
caller is free meanwhile: on a first night it computes the ring state's hashes while they run.
With `COLLECTIONS_ENGINE_SERIAL` set, or where fork is missing, the groups run one after the
other in this process, with the same result.
"""

from __future__ import annotations

import numpy as np

from collections_engine.config.graph import Community
from collections_engine.forked import Forked
from collections_engine.rings.community import (
    by_smallest_node, communities_and_leiden, components, keep_cores, trim_weak_members)

__all__ = ["StepJob", "community_step", "deal_components"]

Labels = tuple[np.ndarray, np.ndarray, np.ndarray]


def community_step(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, community: Community,
                   min_size: int, initial: np.ndarray | None = None,
                   node_weights: np.ndarray | None = None, workers: int | None = None,
                   comp: np.ndarray | None = None) -> Labels:
    """The whole community step (Leiden, merge, split, refinement, trims, cores) on the graph of
    n nodes: (communities, Leiden's membership, merged communities), each numbered by smallest
    node, -1 outside (components below `min_size`; trimmed members in the first). `StepJob`
    started and its result taken at once."""
    return StepJob(n, u, v, w, community, min_size, initial, node_weights, workers, comp).result()


class StepJob:
    """The community step started: in `workers` forked processes (None: `community.workers`),
    each on a group of whole components, when n reaches `community.parallel_min_nodes`; else in
    this process when the result is asked for. The caller may do other work in between (the
    state's hashes on a first night). The same bytes whatever the number of workers (tested:
    1, 2, 3). `comp`: the components of the graph when the caller has them."""

    def __init__(self, n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, community: Community,
                 min_size: int, initial: np.ndarray | None = None,
                 node_weights: np.ndarray | None = None, workers: int | None = None,
                 comp: np.ndarray | None = None) -> None:
        workers = community.workers if workers is None else workers
        self.n = n
        self.parts: list[np.ndarray] = []
        self.jobs: list[Forked] = []
        self.inline: tuple | None = None
        if workers <= 1 or n < max(community.parallel_min_nodes, 2):
            self.inline = (n, u, v, w, community, min_size, initial, node_weights)
            return
        group = deal_components(components(n, u, v) if comp is None else comp, u, workers)
        try:
            for g in range(workers):
                nodes = np.flatnonzero(group == g)
                e = np.flatnonzero(group[u] == g)  # both ends are in the group: whole components
                remap = np.full(n, -1, np.int64)
                remap[nodes] = np.arange(len(nodes))
                self.parts.append(nodes)
                self.jobs.append(Forked(_step, len(nodes), remap[u[e]], remap[v[e]], w[e], community, min_size,
                                        None if initial is None else np.asarray(initial)[nodes],
                                        None if node_weights is None else np.asarray(node_weights)[nodes]))
        except BaseException:
            self.stop()
            raise

    def result(self) -> Labels:
        """The three label arrays (waits for the workers; raises what a worker raised)."""
        if self.inline is not None:
            return _step(*self.inline)
        try:
            results: list[Labels] = [job.result()[0] for job in self.jobs]
        finally:
            self.stop()
        out = []
        offsets = np.cumsum([0] + [len(nodes) for nodes in self.parts])  # a group's labels are below its size
        for k in range(3):
            lab = np.full(self.n, -1, np.int64)
            for nodes, res, off in zip(self.parts, results, offsets):
                lab[nodes] = np.where(res[k] >= 0, res[k] + off, -1)
            out.append(by_smallest_node(lab))
        return out[0], out[1], out[2]

    def stop(self) -> None:
        """End the workers still running (the caller failed before asking for the result)."""
        for job in self.jobs:
            job.stop()


def _step(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, community: Community, min_size: int,
          initial: np.ndarray | None, node_weights: np.ndarray | None) -> Labels:
    labels, raw, merged = communities_and_leiden(n, u, v, w, community, min_size,
                                                 initial=initial, node_weights=node_weights)
    labels = trim_weak_members(labels, u, v, w, community.trim_min_strength, community.trim_min_strong_members)
    labels = keep_cores(labels, u, v, w)
    return by_smallest_node(labels), by_smallest_node(raw), by_smallest_node(merged)


def deal_components(comp: np.ndarray, u: np.ndarray, workers: int) -> np.ndarray:
    """A group 0..workers-1 per node, whole components to a group: costliest components first
    (ties by label), each to the least loaded group (ties: lowest). Balances the work only; the
    results do not depend on it.

    Cost: (nodes + edges) x (1 + log10 nodes). Per node and edge, a large component costs more
    than a small one (measured on the 1M book: the 382k-customer giant component 3.3 us, the
    73k others 1.9 us, their per-call overhead included; the log term gives the giant its own
    group when two are dealt, the best split of that book)."""
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    nodes = np.bincount(comp, minlength=n_comp)
    cost = (nodes + np.bincount(comp[u], minlength=n_comp)) * (1 + np.log10(np.maximum(nodes, 1)))
    order = np.lexsort((np.arange(n_comp), -cost))
    load = [0] * workers
    to = np.zeros(n_comp, np.int64)
    for c, size in zip(order.tolist(), cost[order].tolist()):
        g = load.index(min(load))
        to[c] = g
        load[g] += size
    return to[comp]
