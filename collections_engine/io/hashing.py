"""SHA-256 in one place: of a file, of a JSON-able object, of a set of source files.

Everything that fingerprints something (a night's inputs, a model version's code, a strategy
file, a promoted file) hashes through these, so the same thing always gets the same digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["file_sha256", "json_sha256", "bytes_sha256", "source_hash"]


def file_sha256(path: Path) -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_sha256(obj: object) -> str:
    """Hex digest of the object as JSON with sorted keys (compact separators are not used: the
    digests recorded in earlier run folders were made this way)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def source_hash(root: Path, files: Iterable[Path]) -> str:
    """Hex digest of source files: each file's path relative to `root`, then its bytes, in the
    order given (callers sort)."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).relative_to(root).as_posix().encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()
