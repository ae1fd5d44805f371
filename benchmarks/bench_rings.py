"""Fraud-ring benchmarks: speed, planted-ring precision/recall, stability over nights, LFR NMI.

    .venv/bin/python benchmarks/bench_rings.py speed [--customers 1000000]
    .venv/bin/python benchmarks/bench_rings.py quality [--customers 200000] [--data DATA]
    .venv/bin/python benchmarks/bench_rings.py stability [--customers 100000]
    .venv/bin/python benchmarks/bench_rings.py lfr [--n 1000]
    .venv/bin/python benchmarks/bench_rings.py households --data-root ROOT [--seeds 1 2 3 4 5]

`households` (issue 17) plants ten honest three-person households, each with one confirmed
label, into each generated book ROOT/b20k_s<seed> (`collections-engine generate --accounts 20000
--days 2 --seed <seed>`), and prints households flagged and planted-ring precision/recall with
and without hub handling, with and without the evidence rule (`ring.evidence_threshold` 0).

    .venv/bin/python benchmarks/bench_rings.py hiding --data-root ROOT [--seeds 1 2 3 4 5]

`hiding` (issue 17) inflates one shared value of 30 planted rings per book past the hub limit
(60 honest customers more, `tests/ring_hiding.py`) and prints how many of those rings are still
found (half their members or more in flagged rings), with the hard cut and without it.

`quality` and `stability` use a ring book made here (vectorised, seeded) unless `--data` names
a folder made by `collections-engine generate` (truth in DATA/truth/rings.parquet).
The ring book: every customer has its own phone, device and email, 10% live in households of
2-4 sharing an address, 30% name an employer (sizes from a heavy tail, many above the hub
limit), 3% give the call-centre phone (one value, thousands of customers) as emergency contact
and 5% sit behind one of a few shared public IPs (hubs). 1.2% are ring members in rings of
3-30 that draw devices, phones, emergency contacts and addresses from their ring's small
pools, never pay, often give wrong numbers, opened recently; 30% of them are confirmed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config import load_graph
from collections_engine.config.graph import GraphConfig
from collections_engine.rings import detect_rings, seeded_igraph

# The shipped graph file (kinds, hub limit, community settings, ring.threshold).
GRAPH = load_graph(Path(__file__).resolve().parents[1] / "graphs" / "default.yaml")
DAY = np.timedelta64(1, "D")


@dataclass
class RingBook:
    book: Book
    truth: pd.DataFrame          # customer_id, ring_id
    nights: list[pd.Timestamp]


def _ids(prefix: str, codes: np.ndarray, width: int = 8) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(codes.astype(str), width)).astype(object)


def make_ring_book(n: int, seed: int = 7, nights: int = 1, join_share: float = 0.0) -> RingBook:
    """A book of n customers (one account each) with planted rings (see module doc).

    With nights > 1, `join_share` of ring members join during the nights (their identifiers'
    first_seen, account opening and first snapshot fall on the night they join).
    """
    rng = np.random.default_rng(seed)
    night0 = pd.Timestamp("2026-03-02")
    night_dates = list(pd.bdate_range(night0, periods=nights))
    cust = np.arange(n)
    cid = _ids("C", cust)
    # Rings.
    n_ring = int(0.012 * n)
    sizes = []
    while sum(sizes) < n_ring:
        sizes.append(int(rng.integers(3, 31)))
    sizes = np.array(sizes)
    members = rng.permutation(n)[: sizes.sum()]
    ring = np.full(n, -1)
    ring[members] = np.repeat(np.arange(len(sizes)), sizes)
    is_ring = ring >= 0
    rows: list[tuple[np.ndarray, str, np.ndarray]] = []
    # Own identifiers (honest customers and ring members alike keep an email).
    own_phone = ~is_ring | (rng.random(n) < 0.5)
    rows.append((cust[own_phone], "phone", _ids("P", cust[own_phone])))
    rows.append((cust[~is_ring], "device", _ids("D", cust[~is_ring])))
    rows.append((cust, "email", _ids("E", cust)))
    # Households: 10% in groups of 2-4 sharing an address; others own address.
    hh = rng.random(n) < 0.10
    hh_c = cust[hh]
    hh_id = np.arange(len(hh_c)) // rng.integers(2, 5)
    rows.append((hh_c, "address", _ids("AH", hh_id)))
    rows.append((cust[~hh & ~is_ring], "address", _ids("A", cust[~hh & ~is_ring])))
    # Employers: heavy tail (Pareto sizes), some above the hub limit.
    emp = rng.random(n) < 0.30
    n_emp = max(1, int(emp.sum() / 12))
    emp_pick = np.minimum((rng.pareto(1.2, emp.sum()) * n_emp / 20).astype(int), n_emp - 1)
    rows.append((cust[emp], "employer", _ids("W", emp_pick)))
    # Hubs: the call-centre phone and a few public IPs.
    cc = rng.random(n) < 0.03
    rows.append((cust[cc], "emergency_contact", np.full(cc.sum(), "CALLCENTRE", object)))
    ipc = rng.random(n) < 0.05
    rows.append((cust[ipc], "ip", _ids("IP", rng.integers(0, max(1, n // 5000), ipc.sum()))))
    # Ring pools: per ring ~size/4 devices, phones, emergency contacts, addresses.
    rm = cust[is_ring]
    r_of = ring[rm]
    pool = np.maximum(1, sizes[r_of] // 4)
    for kind, tag in (("device", "RD"), ("phone", "RP"), ("emergency_contact", "RE"), ("address", "RA")):
        take = (rng.random(len(rm)) < 0.8) if kind != "device" else np.ones(len(rm), bool)
        code = r_of * 100 + rng.integers(0, pool)
        rows.append((rm[take], kind, _ids(tag, code[take])))
    ident = pd.DataFrame({
        "customer_id": pd.array(np.concatenate([cid[c] for c, _, _ in rows]), dtype="str"),
        "kind": pd.array(np.concatenate([np.full(len(c), k, object) for c, k, _ in rows]), dtype="str"),
        "value": pd.array(np.concatenate([v for _, _, v in rows]), dtype="str"),
    })
    # Joining night per customer (ring joiners spread over the nights).
    join = np.zeros(n, int)
    if nights > 1 and join_share > 0:
        late = is_ring & (rng.random(n) < join_share)
        join[late] = rng.integers(1, nights, late.sum())
    join_date = np.array(night_dates, dtype="datetime64[ns]")[join]
    cust_of_row = ident["customer_id"].str.slice(1).astype(int).to_numpy()
    ident["first_seen"] = join_date[cust_of_row] - 3 * DAY
    # Accounts: honest opened over 5 years, ring members recently.
    open_date = (np.datetime64(night0) - rng.integers(30, 1800, n) * DAY).astype("datetime64[ns]")
    open_date[is_ring] = join_date[is_ring] - rng.integers(20, 120, is_ring.sum()) * DAY
    acc_frames = []
    for j, d in enumerate(night_dates):
        on = join <= j
        acc_frames.append(pd.DataFrame({
            "snapshot_date": pd.Timestamp(d), "account_id": pd.array(_ids("A", cust[on], 9), dtype="str"),
            "customer_id": pd.array(cid[on], dtype="str"), "open_date": open_date[on],
            "dpd": rng.integers(1, 120, on.sum()).astype(np.int64)}))
    accounts = pd.concat(acc_frames, ignore_index=True)
    paid = ~is_ring & (rng.random(n) < 0.85)
    payments = pd.DataFrame({"account_id": pd.array(_ids("A", cust[paid], 9), dtype="str"),
                             "paid_on": open_date[paid] + 25 * DAY, "amount": 100.0})
    contacted = rng.random(n) < 0.4
    p_wrong = np.where(is_ring, 0.5, 0.05)[contacted]
    outcome = np.where(rng.random(contacted.sum()) < p_wrong, "wrong_number", "right_party")
    contacts = pd.DataFrame({"account_id": pd.array(_ids("A", cust[contacted], 9), dtype="str"),
                             "contacted_on": np.datetime64(night0) - 5 * DAY, "channel": "call",
                             "outcome": outcome})
    conf = is_ring & (rng.random(n) < 0.30)
    labels = pd.DataFrame({"customer_id": pd.array(cid[conf], dtype="str"),
                           "confirmed_on": pd.NaT})
    truth = pd.DataFrame({"customer_id": cid[is_ring], "ring_id": ring[is_ring]})
    book = Book(accounts=accounts, payments=payments, contacts=contacts, identifiers=ident,
                fraud_labels=labels)
    return RingBook(book, truth, night_dates)


def precision_recall(members: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    pred = set(members["customer_id"])
    true = set(truth["customer_id"])
    hit = len(pred & true)
    return (hit / len(pred) if pred else 0.0), (hit / len(true) if true else 0.0)


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cmd_speed(args: argparse.Namespace) -> None:
    t = time.perf_counter()
    rb = make_ring_book(args.customers, seed=args.seed)
    ident = rb.book.identifiers
    print(f"book: {args.customers:,} customers, {len(ident):,} identifier rows "
          f"(made in {time.perf_counter() - t:.1f}s), peak RSS so far {_rss_gib():.2f} GiB")
    t = time.perf_counter()
    res = detect_rings(rb.book, GRAPH, rb.nights[-1])
    wall = time.perf_counter() - t
    p, r = precision_recall(res.members, rb.truth)
    print(f"detect_rings: {wall:.1f}s wall; stages {res.stats['timings']}")
    print(f"graph {res.stats['graph']}; rings {len(res.rings)}; members {len(res.members)}; "
          f"precision {p:.3f} recall {r:.3f}; propensity {res.stats['propensity']}")
    print(f"peak RSS {_rss_gib():.2f} GiB")


def _quality_one(book: Book, truth: pd.DataFrame, date: pd.Timestamp, label: str) -> None:
    for name, cfg in (("hub handling (hub_max_customers=50)", GRAPH),
                      ("no hub handling", GRAPH.model_copy(update={"hub_max_customers": 10**9}))):
        t = time.perf_counter()
        res = detect_rings(book, cfg, date)
        p, r = precision_recall(res.members, truth)
        print(f"{label} | {name}: precision {p:.3f} recall {r:.3f}; rings {len(res.rings)} "
              f"members {len(res.members)} planted {len(truth)}; largest ring "
              f"{int(res.rings['size'].max()) if len(res.rings) else 0}; "
              f"{time.perf_counter() - t:.1f}s; propensity {res.stats['propensity'].get('method')}")


def cmd_quality(args: argparse.Namespace) -> None:
    if args.data:
        from pathlib import Path

        from collections_engine.io.load import load_book

        book, _ = load_book(Path(args.data))
        truth = pd.read_parquet(Path(args.data) / "truth" / "rings.parquet")
        _quality_one(book, truth, book.snapshot_dates()[-1], f"generated {args.data}")
        return
    for seed in args.seeds:
        rb = make_ring_book(args.customers, seed=seed)
        _quality_one(rb.book, rb.truth, rb.nights[-1], f"ring book n={args.customers} seed={seed}")


def cmd_stability(args: argparse.Namespace) -> None:
    if args.data:
        from pathlib import Path

        from collections_engine.io.load import load_book

        book, _ = load_book(Path(args.data))
        truth = pd.read_parquet(Path(args.data) / "truth" / "rings.parquet")
        nights = book.snapshot_dates()[-args.nights:]
    else:
        rb = make_ring_book(args.customers, seed=args.seed, nights=args.nights, join_share=0.4)
        book, truth, nights = rb.book, rb.truth, rb.nights
    previous = None
    ids_by_night = []
    for d in nights:
        res = detect_rings(book, GRAPH, d, previous=previous)
        previous = res.rings
        m = truth.merge(res.members[["customer_id", "ring_id"]].rename(columns={"ring_id": "found"}),
                        on="customer_id", how="left")
        # Each planted ring's id tonight: the flagged ring holding most of its members.
        top = (m.dropna(subset=["found"]).groupby(["ring_id", "found"]).size().rename("k")
               .reset_index().sort_values(["ring_id", "k", "found"], ascending=[True, False, True])
               .drop_duplicates("ring_id").set_index("ring_id")["found"])
        ids_by_night.append(top)
        p, r = precision_recall(res.members, truth)
        print(f"{d:%Y-%m-%d}: rings {len(res.rings)}, members {len(res.members)}, matched to "
              f"previous {res.stats['matched_previous']}, precision {p:.3f} recall {r:.3f}")
    table = pd.concat(ids_by_night, axis=1, keys=range(len(ids_by_night))).reindex(
        truth["ring_id"].unique())
    kept = broken = never = 0
    for _, row in table.iterrows():
        seen = row.dropna()
        if seen.empty:
            never += 1
            continue
        tail = row.loc[seen.index[0]:]
        if tail.notna().all() and tail.nunique() == 1:
            kept += 1
        else:
            broken += 1
    print(f"planted rings: {len(table)}; kept one id from first flag: {kept}; changed or lost "
          f"id: {broken}; never flagged: {never}")


def _lfr(n: int, mu: float, seed: int):
    import networkx as nx

    for s in range(seed, seed + 200):
        try:
            g = nx.LFR_benchmark_graph(n, 2, 1.1, mu, min_degree=10, max_degree=50,
                                       min_community=10, max_community=50, seed=s, max_iters=500)
            return g, s
        except nx.ExceededMaxIterations:
            continue
    raise RuntimeError("LFR did not converge")


def cmd_lfr(args: argparse.Namespace) -> None:
    import igraph as ig
    import networkx as nx
    from sklearn.metrics import normalized_mutual_info_score as nmi

    print("mu  | seed | realised mixing | engine NMI | igraph Leiden NMI | networkx Louvain NMI | engine communities, nodes left out")
    for mu in args.mixing:
        g, s = _lfr(args.n, mu, args.seed)
        nodes = sorted(g.nodes)
        comm_of = {}
        for v in nodes:
            for c in g.nodes[v]["community"]:
                comm_of.setdefault(v, min(g.nodes[v]["community"]))
        truth = np.array([comm_of[v] for v in nodes])
        edges = np.array([(a, b) for a, b in g.edges if a != b])
        realised = float(np.mean(truth[edges[:, 0]] != truth[edges[:, 1]]))
        # Engine: each edge is one shared identifier value.
        ids = pd.DataFrame({
            "customer_id": pd.array(np.char.zfill(edges.ravel().astype(str), 5), dtype="str"),
            "kind": "device",
            "value": pd.array(np.repeat(np.char.add("E", np.arange(len(edges)).astype(str)), 2), dtype="str"),
        })
        acc = pd.DataFrame({"snapshot_date": pd.Timestamp("2026-01-01"),
                            "account_id": pd.array([f"{v:05d}" for v in nodes], dtype="str"),
                            "customer_id": pd.array([f"{v:05d}" for v in nodes], dtype="str"),
                            "open_date": pd.Timestamp("2020-01-01"), "dpd": 1})
        cfg = GraphConfig(kinds={"device": 1.0}, ring={"min_size": 2, "threshold": 0.0},
                          hub_max_customers=10**6)
        res = detect_rings(Book(accounts=acc, identifiers=ids), cfg, "2026-01-01")
        eng = res.communities.assign(v=res.communities["customer_id"].astype(int)).set_index("v")["community"]
        eng_lab = eng.reindex(nodes).to_numpy(dtype=float, copy=True)
        # Customers the engine leaves out of every community (trimmed appendages) are singletons.
        out = np.isnan(eng_lab)
        eng_lab[out] = -1 - np.arange(out.sum())
        n_out = int(out.sum())
        # Plain igraph Leiden (modularity) and networkx Louvain on the same graph.
        ig_g = ig.Graph(n=len(nodes), edges=edges.tolist())
        with seeded_igraph(1):
            leiden = np.array(ig_g.community_leiden(objective_function="modularity").membership)
        louv = nx.community.louvain_communities(g, seed=1)
        louv_lab = np.empty(len(nodes), int)
        for i, c in enumerate(louv):
            louv_lab[list(c)] = i
        print(f"{mu:.1f} | {s} | {realised:.3f} | {nmi(truth, eng_lab):.4f} | {nmi(truth, leiden):.4f} | "
              f"{nmi(truth, louv_lab):.4f} | {len(set(eng_lab)) - n_out} (planted {len(set(truth))}), "
              f"{n_out} left out")


def _graphs() -> list[tuple[str, GraphConfig]]:
    no_hub = GRAPH.model_copy(update={"hub_max_customers": 10**9})
    no_rule = GRAPH.ring.model_copy(update={"evidence_threshold": 0.0})
    return [("default graph", GRAPH), ("no hub handling", no_hub),
            ("no evidence rule", GRAPH.model_copy(update={"ring": no_rule})),
            ("no hub handling, no evidence rule", no_hub.model_copy(update={"ring": no_rule}))]


def cmd_households(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from collections_engine.io.load import load_book
    from tests.ring_households import households_flagged, plant_households

    print("seed | graph | households flagged (of 10) | relatives' propensity max | precision | recall | rings | held back for evidence | s")
    for seed in args.seeds:
        data = Path(args.data_root) / f"b20k_s{seed}"
        book, _ = load_book(data)
        truth = pd.read_parquet(data / "truth" / "rings.parquet")
        date = book.snapshot_dates()[-1]
        book, hh = plant_households(book, date, set(truth["customer_id"]), n=10, seed=seed)
        for name, cfg in _graphs():
            t = time.perf_counter()
            res = detect_rings(book, cfg, date)
            fl = households_flagged(hh, res.members)
            c = res.communities
            rel = c[c["customer_id"].isin(hh.loc[~hh["confirmed"], "customer_id"])]
            p, r = precision_recall(res.members, truth)
            print(f"{seed} | {name} | {int((fl['relatives_in_rings'] > 0).sum())} | "
                  f"{rel['propensity'].max() if len(rel) else float('nan'):.3f} | {p:.3f} | {r:.3f} | "
                  f"{len(res.rings)} | {res.stats['held_back_for_evidence']} | {time.perf_counter() - t:.1f}")


def cmd_hiding(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from collections_engine.io.load import load_book
    from tests.ring_hiding import plant_hiding, ring_found

    print("seed | graph | rings inflated | found before | found after | lost | lost rings sharing one kind only | precision after | recall after")
    for seed in args.seeds:
        data = Path(args.data_root) / f"b20k_s{seed}"
        book, _ = load_book(data)
        truth = pd.read_parquet(data / "truth" / "rings.parquet")
        date = book.snapshot_dates()[-1]
        hidden, chosen = plant_hiding(book, date, truth, seed=seed)
        kinds = _kinds_shared(hidden, truth)
        for name, cfg in _graphs()[:2]:
            before = ring_found(detect_rings(book, cfg, date).members, truth, chosen["ring"])
            res = detect_rings(hidden, cfg, date)
            after = ring_found(res.members, truth, chosen["ring"])
            lost = before & ~after
            p, r = precision_recall(res.members, truth)
            print(f"{seed} | {name} | {len(chosen)} | {int(before.sum())} | {int(after.sum())} | {int(lost.sum())} | "
                  f"{int((kinds.reindex(lost.index[lost]) == 1).sum())} | {p:.3f} | {r:.3f}")


def _kinds_shared(book: Book, truth: pd.DataFrame) -> pd.Series:
    """Per planted ring: how many kinds its members share a value of."""
    t = truth.set_index("customer_id")["ring_id"]
    ident = book.identifiers
    rows = ident[ident["customer_id"].isin(t.index)]
    rows = rows.assign(ring=rows["customer_id"].map(t).to_numpy(), kind=rows["kind"].astype(str))
    n = rows.groupby(["ring", "kind", "value"], observed=True)["customer_id"].nunique()
    return n[n >= 2].reset_index().groupby("ring")["kind"].nunique()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed"); s.add_argument("--customers", type=int, default=1_000_000)
    s.add_argument("--seed", type=int, default=7)
    q = sub.add_parser("quality"); q.add_argument("--customers", type=int, default=200_000)
    q.add_argument("--seeds", type=int, nargs="+", default=[7, 8]); q.add_argument("--data")
    st = sub.add_parser("stability"); st.add_argument("--customers", type=int, default=100_000)
    st.add_argument("--nights", type=int, default=7); st.add_argument("--seed", type=int, default=7)
    st.add_argument("--data")
    lf = sub.add_parser("lfr"); lf.add_argument("--n", type=int, default=1000)
    lf.add_argument("--seed", type=int, default=1)
    lf.add_argument("--mixing", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    hh = sub.add_parser("households"); hh.add_argument("--data-root", required=True)
    hh.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    hi = sub.add_parser("hiding"); hi.add_argument("--data-root", required=True)
    hi.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = ap.parse_args(argv)
    {"speed": cmd_speed, "quality": cmd_quality, "stability": cmd_stability, "lfr": cmd_lfr,
     "households": cmd_households, "hiding": cmd_hiding}[args.cmd](args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
