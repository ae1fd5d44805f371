"""Hypothesis strategies for what users write: strategy/graph YAML and input tables."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

Path_ = tuple[str | int, ...]

WRONG_VALUES = st.sampled_from(
    ["text", -5, 1.5e9, None, [], {}, [1, 2], {"x": 1}, True, -0.5, 0, "M9"]
)
FREE_FORM = {"monotone", "kinds", "effect"}  # mappings whose keys are names users choose
UNKNOWN_KEYS = st.sampled_from(["comission", "capcity", "stagez", "effects", "weight", "x"])


def paths(doc: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path to a value in a YAML document (mapping keys and list items)."""
    out: list[Path_] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*prefix, i))
            out += paths(v, (*prefix, i))
    return out


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _get(doc: Any, path: Path_) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def mutated_yaml(draw: st.DrawFn, doc: dict[str, Any]) -> tuple[dict[str, Any], str, Path_]:
    """(mutated document, mutation kind, path the mutation touched)."""
    doc = copy.deepcopy(doc)
    all_paths = paths(doc)
    kind = draw(st.sampled_from(["delete", "unknown_key", "wrong_value"]))
    if kind == "unknown_key":
        mappings = [()] + [p for p in all_paths if isinstance(_get(doc, p), dict)]
        where = draw(st.sampled_from(mappings))
        key = draw(UNKNOWN_KEYS)
        target = _get(doc, where)
        if key in target:
            return doc, "none", where
        target[key] = 1
        free_form = bool(where) and where[-1] in FREE_FORM
        return doc, "free_key" if free_form else kind, (*where, key)
    keyed = [p for p in all_paths if isinstance(p[-1], str)]
    where = draw(st.sampled_from(keyed))
    parent = _get(doc, where[:-1])
    if kind == "delete":
        del parent[where[-1]]
    else:
        parent[where[-1]] = draw(WRONG_VALUES)
    return doc, kind, where
