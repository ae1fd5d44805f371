"""Champion/challenger configuration: the YAML's rules (`check`), challenger files, arms by
customer hash, capacities split by share, exploration's excluded queues (`never_explore`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign.experiments import assign_arms, split_capacities
from collections_engine.config import load_strategy
from collections_engine.config.experiments import CHAMPION, arm_strategies
from collections_engine.errors import ConfigError
from collections_engine.pipeline import RunRequest, run_night
from tests.experiment_builders import (arm_file_with_other_rules, book_rows, doc, exp_strategy, experiment_night,
                                       write)
from tests.pipeline_helpers import BOOK, GRAPH


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The fixture night run under a test (`experiment_builders.experiment_night`, built once)."""
    return experiment_night(tmp_path_factory)


def test_check_reports_every_experiment_problem(tmp_path):
    d = doc()
    d["experiments"] = {"explore": 0.05, "arms": [
        {"name": "north_m3", "overrides": {"agency_north": {"effect": {"M3": 1.8, "M1": 2}, "capcity": 3},
                                           "agency_nort": {}}, "share": {"M3": 0.6, "M9": 0.1}},
        {"name": "north_m3", "strategy": "nope.yaml", "share": {"M3": 0.5}},
        {"name": "champion", "overrides": {"sms": {"commission": 0.1, "capacity": -1}}, "strategy": "x.yaml",
         "share": {"M1": 0.1}},
    ]}
    with pytest.raises(ConfigError) as exc:
        load_strategy(write(tmp_path / "bad.yaml", d))
    text = str(exc.value)
    for needle in ("share.M9", "unknown stage 'M9'", "did you mean 'capacity'", "effect for stage 'M1'",
                   "unknown queue 'agency_nort', did you mean 'agency_north'", "duplicate arm name 'north_m3'",
                   "'champion' is the strategy file itself", "found both strategy and overrides",
                   "sms.capacity", "not a key of a channel queue", "stage 'M3' add up to 1.1",
                   "nope.yaml: 1 problem(s): file not found"):
        assert needle in text, needle
    assert "12 problems" in text

def test_challenger_file_must_split_the_same_queues(tmp_path):
    other = doc()
    other["queues"][0]["effect"]["M1"] = 1.5
    write(tmp_path / "lean.yaml", other)
    d = doc()
    d["experiments"] = {"arms": [{"name": "lean", "strategy": "lean.yaml", "share": {"M1": 0.5}}]}
    s = load_strategy(write(tmp_path / "champ.yaml", d))
    arms = arm_strategies(s, tmp_path / "champ.yaml", load_strategy)
    assert list(arms) == [CHAMPION, "lean"] and arms["lean"].queues[0].effect["M1"] == 1.5
    other["queues"] = other["queues"][1:]
    write(tmp_path / "lean.yaml", other)
    with pytest.raises(ConfigError, match="expected the champion's queues by name"):
        load_strategy(tmp_path / "champ.yaml")

def test_challenger_file_must_keep_the_champions_rules(tmp_path):
    from typer.testing import CliRunner

    from collections_engine.cli import app
    champ = arm_file_with_other_rules(tmp_path)
    i = [q["name"] for q in doc()["queues"]].index("agency_north")
    r = CliRunner().invoke(app, ["check", str(champ)])
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    for needle in ("lean.yaml: recall_on: found []", "lean.yaml: one_collector_per_customer: found",
                   f"lean.yaml: queues[{i}].keep_customer_together: found", f"lean.yaml: queues[{i}].stages: found"):
        assert needle in text, needle
    for allowed in (f"queues[{i}].capacity", f"queues[{i}].effect", "lean.yaml: name"):
        assert allowed not in text, allowed
    # the same rules with only capacity and effect changed: accepted
    other = doc()
    other["name"] = "lean"
    other["queues"][i]["capacity"] = 5
    other["queues"][i]["effect"]["M3"] = 1.9
    write(tmp_path / "lean.yaml", other)
    r = CliRunner().invoke(app, ["check", str(champ)])
    assert r.exit_code == 0, r.output

def test_an_arm_cannot_change_the_fraud_queue(tmp_path):
    """The fraud queue works the night's top candidates across arms; an arm with another fraud
    capacity used to pass `check` and stop the night on the combined plan check."""
    from typer.testing import CliRunner

    from collections_engine.cli import app
    d = doc()
    i = [q["kind"] for q in d["queues"]].index("fraud")
    d["experiments"] = {"arms": [
        {"name": "more_fraud", "overrides": {"fraud_team": {"capacity": 5000}}, "share": {"M1": 0.5}},
        {"name": "same", "overrides": {"fraud_team": {"capacity": 2000}}, "share": {"M2": 0.5}},
        {"name": "lean", "strategy": "lean.yaml", "share": {"M3": 0.5}}]}
    other = doc()
    other["queues"][i]["capacity"] = 10
    write(tmp_path / "lean.yaml", other)
    r = CliRunner().invoke(app, ["check", str(write(tmp_path / "champ.yaml", d))])
    text = " ".join(r.output.split())
    assert r.exit_code == 2, r.output
    assert "experiments.arms[0].overrides.fraud_team.capacity (line" in text
    assert "found 5000; expected the champion's capacity" in text
    assert f"lean.yaml: queues[{i}].capacity: found 10; expected the champion's capacity" in text
    assert "arms[1]" not in text and "2 problems" in text

def test_arms_by_customer_hash_stable_with_shares():
    s = exp_strategy([{"name": "a", "overrides": {"sms": {"capacity": 5}}, "share": {"M1": 0.2, "M3": 0.5}},
                       {"name": "b", "overrides": {"sms": {"capacity": 5}}, "share": {"M1": 0.3}}])
    df = book_rows(40_000, 1)
    arm = assign_arms(df, s)
    # a customer's accounts share one arm
    assert (pd.Series(arm).groupby(df["customer_id"].to_numpy()).nunique() == 1).all()
    # single-account customers: the arm's share of their stage, within 4 standard errors
    single = df["customer_id"].map(df["customer_id"].value_counts()).to_numpy() == 1
    for stage, want in (("M1", {"a": 0.2, "b": 0.3}), ("M3", {"a": 0.5, "b": 0.0}), ("M2", {"a": 0, "b": 0})):
        m = single & (df["stage"].to_numpy() == stage)
        for name, p in want.items():
            got = float((arm[m] == name).mean())
            assert abs(got - p) <= 4 * np.sqrt(p * (1 - p) / m.sum()) + 1e-9, (stage, name, got)
    # stable: another night with a subset of the accounts, shuffled, gives them the same arms
    sub = df.sample(frac=0.5, random_state=3).sort_values("account_id").reset_index(drop=True)
    again = pd.Series(assign_arms(sub, s), index=sub["account_id"])
    stayed = (df.groupby("customer_id")["stage"].transform("nunique") == 1).to_numpy()  # same customer stage
    full = pd.Series(arm, index=df["account_id"])
    ids = sub["account_id"][sub["account_id"].isin(df["account_id"][stayed])]
    subset_same = sub.groupby("customer_id")["stage"].transform("nunique").to_numpy() == 1
    ids = sub["account_id"][subset_same & sub["account_id"].isin(df["account_id"][stayed]).to_numpy()]
    assert (again[ids] == full[ids]).all()
    # an open placement keeps the arm it was placed under, and so does its customer
    df2 = df.copy()
    df2.loc[:99, "open_vendor"] = "agency_north"
    prev = pd.Series("b", index=df2["account_id"][:100])
    arm2 = assign_arms(df2, s, prev)
    assert (arm2[:100] == "b").all()
    sib = df2["customer_id"].isin(df2["customer_id"][:100]).to_numpy()
    assert (arm2[sib] == "b").all()

@settings(max_examples=40)
@given(st.lists(st.sampled_from(["champion", "a", "b"]), min_size=0, max_size=60),
       st.integers(0, 500), st.integers(0, 50))
def test_capacities_split_add_up(arm_list, cap, legal_cap):
    d = doc()
    for q in d["queues"]:
        if q["name"] == "early_team":
            q["capacity"] = cap
        if q["name"] == "legal":
            q["capacity"] = legal_cap
    d["experiments"] = {"arms": [{"name": "a", "overrides": {"sms": {"cost_per_account": 0.1}}, "share": {"M1": 0.2}},
                                 {"name": "b", "overrides": {"sms": {"cost_per_account": 0.2}}, "share": {"M1": 0.2}}]}
    from collections_engine.config.strategy import Strategy
    s = Strategy.model_validate(d)
    n = len(arm_list)
    df = book_rows(n, n)
    df["hold"] = np.where(np.arange(n) % 7 == 0, "legal", "")
    arm = np.array(arm_list, dtype=object)
    arms = {CHAMPION: s, "a": s, "b": s}
    scaled = split_capacities(df, arm, arms)
    for qn in ("early_team", "legal", "agency_north", "fraud_team"):
        assert sum(x.queue(qn).capacity for x in scaled.values()) == s.queue(qn).capacity
    # every arm's legal holds have room when the whole queue has room for all of them
    lh = {a: int(((df["hold"] == "legal").to_numpy() & (arm == a)).sum()) for a in arms}
    if sum(lh.values()) <= legal_cap:
        assert all(scaled[a].queue("legal").capacity >= lh[a] for a in arms)

def test_an_effect_override_keeps_the_other_stages():
    s = exp_strategy([{"name": "a", "overrides": {"agency_north": {"effect": {"M3": 1.9}}}, "share": {"M3": 0.1}}])
    from collections_engine.config.experiments import apply_overrides
    q = apply_overrides(s, s.experiments.arms[0].overrides).queue("agency_north")
    assert q.effect == {"M2": 1.2, "M3": 1.9, "M4+": 1.4}

def test_run_refuses_a_challenger_file_with_other_rules(night, tmp_path):
    """Refused before anything is written (without the rule this night ran the arm under rules the
    combined plan was never checked against, exit 0; on other nights the check fails, exit 1)."""
    from typer.testing import CliRunner

    from collections_engine.cli import app
    champ = arm_file_with_other_rules(tmp_path)
    runs = tmp_path / "runs"
    r = CliRunner().invoke(app, ["run", "--data", str(BOOK), "--date", night["nights"][0], "--strategy", str(champ),
                                 "--graph", str(GRAPH), "--models", str(night["models"]), "--out", str(runs)])
    assert r.exit_code == 2, r.output
    assert "lean.yaml: recall_on: found []" in " ".join(r.output.split())
    assert not (runs / night["nights"][0]).exists()

@pytest.mark.slow
def test_an_edited_arm_file_changes_the_nights_fingerprint(night, tmp_path):
    """The arms' strategy files decide part of the night: their hashes are in the inputs'
    fingerprint (run.json), and an edited arm file makes a rerun refuse without --force."""
    from collections_engine.errors import InputError
    from collections_engine.io import file_sha256
    from collections_engine.io.runs import read_run_json
    other = yaml.safe_load(night["short"].read_text())
    lean = write(tmp_path / "lean.yaml", other)
    doc = yaml.safe_load(night["short"].read_text())
    doc["experiments"] = {"seed": 3, "arms": [{"name": "lean", "strategy": "lean.yaml", "share": {"M1": 0.2}}]}
    champ = write(tmp_path / "champ.yaml", doc)
    date = night["nights"][0]
    req = RunRequest(data=BOOK, date=date, strategy=champ, graph=GRAPH, models=night["models"], runs=tmp_path / "runs")
    run_night(req)
    fp = read_run_json(tmp_path / "runs" / date)["inputs"]
    assert fp["arm_strategies_sha256"] == {"lean": file_sha256(lean)}
    run_night(req)                                   # same files: the rerun is allowed
    other["queues"][0]["capacity"] += 1
    write(lean, other)
    with pytest.raises(InputError, match="arm_strategies_sha256"):
        run_night(req)
    run_night(RunRequest(**{**req.__dict__, "force": True}))
    assert read_run_json(tmp_path / "runs" / date)["inputs"]["arm_strategies_sha256"] == {"lean": file_sha256(lean)}


def test_never_explore_names_the_excluded_queues_and_always_legal(tmp_path):
    """`experiments.never_explore`: absent, every legal queue; given, known work queues once
    each, and never without a legal queue (a court action is not a random draw)."""
    from collections_engine.config.experiments import never_explored

    d = doc()
    d["experiments"] = {"explore": 0.05}
    assert never_explored(load_strategy(write(tmp_path / "default.yaml", d))) == {"legal"}
    d["experiments"]["never_explore"] = ["legal", "agency_east"]
    assert never_explored(load_strategy(write(tmp_path / "two.yaml", d))) == {"legal", "agency_east"}
    d["experiments"]["never_explore"] = ["agency_eats", "fraud_team", "sms", "sms"]
    with pytest.raises(ConfigError) as exc:
        load_strategy(write(tmp_path / "bad.yaml", d))
    text = str(exc.value)
    for needle in ("experiments.never_explore[0] (line", "unknown queue 'agency_eats', did you mean 'agency_east'",
                   "never_explore[1]", "'fraud_team' is the fraud queue", "never_explore[3]", "'sms' listed twice",
                   "legal queue 'legal' is missing", "4 problems"):
        assert needle in text, needle
