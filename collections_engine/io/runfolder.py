"""Write one night's run folder (CONTRACT.md: RUNS/DATE/) all-or-nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from collections_engine.io.atomic import atomic_dir, write_bytes_atomic
from collections_engine.io.hashing import file_sha256
from collections_engine.io.jsonio import json_bytes
from collections_engine.io.runs import RING_STATE_FILE
from collections_engine.io.tables import parquet_bytes_all, write_csv, write_parquet
from collections_engine.steps import crash_point

__all__ = ["write_run_folder", "write_vendor_folder", "write_whatif_folder"]


def write_vendor_folder(folder: Path, vendor: str, day: str, batch: Any) -> None:
    """placements_DATE.csv, recalls_DATE.csv (every ending: recalled, returned, paid, cured)
    and manifest.json: per file its rows, columns, SHA-256 and control totals (amount sums as
    text with two decimals, the file's own figures), the currency and the encoding.

    `batch` is an `assign.files.VendorBatch`; a vendor with nothing tonight still gets both
    files (a header line) and its manifest, so the agency can tell "nothing" from "not sent".
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"placements_{day}.csv": ("placements", batch.placements),
             f"recalls_{day}.csv": ("recalls", batch.endings)}
    manifest: dict[str, Any] = {"vendor": vendor, "date": day, "currency": batch.currency,
                                "encoding": batch.encoding, "files": []}
    for name, (kind, df) in files.items():
        write_csv(df, folder / name, encoding=batch.encoding)
        entry: dict[str, Any] = {"name": name, "rows": int(len(df)), "columns": list(map(str, df.columns)),
                                 "sha256": file_sha256(folder / name),
                                 "amount_sums": dict(batch.amount_sums.get(kind, {}))}
        if kind == "recalls" and "ended" in df.columns:
            entry["rows_by_ending"] = {str(k): int(v) for k, v in df["ended"].value_counts().sort_index().items()}
        manifest["files"].append(entry)
    (folder / "manifest.json").write_bytes(json_bytes(manifest))


def write_run_folder(final: Path, *, date: pd.Timestamp, scores: pd.DataFrame, decision: Any,
                     inputs: pd.DataFrame, rings: pd.DataFrame,
                     vendors: dict[str, Any],
                     teams: dict[str, pd.DataFrame], strategy: Any, report_html: str,
                     effects: pd.DataFrame, run_json: dict[str, Any],
                     finish_timings: Callable[[], dict[str, Any]],
                     ring_state: pd.DataFrame | None = None,
                     ring_carry: dict[str, pd.DataFrame] | None = None) -> Path:
    """Every file of RUNS/DATE/, all-or-nothing. All but timings.json are the same bytes for
    the same inputs; timings.json (wall-clock times, memory, host, written last) is not."""
    day = date.date().isoformat()
    tables = {"scores.parquet": scores, "assignments.parquet": decision.assignments,
              "placements.parquet": decision.placements, "rings.parquet": rings}
    if ring_state is not None:  # what the next night's ring step starts from (rings.incremental)
        tables[RING_STATE_FILE] = ring_state
    for name, frame in sorted((ring_carry or {}).items()):  # the carried identifier graph (rings.carry)
        tables[f"ring_carry_{name}.parquet"] = frame
    tables.update({"decision_inputs.parquet": inputs, "queue_summary.parquet": decision.queue_summary,
                   "effects.parquet": effects})
    with atomic_dir(final, replace=True) as tmp:
        # encoded two tables at a time (the ring child is done: both cores are free), written in order
        for i, (name, blob) in enumerate(zip(tables, parquet_bytes_all(list(tables.values())))):
            if i == 2:
                crash_point("write_mid")
            write_bytes_atomic(tmp / name, blob)
        for team, df in sorted(teams.items()):
            write_csv(df, tmp / "inhouse" / f"{team}.csv")
        for vendor, batch in sorted(vendors.items()):
            write_vendor_folder(tmp / "vendors" / vendor, vendor, day, batch)
        (tmp / "report.html").write_text(report_html, encoding="utf-8")
        (tmp / "run.json").write_bytes(json_bytes(run_json))
        (tmp / "timings.json").write_bytes(json_bytes(finish_timings()))
        crash_point("write_end")
    return final


def write_whatif_folder(out: Path, *, html: str, payload: dict, moved: pd.DataFrame,
                        assignments: pd.DataFrame) -> None:
    """A what-if's folder, all-or-nothing (replacing an earlier one): whatif.html, whatif.json,
    moved_accounts.parquet and assignments_whatif.parquet. Never a run folder: RUNS is only read."""
    with atomic_dir(Path(out), replace=True) as tmp:
        (tmp / "whatif.html").write_text(html, encoding="utf-8")
        (tmp / "whatif.json").write_bytes(json_bytes(payload))
        write_parquet(moved, tmp / "moved_accounts.parquet")
        write_parquet(assignments, tmp / "assignments_whatif.parquet")
