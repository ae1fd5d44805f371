"""Drift monitoring a manager can act on: references per snapshot kind, trends across nights.

The model version's reference (`reference.json`) describes held-out **monthly history**
(month-end snapshots). A nightly book is another kind of snapshot: accounts at every point of
their month, payments and contacts not yet at month end. Compared with month ends, a perfectly
stable nightly book shows PSI of 0.3-0.5 on score points (issue 21), an alarm that always rings.
So each kind has its own reference:
- monthly history: `reference.json` of the version, shown for information (candidate against
  its training reference, in the model report and here), never an "act";
- nightly book: the first night a model version scores is its nightly reference (kept in that
  night's `run.json` under `monitor.reference`); every later night of the same version is
  compared with it and raises watch (PSI >= 0.10) or act (>= 0.25). A new version starts a new
  reference night.

Each night's `run.json` keeps a small `monitor` record (score PSI, the top features' PSI,
volumes, expected and realised money) so the report draws the trend across the nights in RUNS.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from collections_engine.frames import isin
from collections_engine.stats import dist_reference, psi

__all__ = ["PSI_WATCH", "PSI_ACT", "night_reference", "find_reference", "monitor_night",
           "top_features", "level_of", "TOP_FEATURES", "add_money", "realised_since", "history_monitor",
           "HISTORY_ONLY"]

PSI_WATCH, PSI_ACT = 0.10, 0.25
TOP_FEATURES = 5
SKIP = ("queue", "stage", "customer_line")


def level_of(x: float) -> str:
    return "act" if x >= PSI_ACT else "watch" if x >= PSI_WATCH else "stable"


def top_features(version: Any, k: int = TOP_FEATURES) -> list[str]:
    """The features that matter most to the version: scorecard characteristics of the scored
    segments by IV, then LightGBM's pooled model by gain (deterministic)."""
    names: list[str] = []
    cards = getattr(version, "scorecards", {}) or {}
    for name in sorted(cards):
        for ch in sorted(cards[name].scored(), key=lambda c: (-c.total_iv, c.name)):
            if ch.name not in names and ch.name not in SKIP:
                names.append(ch.name)
    b = version.boosters.get("pooled")
    if b is not None:
        gain = b.feature_importance("gain")
        for i in np.argsort(-gain, kind="stable"):
            f = b.feature_name()[i]
            if gain[i] > 0 and f not in names and f not in SKIP:
                names.append(f)
    return names[:k]


def night_reference(date: pd.Timestamp, version_id: str, scores: pd.DataFrame,
                    features: pd.DataFrame, types: dict[str, str]) -> dict:
    """Distributions of tonight's points and model features: a nightly-book reference."""
    feats = {c: dist_reference(features[c].reset_index(drop=True), types[c])
             for c in sorted(types) if c in features.columns and c not in SKIP}
    return {"kind": "nightly book", "date": pd.Timestamp(date).date().isoformat(),
            "model_version": version_id, "rows": int(len(scores)),
            "points": dist_reference(scores["points"].reset_index(drop=True), "numeric"),
            "features": feats}


def find_reference(earlier: list[dict], version_id: str) -> dict | None:
    """The nightly reference of `version_id`: from the earliest earlier night (run.json
    records, oldest first) that scored with it and kept one."""
    for rec in earlier:
        mon = rec.get("monitor") or {}
        ref = mon.get("reference")
        if ref and ref.get("model_version") == version_id:
            return ref
    return None


def _psi_rows(ref: dict, scores: pd.DataFrame, features: pd.DataFrame) -> dict[str, float]:
    out = {"score points": psi(ref["points"], scores["points"].reset_index(drop=True))}
    for name, r in sorted(ref.get("features", {}).items()):
        if name in features.columns:
            out[name] = psi(r, features[name].reset_index(drop=True))
    return out


def monitor_night(*, date: pd.Timestamp, version: Any, history_reference: dict | None,
                  scores: pd.DataFrame, features: pd.DataFrame, types: dict[str, str],
                  earlier: list[dict]) -> tuple[dict, pd.DataFrame]:
    """Tonight's monitoring record (for run.json) and the drift table for the report.

    The table has one row per measure: `what`, `psi` (against the nightly reference),
    `psi_vs_history` (against the version's monthly-history reference, information only) and
    `level` (act / watch / stable; "reference night" on the night that sets the reference)."""
    vid = version.version_id
    ref = find_reference(earlier, vid)
    record: dict = {"date": pd.Timestamp(date).date().isoformat(), "model_version": vid}
    if ref is None:
        ref_now = night_reference(date, vid, scores, features, types)
        record["reference"] = ref_now
        record["reference_night"] = record["date"]
        nightly = {k: 0.0 for k in _psi_rows(ref_now, scores, features)}
        first = True
    else:
        record["reference_night"] = ref["date"]
        nightly = _psi_rows(ref, scores, features)
        first = False
    hist: dict[str, float] = {}
    if history_reference:
        hist = {"score points": psi(history_reference["points"], scores["points"].reset_index(drop=True))}
        for name, r in history_reference.get("features", {}).items():
            if name in features.columns:
                hist[name] = psi(r, features[name].reset_index(drop=True))
    df = pd.DataFrame({"what": list(nightly)})
    df["psi"] = [nightly[w] for w in df["what"]]
    df["psi_vs_history"] = [hist.get(w, np.nan) for w in df["what"]]
    df["level"] = "reference night" if first else [level_of(x) for x in df["psi"]]
    head, rest = df.iloc[:1], df.iloc[1:].sort_values(["psi", "psi_vs_history", "what"],
                                                      ascending=[False, False, True])
    df = pd.concat([head, rest], ignore_index=True)
    top = top_features(version)
    record["score_psi"] = float(nightly["score points"])
    record["score_psi_vs_history"] = float(hist.get("score points", np.nan)) if hist else None
    record["features_psi"] = {f: float(nightly[f]) for f in top if f in nightly}
    worst = df.iloc[1:2]   # tonight's most drifted feature joins the trend when it is not stable
    if len(worst) and not first and worst["level"].item() != "stable":
        record["features_psi"][worst["what"].item()] = float(worst["psi"].item())
    record["level"] = "reference night" if first else _worst(df["level"])
    record["accounts"] = int(len(scores))
    record["by_stage"] = {str(k): int(v) for k, v in scores.groupby("stage", observed=True).size().items()}
    return record, df


def add_money(record: dict, assignments: pd.DataFrame | None, realised: dict | None) -> dict:
    """Tonight's expected money (the plan) and what last night's plan realised since."""
    if assignments is not None and len(assignments):
        record["expected_net"] = float(assignments["expected_net"].sum())
        if "expected_recovery" in assignments.columns:
            record["expected_recovery"] = float(assignments["expected_recovery"].sum())
    record["realised"] = realised
    return record


def _worst(levels: pd.Series) -> str:
    for lv in ("act", "watch"):
        if (levels == lv).any():
            return lv
    return "stable"


def realised_since(payments: pd.DataFrame | None, previous_assignments: pd.DataFrame | None,
                   previous_date: str | None, date: pd.Timestamp) -> dict | None:
    """Money paid after the previous night up to tonight by the accounts that night decided on:
    what last night's expected money became (payments dated in (previous night, tonight])."""
    if payments is None or previous_assignments is None or previous_date is None:
        return None
    lo, hi = pd.Timestamp(previous_date), pd.Timestamp(date)
    d = payments["paid_on"]
    d = d if d.dtype == np.dtype("datetime64[ns]") else pd.to_datetime(d)
    m = (d > lo).to_numpy() & (d <= hi).to_numpy()
    p = payments.loc[m, ["account_id", "amount"]]
    # Arrow's hash look-up (frames.isin): pandas' isin against a set of a million ids loops in
    # Python (15 s of a 1M night's report step).
    paid = p[isin(p["account_id"].astype(str), previous_assignments["account_id"].astype(str))]
    return {"since": previous_date, "accounts_paying": int(paid["account_id"].nunique()),
            "amount": float(paid["amount"].sum())}


HISTORY_ONLY = "monthly history only"


def history_monitor(date: pd.Timestamp, version_id: str, drift: pd.DataFrame, scores: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """The record and drift table of a night whose features are not at hand (the Spark engine
    counts them in its workers against the version's monthly-history reference only).

    Monthly history is another kind of snapshot than a nightly book, so, as in-process, it is
    information and never an alarm: the table's `psi` column moves to `psi_vs_history`, no
    row is levelled act or watch, and the record's level says that no nightly reference was
    compared (`HISTORY_ONLY`) rather than claiming the night stable."""
    table = drift.rename(columns={"psi": "psi_vs_history"}).drop(columns=["level"], errors="ignore")
    table.insert(1, "psi", np.nan)
    table["level"] = HISTORY_ONLY
    sp = table.loc[table["what"] == "score points", "psi_vs_history"]
    record = {"date": pd.Timestamp(date).date().isoformat(), "model_version": version_id,
              "reference_night": None, "reference_kind": "monthly history", "level": HISTORY_ONLY,
              "score_psi": None, "score_psi_vs_history": float(sp.iloc[0]) if len(sp) else None,
              "features_psi": {}, "accounts": int(len(scores)),
              "by_stage": {str(k): int(v) for k, v in scores.groupby("stage", observed=True).size().items()}}
    return record, table
