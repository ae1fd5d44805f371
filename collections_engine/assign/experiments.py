"""Champion/challenger arms and exploration: a layer around `decide`, with propensities.

Why: once the engine decides, its history stops being a randomised experiment, and the queue
effects estimated from it drift. A bank keeps learning by testing challengers on a share of
the traffic and by exploring a little; every decision then logs the probability with which
its queue was chosen (`propensity`), so effects can be re-estimated from the engine's own
history by inverse-propensity or doubly robust weighting.

The night, in order (everything seeded and vectorised; same inputs, same bytes):
1. Arms. A customer's draw u = hash(seed, customer_id) in [0, 1) picks the arm whose slice of
   the stage's shares holds u (arms in file order, the rest is the champion), the stage being
   the customer's most advanced one tonight. Customers, not accounts, are randomised so that
   `keep_customer_together` holds across arms; the draw depends only on the id, so an account
   stays in its arm across nights, and an account with an open placement keeps the arm it was
   placed under (the previous night's `arm`), as do its customer's other accounts.
2. Capacities split by arm share: queue q's capacity (and `max_balance`) goes to the arms in
   proportion to their accounts tonight in the stages q takes (largest remainders: the parts
   add up to the whole); an arm whose own strategy has another capacity gets that capacity
   times its share. The fraud queue goes by rank: each arm gets its candidates among the
   night's top `capacity` in the check's fill order (confirmed, ring score, account id).
3. Exploration, within each arm: a free account (not kept, held or fraud) of a customer with
   no other delinquent account tonight explores with probability `explore` (hash of seed,
   date and account id): it gets a queue drawn uniformly from its options, the eligible work
   queues with room but those of `never_explore` (default and always: `legal`, a court action
   is not a random draw) and not worked.
   Explorers take their capacity first (in draw order; a full queue sends the rest to not
   worked, counted in a warning); the arm's solver decides the others with what is left.
4. Propensity: the probability of the queue the account got (epsilon-greedy, k = the
   account's number of options, o_j = the share of tonight's explorers who drew queue j and
   found it full, `propensities`):
     queue j:      (1 - explore) [j = the solver's choice] + explore / k * (1 - o_j)
     not worked:   (1 - explore) [solver: none] + explore / k * (1 + sum of o_j over its options)
   the solver's choice being the rest solve's for an account that did not explore and, for an
   explorer, that of a solve of the arm with no exploration; 1 - explore for a solver's choice
   exploration never draws (`never_explore`); everything else (kept, held, fraud, customers with
   several accounts): 1.
5. The arms' plans are combined and checked together (`check_plan`) against the champion
   with the arms' capacities added up.

An arm whose effect for a (queue, stage) differs from the champion's decides with its own
figure there (that is the arm's hypothesis), with the history's estimates elsewhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign.check import require_plan
from collections_engine.assign.decide import Decision, assemble, decide, not_worked_row
from collections_engine.assign.model_data import CENT, build_problem, sorted_by_account
from collections_engine.config.experiments import CHAMPION, never_explored
from collections_engine.config.strategy import Strategy, VendorQueue
from collections_engine.vocabulary import KEPT, LEGAL_HOLD, NEW_DECISIONS, PLACED

__all__ = ["decide_night", "previous_arms", "assign_arms", "draw", "split_capacities", "propensities", "EXPERIMENT_COLUMNS"]

EXPERIMENT_COLUMNS = ["arm", "propensity"]


def draw(keys: pd.Series, seed: int, salt: str) -> np.ndarray:
    """A uniform [0, 1) number per key from a keyed hash: same key, seed and salt, same number."""
    key = (salt[:6].ljust(6, "_") + f"{seed % 10**10:010d}")
    h = pd.util.hash_pandas_object(pd.Series(keys.astype("str").to_numpy(dtype=object)), index=False,
                                   hash_key=key)
    return (h.to_numpy(np.uint64) >> np.uint64(11)).astype(np.float64) / float(2**53)


def _stage_index(strategy: Strategy, stage: np.ndarray) -> np.ndarray:
    order = {s: k for k, s in enumerate(strategy.stage_names())}
    return pd.Series(stage).map(order).fillna(-1).to_numpy(np.int64)


def previous_arms(previous: pd.DataFrame | None) -> pd.Series | None:
    """account_id -> the arm of a night's assignments (`previous_arm` of `decide_night`: an open
    placement keeps the arm it ran under); None without that night or its `arm` column."""
    if previous is None or "arm" not in previous.columns:
        return None
    return pd.Series(previous["arm"].astype("str").to_numpy(), index=previous["account_id"].astype("str"))


def assign_arms(df: pd.DataFrame, strategy: Strategy, previous_arm: pd.Series | None = None) -> np.ndarray:
    """The arm of each row of `df` (decision inputs sorted by account id)."""
    exp = strategy.experiments
    n = len(df)
    arm = np.full(n, CHAMPION, dtype=object)
    if exp is None or not exp.arms or n == 0:
        return arm
    cust = df["customer_id"].astype("str").reset_index(drop=True)
    u = draw(cust, exp.seed, "arm")
    sidx = _stage_index(strategy, df["stage"].astype("str").to_numpy(dtype=object))
    cstage = pd.Series(sidx).groupby(cust.to_numpy(), sort=False).transform("max").to_numpy()
    stages = strategy.stage_names()
    shares = np.array([[a.share.get(s, 0.0) for a in exp.arms] for s in stages] + [[0.0] * len(exp.arms)])
    cum = np.cumsum(shares, axis=1)                       # [stage (+ none), arm]
    hi = cum[cstage]                                      # -1 (no stage) -> the zero row
    lo = hi - shares[cstage]
    inside = (u[:, None] >= lo) & (u[:, None] < hi)
    which = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    names = np.array([a.name for a in exp.arms] + [CHAMPION], dtype=object)
    arm = names[which]
    if previous_arm is not None and len(previous_arm):
        known = set(names)
        prev = df["account_id"].astype("str").map(previous_arm).to_numpy(dtype=object)
        open_ = df["open_vendor"].fillna("").astype("str").to_numpy(dtype=object) != ""
        keep = open_ & pd.Series(prev).isin(known).to_numpy()
        if keep.any():
            by_cust = pd.Series(np.where(keep, prev, None)).groupby(cust.to_numpy(), sort=False).transform("first")
            has = by_cust.notna().to_numpy()
            arm = np.where(has, by_cust.to_numpy(dtype=object), arm)
    return arm


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, float)
    if total <= 0 or w.sum() <= 0:
        out = np.zeros(len(w), np.int64)
        if total > 0 and len(w):
            out[0] = total  # nobody in the queue's stages tonight: the champion keeps it all
        return out
    raw = total * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    rest = total - int(base.sum())
    order = np.lexsort((np.arange(len(w)), -(raw - base)))
    base[order[:rest]] += 1
    return base


def split_capacities(df: pd.DataFrame, arm: np.ndarray, arms: dict[str, Strategy]) -> dict[str, Strategy]:
    """Each arm's strategy with capacities and balance caps scaled to its share of tonight."""
    champ = arms[CHAMPION]
    names = list(arms)
    stage = df["stage"].astype("str").to_numpy(dtype=object)
    fraud = (df["fraud_confirmed"].fillna(False).to_numpy(bool)
             | (df["ring_id"].fillna("").astype("str").to_numpy(dtype=object) != ""))
    hold = df["hold"].fillna("").astype("str").to_numpy(dtype=object)
    updates: dict[str, dict[str, dict]] = {a: {} for a in names}
    for q in champ.queues:
        rows = fraud if q.kind == "fraud" else np.isin(stage, q.stages)
        if q.kind == "fraud" and not rows.any():
            rows = np.ones(len(df), bool)
        w = np.array([int((rows & (arm == a)).sum()) for a in names], float)
        base = _largest_remainder(int(q.capacity), w)
        if q.kind == "fraud" and fraud.any():
            base = _fraud_split(df, arm, names, fraud & (hold == ""), int(q.capacity), w)
        if q.kind == "legal":  # legal holds go to the legal queue whatever their stage: room first
            lh = np.array([int(((hold == LEGAL_HOLD) & (arm == a)).sum()) for a in names], np.int64)
            first = np.minimum(lh, np.maximum(int(q.capacity) - np.r_[0, np.cumsum(lh)[:-1]], 0))
            base = first + _largest_remainder(int(q.capacity) - int(first.sum()), w)
        share = w / w.sum() if w.sum() > 0 else np.r_[1.0, np.zeros(len(names) - 1)]
        for k, a in enumerate(names):
            own = arms[a].queue(q.name)
            cap = int(base[k]) if own.capacity == q.capacity else int(np.floor(own.capacity * share[k]))
            up = {"capacity": cap}
            if isinstance(own, VendorQueue) and own.max_balance is not None:
                up["max_balance"] = max(own.max_balance * share[k], 0.01)
            updates[a][q.name] = up
    return {a: _with_queues(arms[a], updates[a]) for a in names}


def _fraud_split(df: pd.DataFrame, arm: np.ndarray, names: list[str], cand: np.ndarray, capacity: int,
                 w: np.ndarray) -> np.ndarray:
    """The fraud queue's capacity per arm: each arm gets its candidates among the night's top
    `capacity` in the order the plan check fills the queue (confirmed first, then ring score
    desc, then account id); the room left over goes by the arms' candidate counts.

    Why: a split by counts lets one arm leave a confirmed-fraud account unworked while another
    takes a lower-scored ring member, which the combined check rightly refuses."""
    pos = np.flatnonzero(cand)
    score = (df["ring_score"].fillna(0.0).to_numpy(float) if "ring_score" in df
             else np.zeros(len(df)))
    key = pd.DataFrame({"c": ~df["fraud_confirmed"].fillna(False).to_numpy(bool)[pos], "s": -score[pos],
                        "a": df["account_id"].astype("str").to_numpy(dtype=object)[pos]})
    top = pos[key.sort_values(["c", "s", "a"], kind="mergesort").index.to_numpy()[:max(capacity, 0)]]
    base = np.array([int((arm[top] == a).sum()) for a in names], np.int64)
    return base + _largest_remainder(max(capacity, 0) - int(base.sum()), w)


def _with_queues(strategy: Strategy, updates: dict[str, dict]) -> Strategy:
    queues = [q.model_copy(update=updates.get(q.name, {})) for q in strategy.queues]
    return strategy.model_copy(update={"queues": queues, "experiments": None})


def _arm_effects(arm: Strategy, champ: Strategy, effects: dict | None) -> dict | None:
    """The history's estimates, less the cells where the arm states its own effect (fitted
    log-odds effects, `effects_model: logodds`, are the history's for every arm alike)."""
    if not effects or not isinstance(effects, dict):
        return effects
    own = set()
    for q in arm.work_queues():
        cq = champ.queue(q.name)
        for s, e in q.effect.items():
            if abs(e - getattr(cq, "effect", {}).get(s, e)) > 1e-12:
                own.add((q.name, s))
    out: dict = {}
    for k, v in effects.items():
        if isinstance(v, dict):
            kept = {s: e for s, e in v.items() if (str(k), str(s)) not in own}
            if kept:
                out[k] = kept
        elif (str(k[0]), str(k[1])) not in own:
            out[k] = v
    return out


def _priority(queue: np.ndarray, net: np.ndarray, account_id: np.ndarray) -> np.ndarray:
    """Rank within the queue by expected net (highest first), then account id; 0 = no queue."""
    out = np.zeros(len(queue), np.int64)
    has = np.flatnonzero(queue != "")
    if not len(has):
        return out
    qc, _ = pd.factorize(queue[has])
    ic, _ = pd.factorize(account_id[has], sort=True)
    order = np.lexsort((ic, -np.rint(net[has] * CENT).astype(np.int64), qc))
    qs = qc[order]
    start = np.r_[0, np.flatnonzero(qs[1:] != qs[:-1]) + 1]
    pos = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    out[has[order]] = pos + 1
    return out


def _columns(queue: pd.Series, col_of: dict[str, int]) -> np.ndarray:
    """Solver column of each row's queue; -1 for not worked ('' or a queue outside the columns)."""
    return queue.astype("str").map(col_of).fillna(-1).to_numpy(np.int64)


def propensities(explore: float, opts: np.ndarray, explorable: np.ndarray, taken: np.ndarray,
                 plan: np.ndarray, overflow: np.ndarray) -> np.ndarray:
    """The probability of the queue each row got, under epsilon-greedy exploration with full
    queues (pure; rows of one arm).

    opts [n, Q]: the queues exploration may draw for the row (k = options + not worked);
    taken: the row's final column (-1 not worked); plan: the optimiser's column for the row
    with no exploration (the rest solve's choice for a non-explorer, the arm's full solve for
    an explorer); overflow[j]: the share of tonight's explorers who drew j and found it full
    (they are not worked). For an explorable row, with e = explore:
        P(queue j)      = (1 - e) [plan = j] + e / k * opts_j * (1 - o_j)
        P(not worked)   = (1 - e) [plan = none] + e / k * (1 + sum_j opts_j o_j)
    (a full queue moves its share of exploration's chance to not worked: what the row's history
    weight must count). A row the optimiser put where exploration never goes (legal) has
    P = 1 - e. Everything not explorable: 1. The optimiser's choice is taken as fixed under
    exploration (explorers take some capacity from it: an approximation)."""
    n = len(taken)
    k = opts.sum(axis=1) + 1
    rows = np.arange(n)
    safe = np.clip(taken, 0, None)
    in_opts = np.where(taken >= 0, opts[rows, safe] if opts.shape[1] else False, True)
    o_taken = np.where(taken >= 0, overflow[safe] if len(overflow) else 0.0, 0.0)
    to_none = 1.0 + (opts * overflow[None, :]).sum(axis=1) if opts.shape[1] else np.ones(n)
    explored = explore / k * np.where(taken >= 0, in_opts * (1.0 - o_taken), to_none)
    p = (1 - explore) * (plan == taken) + explored
    return np.where(explorable, p, 1.0)


def _draw_explorers(pb, s_arm: Strategy, date, explore: float, seed: int, allow_split: bool,
                    never: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Who explores and where: (X explorers, choice column per row (-1 not worked), opts [n, Q]
    the queues exploration may draw, explorable, overflow o_j, explorers sent back by a full queue).

    Explorers take capacity in draw order; beyond a queue's room or balance: not worked."""
    cust = pd.Series(pb.customer)
    single = np.ones(pb.n, bool) if allow_split else cust.map(cust.value_counts()).to_numpy() == 1
    ids = pd.Series(pb.account_id).astype("str")
    dkey = pd.Timestamp(date).strftime("%Y-%m-%d")
    ux = draw(ids + "|" + dkey, seed, "explor")
    upick = draw(ids + "|" + dkey, seed, "pick")
    barred = np.array([q in never or s_arm.queue(q).kind == "legal" for q in pb.queues], bool)
    fits = (pb.bal[None, :] < 0) | (pb.amount[:, None] <= pb.bal[None, :])
    opts = pb.elig & (pb.cap > 0)[None, :] & ~barred[None, :] & fits
    explorable = pb.free & single
    k = opts.sum(axis=1) + 1                               # + not worked
    X = explorable & (ux < explore)
    pick = np.minimum(np.floor(upick * k).astype(np.int64), k - 1)
    # the pick-th option column (pick == k - 1: not worked)
    csum = np.cumsum(opts, axis=1)
    col = np.where(pick < k - 1, np.argmax(csum > pick[:, None], axis=1), -1)
    choice = np.where(X, col, -1)
    xr = np.flatnonzero(X & (choice >= 0))
    xr = xr[np.argsort(ux[xr], kind="stable")]
    full = 0
    overflow = np.zeros(len(pb.queues))        # o_j: share of the explorers who drew j and found it full
    for j in np.unique(choice[xr]):
        r = xr[choice[xr] == j]
        ok = np.arange(len(r)) < pb.cap[j]
        if pb.bal[j] >= 0:
            ok &= np.cumsum(pb.amount[r]) <= pb.bal[j]
        choice[r[~ok]] = -1
        full += int((~ok).sum())
        overflow[j] = float((~ok).sum()) / len(r)
    return X, choice, opts, explorable, overflow, full


def _room_left(pb, s_arm: Strategy, X: np.ndarray, choice: np.ndarray) -> Strategy:
    """The arm's strategy with the capacity and balance the explorers took removed."""
    got = X & (choice >= 0)
    taken = np.bincount(choice[got], minlength=len(pb.queues))
    taken_bal = np.bincount(choice[got], weights=pb.amount[got], minlength=len(pb.queues))
    ups = {}
    for j, qn in enumerate(pb.queues):
        q = s_arm.queue(qn)
        up = {"capacity": int(max(q.capacity - taken[j], 0))}
        if isinstance(q, VendorQueue) and q.max_balance is not None:
            up["max_balance"] = max(q.max_balance - taken_bal[j] / CENT, 0.01)
        ups[qn] = up
    return _with_queues(s_arm, ups)


def _explore_arm(sub: pd.DataFrame, s_arm: Strategy, date, eff: dict | None, explore: float,
                 seed: int, allow_split: bool, kw: dict, never: frozenset[str] = frozenset()
                 ) -> tuple[Decision, np.ndarray, list[str]]:
    """One arm's decision with exploration; returns it and the propensity per row (sub order).
    never: the queues exploration never draws (`config.experiments.never_explored`)."""
    pb = build_problem(sub, s_arm, date, eff)
    X, choice, opts, explorable, overflow, full = _draw_explorers(pb, s_arm, date, explore, seed, allow_split,
                                                                  never)
    warnings: list[str] = []
    if full:
        warnings.append(f"exploration: {full} explorers' drawn queue was full; not worked instead "
                        "(their propensities count the chance of that)")
    df = sorted_by_account(sub)
    # the solver's choice with no exploration (for the explorers' propensity)
    d_full = decide(df, s_arm, date, effects=eff, **kw)
    col_of = {q: j for j, q in enumerate(pb.queues)}
    if not X.any():
        taken_col = _columns(d_full.assignments["queue"], col_of)
        prop = propensities(explore, opts, explorable, taken_col, taken_col, overflow)
        return d_full, prop, warnings
    full_plan = d_full.assignments["queue"].astype("str").to_numpy(dtype=object)
    rest = decide(df[~X].reset_index(drop=True), _room_left(pb, s_arm, X, choice), date, effects=eff, **kw)
    xdf = df[X].reset_index(drop=True)
    pbx = build_problem(xdf, s_arm, date, eff)
    ax, plx = assemble(pbx, choice[X], xdf, s_arm, date)
    ax["reason"] = np.where(choice[X] >= 0, "explore", np.where(ax["reason"].astype(str) == "", "explore",
                                                               "explore; " + ax["reason"].astype(str)))
    ax["reason"] = ax["reason"].astype("str")
    a = pd.concat([rest.assignments, ax], ignore_index=True)
    pos = np.r_[np.flatnonzero(~X), np.flatnonzero(X)]
    order = np.argsort(pos, kind="stable")
    a = a.iloc[order].reset_index(drop=True)
    pl = pd.concat([rest.placements, plx], ignore_index=True).sort_values("account_id", kind="mergesort")
    taken_col = _columns(a["queue"], col_of)
    plan_col = np.where(X, _columns(pd.Series(full_plan), col_of), taken_col)
    prop = propensities(explore, opts, explorable, taken_col, plan_col, overflow)
    d = Decision(a, pl.reset_index(drop=True), rest.recalls, rest.queue_summary, rest.solver,
                 rest.warnings + warnings, rest.min_share_applied)
    d.solver = {**rest.solver, "explorers": int(X.sum()), "explorable": int(explorable.sum())}
    return d, prop, []


def decide_night(inputs: pd.DataFrame, strategy: Strategy, date, *, arms: dict[str, Strategy] | None = None,
                 effects: dict | None = None, previous_arm: pd.Series | None = None, **kw) -> Decision:
    """`decide` under the strategy's experiments; assignments gain `arm` and `propensity`.

    arms: `config.experiments.arm_strategies(...)` (the champion alone when None);
    previous_arm: account_id -> the arm of the previous night's assignments."""
    exp = strategy.experiments
    arms = arms or {CHAMPION: strategy}
    explore = exp.explore if exp is not None else 0.0
    if exp is None or (not exp.arms and explore == 0):
        d = decide(inputs, strategy, date, effects=effects, **kw)
        d.assignments["arm"] = pd.Series([CHAMPION] * len(d.assignments), dtype="str")
        d.assignments["propensity"] = 1.0
        return d
    df = sorted_by_account(inputs)
    arm = assign_arms(df, strategy, previous_arm)
    scaled = split_capacities(df, arm, arms)
    champ = arms[CHAMPION]
    never = never_explored(strategy)
    allow_split = not any(v.keep_customer_together for v in strategy.vendors()) and \
        not getattr(strategy, "one_collector_per_customer", False)
    parts, warnings, solvers, applied = [], [], {}, {}
    for name in arms:
        m = arm == name
        if not m.any():
            continue
        sub = df[m].reset_index(drop=True)
        eff = _arm_effects(arms[name], champ, effects)
        d, prop, w = _explore_arm(sub, scaled[name], date, eff, explore, exp.seed, allow_split, kw, never)
        a = d.assignments.copy()
        a["arm"] = name
        a["propensity"] = prop
        parts.append((a, d))
        tag = "" if name == CHAMPION else f"arm {name}: "
        warnings += [tag + x for x in d.warnings + w]
        solvers[name] = {"accounts": int(m.sum()), **d.solver}
        for v, s in d.min_share_applied.items():
            applied[v] = min(applied.get(v, s), s)
    a = pd.concat([p[0] for p in parts], ignore_index=True).sort_values("account_id", kind="mergesort")
    a = a.reset_index(drop=True)
    a["priority"] = _priority(a["queue"].astype("str").to_numpy(dtype=object),
                              a["expected_net"].to_numpy(float), a["account_id"].astype("str").to_numpy(dtype=object))
    a["arm"] = a["arm"].astype("str")
    pl = pd.concat([p[1].placements for p in parts], ignore_index=True).sort_values("account_id", kind="mergesort")
    rc = pd.concat([p[1].recalls for p in parts], ignore_index=True).sort_values(["vendor", "account_id"],
                                                                                kind="mergesort")
    combined = _combined(champ, scaled)
    applied.update(_exploration_shares(a, combined, applied, warnings))
    require_plan(df, a, combined, date, placements=pl, min_share_applied=applied)
    summary = _summary(a, df, champ, combined, parts)
    solver = {**solvers.get(CHAMPION, next(iter(solvers.values()))),
              "experiments": {"explore": explore, "seed": exp.seed, "never_explore": sorted(never),
                              "arms": solvers}}
    return Decision(a, pl.reset_index(drop=True), rc.reset_index(drop=True), summary, solver, warnings, applied)


def _combined(champ: Strategy, scaled: dict[str, Strategy]) -> Strategy:
    """The champion with the arms' capacities and balance caps added up, and the lowest
    min_share of any arm (what the combined plan is checked against)."""
    ups = {}
    for q in champ.queues:
        own = [s.queue(q.name) for s in scaled.values()]
        up = {"capacity": int(sum(x.capacity for x in own))}
        if isinstance(q, VendorQueue):
            if q.max_balance is not None:
                up["max_balance"] = float(sum(x.max_balance or 0 for x in own))
            up["min_share"] = float(min(x.min_share for x in own))
        ups[q.name] = up
    return _with_queues(champ, ups)


def _exploration_shares(a: pd.DataFrame, combined: Strategy, applied: dict, warnings: list[str]) -> dict:
    """Vendors whose min_share the random placements of explorers pulled below: the share met
    tonight, named in a warning (the contract check accepts exactly these)."""
    placed = a["decision"].astype("str") == PLACED
    n = int(placed.sum())
    out = {}
    for v in combined.vendors():
        if v.min_share <= 0 or n == 0 or v.name in applied:
            continue
        share = float((placed & (a["queue"].astype("str") == v.name)).sum()) / n
        if share + 1e-12 < v.min_share:
            out[v.name] = share
            warnings.append(f"exploration: vendor {v.name!r} got {share:.3f} of tonight's vendor placements, "
                            f"below its min_share {v.min_share}")
    return out


def _summary(a: pd.DataFrame, df: pd.DataFrame, champ: Strategy, combined: Strategy, parts) -> pd.DataFrame:
    """Queue summary of the combined plan; shadow prices are the champion arm's."""
    champ_sum = next((p[1].queue_summary for p in parts if (p[0]["arm"] == CHAMPION).all()), None)
    amount = df.set_index(df["account_id"].astype("str"))["collectable"].reindex(
        a["account_id"].astype("str")).fillna(0.0).to_numpy(float)
    rows = []
    queue = a["queue"].astype("str").to_numpy(dtype=object)
    dec = a["decision"].astype("str").to_numpy(dtype=object)
    new = np.isin(dec, NEW_DECISIONS)
    for q in combined.queues:
        m = queue == q.name
        cap = int(q.capacity)
        sp = {"shadow_price_capacity": float("nan"), "shadow_price_balance": float("nan")}
        if champ_sum is not None:
            r = champ_sum[champ_sum["queue"] == q.name]
            if len(r):
                sp = {k: float(r[k].iloc[0]) for k in sp}
        rows.append({"queue": q.name, "kind": q.kind, "accounts": int(m.sum()), "new_tonight": int((m & new).sum()),
                     "kept": int((m & (dec == KEPT)).sum()), "capacity": cap,
                     "use": float(m.sum() / cap) if cap else float("nan"), "balance": float(amount[m].sum()),
                     "max_balance": float(q.max_balance) if isinstance(q, VendorQueue) and q.max_balance
                     else float("nan"),
                     "expected_recovery": float(a["expected_recovery"][m].sum()),
                     "expected_cost": float(a["expected_cost"][m].sum()),
                     "expected_net": float(a["expected_net"][m].sum()), **sp})
    rows.append(not_worked_row(a, amount, queue == ""))
    return pd.DataFrame(rows)
