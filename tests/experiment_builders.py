"""Builders shared by the champion/challenger tests (tests/test_experiments_*.py): the default
strategy as a document, books of rows, strategies with experiments, a challenger file with
other rules, the fixture night run under a test (built once per session) and outcomes for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from collections_engine.pipeline import RunRequest, run_night
from tests.pipeline_helpers import BOOK, GRAPH, ROOT, short_placement_strategy, train_fast

DEFAULT = ROOT / "strategies" / "default.yaml"
_NIGHT: dict = {}


def doc() -> dict:
    return yaml.safe_load(DEFAULT.read_text())

def write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path

def arm_file_with_other_rules(tmp_path: Path) -> Path:
    """A champion whose challenger file changes rules the combined check uses (and, allowed,
    a capacity and an effect)."""
    other = doc()
    other["name"] = "lean"
    other["recall_on"] = []
    other["one_collector_per_customer"] = not other.get("one_collector_per_customer", False)
    for q in other["queues"]:
        if q["name"] == "agency_north":
            q["keep_customer_together"] = not q.get("keep_customer_together", False)
            q["stages"] = [*q["stages"], "M1"]
            q["effect"]["M1"] = 1.1
            q["capacity"] = 5
    write(tmp_path / "lean.yaml", other)
    d = doc()
    d["experiments"] = {"arms": [{"name": "lean", "strategy": "lean.yaml", "share": {"M1": 0.5}}]}
    return write(tmp_path / "champ.yaml", d)

def book_rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, max(1, int(n * 0.8)), n)
    return pd.DataFrame({
        "account_id": pd.Series([f"A{i:06d}" for i in range(n)], dtype="str"),
        "customer_id": pd.Series([f"C{c:06d}" for c in cust], dtype="str"),
        "stage": rng.choice(["M1", "M2", "M3", "M4+"], n),
        "open_vendor": "", "hold": "", "ring_id": "", "fraud_confirmed": False,
    })

def exp_strategy(arms: list[dict], explore: float = 0.0, seed: int = 0):
    d = doc()
    d["experiments"] = {"explore": explore, "seed": seed, "arms": arms}
    from collections_engine.config.strategy import Strategy
    return Strategy.model_validate(d)

def outcomes(night: dict, lift: float, seed: int = 0) -> Path:
    """DATA with only outcomes for the fixture's two nights: recovered amounts drawn per account,
    `lift` added to the north_m3 arm's accounts."""
    rng = np.random.default_rng(seed)
    data = night["tmp"] / f"data_{lift}_{seed}"
    data.mkdir(exist_ok=True)
    parts, hist = [], []
    for n in night["nights"][:2]:
        a = pd.read_parquet(night["runs"] / n / "assignments.parquet")
        # recovered amounts are never negative (the schema refuses them): a negative lift floors at 0
        rec = np.maximum(rng.gamma(2.0, 50.0, len(a)) + np.where(a["arm"] == "north_m3", lift, 0.0), 0.0)
        parts.append(pd.DataFrame({"account_id": a["account_id"], "snapshot_date": pd.Timestamp(n),
                                   "repaid": (rec > 100).astype(np.int8), "recovered_amount": rec}))
        hist.append(pd.DataFrame({"account_id": a["account_id"], "snapshot_date": pd.Timestamp(n),
                                  "queue": a["queue"].replace("", "not_worked"), "propensity": a["propensity"]}))
    pd.concat(parts).to_parquet(data / "outcomes.parquet")
    pd.concat(hist).to_parquet(data / "placement_history.parquet")
    return data


def experiment_night(tmp_path_factory) -> dict:
    """Two nights of the fixture book run under a test (two arms, 5% exploration), their decision
    inputs and strategies; built once per test session and shared by the test modules (read-only:
    a test writes only new files under `tmp`)."""
    if _NIGHT:
        return _NIGHT
    tmp = tmp_path_factory.mktemp("experiments")
    sp = short_placement_strategy(tmp / "short.yaml")
    models = tmp / "models"
    train_fast(models, sp)
    acc = pd.read_parquet(BOOK / "accounts.parquet", columns=["snapshot_date"])
    out = pd.read_parquet(BOOK / "outcomes.parquet", columns=["snapshot_date"])
    nights = sorted(set(pd.to_datetime(acc["snapshot_date"])) - set(pd.to_datetime(out["snapshot_date"])))
    nights = [n.date().isoformat() for n in nights]
    doc = yaml.safe_load(sp.read_text())
    doc["experiments"] = {"explore": 0.05, "seed": 3, "arms": [
        {"name": "north_m3", "overrides": {"agency_north": {"effect": {"M3": 1.9}}}, "share": {"M3": 0.3, "M4+": 0.2}},
        {"name": "lean", "overrides": {"early_team": {"capacity": 300}}, "share": {"M1": 0.2, "M2": 0.2}}]}
    exp = write(tmp / "exp.yaml", doc)
    runs = tmp / "runs"
    for n in nights[:2]:
        run_night(RunRequest(data=BOOK, date=n, strategy=exp, graph=GRAPH, models=models, runs=runs))
    _NIGHT.update({"tmp": tmp, "models": models, "nights": nights, "exp": exp, "short": sp, "runs": runs,
                   "inputs": pd.read_parquet(runs / nights[0] / "decision_inputs.parquet")})
    return _NIGHT
