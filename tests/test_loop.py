"""The closed loop: simulate appends what the world draws under the night's decisions; runs go
on; same seed, same bytes; common random numbers; the oracle is the best plan by the truth."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from collections_engine.errors import InputError
from collections_engine.io.load import load_book
from collections_engine.loop import SimulateRequest, draw_month, read_world, simulate_night
from collections_engine.loop.backtest import BacktestRequest, costs_of, run_backtest, summarise
from collections_engine.loop.store import read_at
from collections_engine.pipeline import RunRequest, run_night
from collections_engine.synth.world import queue_response
from tests.loop_builders import STRATEGY, STRATEGY_PATH, fixture_night, run_day, small  # noqa: F401 - the fixture
from tests.pipeline_helpers import GRAPH


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_simulate_run_and_same_bytes(small: tuple[Path, Path], tmp_path: Path) -> None:
    data0, models = small
    digests = []
    for k in range(2):
        data, runs = tmp_path / f"d{k}", tmp_path / f"r{k}"
        shutil.copytree(data0, data)
        day = str(read_world(data).state_date.date())
        run_day(data, models, runs, day)
        m = simulate_night(SimulateRequest(data=data, runs=runs, date=day, days=30))
        assert len(m.customers) > 0         # new customers and accounts: in the same bytes too
        digests.append({k2: v for k2, v in _digest(data).items()})
        # what was appended
        a = pd.read_parquet(runs / day / "assignments.parquet")
        ph = read_at(data / "placement_history.parquet", pd.Timestamp(day))
        assert len(ph) == len(a) == len(m.placement_history)
        q = a.set_index("account_id")["queue"].replace("", "not_worked")
        assert (ph.set_index("account_id")["queue"] == q.reindex(ph["account_id"]).to_numpy()).all()
        o = read_at(data / "outcomes.parquet", pd.Timestamp(day))
        acc = read_at(data / "accounts.parquet", pd.Timestamp(day)).set_index("account_id")
        rep = o[o["repaid"] == 1]
        assert np.allclose(rep["recovered_amount"].to_numpy(),
                           acc.loc[rep["account_id"], "overdue_amount"].to_numpy())
        nxt = read_world(data).state_date
        assert nxt == m.next_date and nxt.weekday() < 5 and (nxt - pd.Timestamp(day)).days >= 30
        later = read_at(data / "accounts.parquet", nxt)
        assert len(later) == len(m.accounts) > 0
        # repaid accounts are current at the next snapshot; the others aged by the window
        assert not set(rep["account_id"]) & set(later["account_id"])
        stay = later.merge(acc.reset_index()[["account_id", "dpd"]], on="account_id",
                           suffixes=("", "_before"))
        assert ((stay["dpd"] - stay["dpd_before"]) == (nxt - pd.Timestamp(day)).days).all()
        # the books still validate, the next night runs, a night is simulated once
        load_book(data, STRATEGY)
        run_day(data, models, runs, str(nxt.date()))
        with pytest.raises(InputError, match="state_date"):
            simulate_night(SimulateRequest(data=data, runs=runs, date=day, days=30))
    assert digests[0] == digests[1]


@settings(max_examples=5)
@given(hs.integers(0, 2**31 - 1))
def test_common_random_numbers(seed: int) -> None:
    """An account treated alike by two plans meets the same luck in both."""
    world, day, tonight = fixture_night()
    rng = np.random.default_rng(seed)
    a = pd.DataFrame({"account_id": tonight["account_id"], "queue": ""})
    m1 = tonight["dpd"].between(1, 30).to_numpy() & (rng.random(len(tonight)) < 0.5)
    b = a.assign(queue=np.where(m1, "early_team", ""))
    ma = draw_month(world, tonight, a, None, day, 30, 0)
    mb = draw_month(world, tonight, b, None, day, 30, 0)
    ra, rb = ma.realised.set_index("account_id"), mb.realised.set_index("account_id")
    same = (ra["queue"] == rb["queue"]).to_numpy()
    assert same.sum() > 100 and (~same).sum() > 100
    assert np.array_equal(ra["recovered"].to_numpy()[same], rb["recovered"].to_numpy()[same])
    # the next snapshot of accounts treated alike is the same (shocks included)
    assert ma.truth_accounts.merge(mb.truth_accounts, on="account_id").pipe(
        lambda t: (t["p_repay_x"] == t["p_repay_y"]).all())
    # another draw is other luck
    mc = draw_month(world, tonight, a, None, day, 30, 1)
    assert not np.array_equal(ma.realised["recovered"], mc.realised["recovered"])


def test_draws_follow_the_response_probability() -> None:
    """The world's dice (draw) and the oracle's expectation (probability) agree."""
    rng = np.random.default_rng(0)
    n = 200_000
    kind = rng.integers(0, 5, n)
    resp = queue_response(kind, rng.uniform(0, 2.5, n), rng.lognormal(7.3, 1.0, n),
                          rng.random(n) < 0.3, rng.integers(1, 200, n), rng.random(n) < 0.8,
                          rng.standard_normal(n), rng.random(n) < 0.02)
    logit = rng.normal(-0.5, 1.5, n)
    _, _, repaid = resp.draw(logit, rng.random(n), rng.random(n), rng.random(n))
    p = resp.probability(logit)
    for k in range(5):
        m = kind == k
        assert abs(repaid[m].mean() - p[m].mean()) < 0.01, k
    # not worked: no contact and no lift
    assert np.allclose(p[kind == 0], 1 / (1 + np.exp(-logit[kind == 0])))
    # the oracle's expected recovered share, partial payments included, against the draws
    from collections_engine.synth.lifecycle import partial_recovery

    w, a = rng.standard_normal(n), rng.standard_normal(n)
    reached, promised, repaid = resp.draw(logit, rng.random(n), rng.random(n), rng.random(n))
    share = partial_recovery(repaid, promised, np.full(n, 100.0), w, a, rng.random(n),
                             rng.uniform(0.1, 0.7, n)) / 100.0
    part = 0.35 / (1 + np.exp(-(w + a - 0.5)))
    expected = resp.expected_share(logit, part)
    for k in range(5):
        m = kind == k
        assert abs(share[m].mean() - expected[m].mean()) < 0.01, k


@pytest.mark.slow      # four nightly runs (each forks the ring child)
def test_oracle_plan_is_the_best_by_the_truth(small: tuple[Path, Path], tmp_path: Path) -> None:
    """On the same night the oracle's true expected net is at least the engine's and greedy's."""
    from collections_engine.loop.policies import policy_placement, true_values
    from collections_engine.assign.model_data import build_problem
    from collections_engine.loop.backtest import read_night_truth

    data0, models = small
    nets = {}
    for pol in ("engine", "greedy", "random", "oracle"):
        data, runs = tmp_path / pol / "data", tmp_path / pol / "runs"
        shutil.copytree(data0, data)
        day = read_world(data).state_date
        place = policy_placement(pol, seed=11, draw=0,
                                 world_of=lambda d=data, t=day: read_night_truth(d, t))
        run_night(RunRequest(data=data, date=str(day.date()), strategy=STRATEGY_PATH, graph=GRAPH,
                             models=models, runs=runs, placement=place))
        a = pd.read_parquet(runs / str(day.date()) / "assignments.parquet")
        inputs = pd.read_parquet(runs / str(day.date()) / "decision_inputs.parquet")
        pb = build_problem(inputs, STRATEGY, day, None)
        world, p, tonight = read_night_truth(data, day)
        rec, nw = true_values(world, p, tonight, pb, STRATEGY, day)
        q = a.set_index("account_id")["queue"].reindex(pd.Series(pb.account_id, dtype="str"))
        col = {name: j for j, name in enumerate(pb.queues)}
        j = q.map(col).fillna(-1).astype(int).to_numpy()
        worked = j >= 0
        net = np.where(worked, rec[np.arange(pb.n), np.maximum(j, 0)]
                       - pb.cost[np.maximum(j, 0)], nw)
        nets[pol] = net.sum() / 100
    assert nets["oracle"] >= max(nets["engine"], nets["greedy"], nets["random"]) - 1.0, nets


@pytest.mark.slow      # six nightly runs and simulations
def test_backtest_rows_and_pairing(small: tuple[Path, Path], tmp_path: Path) -> None:
    data, models = small
    req = BacktestRequest(data=data, strategy=STRATEGY_PATH, graph=GRAPH, models=models,
                          out=tmp_path / "bt", cycles=2, policies=("engine", "random", "oracle"),
                          draws=1)
    before = _digest(data)
    df = run_backtest(req)
    assert _digest(data) == before                       # the starting book is not touched
    assert len(df) == 3 * 2
    assert set(df.columns) >= {"policy", "draw", "cycle", "realised_net", "realised_recovery",
                               "cost"}
    assert np.allclose(df["realised_net"], df["realised_recovery"] - df["cost"], atol=0.02)
    # the first cycle starts from the same book for every policy: same accounts
    first = df[df["cycle"] == 1]
    assert first["accounts"].nunique() == 1
    s = summarise(df)
    assert set(s["policy"]) == {"engine", "random", "oracle"}
    assert costs_of(STRATEGY)["agency_north"][1] == 0.25
