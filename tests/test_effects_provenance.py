"""Effects that say where they come from (issue 16): history only where it is an experiment,
held accounts out of the control, `--effects history|strategy` on run and whatif, untested
queues marked, and whatif naming the edits that changed nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from collections_engine.assign import decide
from collections_engine.assign.effects import Effects, estimate_effects
from collections_engine.cli import app
from collections_engine.config import load_strategy
from collections_engine.io.load import load_book
from collections_engine.scoring import approve
from collections_engine.scoring.store import write_version
from tests.pipeline_helpers import BOOK, GRAPH, fast_model, short_placement_strategy
from tests.assign_builders import make_strategy

runner = CliRunner()
DATE = pd.Timestamp("2025-01-31")


# ---------------------------------------------------------------- estimates (units)

def _randomised(n: int, seed: int, effect: float = 1.5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """M1 accounts drawn to team (0.4) or not_worked (0.6), team multiplying p by `effect`."""
    rng = np.random.default_rng(seed)
    q = rng.choice(["team", "not_worked"], n, p=[0.4, 0.6])
    p0 = rng.uniform(0.1, 0.5, n)
    y = (rng.uniform(size=n) < np.where(q == "team", effect, 1.0) * p0).astype(int)
    keys = {"account_id": [f"A{i}" for i in range(n)], "snapshot_date": DATE}
    hist = pd.DataFrame({**keys, "queue": q, "propensity": np.where(q == "team", 0.4, 0.6)})
    return hist, pd.DataFrame({**keys, "repaid": y}), pd.DataFrame({**keys, "stage": "M1"})


def _held_rows(k: int, start: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """k held accounts (a dispute, say): never worked, repaying at 2%."""
    keys = {"account_id": [f"H{start + i}" for i in range(k)], "snapshot_date": DATE}
    y = (np.arange(k) % 50 == 0).astype(int)
    return (pd.DataFrame({**keys, "queue": "not_worked", "propensity": 1.0}),
            pd.DataFrame({**keys, "repaid": y}), pd.DataFrame({**keys, "stage": "M1"}))


def test_held_accounts_are_not_part_of_the_not_worked_control():
    s = make_strategy((10, 10, 10))
    h, o, st = _randomised(20_000, 3)
    hh, ho, hs = _held_rows(4_000, 0)
    hist, out, stages = (pd.concat([a, b], ignore_index=True) for a, b in ((h, hh), (o, ho), (st, hs)))
    est = estimate_effects(hist, out, stages, s).set_index(["queue", "stage"])
    row = est.loc[("team", "M1")]
    assert row["ci_low"] <= 1.5 <= row["ci_high"]          # the randomised truth
    assert row["n_control"] == int((h["queue"] == "not_worked").sum()) and row["n_control_held"] == 4_000
    # the same held rows counted as controls (what the estimate did before): the low-repaying
    # holds drag the control rate down and the effect up, out of its interval
    naive = estimate_effects(hist.assign(propensity=np.where(hist["propensity"] >= 1, 0.6, hist["propensity"])),
                             out, stages, s).set_index(["queue", "stage"]).loc[("team", "M1")]
    assert naive["effect"] > row["ci_high"]
    # the same accounts identified by the holds table (propensity logged as if drawn) are left out too
    holds = pd.DataFrame({"account_id": hh["account_id"], "hold": "dispute", "start": DATE - pd.Timedelta(days=5),
                          "end": pd.NaT})
    by_table = estimate_effects(hist.assign(propensity=np.where(hist["propensity"] >= 1, 0.6, hist["propensity"])),
                                out, stages, s, holds=holds).set_index(["queue", "stage"]).loc[("team", "M1")]
    assert by_table["effect"] == pytest.approx(row["effect"]) and by_table["n_control_held"] == 4_000
    # a hold that ended before the row's date does not exclude it
    ended = holds.assign(start=DATE - pd.Timedelta(days=40), end=DATE - pd.Timedelta(days=10))
    assert estimate_effects(hist.assign(propensity=np.where(hist["propensity"] >= 1, 0.6, hist["propensity"])),
                            out, stages, s, holds=ended).set_index(["queue", "stage"]).loc[
        ("team", "M1"), "effect"] == pytest.approx(naive["effect"])


@pytest.mark.parametrize("drop", ["column", "null"])
def test_history_without_propensity_gives_the_strategys_effects_and_a_warning(drop):
    s = make_strategy((10, 10, 10))
    h, o, st = _randomised(20_000, 4)
    h = h.drop(columns="propensity") if drop == "column" else h.assign(propensity=np.nan)
    est = estimate_effects(h, o, st, s)
    assert (est["n"] == 0).all() and est["effect"].isna().all() and est["n_no_propensity"].sum() > 0
    eff = Effects.resolve(s, est)
    assert eff.values == {}
    t = eff.table.set_index(["queue", "stage"])
    assert (t["used"] == t["strategy_effect"]).all()
    assert t.loc[("team", "M1"), "source"] == "strategy"      # history exists, but no experiment
    assert t.loc[("v2", "M2"), "source"] == "untested"        # no history at all
    assert any("no propensity" in w and "not a randomised experiment" in w for w in eff.warnings)


def test_partly_logged_history_uses_the_logged_rows_and_says_how_many_were_left_out():
    s = make_strategy((10, 10, 10))
    h, o, st = _randomised(20_000, 5)
    h.loc[h.index[:3000], "propensity"] = np.nan
    eff = Effects.resolve(s, estimate_effects(h, o, st, s))
    assert eff.table.set_index(["queue", "stage"]).loc[("team", "M1"), "source"] == "history"
    assert any(w.startswith("3,000 of 20,000 placements") for w in eff.warnings)


def test_strategy_mode_ignores_history_and_untested_queues_are_named():
    s = make_strategy((10, 10, 10))
    h, o, st = _randomised(20_000, 6)
    est = estimate_effects(h, o, st, s)
    hist = Effects.resolve(s, est)
    assert hist.values == {("team", "M1"): pytest.approx(est.set_index(["queue", "stage"]).loc[("team", "M1"), "effect"])}
    assert set(hist.untested()) == {"team M2", "v1 M1", "v1 M2", "v2 M2"}
    assert any(w.startswith("queue v2 has no placement history for M2") for w in hist.warnings)
    strat = Effects.resolve(s, est, mode="strategy")
    assert strat.values == {} and strat.warnings == ()
    assert (strat.table["used"] == strat.table["strategy_effect"]).all()
    assert set(strat.table["source"]) == {"strategy", "untested"}
    with pytest.raises(ValueError, match="effects mode"):
        Effects.resolve(s, est, mode="naive")


# ---------------------------------------------------------------- the nightly run and whatif

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One fast training on the fixture book, approved in two model folders: effects estimated
    from the randomised history (holds out), and from the same history without its propensity."""
    tmp = tmp_path_factory.mktemp("effects")
    strategy_path = short_placement_strategy(tmp / "short.yaml")
    strategy = load_strategy(strategy_path)
    book, _ = load_book(BOOK, strategy)
    trained = fast_model(strategy_path)
    ph = book.placement_history
    variants = {"randomised": ph, "no_propensity": ph.drop(columns="propensity")}
    models = {}
    for name, hist in variants.items():
        est = estimate_effects(hist, book.outcomes, book.accounts, strategy, holds=book.holds)
        models[name] = tmp / f"models_{name}"
        write_version(trained, models[name], "mtest" + name[:4], {"input_hashes": {}, "note": "test"},
                      "<html></html>", est)
        approve(models[name], "mtest" + name[:4], by="tests")
    acc = pd.read_parquet(BOOK / "accounts.parquet", columns=["snapshot_date"])
    out = pd.read_parquet(BOOK / "outcomes.parquet", columns=["snapshot_date"])
    night = min(set(pd.to_datetime(acc["snapshot_date"])) - set(pd.to_datetime(out["snapshot_date"])))
    return {"tmp": tmp, "strategy": strategy_path, "models": models, "night": night.date().isoformat()}


def _run(w: dict, runs: Path, model: str, *extra: str, strategy: Path | None = None) -> object:
    return runner.invoke(app, ["run", "--data", str(BOOK), "--date", w["night"], "--strategy",
                               str(strategy or w["strategy"]), "--graph", str(GRAPH), "--models",
                               str(w["models"][model]), "--out", str(runs), *extra])


def _hist_runs(w: dict) -> Path:
    """The runs folder of the night decided with history effects (run once per module)."""
    base = w["tmp"] / "runs_hist"
    if not (base / w["night"]).is_dir():
        assert _run(w, base, "randomised").exit_code == 0
    return base


def _whatif(w: dict, doc: dict | None, name: str, *extra: str, strategy: Path | None = None) -> tuple[object, Path]:
    """`whatif` of the history night with the strategy `doc` (written to NAME.yaml) or the file
    `strategy`, into whatif_NAME; returns the CLI result (exit 0 asserted) and the out folder."""
    if doc is not None:
        strategy = w["tmp"] / f"{name}.yaml"
        strategy.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = w["tmp"] / f"whatif_{name}"
    r = runner.invoke(app, ["whatif", "--runs", str(_hist_runs(w)), "--date", w["night"], "--strategy",
                            str(strategy), "--out", str(out), *extra])
    assert r.exit_code == 0, r.output[-2000:]
    return r, out


def _redecided(folder: Path, strategy: Path, effects: dict | None) -> pd.DataFrame:
    inp = pd.read_parquet(folder / "decision_inputs.parquet")
    return decide(inp, load_strategy(strategy), pd.Timestamp(folder.name), effects=effects).assignments


def test_run_without_propensity_falls_back_with_a_warning_in_run_json_and_the_report(world):
    runs = world["tmp"] / "runs_noprop"
    r = _run(world, runs, "no_propensity")
    assert r.exit_code == 0, r.output[-2000:]
    folder = runs / world["night"]
    doc = json.loads((folder / "run.json").read_text())
    msg = [w for w in doc["warnings"] if "placement_history has no propensity" in w]
    assert len(msg) == 1 and doc["effects"]["mode"] == "history" and doc["effects"]["cells"]["history"] == []
    top = (folder / "report.html").read_text()
    assert "no propensity" in top.split("Tonight&#x27;s volumes")[0].split("Tonight's volumes")[0]
    eff = pd.read_parquet(folder / "effects.parquet")
    assert (eff["used"] == eff["strategy_effect"]).all() and set(eff["source"]) <= {"strategy", "untested"}
    # the plan is the one the strategy's own effects give
    a = pd.read_parquet(folder / "assignments.parquet")
    again = _redecided(folder, world["strategy"], None)
    assert a["queue"].tolist() == again["queue"].tolist()


@pytest.mark.slow
def test_run_with_effects_strategy_ignores_the_history(world):
    hist_runs, strat_runs = world["tmp"] / "runs_hist", world["tmp"] / "runs_strat"
    assert _run(world, hist_runs, "randomised").exit_code == 0
    r = _run(world, strat_runs, "randomised", "--effects", "strategy")
    assert r.exit_code == 0, r.output[-2000:]
    h = pd.read_parquet(hist_runs / world["night"] / "effects.parquet")
    s = pd.read_parquet(strat_runs / world["night"] / "effects.parquet")
    assert (h["source"] == "history").sum() >= 5                 # history decides by default
    assert "history" not in set(s["source"]) and (s["used"] == s["strategy_effect"]).all()
    assert (s["n"] == h["n"]).all()                              # the evidence is still shown
    a = pd.read_parquet(strat_runs / world["night"] / "assignments.parquet")
    assert a["queue"].tolist() == _redecided(strat_runs / world["night"], world["strategy"], None)["queue"].tolist()
    ah = pd.read_parquet(hist_runs / world["night"] / "assignments.parquet")
    assert (ah["queue"] != a["queue"]).any()
    doc = json.loads((strat_runs / world["night"] / "run.json").read_text())
    assert doc["effects"]["mode"] == "strategy" and doc["inputs"]["effects"] == "strategy"
    # the same night with the other mode decides differently: refused without --force
    r = _run(world, strat_runs, "randomised")
    assert r.exit_code == 2 and "effects" in r.output
    bad = _run(world, world["tmp"] / "runs_bad", "randomised", "--effects", "naive")
    assert bad.exit_code == 2 and "--effects" in bad.output and "history, strategy" in bad.output


def _with_new_vendor(src: Path, dst: Path) -> Path:
    doc = yaml.safe_load(src.read_text())
    doc["queues"].insert(-1, {"name": "agency_west", "kind": "vendor", "stages": ["M3", "M4+"], "capacity": 80,
                              "cost_per_account": 0, "commission": 0.2, "placement_days": 30,
                              "effect": {"M3": 1.7, "M4+": 1.7}, "file_fields": ["account_id", "overdue_amount"]})
    dst.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dst


def test_a_new_vendor_is_untested_in_the_run_and_in_whatif(world):
    new = _with_new_vendor(world["strategy"], world["tmp"] / "west.yaml")
    runs = world["tmp"] / "runs_west"
    r = _run(world, runs, "randomised", strategy=new)
    assert r.exit_code == 0, r.output[-2000:]
    folder = runs / world["night"]
    eff = pd.read_parquet(folder / "effects.parquet").set_index(["queue", "stage"])
    assert eff.loc[("agency_west", "M3"), "source"] == "untested" and eff.loc[("agency_west", "M4+"), "used"] == 1.7
    assert (eff.drop(index="agency_west", level="queue")["source"] != "untested").all()
    doc = json.loads((folder / "run.json").read_text())
    assert doc["effects"]["cells"]["untested"] == ["agency_west M3", "agency_west M4+"]
    assert any(w.startswith("queue agency_west has no placement history for M3, M4+") for w in doc["warnings"])
    assert "untested" in (folder / "report.html").read_text()
    # whatif on a night without the vendor, with the vendor added
    r, out = _whatif(world, None, "west", strategy=new)
    assert "untested (strategy effect, no placement history): agency_west M3, agency_west M4+" in r.output
    wj = json.loads((out / "whatif.json").read_text())
    assert wj["untested"] == ["agency_west M3", "agency_west M4+"]
    assert "untested" in (out / "whatif.html").read_text()


@pytest.mark.slow
def test_whatif_names_an_edited_effect_that_history_overrides(world):
    eff = pd.read_parquet(_hist_runs(world) / world["night"] / "effects.parquet")
    row = eff[(eff["source"] == "history") & (eff["queue"] == "early_team") & (eff["stage"] == "M2")].iloc[0]
    doc = yaml.safe_load(world["strategy"].read_text())
    q = next(q for q in doc["queues"] if q["name"] == "early_team")
    q["effect"]["M2"] = 1.9
    r, out = _whatif(world, doc, "edit")
    line = (f"queues.early_team.effect.M2 edited 1.4->1.9: not used, effects come from history "
            f"({int(row['n']):,d} placements")
    assert "(+0); 0 accounts move" in r.output
    assert f"no effect: {line}" in r.output
    wj = json.loads((out / "whatif.json").read_text())
    assert len(wj["unused_edits"]) == 1 and wj["unused_edits"][0].startswith(line)
    assert line.replace("->", "-&gt;") in (out / "whatif.html").read_text()
    # with --effects strategy the edit decides: not listed as unused, and the night's mode is named
    r, out2 = _whatif(world, None, "edit_strategy", "--effects", "strategy", strategy=world["tmp"] / "edit.yaml")
    wj = json.loads((out2 / "whatif.json").read_text())
    assert not any("effect.M2" in x and "not used" in x for x in wj["unused_edits"])
    assert any("the night ran with --effects history" in w for w in wj["warnings"])


def test_whatif_names_a_capacity_edit_that_moves_nobody(world):
    qs = pd.read_parquet(_hist_runs(world) / world["night"] / "queue_summary.parquet").set_index("queue")
    doc = yaml.safe_load(world["strategy"].read_text())
    sms = next(q for q in doc["queues"] if q["name"] == "sms")
    assert qs.at["sms", "accounts"] < sms["capacity"] // 2     # the channel does not bind
    old = sms["capacity"]
    sms["capacity"] = old // 2 + int(qs.at["sms", "accounts"]) // 2 + 1
    r, out = _whatif(world, doc, "sms")
    wj = json.loads((out / "whatif.json").read_text())
    assert wj["unused_edits"] == [f"queues.sms.capacity edited {old}->{sms['capacity']}: no account moved in or "
                                  f"out of sms tonight (the capacity does not bind: {int(qs.at['sms', 'accounts']):,d} held)"]
