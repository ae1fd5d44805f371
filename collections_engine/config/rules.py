"""Rules that span fields, checked on the raw YAML document so all problems show at once.

Each rule tolerates a malformed document (wrong types are the pydantic models' job) and
returns (path, message) pairs.
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Any

from collections_engine.config.experiments import experiment_rules
from collections_engine.config.strategy import ACCOUNT_FIELDS, CUSTOMER_FIELDS, OUTPUT_FIELDS

__all__ = ["strategy_rules", "graph_rules"]

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]


def _suggest(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
    return f", did you mean '{close[0]}'?" if close else f"; expected one of: {', '.join(options)}"


def _dicts(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(key)
    if not isinstance(items, list):
        return []
    return [(i, x) for i, x in enumerate(items) if isinstance(x, dict)]


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _duplicates(items: list[tuple[int, dict[str, Any]]], section: str) -> Found:
    out: Found = []
    counts = Counter(x.get("name") for _, x in items if isinstance(x.get("name"), str))
    for i, x in items:
        name = x.get("name")
        if isinstance(name, str) and counts[name] > 1:
            out.append(((section, i, "name"), f"duplicate name '{name}'; expected each name once"))
    return out


def _stage_rules(stages: list[tuple[int, dict[str, Any]]]) -> Found:
    out: Found = _duplicates(stages, "stages")
    prev_max: int | None = None
    for pos, (i, s) in enumerate(stages):
        lo, hi = _int(s.get("dpd_min")), _int(s.get("dpd_max"))
        last = pos == len(stages) - 1
        if lo is None:
            prev_max = hi
            continue
        if hi is not None and hi < lo:
            out.append((("stages", i, "dpd_max"), f"found {hi} below dpd_min {lo}; expected dpd_max >= dpd_min"))
        if pos == 0 and lo != 1:
            out.append((("stages", i, "dpd_min"), f"found {lo}; expected the first stage to start at 1"))
        if pos > 0 and prev_max is not None:
            if lo > prev_max + 1:
                out.append((("stages", i, "dpd_min"),
                            f"gap: DPD {prev_max + 1}..{lo - 1} is in no stage; expected {prev_max + 1}"))
            elif lo <= prev_max:
                out.append((("stages", i, "dpd_min"),
                            f"overlap: found {lo}, previous stage ends at {prev_max}; expected {prev_max + 1}"))
        if pos > 0 and prev_max is None and stages[pos - 1][1].get("dpd_max") is None:
            out.append((("stages", stages[pos - 1][0], "dpd_max"),
                        "missing; only the last stage may be open-ended"))
        if hi is None and not last and "dpd_max" not in s:
            pass  # reported on the next stage
        prev_max = hi
    return out


def _queue_rules(data: dict[str, Any], stage_names: list[str]) -> Found:
    out: Found = []
    queues = _dicts(data, "queues")
    out += _duplicates(queues, "queues")
    pf = data.get("personal_fields")
    personal = [p for p in pf if isinstance(p, str)] if isinstance(pf, list) else []
    allowed = sorted(set(ACCOUNT_FIELDS) | set(CUSTOMER_FIELDS) | set(personal) | set(OUTPUT_FIELDS))
    taken: set[str] = set()
    kinds = Counter(q.get("kind") for _, q in queues if isinstance(q.get("kind"), str))
    for kind in ("fraud", "legal"):
        if kinds[kind] > 1:
            idx = [i for i, q in queues if q.get("kind") == kind][1]
            out.append((("queues", idx, "kind"), f"a second '{kind}' queue; expected at most one"))
    share = 0.0
    for i, q in queues:
        qstages = q.get("stages")
        if isinstance(qstages, list):
            for j, st in enumerate(qstages):
                if not isinstance(st, str):
                    continue
                if stage_names and st not in stage_names:
                    out.append((("queues", i, "stages", j), f"unknown stage '{st}'{_suggest(st, stage_names)}"))
                elif q.get("kind") != "fraud":
                    taken.add(st)
            effect = q.get("effect")
            if isinstance(effect, dict):
                for st in effect:
                    if isinstance(st, str) and st not in qstages:
                        out.append((("queues", i, "effect", st),
                                    f"effect for stage '{st}' the queue does not take; expected one of: "
                                    f"{', '.join(map(str, qstages))}"))
                for st in qstages:
                    if isinstance(st, str) and st not in effect:
                        out.append((("queues", i, "effect"), f"no effect for stage '{st}'; expected one per stage taken"))
        fields = q.get("file_fields")
        if q.get("kind") == "vendor" and isinstance(fields, list):
            for j, f in enumerate(fields):
                if isinstance(f, str) and f not in allowed:
                    out.append((("queues", i, "file_fields", j), f"'{f}' is not a field a vendor file can carry{_suggest(f, allowed)}"))
            dup = [f for f, c in Counter(map(str, fields)).items() if c > 1]
            for f in dup:
                out.append((("queues", i, "file_fields"), f"'{f}' listed twice"))
        ms = q.get("min_share")
        if q.get("kind") == "vendor" and isinstance(ms, int | float) and not isinstance(ms, bool):
            share += float(ms)
    if share > 1 + 1e-9:
        out.append((("queues",), f"vendors' min_share add up to {share:g}; expected at most 1"))
    for s in stage_names:
        if s not in taken and queues:
            out.append((("stages",), f"stage '{s}' is taken by no queue; expected at least one queue per stage"))
    return out


def _band_rules(data: dict[str, Any]) -> Found:
    out: Found = []
    score = data.get("score")
    if not isinstance(score, dict) or not isinstance(score.get("bands"), list):
        return out
    bands = [(i, b) for i, b in enumerate(score["bands"]) if isinstance(b, dict)]
    out += [(("score", *loc), m) for loc, m in _duplicates(bands, "bands")]
    prev = None
    for pos, (i, b) in enumerate(bands):
        mp = b.get("min_points")
        last = pos == len(bands) - 1
        if mp is None and not last:
            out.append((("score", "bands", i, "min_points"), "missing; only the last band may have no min_points"))
        if mp is not None and last:
            out.append((("score", "bands", i, "min_points"),
                        f"found {mp} on the last band; expected none, so that every score has a band"))
        if isinstance(mp, int | float) and isinstance(prev, int | float) and mp >= prev:
            out.append((("score", "bands", i, "min_points"),
                        f"found {mp}; expected below the previous band's {prev} (bands from best to worst)"))
        prev = mp
    return out


def strategy_rules(data: dict[str, Any]) -> Found:
    stages = _dicts(data, "stages")
    stage_names = [s["name"] for _, s in stages if isinstance(s.get("name"), str)]
    out = _stage_rules(stages)
    out += _queue_rules(data, stage_names)
    out += _band_rules(data)
    out += _duplicates(_dicts(data, "sources"), "sources")
    out += experiment_rules(data, stage_names)
    out += _family_rules(data, stage_names)
    return out


def _family_rules(data: dict[str, Any], stage_names: list[str]) -> Found:
    """`models.family_by_segment` keys are segments: new|existing / a stage name."""
    models = data.get("models")
    fam = models.get("family_by_segment") if isinstance(models, dict) else None
    if not isinstance(fam, dict):
        return []
    segments = [f"{line}/{s}" for line in ("new", "existing") for s in stage_names]
    return [(("models", "family_by_segment", k), f"unknown segment '{k}'{_suggest(k, segments)}")
            for k in fam if k not in segments]


def graph_rules(data: dict[str, Any]) -> Found:
    out: Found = []
    kinds = data.get("kinds")
    if isinstance(kinds, dict):
        for k in kinds:
            if not isinstance(k, str) or not k.strip():
                out.append((("kinds",), f"identifier kind {k!r}; expected a non-empty name"))
    comm = data.get("community")
    if isinstance(comm, dict) and comm.get("method") == "louvain" and comm.get("objective") == "CPM":
        out.append((("community", "objective"),
                    "found 'CPM' with method louvain, which optimises modularity only; "
                    "expected 'modularity' (or method: leiden)"))
    ring = data.get("ring")
    links = ring.get("link_evidence") if isinstance(ring, dict) else None
    if isinstance(kinds, dict) and isinstance(links, dict):
        for k in links:
            if k not in kinds:
                out.append((("ring", "link_evidence", k),
                            f"unknown key {k!r}: not a kind of `kinds`; expected one of {sorted(map(str, kinds))}"))
    return out
