"""What a night's decisions depend on (its inputs fingerprint), and whether it may run.

A night may be rerun with the same inputs (it writes the same bytes); a rerun with other inputs,
or a night earlier than the latest finished one, is refused unless --force.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from collections_engine import __version__
from collections_engine.config.strategy import Strategy
from collections_engine.errors import InputError
from collections_engine.io.hashing import file_sha256, json_sha256, source_hash
from collections_engine.io.load import input_hashes
from collections_engine.io.runs import night_folders, read_run_json

__all__ = ["code_version", "inputs_fingerprint", "refuse_changed_rerun", "refuse_broken_chain"]

log = logging.getLogger("collections_engine")

# the fingerprint's keys a changed rerun names (the code version is recorded, not an input)
_INPUT_KEYS = ("input_files", "strategy_sha256", "arm_strategies_sha256", "graph_sha256", "model_version", "effects")


def code_version() -> str:
    """The package version and a hash of its source (no git needed at run time)."""
    root = Path(__file__).resolve().parent
    return f"{__version__}+{source_hash(root, sorted(root.rglob('*.py')))[:12]}"


def inputs_fingerprint(req: Any, model_version: str, strategy: Strategy | None = None,
                       files: dict[str, str] | None = None) -> dict[str, object]:
    """What the night's decisions depend on. `req`: the RunRequest. `files`: the inputs' hashes
    when already known (a database's tables, hashed as the night read them); else hashed here
    (`input_hashes`)."""
    if files is None:
        files = input_hashes(req.data)
    fp: dict[str, object] = {
        "date": req.date,
        "input_files": files,
        "strategy_sha256": file_sha256(req.strategy),
        "graph_sha256": file_sha256(req.graph),
        "model_version": model_version,
    }
    # The challenger arms' strategy files decide part of the night too (only present when the
    # strategy names some, so nights without arm files keep their fingerprint).
    arm_files = _arm_file_hashes(req.strategy, strategy)
    if arm_files:
        fp["arm_strategies_sha256"] = arm_files
    # `--effects strategy` decides differently from the same files (only recorded when asked, so
    # nights run with the default keep their fingerprint).
    if req.effects != "history":
        fp["effects"] = req.effects
    # The code version is recorded but is not an input: a patched engine may rerun a night.
    fp["sha256"] = json_sha256(fp)
    fp["code_version"] = code_version()
    return fp


def _arm_file_hashes(strategy_file: Path, strategy: Strategy | None) -> dict[str, str]:
    """Arm name -> sha256 of its strategy file (paths from the champion's folder)."""
    exp = strategy.experiments if strategy is not None else None
    if exp is None:
        return {}
    return {a.name: file_sha256(Path(strategy_file).parent / a.strategy) for a in exp.arms if a.strategy is not None}


def refuse_changed_rerun(runs: Path, date: str, force: bool, fp: dict[str, object]) -> None:
    """InputError when RUNS/DATE holds a finished night made from other inputs (unless --force)."""
    folder = Path(runs) / date
    if not (folder / "run.json").is_file() or force:
        return
    before = read_run_json(folder).get("inputs", {})
    if before.get("sha256") == fp["sha256"]:
        return  # same inputs: the rerun writes the same bytes
    changed = sorted(k for k in _INPUT_KEYS if before.get(k) != fp.get(k))
    raise InputError(str(folder), [
        f"a run for {date} already exists with different inputs (changed: {', '.join(changed)}); "
        "expected the same inputs, or --force to replace it"])


def refuse_broken_chain(runs: Path, date: str, force: bool) -> list[str]:
    """Nights run in date order: each reads the open placements the latest earlier night left.
    A night earlier than the latest finished one (a missed night filled in late) would send
    vendors placements the later nights never saw, so it is refused unless --force; rerunning a
    finished night with the same inputs is allowed (it writes the same bytes). Returns the later
    nights (their decisions no longer follow from this one when it is forced)."""
    runs = Path(runs)
    later = [d for d in night_folders(runs) if d > date]
    if not later or (runs / date / "run.json").is_file() and not force:
        return later if force else []
    if not force:
        raise InputError(str(runs), [
            f"--date {date} is earlier than the latest finished night {later[-1]} in {runs}: the "
            f"later night{'s' if len(later) > 1 else ''} ({', '.join(later)}) decided from the open placements "
            f"without this night, so running it now would break the chain of placements sent to vendors; "
            f"expected a date on or after {later[-1]}, or --force to run it anyway (then rerun the later nights "
            "in order)"])
    msg = (f"--force: night {date} run after later nights ({', '.join(later)}); their decisions did not "
           "see this night: rerun them in date order")
    log.warning("%s", msg)
    return later
