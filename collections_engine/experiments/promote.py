"""`promote`: make a challenger arm the champion strategy, with an approval record.

The strategy file is rewritten with the arm's queues (its overrides applied, or its file's
content) and without that arm in `experiments` (the other arms and exploration go on). Before
the file is replaced, the new content is checked like any strategy file and the old bytes are
kept (STRATEGY_DIR/STEM.history/previous/SHA256.yaml); after it is replaced, a record says who,
when, why, both files' SHA-256, where the old bytes are and the evidence (the `experiments`
results, when RUNS and DATA are given). Records live in STRATEGY_DIR/STEM.history/approvals/
NNNNNN.json, append-only like the model approvals.

YAML comments of the file are not carried into the new file (the old file is kept verbatim).
"""

from __future__ import annotations

import copy
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import yaml

from collections_engine.config import load_strategy
from collections_engine.config.experiments import merge_queue
from collections_engine.errors import InputError
from collections_engine.io import write_bytes_atomic
from collections_engine.io.hashing import bytes_sha256
from collections_engine.scoring.approvals import append_record
from collections_engine.scoring.store import to_json_bytes

__all__ = ["promoted_document", "promote"]


def promoted_document(doc: dict, arm: str, arm_doc: dict | None) -> dict:
    """The champion document after promoting `arm` (pure; `arm_doc`: the arm's file, if any)."""
    exp = doc.get("experiments") or {}
    arms = exp.get("arms") or []
    chosen = next(a for a in arms if a.get("name") == arm)
    new = copy.deepcopy(arm_doc) if arm_doc is not None else copy.deepcopy(doc)
    new.pop("experiments", None)
    if arm_doc is None:
        over = chosen.get("overrides") or {}
        new["queues"] = [merge_queue(q, over[q["name"]]) if q.get("name") in over else q for q in new["queues"]]
    rest = [copy.deepcopy(a) for a in arms if a.get("name") != arm]
    if rest or float(exp.get("explore", 0) or 0) > 0:
        new["experiments"] = {**{k: v for k, v in exp.items() if k != "arms"}, "arms": rest}
    return new


def promote(strategy_path: Path, arm: str, by: str, reason: str | None = None,
            evidence: list[dict] | None = None) -> dict:
    path = Path(strategy_path)
    strategy = load_strategy(path)  # the file as it stands must be valid
    names = [a.name for a in (strategy.experiments.arms if strategy.experiments else [])]
    if arm not in names:
        raise InputError(str(path), [f"--arm {arm}: no such arm in experiments.arms (found: "
                                     f"{', '.join(names) or 'none'})"])
    old = path.read_bytes()
    doc = yaml.safe_load(old.decode("utf-8"))
    a = strategy.experiments.arms[names.index(arm)]
    arm_doc = yaml.safe_load((path.parent / a.strategy).read_text(encoding="utf-8")) if a.strategy else None
    new_doc = promoted_document(doc, arm, arm_doc)
    text = (f"# promoted arm '{arm}' by {by} at "
            f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}; the previous file is kept in "
            f"{path.stem}.history/approvals/\n" + yaml.safe_dump(new_doc, sort_keys=False, allow_unicode=True))
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".promote-") as tmp:
        check = Path(tmp) / path.name
        check.write_text(text, encoding="utf-8")
        try:
            load_strategy(check)
        except InputError as exc:
            raise InputError(str(path), [f"promoting arm {arm} gives an invalid strategy: {p}"
                                         for p in exc.problems]) from None
    new = text.encode("utf-8")
    history = path.parent / f"{path.stem}.history"
    old_sha, new_sha = bytes_sha256(old), bytes_sha256(new)
    kept = history / "previous" / f"{old_sha}.yaml"
    # Order matters (a crash may stop us between any two steps): the old bytes first, then the
    # strategy file, the record last, so a record never names a file that was not written.
    # A crash before the record leaves the promoted file (its first line says who promoted
    # which arm when) and the old bytes in previous/, and no record.
    if not (kept.is_file() and kept.read_bytes() == old):
        write_bytes_atomic(kept, old)
    write_bytes_atomic(path, new)
    return append_record(history, {
        "action": "promote", "strategy": path.name, "arm": arm, "by": by,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "reason": reason,
        "previous_sha256": old_sha, "new_sha256": new_sha,
        "previous_file": kept.relative_to(history).as_posix(), "evidence": evidence}, to_json_bytes)
