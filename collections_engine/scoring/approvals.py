"""Approval records: an append-only log of who made which model version the champion, and why.

MODELS/approvals/NNNNNN.json, one file per action (approve, rollback), numbered in order and
created exclusively (a hard link of a complete temporary file: never overwritten, never half
written; two approvers racing get consecutive numbers). Each record carries the chain of
champions after it (`chain`, oldest first): its last element is the champion, and a rollback
goes back to the element before it. The log is the history a model validator reads; a version
folder's status.json only says whether the version was ever approved (its first approval).

Folders written before the log existed have no records: their champion is the newest version
whose status.json says approved, and the first record starts its chain from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["RECORDS_DIR", "read_records", "champion_chain", "append_record"]

RECORDS_DIR = "approvals"


def read_records(models_dir: Path) -> list[dict]:
    """Every approval record, oldest first."""
    d = Path(models_dir) / RECORDS_DIR
    if not d.is_dir():
        return []
    files = sorted(p for p in d.glob("[0-9]*.json") if p.stem.isdigit())
    return [json.loads(p.read_text(encoding="utf-8")) for p in files]


def champion_chain(records: list[dict], versions: list[dict]) -> list[str]:
    """The champions in order, the current one last ([] when nothing was ever approved).

    `versions` is `store.list_versions(...)` (used only when there are no records yet)."""
    if records:
        return list(records[-1]["chain"])
    legacy = [v["version_id"] for v in versions if v.get("status") == "approved"]
    return legacy[-1:]


def append_record(models_dir: Path, record: dict, to_bytes) -> dict:
    """Write `record` as the next numbered file; returns it with its `seq`. Never overwrites."""
    d = Path(models_dir) / RECORDS_DIR
    d.mkdir(parents=True, exist_ok=True)
    while True:
        existing = [int(p.stem) for p in d.glob("[0-9]*.json") if p.stem.isdigit()]
        seq = max(existing, default=0) + 1
        rec = {"seq": seq, **record}
        fd, tmp = tempfile.mkstemp(prefix=".record.", dir=d)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(to_bytes(rec))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, d / f"{seq:06d}.json")  # fails if the number is taken: no overwrite
            except FileExistsError:
                continue
            return rec
        finally:
            Path(tmp).unlink(missing_ok=True)
