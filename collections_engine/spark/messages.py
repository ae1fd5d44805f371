"""Problems and warnings found bucket by bucket, told as the in-process run tells them: one
message per kind with the counts added up (`3 rows ...` in one bucket and `2 rows ...` in
another is `5 rows ...`), the first bucket's offending keys (row numbers within a bucket mean
nothing to a reader, so they are left out), and features empty tonight only when empty in every
bucket."""

from __future__ import annotations

import re

__all__ = ["merge_messages", "empty_everywhere"]

_COUNT = re.compile(r"\b(\d+)(?= (?:rows?\b|row\(s\)|labels\b|model feature))")
_ROWNUM = re.compile(r"(?<=rows )\d+ \(|(?<=, )\d+ \(")
EMPTY_PREFIX = " model feature(s) empty in every row tonight, treated as missing: "


def _split(msg: str) -> tuple[str, str]:
    head, sep, hint = msg.partition("; rows ")
    return head, (sep + hint) if sep else ""


def merge_messages(messages: list[str]) -> list[str]:
    """Messages that differ only in their count are one message with the counts added."""
    order: list[str] = []
    total: dict[str, int] = {}
    first: dict[str, tuple[str, str]] = {}
    for msg in messages:
        head, hint = _split(msg)
        m = _COUNT.search(head)
        key = _COUNT.sub("#", head, count=1) if m else head
        if key not in total:
            order.append(key)
            total[key] = 0
            first[key] = (head, _ROWNUM.sub("(", hint))
        total[key] += int(m.group(1)) if m else 0
    out = []
    for key in order:
        head, hint = first[key]
        if _COUNT.search(head):
            head = _COUNT.sub(str(total[key]), head, count=1)
        out.append(head + hint)
    return out


def empty_everywhere(per_bucket: list[list[str]], n_buckets: int) -> tuple[str | None, list[list[str]]]:
    """The 'empty in every row tonight' warning for the whole night (features empty in every
    bucket that scored), and each bucket's other warnings."""
    rest, empty_sets = [], []
    for warns in per_bucket:
        mine = [w for w in warns if EMPTY_PREFIX in w]
        rest.append([w for w in warns if EMPTY_PREFIX not in w])
        empty_sets.append(mine[0].split(EMPTY_PREFIX, 1)[1].split(", ") if mine else [])
    if len(per_bucket) < n_buckets or not empty_sets:
        return None, rest
    common = [f for f in empty_sets[0] if all(f in s for s in empty_sets[1:])]
    if not common:
        return None, rest
    return f"{len(common)}{EMPTY_PREFIX}" + ", ".join(common), rest
