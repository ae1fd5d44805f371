"""JSON as the engine writes it, in one place: sorted keys, UTF-8, a final newline.

Values numpy hands back (np.int64, np.float32, np.bool_) become plain numbers and booleans, a
non-finite float becomes null (JSON has no NaN), and anything else JSON does not know (a date, a
path) is written as its text. The same object always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["json_bytes", "json_safe"]


def json_safe(o: Any) -> Any:
    """The object with numpy scalars as Python values, keys as text and NaN/inf as None."""
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def json_bytes(o: Any, *, indent: int = 1) -> bytes:
    """`o` as JSON bytes (see the module docstring); `indent` 2 where a file always had it."""
    return (json.dumps(json_safe(o), indent=indent, sort_keys=True, ensure_ascii=False, default=str)
            + "\n").encode("utf-8")
