"""Champion/challenger results: realised outcomes per arm read through the schema, intervals
against obvious sums, the comparison within the randomising stage, the `experiments` command,
`promote` and `whatif` over a test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from collections_engine.config import load_strategy
from tests.experiment_builders import doc, experiment_night, outcomes, write


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The fixture night run under a test (`experiment_builders.experiment_night`, built once)."""
    return experiment_night(tmp_path_factory)


def test_experiments_reads_outcomes_and_history_through_the_schema(night):
    """A bad date and a non-numeric amount in outcomes, a bad propensity in placement_history:
    one DataError naming each (exit 2), never an exception or an amount silently made 0."""
    from typer.testing import CliRunner

    from collections_engine.cli import app
    from collections_engine.errors import DataError
    from collections_engine.experiments.collect import collect
    src = outcomes(night, 0.0, seed=7)
    data = night["tmp"] / "bad_outcomes"
    data.mkdir(exist_ok=True)
    o = pd.read_parquet(src / "outcomes.parquet").reset_index(drop=True)
    o["snapshot_date"] = o["snapshot_date"].dt.strftime("%Y-%m-%d")
    o["recovered_amount"] = o["recovered_amount"].round(2).astype(str)
    o.loc[o.index[3], "snapshot_date"] = "2024-13-45"
    o.loc[o.index[5], "recovered_amount"] = "lots"
    o.to_csv(data / "outcomes.csv", index=False)
    h = pd.read_parquet(src / "placement_history.parquet").reset_index(drop=True)
    h["propensity"] = h["propensity"].astype(str)
    h.loc[h.index[2], "propensity"] = "high"
    h.to_csv(data / "placement_history.csv", index=False)
    with pytest.raises(DataError) as exc:
        collect(night["runs"], data)
    text = str(exc.value)
    for needle in ("outcomes.csv: column 'snapshot_date'", "2024-13-45",
                   f"outcomes.csv: column 'recovered_amount': 1 rows that are not numbers; expected a number; "
                   f"rows 6 ({o['account_id'][5]}", "placement_history.csv: column 'propensity'"):
        assert needle in text, needle
    r = CliRunner().invoke(app, ["experiments", "--runs", str(night["runs"]), "--data", str(data)])
    assert r.exit_code == 2 and "column 'recovered_amount'" in r.output, r.output
    # the same tables, clean, as CSV: read as the parquet ones are
    o.loc[o.index[3], "snapshot_date"] = o.loc[o.index[4], "snapshot_date"]
    o.loc[o.index[5], "recovered_amount"] = "12.5"
    o.to_csv(data / "outcomes.csv", index=False)
    h.loc[h.index[2], "propensity"] = "1.0"
    h.to_csv(data / "placement_history.csv", index=False)
    rows, _, _ = collect(night["runs"], data)
    assert len(rows)

def test_results_per_arm_against_obvious_sums(night):
    from collections_engine.experiments.collect import collect, summarise
    data = outcomes(night, 0.0)
    rows, _, notes = collect(night["runs"], data)
    results, by_night = summarise(rows)
    assert set(results["arm"]) == {"champion", "north_m3", "lean"} and results["arm"].iloc[0] == "champion"
    for r in results.itertuples():
        sub = rows[rows["arm"] == r.arm]
        assert r.net_per_account == pytest.approx(sub["net"].mean())
        # the clustered standard error, customer by customer
        g = sub.groupby("customer_id")
        v, n = g["net"].sum().to_numpy(), g.size().to_numpy()
        mean = v.sum() / n.sum()
        se = np.sqrt(len(v) / (len(v) - 1) * sum((vi - mean * ni) ** 2 for vi, ni in zip(v, n))) / n.sum()
        assert (r.net_hi - r.net_lo) / 2 == pytest.approx(1.959964 * se, rel=1e-5)
    # realised cost: the queue's cost per account plus its commission on the recovery
    v = rows[rows["queue"] == "agency_north"].iloc[0]
    assert v["cost"] == pytest.approx(0.25 * v["recovery"])
    assert len(by_night) == 6

def test_experiments_command_and_promote(night, tmp_path):
    from typer.testing import CliRunner
    from collections_engine.cli import app
    runner = CliRunner()
    flat = outcomes(night, 0.0, seed=1)
    r = runner.invoke(app, ["experiments", "--runs", str(night["runs"]), "--data", str(flat),
                            "--out", str(tmp_path / "exp0"), "--strategy", str(night["exp"])])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(tmp_path / "exp0" / "experiments.csv")
    eff = pd.read_csv(tmp_path / "exp0" / "effects.csv")
    assert {"explored", "estimable", "reason"} <= set(eff.columns) and "too little exploration" in r.output
    # legal is never explored (the default never_explore): said, never an estimate
    legal = eff[eff["queue"] == "legal"]
    assert len(legal) and (legal["reason"] == "excluded from exploration").all() and legal["effect"].isna().all()
    assert "not estimable: excluded from exploration (legal/" in r.output
    better = outcomes(night, 200.0, seed=1)
    r = runner.invoke(app, ["experiments", "--runs", str(night["runs"]), "--data", str(better),
                            "--out", str(tmp_path / "exp1")])
    res1 = pd.read_csv(tmp_path / "exp1" / "experiments.csv").set_index("arm")
    assert res1.loc["north_m3", "significant"] and res1.loc["north_m3", "net_vs_champion"] > 100
    assert res.set_index("arm").loc["champion", "account_nights"] > 0
    worse = outcomes(night, -200.0, seed=1)
    # promote: refused without a reason when the arm is not better, then done with evidence
    strat = tmp_path / "exp.yaml"
    strat.write_bytes(night["exp"].read_bytes())
    before = strat.read_bytes()
    r = runner.invoke(app, ["promote", "--strategy", str(strat), "--arm", "north_m3", "--by", "Li Wei",
                            "--runs", str(night["runs"]), "--data", str(worse)])
    assert r.exit_code == 2 and "--reason" in r.output and strat.read_bytes() == before
    r = runner.invoke(app, ["promote", "--strategy", str(strat), "--arm", "nope", "--by", "x"])
    assert r.exit_code == 2 and "no such arm" in r.output
    r = runner.invoke(app, ["promote", "--strategy", str(strat), "--arm", "north_m3", "--by", "Li Wei",
                            "--runs", str(night["runs"]), "--data", str(better)])
    assert r.exit_code == 0, r.output
    s = load_strategy(strat)
    assert s.queue("agency_north").effect["M3"] == 1.9 and s.queue("agency_north").effect["M2"] == 1.2
    assert [a.name for a in s.experiments.arms] == ["lean"] and s.experiments.explore == 0.05
    hist = tmp_path / "exp.history" / "approvals"
    import json
    rec = json.loads((hist / "000001.json").read_text())
    assert rec["arm"] == "north_m3" and rec["by"] == "Li Wei" and rec["evidence"][1]["arm"] in ("lean", "north_m3")
    assert (tmp_path / "exp.history" / rec["previous_file"]).read_bytes() == before
    import hashlib
    assert rec["new_sha256"] == hashlib.sha256(strat.read_bytes()).hexdigest()

def test_promote_writes_the_file_before_the_record(tmp_path, monkeypatch):
    """A crash while the strategy file is written leaves no record (and the old file); a crash
    while the record is written leaves the promoted file, the old bytes kept, and no record: a
    record never names a file that was not written."""
    import collections_engine.experiments.promote as pm
    d = doc()
    d["experiments"] = {"arms": [{"name": "a", "overrides": {"sms": {"cost_per_account": 0.1}}, "share": {"M1": 0.5}}]}
    strat = write(tmp_path / "s.yaml", d)
    before = strat.read_bytes()
    records = tmp_path / "s.history" / "approvals"
    real_write = pm.write_bytes_atomic

    def crash_on_strategy(path, data):
        if Path(path) == strat:
            raise OSError("disk full")
        real_write(path, data)

    monkeypatch.setattr(pm, "write_bytes_atomic", crash_on_strategy)
    with pytest.raises(OSError):
        pm.promote(strat, "a", "x")
    assert strat.read_bytes() == before and not list(records.glob("*.json"))

    def crash_on_record(*args, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(pm, "write_bytes_atomic", real_write)
    monkeypatch.setattr(pm, "append_record", crash_on_record)
    with pytest.raises(OSError):
        pm.promote(strat, "a", "x")
    assert strat.read_bytes() != before and load_strategy(strat).queue("sms").cost_per_account == 0.1
    assert not list(records.glob("*.json"))
    import hashlib
    assert (tmp_path / "s.history" / "previous" / f"{hashlib.sha256(before).hexdigest()}.yaml").read_bytes() == before

def test_arm_compared_with_the_champion_within_its_stages():
    from collections_engine.experiments import arm_results
    rng = np.random.default_rng(5)
    n = 4000
    arm = np.where(np.arange(n) < 1000, "a", "champion")
    stage = np.where(arm == "a", "M1", np.where(np.arange(n) % 2, "M1", "M4+"))
    net = rng.normal(10, 3, n) + np.where(stage == "M4+", 500.0, 0.0) + np.where(arm == "a", 1.0, 0.0)
    rows = pd.DataFrame({"night": "d", "arm": arm, "stage": stage, "customer_id": [f"C{i}" for i in range(n)],
                         "recovery": net, "cost": 0.0, "net": net, "explorer": False})
    r = arm_results(rows).set_index("arm")
    want = net[arm == "a"].mean() - net[(arm == "champion") & (stage == "M1")].mean()
    assert r.loc["a", "net_vs_champion"] == pytest.approx(want) and r.loc["a", "compared_on"] == "M1"
    assert r.loc["a", "significant"] and r.loc["a", "diff_lo"] > 0

def test_whatif_over_a_test_is_per_arm_or_says_it_applies_to_the_champion(night, tmp_path):
    """A night that ran under a test: the same file re-decides it arm by arm into the very plan
    that ran (explorers included); an edit of one arm's override moves only that arm's accounts;
    a file without experiments decides every account as the champion and says so."""
    import json

    from collections_engine.whatif import run_whatif
    runs, n1 = night["runs"], night["nights"][0]
    ran = pd.read_parquet(runs / n1 / "assignments.parquet")
    run_whatif(runs, n1, night["exp"], tmp_path / "same")
    same = json.loads((tmp_path / "same" / "whatif.json").read_text())
    after = pd.read_parquet(tmp_path / "same" / "assignments_whatif.parquet")
    cols = ["account_id", "queue", "arm", "propensity", "reason", "expected_net"]
    pd.testing.assert_frame_equal(after[cols], ran[cols])
    assert same["arms"]["mode"] == "per arm" and same["totals"]["moved"] == 0
    assert {r["arm_ran"] for r in same["arms"]["by_arm"]} == {"champion", "north_m3", "lean"}
    # one arm's hypothesis edited: only that arm's accounts can move
    doc = yaml.safe_load(night["exp"].read_text())
    doc["experiments"]["arms"][0]["overrides"]["agency_north"]["effect"]["M3"] = 3.0
    edited = write(night["tmp"] / "exp_edited.yaml", doc)
    run_whatif(runs, n1, edited, tmp_path / "edited")
    by = pd.DataFrame(json.loads((tmp_path / "edited" / "whatif.json").read_text())["arms"]["by_arm"])
    assert by.loc[by["arm_ran"] == "north_m3", "moved"].sum() > 0
    assert by.loc[by["arm_ran"] != "north_m3", "moved"].sum() == 0
    assert (by["arm_ran"] == by["arm_whatif"]).all()
    # no experiments in the changed file: every account as the champion, said plainly
    run_whatif(runs, n1, night["short"], tmp_path / "plain")
    plain = json.loads((tmp_path / "plain" / "whatif.json").read_text())
    assert plain["arms"]["mode"] == "champion for all"
    assert any("ran under a champion/challenger test" in w and "north_m3" in w for w in plain["warnings"])
    assert {r["arm_whatif"] for r in plain["arms"]["by_arm"]} == {"champion"}
    assert "ran under a champion/challenger test" in (tmp_path / "plain" / "whatif.html").read_text()

def test_arm_compared_within_the_stage_that_randomised_its_customers():
    """Customers are randomised by their most advanced stage: an arm on M4+ also holds its
    customers' M1 accounts. Those must be compared with the champion's accounts of M4+
    customers, not with its M1 customers (who pay more): with no true difference, a comparison
    by the account's own stage finds a spurious loss; by the customer's stratum it finds none."""
    from collections_engine.experiments import arm_results, realised_rows
    rng = np.random.default_rng(7)
    rows = []
    for c in range(6000):
        kind = "m1_only" if c < 3000 else "m4"
        arm = "a" if kind == "m4" and c % 2 == 0 else "champion"
        accounts = [("M1", 10)] if kind == "m1_only" else [("M4+", 120), ("M1", 15)]
        for k, (stage, dpd) in enumerate(accounts):
            mean = 400.0 if kind == "m1_only" else (50.0 if stage == "M1" else 100.0)
            rows.append({"account_id": f"A{c:05d}{k}", "customer_id": f"C{c:05d}", "stage": stage, "dpd": dpd,
                         "queue": "", "arm": arm, "reason": "", "recovered_amount": rng.normal(mean, 40.0)})
    a = pd.DataFrame(rows)
    r = realised_rows(a, a[["account_id", "recovered_amount"]], {}).assign(night="d")
    assert (r.loc[r["customer_id"] == "C03000", "stratum"] == "M4+").all()
    res = arm_results(r).set_index("arm")
    assert res.loc["a", "compared_on"] == "M4+" and not res.loc["a", "significant"]
    assert abs(res.loc["a", "net_vs_champion"]) < 4
    # the same rows without dpd: each account's own stage, the spurious loss
    old = arm_results(realised_rows(a.drop(columns="dpd"), a[["account_id", "recovered_amount"]], {})
                      .assign(night="d")).set_index("arm")
    assert old.loc["a", "significant"] and old.loc["a", "net_vs_champion"] < -100
