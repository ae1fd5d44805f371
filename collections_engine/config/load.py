"""Load and validate strategy and graph files, reporting every problem with path and line."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from collections_engine.config.experiments import arm_file_rules
from collections_engine.config.graph import GraphConfig
from collections_engine.config.rules import graph_rules, strategy_rules
from collections_engine.config.strategy import Strategy
from collections_engine.config.yamlio import LoadedYaml, _dotted, load_yaml_text
from collections_engine.errors import ConfigError

__all__ = ["load_strategy", "load_graph", "check_file", "file_kind"]

Loc = tuple[str | int, ...]


def _read(path: Path) -> tuple[str, LoadedYaml]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), [f"file not found; expected a YAML file at {path}"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text (byte {exc.start})"]) from None
    return text, load_yaml_text(text)


def file_kind(data: Any) -> str | None:
    """'strategy' or 'graph' from a document's keys (CONTRACT.md: told apart by content)."""
    if not isinstance(data, dict):
        return None
    keys = set(map(str, data))
    s = len(keys & set(Strategy.model_fields))
    g = len(keys & set(GraphConfig.model_fields))
    if s == 0 and g == 0:
        return None
    return "strategy" if s >= g else "graph"


def _validate(model: type[BaseModel], doc: LoadedYaml, rules: Any) -> tuple[Any, list[str]]:
    problems = list(doc.problems)
    if not isinstance(doc.data, dict):
        if doc.data is not None:
            problems.append(f"(top level): found {type(doc.data).__name__}; expected a mapping")
        return None, problems
    obj = None
    try:
        obj = model.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            problems.append(_format_error(model, doc, err))
    for loc, msg in rules(doc.data):
        problems.append(_at(doc, loc, msg))
    return obj, problems


def load_strategy(path: Path) -> Strategy:
    """The validated strategy, or ConfigError listing every problem."""
    _, doc = _read(path)
    obj, problems = _validate(Strategy, doc, strategy_rules)
    problems += _arm_files(obj, doc, path)
    if problems:
        raise ConfigError(str(path), problems)
    return obj


def load_graph(path: Path) -> GraphConfig:
    """The validated graph file, or ConfigError listing every problem."""
    _, doc = _read(path)
    obj, problems = _validate(GraphConfig, doc, graph_rules)
    if problems:
        raise ConfigError(str(path), problems)
    return obj


def check_file(path: Path) -> tuple[str, list[str]]:
    """(kind, problems) for one file; kind is 'strategy', 'graph' or 'unknown'."""
    try:
        _, doc = _read(path)
    except ConfigError as exc:
        return "unknown", list(exc.problems)
    kind = file_kind(doc.data)
    if kind is None:
        probs = list(doc.problems) or [
            "neither a strategy (stages, queues, ...) nor a graph file (kinds, ring, ...)"
        ]
        return "unknown", probs
    model, rules = (Strategy, strategy_rules) if kind == "strategy" else (GraphConfig, graph_rules)
    obj, problems = _validate(model, doc, rules)
    if kind == "strategy":
        problems += _arm_files(obj, doc, path)
    return kind, problems


def _arm_files(obj: Strategy | None, doc: LoadedYaml, path: Path) -> list[str]:
    """Problems of the challenger strategy files an `experiments` key names."""
    if obj is None or obj.experiments is None:
        return []
    return [_at(doc, loc, msg) for loc, msg in arm_file_rules(obj, Path(path), load_strategy)]


# --- error formatting ---------------------------------------------------------------------

def _at(doc: LoadedYaml, loc: Loc, msg: str) -> str:
    line = doc.line(loc)
    where = f" (line {line})" if line else ""
    return f"{_dotted(loc)}{where}: {msg}"


def _clean_loc(data: Any, loc: Loc) -> Loc:
    """Drop pydantic's union-tag and type-name parts so the path matches the YAML."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and isinstance(part, str) and part not in cur:
            if cur.get("kind") == part or part in ("function-after", "function-before"):
                continue
        if isinstance(cur, dict | list) and _has(cur, part):
            cur = cur[part]
        else:
            cur = None
        out.append(part)
    return tuple(out)


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(part, int) and 0 <= part < len(container)


def _fields_at(model: type[BaseModel], data: Any, loc: Loc) -> list[str]:
    """Field names of the model that holds the key at `loc` (for 'did you mean')."""
    ann: Any = model
    cur = data
    for part in loc[:-1]:
        ann = _unwrap(ann, cur)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(str(part))
            if field is None:
                return []
            ann = field.annotation
        else:
            origin = typing.get_origin(ann)
            args = typing.get_args(ann)
            if origin in (list, dict) and args:
                ann = args[-1]
            else:
                return []
        cur = cur[part] if isinstance(cur, dict | list) and _has(cur, part) else None
    ann = _unwrap(ann, cur)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return list(ann.model_fields)
    return []


def _unwrap(ann: Any, data: Any) -> Any:
    """Resolve Annotated, Optional and tagged unions (by the data's `kind`)."""
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            ann = typing.get_args(ann)[0]
            continue
        if origin in (Union, types.UnionType):
            options = [a for a in typing.get_args(ann) if a is not type(None)]
            models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(options) == 1:
                ann = options[0]
                continue
            if models and isinstance(data, dict):
                for m in models:
                    kind = m.model_fields.get("kind")
                    if kind is not None and data.get("kind") in typing.get_args(kind.annotation):
                        return m
            return models[0] if len(models) == 1 else ann
        return ann


def _format_error(model: type[BaseModel], doc: LoadedYaml, err: dict[str, Any]) -> str:
    loc = _clean_loc(doc.data, tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        known = _fields_at(model, doc.data, loc)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f", did you mean '{close[0]}'?" if close else (
            f"; expected one of: {', '.join(known)}" if known else ""
        )
        return _at(doc, loc, f"unknown key{hint}")
    if kind == "missing":
        return _at(doc, loc, "missing; this key is required here")
    if kind == "union_tag_invalid":
        return _at(doc, (*loc, "kind"), f"{err['msg']}")
    found = err.get("input")
    shown = repr(found) if not isinstance(found, dict | list) else type(found).__name__
    return _at(doc, loc, f"{err['msg'].rstrip('.')}; found {shown}")
