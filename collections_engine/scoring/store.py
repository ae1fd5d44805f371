"""Model versions on disk: MODELS/<version_id>/, written all-or-nothing, read back for scoring.

This module is the scoring package's I/O boundary (like `io/`): the steps never touch paths.

Layout of a version folder:
  version.json        id, created_at, input hashes, code hash, stages and new-customer rule,
                      segment routing and decisions, calibration, features with types and
                      category levels, training windows and row counts, parameters, warnings
  models/NAME.txt     LightGBM text models ("pooled" and one per segment that has its own)
  reasons.json        per-segment reason-code tables
  reference.json      score and feature distributions for PSI (the nightly report)
  report.json, report.html
  effect_estimates.parquet  queue x stage effects estimated from the randomised history
  validation.parquet  held-out test rows with their predictions (for ceiling comparisons)
  status.json         candidate | approved, with approved_by / approved_at
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.errors import InputError
from collections_engine.io import atomic_dir, write_bytes_atomic, write_parquet
from collections_engine.scoring.reasons import ReasonTable
from collections_engine.scoring.score import ModelVersion, check_compatible
from collections_engine.scoring.train import TrainedVersion

__all__ = ["code_hash", "version_id_of", "write_version", "load_version", "approve", "list_versions",
           "to_json_bytes"]


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def to_json_bytes(o) -> bytes:
    return (json.dumps(_clean(o), indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def code_hash() -> str:
    """SHA-256 of the source of the code that builds features and models."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    files = sorted([*root.joinpath("features").glob("*.py"), *root.joinpath("scoring").glob("*.py"),
                    root / "segments.py"])
    for f in files:
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def version_id_of(input_hashes: dict[str, str], strategy_hash: str, config: dict, code: str) -> str:
    h = hashlib.sha256(to_json_bytes({"inputs": input_hashes, "strategy": strategy_hash,
                                      "config": config, "code": code}))
    return "m" + h.hexdigest()[:12]


def _file_name(model: str) -> str:
    return model.replace("/", "__").replace("+", "plus")


def write_version(trained: TrainedVersion, models_dir: Path, version_id: str, provenance: dict,
                  report_html: str, effect_estimates: pd.DataFrame | None = None) -> Path:
    """Write the version folder atomically, status candidate; returns its path.

    `effect_estimates`: the queue effects estimated from the same history
    (`assign.effects.estimate_effects`), approved with the models and used by the nightly run."""
    final = Path(models_dir) / version_id
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = {"version_id": version_id, "created_at": created, **provenance, **trained.meta,
            "model_files": {m: f"models/{_file_name(m)}.txt" for m in sorted(trained.boosters)}}
    with atomic_dir(final, replace=True) as tmp:
        (tmp / "models").mkdir()
        for m, b in sorted(trained.boosters.items()):
            text = b.model_to_string(num_iteration=b.best_iteration or None)
            (tmp / meta["model_files"][m]).write_text(text, encoding="utf-8")
        (tmp / "version.json").write_bytes(to_json_bytes(meta))
        (tmp / "reasons.json").write_bytes(to_json_bytes(trained.reasons))
        (tmp / "reference.json").write_bytes(to_json_bytes(trained.reference))
        (tmp / "report.json").write_bytes(to_json_bytes({"version_id": version_id, **trained.report,
                                                         "warnings": trained.warnings}))
        (tmp / "report.html").write_text(report_html, encoding="utf-8")
        write_parquet(trained.validation, tmp / "validation.parquet")
        if effect_estimates is not None:
            write_parquet(effect_estimates, tmp / "effect_estimates.parquet")
        (tmp / "status.json").write_bytes(to_json_bytes(
            {"status": "candidate", "created_at": created, "approved_by": None, "approved_at": None}))
    return final


def list_versions(models_dir: Path) -> list[dict]:
    """Every version folder with its status, oldest first (by created_at, then id)."""
    out = []
    d = Path(models_dir)
    if not d.is_dir():
        return out
    for sub in d.iterdir():
        st, vj = sub / "status.json", sub / "version.json"
        if sub.name.startswith(".") or not st.is_file() or not vj.is_file():
            continue
        status = json.loads(st.read_text(encoding="utf-8"))
        out.append({"version_id": sub.name, "path": sub, **status})
    return sorted(out, key=lambda r: (r.get("created_at") or "", r["version_id"]))


def approve(models_dir: Path, version: str | None = None, by: str | None = None) -> dict:
    versions = list_versions(models_dir)
    if version is None:
        cands = [v for v in versions if v["status"] == "candidate"]
        if not cands:
            raise InputError(str(models_dir), ["no candidate model version to approve "
                                               "(train one with `collections-engine train`)"])
        chosen = cands[-1]
    else:
        match = [v for v in versions if v["version_id"] == version]
        if not match:
            known = ", ".join(v["version_id"] for v in versions) or "none"
            raise InputError(str(models_dir), [f"--version {version}: no such model version (found: {known})"])
        chosen = match[0]
    status = {k: chosen.get(k) for k in ("status", "created_at", "approved_by", "approved_at")}
    status.update({"status": "approved", "approved_by": by or "unknown",
                   "approved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    write_bytes_atomic(Path(chosen["path"]) / "status.json", to_json_bytes(status))
    return {"version_id": chosen["version_id"], **status}


def load_version(models_dir: Path, version: str | None = None, approved_only: bool = True,
                 strategy: Strategy | None = None) -> ModelVersion:
    """The newest approved version (or `version`); InputError when there is none, or when a
    strategy is given and its stages or new-customer rule differ from the version's."""
    versions = list_versions(models_dir)
    if version is not None:
        match = [v for v in versions if v["version_id"] == version]
        if not match:
            raise InputError(str(models_dir), [f"model version {version} not found"])
        if approved_only and match[0]["status"] != "approved":
            raise InputError(str(models_dir), [f"model version {version} is {match[0]['status']}, "
                                               "not approved (approve it with `collections-engine approve`)"])
        chosen = match[0]
    else:
        pool = [v for v in versions if v["status"] == "approved"] if approved_only else versions
        if not pool:
            raise InputError(str(models_dir), [
                "no approved model version" + (f" ({len(versions)} candidate(s) waiting: "
                                               "run `collections-engine approve --models "
                                               f"{models_dir}`)" if versions else
                                               "; train one with `collections-engine train`")])
        chosen = pool[-1]
    path = Path(chosen["path"])
    meta = json.loads((path / "version.json").read_text(encoding="utf-8"))
    boosters = {m: lgb.Booster(model_str=(path / f).read_text(encoding="utf-8"))
                for m, f in meta["model_files"].items()}
    reasons = {s: ReasonTable.from_json(t)
               for s, t in json.loads((path / "reasons.json").read_text(encoding="utf-8")).items()}
    status = {k: chosen.get(k) for k in ("status", "created_at", "approved_by", "approved_at")}
    mv = ModelVersion(version_id=chosen["version_id"], meta=meta, boosters=boosters, reasons=reasons,
                      status=status, path=str(path))
    if strategy is not None:
        check_compatible(mv, strategy)
    return mv
