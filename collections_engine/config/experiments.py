"""The strategy file's `experiments` key: rules, challenger arms' strategies, overrides.

    experiments:
      explore: 0.05                 # probability that a free account gets a random eligible queue
      seed: 0                       # hash seed of arms and exploration (default 0)
      never_explore: [legal]        # queues exploration never draws (default: every legal queue)
      arms:
        - {name: north_m3, overrides: {agency_north: {effect: {M3: 1.8}}}, share: {M3: 0.1}}
        - {name: lean, strategy: lean.yaml, share: {M1: 0.1, M2: 0.1}}

The file is the champion. A challenger is another strategy file (same stages and the same
queues by name and kind: the test splits the same teams and vendors; every other key the same
as the champion's but `name` and the queues' `OVERRIDE_KEYS`, since the combined plan is checked
against the champion's rules) or overrides of some queues' keys (`OVERRIDE_KEYS`). Each arm takes a share of each stage's traffic; per stage the
arms' shares add up to at most 1, the rest is the champion's. Checked on the raw document
(every problem at once, with its YAML path) and, for arm files, with the champion's path.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from collections_engine.config.strategy import Queue, Strategy

__all__ = ["OVERRIDE_KEYS", "CHAMPION", "merge_queue", "experiment_rules", "arm_file_rules", "apply_overrides",
           "arm_strategies", "arm_terms", "never_explored"]

CHAMPION = "champion"
OVERRIDE_KEYS = ("capacity", "cost_per_account", "effect", "commission", "placement_days",
                 "max_balance", "min_share")

# Why an arm cannot change the fraud queue: it works the night's highest-ranked candidates
# across all arms (confirmed first, then ring score); an arm with more or less room would hold
# a lower-ranked account while a higher-ranked one of another arm goes unworked, which the
# combined plan check refuses (the night would stop), and fraud holds are not a test variable.
FRAUD_RULE = ("expected the champion's capacity: the fraud queue works the night's highest-ranked "
              "candidates across all arms (confirmed first, then ring score), so an arm cannot change "
              "it; change it in the champion's file")

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]
_QUEUE = TypeAdapter(Queue)


def _suggest(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
    return f", did you mean '{close[0]}'?" if close else f"; expected one of: {', '.join(options)}"


def never_explored(strategy: Strategy) -> frozenset[str]:
    """The queues exploration never draws: `experiments.never_explore`, or every legal queue
    when the key is absent (`check` makes sure a given list holds every legal queue)."""
    exp = strategy.experiments
    if exp is not None and exp.never_explore is not None:
        return frozenset(exp.never_explore)
    return frozenset(q.name for q in strategy.queues if q.kind == "legal")


def _never_explore_rules(exp: dict[str, Any], queues: dict[str, dict]) -> Found:
    """`never_explore`: known work queues, each once, every legal queue among them.

    Why legal must be listed: exploration sends a random share of accounts to a random eligible
    queue; a court action against a customer drawn at random is not something a bank does, so
    legal is never explored and its effect cannot be re-estimated from the engine's history
    (the estimator says so). The key makes that exclusion visible, and lets a bank exclude
    other queues too (a vendor on probation, a costly field team)."""
    names = exp.get("never_explore")
    if not isinstance(names, list):
        return []
    at: Loc = ("experiments", "never_explore")
    out: Found = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue  # the model reports the type
        if name not in queues:
            out.append(((*at, i), f"unknown queue '{name}'{_suggest(name, sorted(queues))}"))
        elif queues[name].get("kind") == "fraud":
            out.append(((*at, i), f"'{name}' is the fraud queue, which exploration never draws (it works the "
                                  "night's fraud candidates); expected a work queue"))
        elif name in seen:
            out.append(((*at, i), f"'{name}' listed twice; expected each queue once"))
        seen.add(name)
    for name, q in queues.items():
        if q.get("kind") == "legal" and name not in seen:
            out.append((at, f"legal queue '{name}' is missing; expected every legal queue in the list (a court "
                            "action is never a random draw; leave the key out for the default: every legal queue)"))
    return out


def experiment_rules(data: dict[str, Any], stage_names: list[str]) -> Found:
    """Problems of `experiments` that span fields (types and ranges are the models' job)."""
    exp = data.get("experiments")
    if not isinstance(exp, dict):
        return []
    queues = {q["name"]: q for q in data.get("queues", []) if isinstance(q, dict) and isinstance(q.get("name"), str)}
    out: Found = _never_explore_rules(exp, queues)
    if not isinstance(exp.get("arms"), list):
        return out
    names: dict[str, int] = {}
    totals: dict[str, float] = defaultdict(float)
    for i, arm in enumerate(exp["arms"]):
        if not isinstance(arm, dict):
            continue
        at: Loc = ("experiments", "arms", i)
        name = arm.get("name")
        if isinstance(name, str):
            if name == CHAMPION:
                out.append(((*at, "name"), f"'{CHAMPION}' is the strategy file itself; expected another name"))
            elif name in names:
                out.append(((*at, "name"), f"duplicate arm name '{name}' (also arms[{names[name]}]); "
                                           "expected each name once"))
            names.setdefault(name, i)
        has_file, has_over = arm.get("strategy") is not None, arm.get("overrides") is not None
        if has_file == has_over:
            out.append((at, "found " + ("both strategy and overrides" if has_file else "neither strategy nor "
                                        "overrides") + "; expected exactly one (a challenger file, or "
                                        "overrides of the champion's queues)"))
        share = arm.get("share")
        if isinstance(share, dict):
            for st, v in share.items():
                if stage_names and st not in stage_names:
                    out.append(((*at, "share", st), f"unknown stage '{st}'{_suggest(st, stage_names)}"))
                elif isinstance(v, int | float) and not isinstance(v, bool):
                    totals[st] += float(v)
        if isinstance(arm.get("overrides"), dict):
            out += _override_rules(arm["overrides"], queues, (*at, "overrides"))
    for st, tot in totals.items():
        if tot > 1 + 1e-9:
            out.append((("experiments", "arms"), f"the arms' shares of stage '{st}' add up to {tot:g}; "
                                                 "expected at most 1 (the rest is the champion's)"))
    return out


def _override_rules(over: dict[str, Any], queues: dict[str, dict], at: Loc) -> Found:
    out: Found = []
    share = 0.0
    for qname, keys in over.items():
        if qname not in queues:
            out.append(((*at, qname), f"unknown queue '{qname}'{_suggest(qname, sorted(queues))}"))
            continue
        if not isinstance(keys, dict):
            continue
        base = queues[qname]
        if base.get("kind") == "fraud" and "capacity" in keys and keys["capacity"] != base.get("capacity"):
            out.append(((*at, qname, "capacity"), f"found {keys['capacity']!r}; {FRAUD_RULE}"))
        for k in keys:
            if k not in OVERRIDE_KEYS:
                out.append(((*at, qname, k), f"'{k}' cannot be overridden{_suggest(k, list(OVERRIDE_KEYS))}"))
        merged = merge_queue(base, {k: v for k, v in keys.items() if k in OVERRIDE_KEYS})
        try:
            _QUEUE.validate_python(merged)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = [p for p in err["loc"] if p not in (base.get("kind"),)]
                if loc and loc[0] in keys:
                    found = err.get("input")
                    msg = err["msg"].rstrip(".")
                    if err["type"] == "extra_forbidden":
                        msg = f"not a key of a {base.get('kind')} queue"
                    out.append(((*at, qname, *loc), f"{msg}; found {found!r}" if err["type"] != "extra_forbidden"
                                else msg))
        eff = keys.get("effect")
        stages = base.get("stages") if isinstance(base.get("stages"), list) else []
        if isinstance(eff, dict):
            for st in eff:
                if st not in stages:
                    out.append(((*at, qname, "effect", st), f"effect for stage '{st}' the queue does not "
                                                            f"take; expected one of: {', '.join(map(str, stages))}"))
        if base.get("kind") == "vendor":
            ms = merged.get("min_share", 0.0)
            share += float(ms) if isinstance(ms, int | float) else 0.0
    others = sum(float(q.get("min_share", 0) or 0) for n, q in queues.items()
                 if q.get("kind") == "vendor" and n not in over and isinstance(q.get("min_share", 0), int | float))
    if share + others > 1 + 1e-9:
        out.append((at, f"vendors' min_share add up to {share + others:g} with these overrides; expected at most 1"))
    return out


def arm_file_rules(strategy: Strategy, path: Path, load) -> list[tuple[Loc, str]]:
    """Problems of the challenger files (`load` is `load_strategy`): missing, invalid, nested
    experiments, or other stages or queues than the champion's."""
    out: list[tuple[Loc, str]] = []
    if strategy.experiments is None:
        return out
    for i, arm in enumerate(strategy.experiments.arms):
        if arm.strategy is None:
            continue
        at: Loc = ("experiments", "arms", i, "strategy")
        f = (Path(path).parent / arm.strategy)
        try:
            other = load(f)
        except Exception as exc:  # noqa: BLE001 - ConfigError: its problems are listed here
            probs = getattr(exc, "problems", [str(exc)])
            out.append((at, f"{arm.strategy}: {len(probs)} problem(s): " + "; ".join(probs)))
            continue
        if other.experiments is not None and other.experiments.arms:
            out.append((at, f"{arm.strategy} has experiments of its own; expected none (no nested tests)"))
        if [s.model_dump() for s in other.stages] != [s.model_dump() for s in strategy.stages]:
            out.append((at, f"{arm.strategy}: other stages than the champion's; expected the same stages"))
        mine = sorted((q.name, q.kind) for q in strategy.queues)
        theirs = sorted((q.name, q.kind) for q in other.queues)
        if mine != theirs:
            out.append((at, f"{arm.strategy}: queues {theirs}; expected the champion's queues by name and "
                            f"kind {mine} (a test splits the same teams and vendors)"))
        out += [(at, f"{arm.strategy}: {where}: {what}") for where, what in _rule_differences(strategy, other)]
    return out


def _rule_differences(champ: Strategy, other: Strategy) -> list[tuple[str, str]]:
    """(YAML path in the arm file, message) for every key of an arm file that differs from the
    champion's outside the keys an arm may override (`OVERRIDE_KEYS` of each queue).

    Why: the combined plan is checked against the champion's rules (queue stages, recall_on,
    keep_customer_together, one_collector_per_customer, ...); an arm file that changes one of
    them passes `check` and then fails the night. Stages and queue names/kinds are reported by
    their own rules; `name` is the arm file's own."""
    out: list[tuple[str, str]] = []
    skip = {"name", "stages", "queues", "experiments"}
    a = champ.model_dump(mode="json", exclude=skip)
    b = other.model_dump(mode="json", exclude=skip)
    for key in sorted(set(a) | set(b)):
        out += _diff(a.get(key), b.get(key), key)
    mine = {q.name: q for q in champ.queues}
    for i, q in enumerate(other.queues):
        c = mine.get(q.name)
        if c is None or c.kind != q.kind:
            continue  # reported with the queue names and kinds
        if q.kind == "fraud" and q.capacity != c.capacity:
            out.append((f"queues[{i}].capacity", f"found {q.capacity!r}; {FRAUD_RULE}"))
        qa = c.model_dump(mode="json", exclude=set(OVERRIDE_KEYS))
        qb = q.model_dump(mode="json", exclude=set(OVERRIDE_KEYS))
        for key in sorted(set(qa) | set(qb)):
            out += _diff(qa.get(key), qb.get(key), f"queues[{i}].{key}")
    return out


def _diff(want: Any, found: Any, at: str) -> list[tuple[str, str]]:
    if want == found:
        return []
    if isinstance(want, dict) and isinstance(found, dict):
        return [d for k in sorted(set(want) | set(found), key=str) for d in _diff(want.get(k), found.get(k), f"{at}.{k}")]
    return [(at, f"found {found!r}; expected the champion's {want!r} (the combined plan is checked against "
                 "the champion's rules; an arm file may differ only in its queues' "
                 f"{'/'.join(OVERRIDE_KEYS)})")]


def merge_queue(base: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """A queue's keys with an arm's overrides; `effect` is merged stage by stage (an override of
    one stage's effect keeps the others)."""
    out = {**base, **keys}
    if isinstance(keys.get("effect"), dict) and isinstance(base.get("effect"), dict):
        out["effect"] = {**base["effect"], **keys["effect"]}
    return out


def apply_overrides(strategy: Strategy, overrides: dict[str, dict[str, Any]]) -> Strategy:
    """The champion with some queues' keys replaced (validated by `experiment_rules`)."""
    queues = []
    for q in strategy.queues:
        keys = overrides.get(q.name)
        if keys:
            q = _QUEUE.validate_python(merge_queue(q.model_dump(), keys))
        queues.append(q)
    return strategy.model_copy(update={"queues": queues, "experiments": None})


def arm_strategies(strategy: Strategy, path: Path, load) -> dict[str, Strategy]:
    """Arm name -> its strategy (the champion first, as `CHAMPION`); `load` reads a file."""
    out = {CHAMPION: strategy}
    if strategy.experiments is None:
        return out
    for arm in strategy.experiments.arms:
        if arm.strategy is not None:
            out[arm.name] = load(Path(path).parent / arm.strategy).model_copy(update={"experiments": None})
        else:
            out[arm.name] = apply_overrides(strategy, arm.overrides or {})
    return out


def arm_terms(arms: dict[str, Strategy], strategy: Strategy) -> dict:
    """What `experiments` needs to cost each arm's realised outcomes (recorded in run.json):
    per arm its shares and each work queue's cost_per_account and commission."""
    exp = strategy.experiments
    shares = {a.name: dict(a.share) for a in exp.arms} if exp is not None else {}
    return {"explore": exp.explore if exp is not None else 0.0,
            "seed": exp.seed if exp is not None else 0,
            "arms": {name: {"share": shares.get(name),
                            "queues": {q.name: {"cost_per_account": q.cost_per_account,
                                                "commission": getattr(q, "commission", 0.0)}
                                       for q in s.work_queues()}}
                     for name, s in arms.items()}}
