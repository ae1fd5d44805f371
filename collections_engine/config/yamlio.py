"""YAML reading that remembers the line of every key, and rejects duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["LoadedYaml", "load_yaml_text"]

Path_ = tuple[str | int, ...]


class LoadedYaml:
    """The parsed document plus the 1-based line of each path."""

    def __init__(self, data: Any, lines: dict[Path_, int], problems: list[str]):
        self.data = data
        self.lines = lines
        self.problems = problems

    def line(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


def load_yaml_text(text: str) -> LoadedYaml:
    """Parse YAML safely; syntax errors and duplicate keys become problems, not exceptions."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return LoadedYaml(None, {}, [f"not valid YAML{where}: {problem}"])
    if node is None:
        return LoadedYaml(None, {}, ["the file is empty; expected a YAML mapping"])
    lines: dict[Path_, int] = {}
    problems: list[str] = []
    _walk(node, (), lines, problems)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # e.g. a bad tag only the constructor sees
        return LoadedYaml(None, {}, [f"not valid YAML: {str(exc).splitlines()[0]}"])
    return LoadedYaml(data, lines, problems)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[str]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key in seen:
                dotted = _dotted((*path, key))
                problems.append(
                    f"{dotted} (line {key_node.start_mark.line + 1}): duplicate key; "
                    "expected each key once"
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def read_yaml(path: Path) -> LoadedYaml:
    return load_yaml_text(Path(path).read_text(encoding="utf-8"))
