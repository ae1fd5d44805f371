"""Champion/challenger experiments: the YAML's rules, arms by customer hash, capacities split by
share, exploration with logged propensities, and two nightly runs under a test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign import decide
from collections_engine.assign.experiments import assign_arms, decide_night, split_capacities
from collections_engine.config import load_strategy
from collections_engine.config.experiments import CHAMPION, arm_strategies
from collections_engine.errors import ConfigError
from collections_engine.pipeline import RunRequest, run_night
from tests.pipeline_helpers import BOOK, GRAPH, ROOT, data_digest, short_placement_strategy, train_fast

DEFAULT = ROOT / "strategies" / "default.yaml"


def _doc() -> dict:
    return yaml.safe_load(DEFAULT.read_text())


def _write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_check_reports_every_experiment_problem(tmp_path):
    d = _doc()
    d["experiments"] = {"explore": 0.05, "arms": [
        {"name": "north_m3", "overrides": {"agency_north": {"effect": {"M3": 1.8, "M1": 2}, "capcity": 3},
                                           "agency_nort": {}}, "share": {"M3": 0.6, "M9": 0.1}},
        {"name": "north_m3", "strategy": "nope.yaml", "share": {"M3": 0.5}},
        {"name": "champion", "overrides": {"sms": {"commission": 0.1, "capacity": -1}}, "strategy": "x.yaml",
         "share": {"M1": 0.1}},
    ]}
    with pytest.raises(ConfigError) as exc:
        load_strategy(_write(tmp_path / "bad.yaml", d))
    text = str(exc.value)
    for needle in ("share.M9", "unknown stage 'M9'", "did you mean 'capacity'", "effect for stage 'M1'",
                   "unknown queue 'agency_nort', did you mean 'agency_north'", "duplicate arm name 'north_m3'",
                   "'champion' is the strategy file itself", "found both strategy and overrides",
                   "sms.capacity", "not a key of a channel queue", "stage 'M3' add up to 1.1",
                   "nope.yaml: 1 problem(s): file not found"):
        assert needle in text, needle
    assert "12 problems" in text


def test_challenger_file_must_split_the_same_queues(tmp_path):
    other = _doc()
    other["queues"][0]["effect"]["M1"] = 1.5
    _write(tmp_path / "lean.yaml", other)
    d = _doc()
    d["experiments"] = {"arms": [{"name": "lean", "strategy": "lean.yaml", "share": {"M1": 0.5}}]}
    s = load_strategy(_write(tmp_path / "champ.yaml", d))
    arms = arm_strategies(s, tmp_path / "champ.yaml", load_strategy)
    assert list(arms) == [CHAMPION, "lean"] and arms["lean"].queues[0].effect["M1"] == 1.5
    other["queues"] = other["queues"][1:]
    _write(tmp_path / "lean.yaml", other)
    with pytest.raises(ConfigError, match="expected the champion's queues by name"):
        load_strategy(tmp_path / "champ.yaml")


def _arm_file_with_other_rules(tmp_path: Path) -> Path:
    """A champion whose challenger file changes rules the combined check uses (and, allowed,
    a capacity and an effect)."""
    other = _doc()
    other["name"] = "lean"
    other["recall_on"] = []
    other["one_collector_per_customer"] = not other.get("one_collector_per_customer", False)
    for q in other["queues"]:
        if q["name"] == "agency_north":
            q["keep_customer_together"] = not q.get("keep_customer_together", False)
            q["stages"] = [*q["stages"], "M1"]
            q["effect"]["M1"] = 1.1
            q["capacity"] = 5
    _write(tmp_path / "lean.yaml", other)
    d = _doc()
    d["experiments"] = {"arms": [{"name": "lean", "strategy": "lean.yaml", "share": {"M1": 0.5}}]}
    return _write(tmp_path / "champ.yaml", d)


def test_challenger_file_must_keep_the_champions_rules(tmp_path):
    from typer.testing import CliRunner

    from collections_engine.cli import app
    champ = _arm_file_with_other_rules(tmp_path)
    i = [q["name"] for q in _doc()["queues"]].index("agency_north")
    r = CliRunner().invoke(app, ["check", str(champ)])
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    for needle in ("lean.yaml: recall_on: found []", "lean.yaml: one_collector_per_customer: found",
                   f"lean.yaml: queues[{i}].keep_customer_together: found", f"lean.yaml: queues[{i}].stages: found"):
        assert needle in text, needle
    for allowed in (f"queues[{i}].capacity", f"queues[{i}].effect", "lean.yaml: name"):
        assert allowed not in text, allowed
    # the same rules with only capacity and effect changed: accepted
    other = _doc()
    other["name"] = "lean"
    other["queues"][i]["capacity"] = 5
    other["queues"][i]["effect"]["M3"] = 1.9
    _write(tmp_path / "lean.yaml", other)
    r = CliRunner().invoke(app, ["check", str(champ)])
    assert r.exit_code == 0, r.output


def test_an_arm_cannot_change_the_fraud_queue(tmp_path):
    """The fraud queue works the night's top candidates across arms; an arm with another fraud
    capacity used to pass `check` and stop the night on the combined plan check."""
    from typer.testing import CliRunner

    from collections_engine.cli import app
    d = _doc()
    i = [q["kind"] for q in d["queues"]].index("fraud")
    d["experiments"] = {"arms": [
        {"name": "more_fraud", "overrides": {"fraud_team": {"capacity": 5000}}, "share": {"M1": 0.5}},
        {"name": "same", "overrides": {"fraud_team": {"capacity": 2000}}, "share": {"M2": 0.5}},
        {"name": "lean", "strategy": "lean.yaml", "share": {"M3": 0.5}}]}
    other = _doc()
    other["queues"][i]["capacity"] = 10
    _write(tmp_path / "lean.yaml", other)
    r = CliRunner().invoke(app, ["check", str(_write(tmp_path / "champ.yaml", d))])
    text = " ".join(r.output.split())
    assert r.exit_code == 2, r.output
    assert "experiments.arms[0].overrides.fraud_team.capacity (line" in text
    assert "found 5000; expected the champion's capacity" in text
    assert f"lean.yaml: queues[{i}].capacity: found 10; expected the champion's capacity" in text
    assert "arms[1]" not in text and "2 problems" in text


def _book_rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, max(1, int(n * 0.8)), n)
    return pd.DataFrame({
        "account_id": pd.Series([f"A{i:06d}" for i in range(n)], dtype="str"),
        "customer_id": pd.Series([f"C{c:06d}" for c in cust], dtype="str"),
        "stage": rng.choice(["M1", "M2", "M3", "M4+"], n),
        "open_vendor": "", "hold": "", "ring_id": "", "fraud_confirmed": False,
    })


def _exp_strategy(arms: list[dict], explore: float = 0.0, seed: int = 0):
    d = _doc()
    d["experiments"] = {"explore": explore, "seed": seed, "arms": arms}
    from collections_engine.config.strategy import Strategy
    return Strategy.model_validate(d)


def test_arms_by_customer_hash_stable_with_shares():
    s = _exp_strategy([{"name": "a", "overrides": {"sms": {"capacity": 5}}, "share": {"M1": 0.2, "M3": 0.5}},
                       {"name": "b", "overrides": {"sms": {"capacity": 5}}, "share": {"M1": 0.3}}])
    df = _book_rows(40_000, 1)
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
    d = _doc()
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
    df = _book_rows(n, n)
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


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A night's decision inputs from the fixture book (one nightly run), and its strategy."""
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
    exp = _write(tmp / "exp.yaml", doc)
    runs = tmp / "runs"
    for n in nights[:2]:
        run_night(RunRequest(data=BOOK, date=n, strategy=exp, graph=GRAPH, models=models, runs=runs))
    return {"tmp": tmp, "models": models, "nights": nights, "exp": exp, "short": sp, "runs": runs,
            "inputs": pd.read_parquet(runs / nights[0] / "decision_inputs.parquet")}


def test_nights_under_a_test_log_arms_and_propensities(night):
    runs, (n1, n2) = night["runs"], night["nights"][:2]
    a1 = pd.read_parquet(runs / n1 / "assignments.parquet")
    a2 = pd.read_parquet(runs / n2 / "assignments.parquet")
    for a in (a1, a2):
        assert set(a["arm"]) == {"champion", "north_m3", "lean"}
        assert a["propensity"].between(0, 1, inclusive="right").all()
        assert (a.loc[a["decision"].isin(["kept", "held", "fraud_hold"]), "propensity"] == 1).all()
        assert (a["reason"] == "explore").sum() > 0
    # an account kept under a vendor keeps its arm
    k = a2[a2["decision"] == "kept"].merge(a1[["account_id", "arm"]], on="account_id", suffixes=("", "_1"))
    assert len(k) and (k["arm"] == k["arm_1"]).all()
    # the whole night again into another folder: the same bytes
    run_night(RunRequest(data=BOOK, date=n1, strategy=night["exp"], graph=GRAPH, models=night["models"],
                         runs=night["tmp"] / "again"))
    assert data_digest(night["tmp"] / "again" / n1) == data_digest(runs / n1)


def test_no_experiment_is_decide_with_champion_columns(night):
    s = load_strategy(night["short"])
    date = night["nights"][0]
    plain = decide(night["inputs"], s, date)
    d = decide_night(night["inputs"], s, date)
    pd.testing.assert_frame_equal(d.assignments.drop(columns=["arm", "propensity"]), plain.assignments)
    assert (d.assignments["arm"] == "champion").all() and (d.assignments["propensity"] == 1).all()


def test_exploration_propensities_are_honest(night):
    """With exact epsilon-greedy propensities, sum over explorable accounts of [queue = q] / p
    estimates the number of accounts that had q as an option (here q = not worked: all of them)."""
    doc = yaml.safe_load(night["short"].read_text())
    doc["experiments"] = {"explore": 0.3, "seed": 11, "arms": []}
    s = _write(night["tmp"] / "explore.yaml", doc)
    strat = load_strategy(s)
    date = night["nights"][0]
    d = decide_night(night["inputs"], strat, date, arms=arm_strategies(strat, s, load_strategy))
    a = d.assignments
    explorable = a["propensity"] < 1
    ex = a["reason"].str.startswith("explore")
    n = int(explorable.sum())
    assert n > 500 and abs(ex.sum() / n - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    nw = explorable & (a["queue"] == "")
    w = 1 / a.loc[nw, "propensity"]
    est = float(w.sum())
    sd = float(np.sqrt(((w ** 2) * (1 - a.loc[nw, "propensity"])).sum()))
    assert abs(est - n) < 4 * sd + 1e-9, (est, n, sd)
    # explorers were placed within every capacity: decide_night checked the combined plan
    assert d.solver["experiments"]["arms"]["champion"]["explorers"] == int(ex.sum())


def test_propensities_count_explorers_sent_back_by_a_full_queue(night):
    """Half the free accounts explore into queues far too small for them: most explorers who
    draw a vendor or the early team find it full and are not worked. The logged probability of
    not worked must include that chance, or the control's inverse-propensity weights count the
    explorable accounts about twice (the old propensity: sum 4,982 for 2,544 accounts)."""
    doc = yaml.safe_load(night["short"].read_text())
    for q in doc["queues"]:
        if q["name"] == "early_team":
            q["capacity"] = 40
        if q["kind"] == "vendor":
            q["capacity"] = 30
    doc["experiments"] = {"explore": 0.5, "seed": 1, "arms": []}
    s = _write(night["tmp"] / "overflow.yaml", doc)
    strat = load_strategy(s)
    d = decide_night(night["inputs"], strat, night["nights"][0], arms=arm_strategies(strat, s, load_strategy))
    a = d.assignments
    assert any("drawn queue was full" in w for w in d.warnings)
    explorable = a["propensity"] < 1
    n = int(explorable.sum())
    nw = explorable & (a["queue"] == "")
    p = a.loc[nw, "propensity"]
    est, sd = float((1 / p).sum()), float(np.sqrt(((1 - p) / p ** 2).sum()))
    assert n > 1000 and abs(est - n) < 4 * sd, (est, n, sd)


def test_propensities_against_the_draw_written_out():
    """`propensities` against the epsilon-greedy draw written out case by case."""
    from collections_engine.assign.experiments import propensities
    rng = np.random.default_rng(3)
    n, q, e = 300, 4, 0.2
    opts = rng.random((n, q)) < 0.6
    overflow = np.array([0.0, 0.5, 0.25, 1.0])
    taken = rng.integers(-1, q, n)
    plan = np.where(rng.random(n) < 0.5, taken, rng.integers(-1, q, n))
    explorable = rng.random(n) < 0.8
    got = propensities(e, opts, explorable, taken, plan, overflow)
    for i in range(n):
        k = opts[i].sum() + 1
        if not explorable[i]:
            want = 1.0
        elif taken[i] == -1:
            want = (1 - e) * (plan[i] == -1) + e / k * (1 + sum(overflow[j] for j in range(q) if opts[i, j]))
        else:
            want = (1 - e) * (plan[i] == taken[i]) + (e / k * (1 - overflow[taken[i]]) if opts[i, taken[i]] else 0.0)
        assert got[i] == pytest.approx(want), i


def test_fraud_queue_split_by_rank_passes_the_combined_check(night):
    """More fraud candidates than the fraud queue holds, spread over the arms: each arm's share
    is its candidates among the night's top `capacity` (confirmed, ring score), so no arm leaves
    a confirmed account unworked while another takes a lower-scored ring member."""
    doc = yaml.safe_load(night["short"].read_text())
    for q in doc["queues"]:
        if q["kind"] == "fraud":
            q["capacity"] = 25
    doc["experiments"] = {"seed": 3, "arms": [
        {"name": "a", "overrides": {"sms": {"cost_per_account": 0.1}}, "share": {s: 0.3 for s in ("M1", "M2", "M3")}},
        {"name": "b", "overrides": {"sms": {"cost_per_account": 0.2}}, "share": {s: 0.3 for s in ("M1", "M2", "M3")}}]}
    path = _write(night["tmp"] / "fraud_split.yaml", doc)
    strat = load_strategy(path)
    df = night["inputs"].copy()
    free = np.flatnonzero((df["hold"].fillna("") == "").to_numpy())
    rng = np.random.default_rng(5)
    pick = rng.choice(free, 120, replace=False)
    conf = pick[:10]
    ring = pick[10:]
    df.loc[df.index[conf], "fraud_confirmed"] = True
    df.loc[df.index[ring], "ring_id"] = "R1"
    df.loc[df.index[ring], "ring_score"] = rng.uniform(0.1, 0.9, len(ring))
    d = decide_night(df, strat, night["nights"][0], arms=arm_strategies(strat, path, load_strategy))
    a = d.assignments.set_index("account_id")
    ids = df["account_id"].astype(str).to_numpy()
    # the obvious way: every candidate of the night ranked together, the first 25 held
    cand = df[(df["hold"].fillna("") == "") & (df["fraud_confirmed"].fillna(False).astype(bool)
                                               | (df["ring_id"].fillna("") != ""))]
    key = pd.DataFrame({"c": ~cand["fraud_confirmed"].fillna(False).astype(bool).to_numpy(),
                        "s": -cand["ring_score"].fillna(0.0).to_numpy(float),
                        "a": cand["account_id"].astype(str).to_numpy()})
    want = set(key.sort_values(["c", "s", "a"])["a"][:25])
    got = a.index[a["decision"] == "fraud_hold"]
    assert len(cand) > 100 and set(got) == want
    assert len(set(a.loc[ids[pick], "arm"])) == 3


def test_run_refuses_a_challenger_file_with_other_rules(night, tmp_path):
    """Refused before anything is written (without the rule this night ran the arm under rules the
    combined plan was never checked against, exit 0; on other nights the check fails, exit 1)."""
    from typer.testing import CliRunner

    from collections_engine.cli import app
    champ = _arm_file_with_other_rules(tmp_path)
    runs = tmp_path / "runs"
    r = CliRunner().invoke(app, ["run", "--data", str(BOOK), "--date", night["nights"][0], "--strategy", str(champ),
                                 "--graph", str(GRAPH), "--models", str(night["models"]), "--out", str(runs)])
    assert r.exit_code == 2, r.output
    assert "lean.yaml: recall_on: found []" in " ".join(r.output.split())
    assert not (runs / night["nights"][0]).exists()


def test_an_edited_arm_file_changes_the_nights_fingerprint(night, tmp_path):
    """The arms' strategy files decide part of the night: their hashes are in the inputs'
    fingerprint (run.json), and an edited arm file makes a rerun refuse without --force."""
    from collections_engine.errors import InputError
    from collections_engine.io import file_sha256
    from collections_engine.io.runs import read_run_json
    other = yaml.safe_load(night["short"].read_text())
    lean = _write(tmp_path / "lean.yaml", other)
    doc = yaml.safe_load(night["short"].read_text())
    doc["experiments"] = {"seed": 3, "arms": [{"name": "lean", "strategy": "lean.yaml", "share": {"M1": 0.2}}]}
    champ = _write(tmp_path / "champ.yaml", doc)
    date = night["nights"][0]
    req = RunRequest(data=BOOK, date=date, strategy=champ, graph=GRAPH, models=night["models"], runs=tmp_path / "runs")
    run_night(req)
    fp = read_run_json(tmp_path / "runs" / date)["inputs"]
    assert fp["arm_strategies_sha256"] == {"lean": file_sha256(lean)}
    run_night(req)                                   # same files: the rerun is allowed
    other["queues"][0]["capacity"] += 1
    _write(lean, other)
    with pytest.raises(InputError, match="arm_strategies_sha256"):
        run_night(req)
    run_night(RunRequest(**{**req.__dict__, "force": True}))
    assert read_run_json(tmp_path / "runs" / date)["inputs"]["arm_strategies_sha256"] == {"lean": file_sha256(lean)}


def test_an_effect_override_keeps_the_other_stages():
    s = _exp_strategy([{"name": "a", "overrides": {"agency_north": {"effect": {"M3": 1.9}}}, "share": {"M3": 0.1}}])
    from collections_engine.config.experiments import apply_overrides
    q = apply_overrides(s, s.experiments.arms[0].overrides).queue("agency_north")
    assert q.effect == {"M2": 1.2, "M3": 1.9, "M4+": 1.4}


def _outcomes(night: dict, lift: float, seed: int = 0) -> Path:
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


def test_experiments_reads_outcomes_and_history_through_the_schema(night):
    """A bad date and a non-numeric amount in outcomes, a bad propensity in placement_history:
    one DataError naming each (exit 2), never an exception or an amount silently made 0."""
    from typer.testing import CliRunner

    from collections_engine.cli import app
    from collections_engine.errors import DataError
    from collections_engine.experiments.collect import collect
    src = _outcomes(night, 0.0, seed=7)
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
    data = _outcomes(night, 0.0)
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
    flat = _outcomes(night, 0.0, seed=1)
    r = runner.invoke(app, ["experiments", "--runs", str(night["runs"]), "--data", str(flat),
                            "--out", str(tmp_path / "exp0"), "--strategy", str(night["exp"])])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(tmp_path / "exp0" / "experiments.csv")
    eff = pd.read_csv(tmp_path / "exp0" / "effects.csv")
    assert {"explored", "estimable"} <= set(eff.columns) and "too little exploration" in r.output
    better = _outcomes(night, 200.0, seed=1)
    r = runner.invoke(app, ["experiments", "--runs", str(night["runs"]), "--data", str(better),
                            "--out", str(tmp_path / "exp1")])
    res1 = pd.read_csv(tmp_path / "exp1" / "experiments.csv").set_index("arm")
    assert res1.loc["north_m3", "significant"] and res1.loc["north_m3", "net_vs_champion"] > 100
    assert res.set_index("arm").loc["champion", "account_nights"] > 0
    worse = _outcomes(night, -200.0, seed=1)
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
    d = _doc()
    d["experiments"] = {"arms": [{"name": "a", "overrides": {"sms": {"cost_per_account": 0.1}}, "share": {"M1": 0.5}}]}
    strat = _write(tmp_path / "s.yaml", d)
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
    edited = _write(night["tmp"] / "exp_edited.yaml", doc)
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
