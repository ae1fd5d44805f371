"""Write one night's run folder (CONTRACT.md: RUNS/DATE/) all-or-nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from collections_engine.io.atomic import atomic_dir
from collections_engine.io.tables import file_sha256, write_csv, write_parquet
from collections_engine.steps import crash_point

__all__ = ["write_run_folder", "write_vendor_folder"]


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode()


def write_vendor_folder(folder: Path, vendor: str, day: str, placements: pd.DataFrame,
                        recalls: pd.DataFrame) -> None:
    """placements_DATE.csv, recalls_DATE.csv and a manifest of rows and SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"placements_{day}.csv": placements, f"recalls_{day}.csv": recalls}
    manifest: dict[str, Any] = {"vendor": vendor, "date": day, "files": []}
    for name, df in files.items():
        write_csv(df, folder / name)
        manifest["files"].append({"name": name, "rows": int(len(df)), "columns": list(map(str, df.columns)),
                                  "sha256": file_sha256(folder / name)})
    (folder / "manifest.json").write_bytes(_json_bytes(manifest))


def write_run_folder(final: Path, *, date: pd.Timestamp, scores: pd.DataFrame, decision: Any,
                     inputs: pd.DataFrame, rings: pd.DataFrame,
                     vendors: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
                     teams: dict[str, pd.DataFrame], strategy: Any, report_html: str,
                     effects: pd.DataFrame,
                     finish_run_json: Callable[[], dict[str, Any]]) -> Path:
    day = date.date().isoformat()
    with atomic_dir(final, replace=True) as tmp:
        write_parquet(scores, tmp / "scores.parquet")
        write_parquet(decision.assignments, tmp / "assignments.parquet")
        crash_point("write_mid")
        write_parquet(decision.placements, tmp / "placements.parquet")
        write_parquet(rings, tmp / "rings.parquet")
        write_parquet(inputs, tmp / "decision_inputs.parquet")
        write_parquet(decision.queue_summary, tmp / "queue_summary.parquet")
        write_parquet(effects, tmp / "effects.parquet")
        for team, df in sorted(teams.items()):
            write_csv(df, tmp / "inhouse" / f"{team}.csv")
        for vendor, (placed, recalled) in sorted(vendors.items()):
            write_vendor_folder(tmp / "vendors" / vendor, vendor, day, placed, recalled)
        (tmp / "report.html").write_text(report_html, encoding="utf-8")
        (tmp / "run.json").write_bytes(_json_bytes(finish_run_json()))
        crash_point("write_end")
    return final
