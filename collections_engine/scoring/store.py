"""Model versions on disk: MODELS/<version_id>/, written all-or-nothing, read back for scoring.

This module is the scoring package's I/O boundary (like `io/`): the steps never touch paths.

Layout of a version folder:
  version.json        id, created_at, input hashes, code hash, stages and new-customer rule,
                      segment routing and decisions, calibration, features with types and
                      category levels, training windows and row counts, parameters, warnings
  models/NAME.txt     LightGBM text models ("pooled", one per customer line ("new/all") and one per
                      segment that has its own)
  reasons.json        per-segment reason-code tables
  reference.json      score and feature distributions for PSI (the nightly report)
  report.json, report.html
  effect_estimates.parquet  queue x stage effects estimated from the randomised history
  logodds_effects.parquet   the queue shifts on the log-odds by account traits, when the
                      strategy says `effects_model: logodds` (`assign.logodds`)
  validation.parquet  held-out test rows with their predictions (for ceiling comparisons)
  scorecards.json     the fitted scorecards (bins, WoE, IV, points), when any (issue 21)
  scorecards.sql      the scorecards the version scores with, as standard SQL (export.py)
  status.json         candidate | approved, with the first approval's approved_by / approved_at

MODELS/approvals/ holds the append-only approval records (`approvals.py`): which version is the
champion, every approval, forced approval and rollback, with who, when, why and the evidence.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.errors import InputError
from collections_engine.io import atomic_dir, read_table, write_bytes_atomic, write_parquet
from collections_engine.io.hashing import bytes_sha256, source_hash
from collections_engine.io.jsonio import json_bytes as to_json_bytes
from collections_engine.scoring.approvals import RECORDS_DIR, append_record, champion_chain, read_records
from collections_engine.scoring.compare import MIN_ROWS, compare_predictions, shared_rows
from collections_engine.scoring.reasons import ReasonTable
from collections_engine.scoring.score import ModelVersion, check_compatible
from collections_engine.scoring.train import TrainedVersion

__all__ = ["code_hash", "version_id_of", "write_version", "load_version", "approve", "list_versions",
           "read_reference", "read_effect_estimates", "read_logodds_effects", "version_exists", "to_json_bytes", "review", "rollback", "champion", "approval_history", "ApprovalRefused"]


def code_hash() -> str:
    """SHA-256 of the source of the code that builds features and models."""
    root = Path(__file__).resolve().parents[1]
    files = sorted([*root.joinpath("features").glob("*.py"), *root.joinpath("scoring").glob("*.py"),
                    root / "segments.py"])
    return source_hash(root, files)


def version_id_of(input_hashes: dict[str, str], strategy_hash: str, config: dict, code: str) -> str:
    return "m" + bytes_sha256(to_json_bytes({"inputs": input_hashes, "strategy": strategy_hash,
                                             "config": config, "code": code}))[:12]


def version_exists(models_dir: Path, version_id: str) -> bool:
    """Whether MODELS holds a finished version of that id (its status written last)."""
    return (Path(models_dir) / version_id / "status.json").is_file()


def _file_name(model: str) -> str:
    return model.replace("/", "__").replace("+", "plus")


def write_version(trained: TrainedVersion, models_dir: Path, version_id: str, provenance: dict,
                  report_html: str, effect_estimates: pd.DataFrame | None = None,
                  logodds_effects: pd.DataFrame | None = None) -> Path:
    """Write the version folder atomically, status candidate; returns its path.

    `effect_estimates`: the queue effects estimated from the same history
    (`assign.effects.estimate_effects`), approved with the models and used by the nightly run;
    `logodds_effects` likewise (`LogOddsEffects.to_frame`, only under `effects_model: logodds`)."""
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
        if logodds_effects is not None:
            write_parquet(logodds_effects, tmp / "logodds_effects.parquet")
        if trained.scorecards:
            _write_scorecards(tmp, trained, version_id)
        (tmp / "status.json").write_bytes(to_json_bytes(
            {"status": "candidate", "created_at": created, "approved_by": None, "approved_at": None}))
    return final


def _write_scorecards(tmp: Path, trained: TrainedVersion, version_id: str) -> None:
    from collections_engine.scoring.export import version_sql

    cards = trained.scorecards
    (tmp / "scorecards.json").write_bytes(to_json_bytes({n: c.to_json() for n, c in sorted(cards.items())}))
    routing = {s: i["scorecard"] for s, i in trained.meta["segments"].items() if i.get("family") == "scorecard"}
    (tmp / "scorecards.sql").write_text(version_sql(cards, routing, version_id), encoding="utf-8")


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


def _read_scorecards(path: Path) -> dict:
    from collections_engine.scoring.scorecard import Scorecard

    f = path / "scorecards.json"
    if not f.is_file():
        return {}
    return {n: Scorecard.from_json(d) for n, d in json.loads(f.read_text(encoding="utf-8")).items()}


class ApprovalRefused(InputError):
    """The candidate is worse than the champion beyond its interval (exit 2 unless forced)."""

    def __init__(self, source: str, problems: list[str], review: dict):
        super().__init__(source, problems)
        self.review = review


@contextmanager
def _records_lock(models_dir: Path) -> Iterator[None]:
    """One approver at a time reads the chain and appends to it."""
    d = Path(models_dir) / RECORDS_DIR
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def champion(models_dir: Path) -> str | None:
    """The version the nightly run scores with: the last of the approval chain (None: none yet)."""
    chain = champion_chain(read_records(models_dir), list_versions(models_dir))
    return chain[-1] if chain else None


def approval_history(models_dir: Path) -> list[dict]:
    """Every approval record, oldest first (MODELS/approvals/)."""
    return read_records(models_dir)


def _pick(versions: list[dict], models_dir: Path, version: str | None) -> dict:
    if version is None:
        cands = [v for v in versions if v["status"] == "candidate"]
        if not cands:
            raise InputError(str(models_dir), ["no candidate model version to approve "
                                               "(train one with `collections-engine train`)"])
        return cands[-1]
    match = [v for v in versions if v["version_id"] == version]
    if not match:
        known = ", ".join(v["version_id"] for v in versions) or "none"
        raise InputError(str(models_dir), [f"--version {version}: no such model version (found: {known})"])
    return match[0]


def review(models_dir: Path, version: str | None = None,
           rescore: Callable[[ModelVersion, pd.DataFrame], np.ndarray] | None = None) -> dict:
    """The candidate (default: the newest) beside the current champion, on the same rows.

    The rows are the candidate's held-out test rows (validation.parquet). Where the champion's
    own held-out rows hold enough of them (both trained on the same history), both versions'
    stored predictions are compared there; otherwise `rescore(champion, rows)` (the champion
    scored on those rows from the data, see `compare.rescore_rows`), when given."""
    versions = list_versions(models_dir)
    chosen = _pick(versions, models_dir, version)
    current = champion(models_dir)
    out = {"candidate": chosen["version_id"], "champion": current, "comparison": None}
    if current is None or current == chosen["version_id"]:
        return out
    cand_val = read_table(Path(chosen["path"]) / "validation.parquet")
    champ_path = Path(models_dir) / current
    champ_val = read_table(champ_path / "validation.parquet")
    rows = shared_rows(cand_val, champ_val)
    how = "(held-out rows both versions hold)"
    if (len(rows) < MIN_ROWS or rows["y"].nunique() < 2) and rescore is not None:
        champ_mv = load_version(models_dir, current, approved_only=False)
        p = rescore(champ_mv, cand_val)
        rows = pd.DataFrame({"y": cand_val["y"].to_numpy(), "p_candidate": cand_val["p_final"].to_numpy(),
                             "p_champion": p})
        how = "(the candidate's held-out rows, the champion scored on them from the data)"
    cmp = compare_predictions(rows["y"].to_numpy(), rows["p_candidate"].to_numpy(),
                              rows["p_champion"].to_numpy())
    cmp["rows_from"] = how
    if cmp["verdict"] == "not_comparable" and rescore is None:
        cmp["why"] += "; pass --data DATA --strategy FILE to score the champion on the candidate's rows"
    out["comparison"] = cmp
    return out


def approve(models_dir: Path, version: str | None = None, by: str | None = None, *,
            force: bool = False, reason: str | None = None, reviewed: dict | None = None,
            rescore: Callable[[ModelVersion, pd.DataFrame], np.ndarray] | None = None) -> dict:
    """Make a version (default: the newest candidate) the champion, appending an approval record.

    A candidate worse than the champion beyond its interval (`compare.compare_predictions`) is
    refused (`ApprovalRefused`) unless `force` with a `reason`; both are recorded. `reviewed` is
    `review(...)`'s answer when the caller already has it (the CLI shows it first)."""
    if force and not (reason or "").strip():
        raise InputError("--force", ["found --force without --reason; expected a reason, which is "
                                     "recorded with the approval"])
    with _records_lock(models_dir):
        rv = reviewed
        if rv is None or rv["champion"] != champion(models_dir):  # none, or another approver was first
            rv = review(models_dir, version if rv is None else rv["candidate"], rescore)
        versions = list_versions(models_dir)
        chosen = _pick(versions, models_dir, rv["candidate"])
        cmp = rv["comparison"]
        if cmp is not None and cmp["verdict"] == "worse" and not force:
            raise ApprovalRefused(str(models_dir), [
                f"candidate {chosen['version_id']} is worse than the champion {rv['champion']}: "
                f"{cmp['why']}; approve it anyway with --force --reason TEXT (recorded)"], rv)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        chain = champion_chain(read_records(models_dir), versions)
        new_chain = chain if chain and chain[-1] == chosen["version_id"] else [*chain, chosen["version_id"]]
        rec = append_record(models_dir, {
            "action": "approve", "version_id": chosen["version_id"], "by": by or "unknown", "at": now,
            "champion_before": chain[-1] if chain else None, "chain": new_chain,
            "forced": bool(force), "reason": reason, "comparison": cmp}, to_json_bytes)
        status = {k: chosen.get(k) for k in ("status", "created_at", "approved_by", "approved_at")}
        if status["status"] != "approved":  # the first approval; later ones live in the records
            status.update({"status": "approved", "approved_by": rec["by"], "approved_at": now})
            write_bytes_atomic(Path(chosen["path"]) / "status.json", to_json_bytes(status))
    return {"version_id": chosen["version_id"], **status, "record": rec}


def rollback(models_dir: Path, by: str | None = None, reason: str | None = None) -> dict:
    """Go back to the champion before the current one, appending a rollback record."""
    with _records_lock(models_dir):
        versions = list_versions(models_dir)
        chain = champion_chain(read_records(models_dir), versions)
        if len(chain) < 2:
            raise InputError(str(models_dir), [
                "--rollback: " + (f"the champion {chain[-1]} is the only approved version in the "
                                  "approval history; there is no earlier one to go back to" if chain
                                  else "no model version was ever approved")])
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rec = append_record(models_dir, {
            "action": "rollback", "version_id": chain[-2], "by": by or "unknown", "at": now,
            "champion_before": chain[-1], "chain": chain[:-1], "forced": False, "reason": reason,
            "comparison": None}, to_json_bytes)
    return rec


def load_version(models_dir: Path, version: str | None = None, approved_only: bool = True,
                 strategy: Strategy | None = None) -> ModelVersion:
    """The champion (the last approval record's version), or `version` (which must have been
    approved); InputError when there is none, or when a strategy is given and its stages or
    new-customer rule differ from the version's. With `approved_only=False`: the newest version."""
    versions = list_versions(models_dir)
    if version is not None:
        match = [v for v in versions if v["version_id"] == version]
        if not match:
            known = ", ".join(v["version_id"] for v in versions if v["status"] == "approved") or "none"
            raise InputError(str(models_dir), [f"model version {version} not found "
                                               f"(approved versions: {known})"])
        if approved_only and match[0]["status"] != "approved":
            raise InputError(str(models_dir), [f"model version {version} is {match[0]['status']}, "
                                               "not approved (approve it with `collections-engine approve`)"])
        chosen = match[0]
    else:
        current = champion(models_dir) if approved_only else None
        pool = [v for v in versions if v["version_id"] == current] if approved_only else versions
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
                      status=status, path=str(path), scorecards=_read_scorecards(path))
    if strategy is not None:
        check_compatible(mv, strategy)
    return mv


def read_reference(version: ModelVersion) -> dict | None:
    """The version's score and feature distributions for drift (`reference.json`), None without."""
    path = Path(version.path) / "reference.json" if version.path else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text())


def read_logodds_effects(version: ModelVersion) -> pd.DataFrame | None:
    """The log-odds effects approved with the version (None: not trained under `effects_model: logodds`)."""
    path = Path(version.path) / "logodds_effects.parquet" if version.path else None
    return read_table(path) if path is not None and path.is_file() else None


def read_effect_estimates(version: ModelVersion) -> pd.DataFrame | None:
    """The queue-effect estimates approved with the version (None: the strategy's effects)."""
    path = Path(version.path) / "effect_estimates.parquet" if version.path else None
    return read_table(path) if path is not None and path.is_file() else None
