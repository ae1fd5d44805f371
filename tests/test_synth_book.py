"""The synthetic book: layout per CONTRACT.md, the story's rates, the planted truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collections_engine.config import load_strategy
from collections_engine.schema import CHANNELS, HOLD_KINDS, OUTCOMES, TABLES
from collections_engine.segments import customer_line_of, stage_of
from collections_engine.synth import SOURCE_ROLES, SynthParams, auc, ceiling_aucs, generate_book
from collections_engine.synth.stats import confounder_rates, first_payment_defaulters, nightly_events

ROOT = Path(__file__).resolve().parents[1]
STRATEGY = load_strategy(ROOT / "strategies" / "default.yaml")
N = 2500


@pytest.fixture(scope="module")
def book() -> dict[str, pd.DataFrame]:
    return generate_book(SynthParams(accounts=N, days=5, seed=7), STRATEGY)


def test_every_contract_table_with_its_columns(book: dict[str, pd.DataFrame]) -> None:
    for name, spec in TABLES.items():
        df = book[name]
        assert set(spec.columns) <= set(df.columns), name
        assert len(df) > 0, name
        key = list(spec.key)
        if spec.unique_key:
            assert not df.duplicated(key).any(), name
        for col, kind in {**spec.columns, **spec.optional_columns}.items():
            if col not in df:
                continue
            s = df[col]
            if col not in spec.nullable:
                assert not s.isna().any(), f"{name}.{col} has nulls"
            if kind == "id":
                assert str(s.dtype) == "str", f"{name}.{col}"
            elif kind == "date":
                assert str(s.dtype) == "datetime64[ns]", f"{name}.{col}"
            elif kind in ("num",):
                assert s.dtype == np.float64, f"{name}.{col}"
            elif kind == "int":
                assert s.dtype == np.int64, f"{name}.{col}"
        for col in spec.non_negative:
            if col in df:
                assert (df[col].dropna() >= 0).all(), f"{name}.{col}"
    assert set(book["holds"]["hold"]) <= set(HOLD_KINDS)
    opened = book["accounts"].groupby("account_id")["open_date"].first()
    h = book["holds"]
    assert (h["start"].to_numpy() > opened.reindex(h["account_id"]).to_numpy()).all()
    assert (h["end"].isna() | (h["end"] >= h["start"])).all()
    assert set(book["contacts"]["channel"]) == set(CHANNELS)
    assert set(book["contacts"]["outcome"]) == set(OUTCOMES)


def test_truth_and_sources_tables(book: dict[str, pd.DataFrame]) -> None:
    assert list(book["truth/accounts"].columns) == ["account_id", "snapshot_date", "p_repay",
                                                    "p_observable", "p_queue", "willingness",
                                                    "ability"]
    assert list(book["truth/effects"].columns) == ["queue", "stage", "trait", "level", "effect",
                                                   "rows"]
    assert book["truth/world"]["world_version"] == 2
    assert list(book["truth/rings"].columns) == ["customer_id", "ring_id"]
    assert dict(zip(book["truth/sources"]["source"], book["truth/sources"]["role"])) == SOURCE_ROLES
    for src in STRATEGY.sources:
        df = book[f"sources/{src.name}"]
        assert src.key in df.columns and not df[src.key].duplicated().any()
        assert len(df.columns) >= 3
    p = book["truth/accounts"]["p_repay"]
    assert ((p > 0) & (p < 1)).all()


def test_snapshots_history_then_business_nights(book: dict[str, pd.DataFrame]) -> None:
    acc = book["accounts"]
    dates = sorted(acc["snapshot_date"].unique())
    hist, nights = dates[:12], dates[12:]
    assert len(dates) == 12 + 5
    assert all(pd.Timestamp(d).is_month_end for d in hist)
    assert all(pd.Timestamp(d).day_of_week < 5 for d in nights)
    assert len(pd.bdate_range(nights[0], nights[-1])) == 5
    assert (acc["snapshot_date"] == nights[0]).sum() == N           # exact on the first night
    assert (acc["dpd"] > 0).all() and (acc["open_date"] <= acc["snapshot_date"]).all()
    for table in ("outcomes", "placement_history"):
        assert set(book[table]["snapshot_date"]) == set(hist)
    horizon_end = pd.Timestamp(hist[-1]) + pd.Timedelta(days=STRATEGY.outcome.horizon_days)
    assert horizon_end < nights[0]          # every outcome is known before the first night


def test_nightly_events(book: dict[str, pd.DataFrame]) -> None:
    acc = book["accounts"]
    nights = sorted(acc["snapshot_date"].unique())[12:]
    first = set(acc.loc[acc["snapshot_date"] == nights[0], "account_id"])
    last = set(acc.loc[acc["snapshot_date"] == nights[-1], "account_id"])
    assert len(first - last) > 0.02 * N        # cures and write-offs
    assert len(last - first) > 0.02 * N        # newly delinquent accounts
    on = acc[acc["snapshot_date"].isin(nights)].sort_values(["account_id", "snapshot_date"])
    stage = stage_of(on["dpd"], STRATEGY).to_numpy()
    same = on["account_id"].to_numpy()[1:] == on["account_id"].to_numpy()[:-1]
    assert (same & (stage[1:] != stage[:-1])).sum() > 0          # rolls between nights
    h = book["holds"]
    assert h["start"].between(nights[0], nights[-1]).any()
    assert h["end"].between(nights[0], nights[-1]).any()
    fl = book["fraud_labels"]["confirmed_on"]
    assert (fl > nights[0]).any() and (fl <= nights[-1]).all()


def test_placements_randomised_within_eligibility(book: dict[str, pd.DataFrame]) -> None:
    ph = book["placement_history"].merge(book["accounts"], on=["account_id", "snapshot_date"])
    ph["stage"] = stage_of(ph["dpd"], STRATEGY).to_numpy()
    takes = {q.name: set(q.stages) for q in STRATEGY.work_queues()}
    worked = ph[ph["queue"] != "not_worked"]
    assert all(st in takes[q] for q, st in zip(worked["queue"], worked["stage"]))
    for st, g in ph.groupby("stage"):
        assert (g["queue"] == "not_worked").mean() > 0.05, st
        assert set(g["queue"]) == {q for q, s in takes.items() if st in s} | {"not_worked"}
    assert ((ph["propensity"] > 0) & (ph["propensity"] <= 1)).all()
    # inverse-propensity weights count each stage's rows about once per eligible queue
    rand = ph[ph["propensity"] < 1]
    for st, g in rand.groupby("stage"):
        n_q = g["queue"].nunique()
        ratio = (1 / g["propensity"]).groupby(g["queue"]).sum() / len(g)
        assert np.allclose(ratio, 1.0, atol=0.25), (st, n_q, ratio.to_dict())


def test_true_effects_differ_from_the_strategy_estimates(book: dict[str, pd.DataFrame]) -> None:
    eff = book["truth/effects"]
    eff = eff[eff["trait"] == "all"]
    est = {(q.name, st): v for q in STRATEGY.work_queues() for st, v in q.effect.items()}
    worked = eff[eff["queue"] != "not_worked"]
    assert len(worked) == len(est)
    diffs = [abs(e - est[(q, s)]) for q, s, e in zip(worked["queue"], worked["stage"], worked["effect"])]
    assert sum(d > 0.04 for d in diffs) >= len(diffs) - 1
    assert (eff["effect"] >= 1.0).all()        # no queue lowers repayment on average


def test_effects_differ_by_account_traits(book: dict[str, pd.DataFrame]) -> None:
    """World v2: a queue's effect is not one number per stage."""
    eff = book["truth/effects"].set_index(["queue", "stage", "trait", "level"])["effect"]
    # phone queues do nothing for a customer whose contact is lost
    assert eff[("early_team", "M1", "contact", "lost")] == 1.0
    assert eff[("early_team", "M1", "contact", "reachable")] > 1.0
    # in-house teams gain more on new customers than agencies do (same stage, same accounts:
    # the ratio of the new to the existing line's effect)
    def tilt(q: str) -> float:
        return eff[(q, "M2", "line", "new")] / eff[(q, "M2", "line", "existing")]
    assert tilt("early_team") > tilt("agency_north") * 1.05
    # agencies gain on big balances, the sms channel on small ones
    assert eff[("agency_south", "M4+", "balance", "large")] > eff[("agency_south", "M4+", "balance", "small")]
    assert eff[("sms", "M1", "balance", "small")] > eff[("sms", "M1", "balance", "large")]


def test_outcomes_follow_truth_and_effects(book: dict[str, pd.DataFrame]) -> None:
    key = ["account_id", "snapshot_date"]
    o = book["outcomes"].merge(book["truth/accounts"], on=key)
    assert abs(o["repaid"].mean() - o["p_repay"].mean()) < 0.12
    assert auc(o["repaid"].to_numpy(), o["p_repay"].to_numpy()) > 0.75
    paid = o["recovered_amount"] > 0
    assert (paid[o["repaid"] == 1]).all()
    assert paid[o["repaid"] == 0].mean() < 0.3


def test_ceiling_auc_bar(book: dict[str, pd.DataFrame]) -> None:
    t = ceiling_aucs(book["accounts"], book["truth/accounts"], book["outcomes"],
                     book["placement_history"], book["truth/effects"], STRATEGY).set_index("segment")
    assert len(t) == 1 + 2 * len(STRATEGY.stages)
    overall = t.loc["all"]
    assert overall["auc_ceiling"] < 0.95
    assert overall["auc_ceiling"] - overall["auc_dpd"] >= 0.10


def test_segments_story(book: dict[str, pd.DataFrame]) -> None:
    acc = book["accounts"]
    st = stage_of(acc["dpd"], STRATEGY)
    ln = customer_line_of(acc["open_date"], acc["snapshot_date"], STRATEGY)
    mix = pd.crosstab(st.to_numpy(), ln.to_numpy())
    assert (mix > 0).all().all()                             # new and existing in every stage
    share = mix.sum(axis=1) / mix.to_numpy().sum()
    assert share.idxmax() == STRATEGY.stage_names()[0]       # most accounts in the first stage
    new_share = mix["new"] / mix.sum(axis=1)
    assert new_share.iloc[-1] < new_share.iloc[0]            # few new customers late
    assert set(acc["product"]) == {"card", "loan"}
    assert acc.loc[acc["product"] == "loan", "credit_limit"].isna().all()


def test_confounder_rates_and_ring_sizes(book: dict[str, pd.DataFrame]) -> None:
    r = confounder_rates(book)
    assert r["honest_household_share"] >= 0.05
    assert r["hub_values"] >= 3 and r["hub_kinds"] >= 3 and r["largest_hub"] >= 100
    assert r["rings"] >= 10
    assert 3 <= r["ring_size_min"] and r["ring_size_max"] <= 30
    assert r["single_kind_ring_share"] >= 0.2
    assert 0 < r["labelled_ring_member_share"] < 0.5          # a minority of members labelled
    rings = book["truth/rings"]
    assert not book["customers"]["customer_id"].isin(rings["customer_id"]).all()


def test_label_noise_a_few_percent() -> None:
    big = generate_book(SynthParams(accounts=12_000, days=1, seed=3, history_months=2), STRATEGY)
    r = confounder_rates(big)
    assert 0.01 <= r["label_noise"] <= 0.08


def test_rings_mostly_never_pay_and_honest_first_payment_defaulters(
        book: dict[str, pd.DataFrame]) -> None:
    key = ["account_id", "snapshot_date"]
    o = book["outcomes"].merge(book["accounts"], on=key)
    ring = o["customer_id"].isin(book["truth/rings"]["customer_id"])
    assert o.loc[ring, "repaid"].mean() < 0.15 < o.loc[~ring, "repaid"].mean()
    acc = book["accounts"]
    young = (acc["snapshot_date"] - acc["open_date"]).dt.days <= 62
    honest = ~acc["customer_id"].isin(book["truth/rings"]["customer_id"])
    assert acc.loc[young & honest, "account_id"].nunique() > acc.loc[young & ~honest,
                                                                     "account_id"].nunique() / 2


def test_sources_play_their_roles(book: dict[str, pd.DataFrame]) -> None:
    key = ["account_id", "snapshot_date"]
    t = book["truth/accounts"].merge(book["accounts"], on=key)
    t["new"] = customer_line_of(t["open_date"], t["snapshot_date"], STRATEGY).to_numpy() == "new"
    b = t.merge(book["sources/bureau"], on="customer_id")
    assert np.corrcoef(b["bureau_score"], b["willingness"] + b["ability"])[0, 1] > 0.5
    tel = t.merge(book["sources/telco"], on="customer_id")
    logit = np.log(tel["p_repay"] / (1 - tel["p_repay"]))
    new, old = tel["new"].to_numpy(), ~tel["new"].to_numpy()
    c_new = np.corrcoef(tel.loc[new, "telco_score"], logit[new])[0, 1]
    c_old = np.corrcoef(tel.loc[old, "telco_score"], logit[old])[0, 1]
    assert c_new > 0.15 and abs(c_old) < 0.05
    cr = t.merge(book["sources/contact_repair"], on="account_id")
    assert abs(np.corrcoef(cr["repair_confidence"], cr["p_repay"])[0, 1]) < 0.05
    ml = t.merge(book["sources/multi_lending"], on="customer_id")
    # world v2: multi_lending is the noise source
    for col in ("ml_lenders_90d", "ml_applications_30d"):
        assert abs(np.corrcoef(ml[col], ml["ability"])[0, 1]) < 0.05
        assert abs(np.corrcoef(ml[col], ml["p_repay"])[0, 1]) < 0.05
    # contact_repair: a found number flags a lost contact, and reaches it again
    cr = cr.drop_duplicates("account_id")
    assert cr["repair_phone_found"].mean() > 0.05


def test_generation_is_deterministic_in_memory() -> None:
    a = generate_book(SynthParams(accounts=300, days=2, seed=5, history_months=3), STRATEGY)
    b = generate_book(SynthParams(accounts=300, days=2, seed=5, history_months=3), STRATEGY)
    c = generate_book(SynthParams(accounts=300, days=2, seed=6, history_months=3), STRATEGY)
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert a[k] == b[k]
        else:
            pd.testing.assert_frame_equal(a[k], b[k])
    assert not a["accounts"].equals(c["accounts"])


def test_rings_gain_members_during_the_nights(book: dict[str, pd.DataFrame]) -> None:
    acc = book["accounts"]
    nights = sorted(acc["snapshot_date"].unique())[12:]
    ids = book["identifiers"].merge(book["truth/rings"], on="customer_id")
    joined = ids[ids["first_seen"] > nights[0]]
    assert joined["customer_id"].nunique() >= 1
    # a joining member shares a ring value with a member seen before the nights
    early = ids[ids["first_seen"] <= nights[0]]
    shared = joined.merge(early, on=["kind", "value", "ring_id"], suffixes=("", "_early"))
    assert len(shared) >= 1
    # and first appears delinquent on that night
    first_row = acc.groupby("customer_id")["snapshot_date"].min()
    j = joined.drop_duplicates("customer_id").set_index("customer_id")["first_seen"]
    assert (first_row.reindex(j.index) == j).all()


def test_nightly_events_table_and_first_payment_defaulters(book: dict[str, pd.DataFrame]) -> None:
    ev = nightly_events(book)
    assert len(ev) == 4                                  # five nights, four steps
    for col in ("gone", "new", "rolled_31_61_91", "holds_started", "labels", "ring_joiners"):
        assert ev[col].sum() > 0, col
    f = first_payment_defaulters(book["accounts"], book["truth/rings"])
    assert f["fpd_accounts_honest"] > 0                  # honest ones exist (a confounder)
    assert f["fpd_accounts_ring"] > 0.5 * f["ring_accounts"]   # most ring accounts never pay


def test_stages_and_queues_follow_the_strategy(tmp_path: Path) -> None:
    text = (ROOT / "strategies" / "default.yaml").read_text()
    text = text.replace("{name: M1, dpd_min: 1, dpd_max: 30}", "{name: M1, dpd_min: 1, dpd_max: 15}")
    text = text.replace("{name: M2, dpd_min: 31, dpd_max: 60}", "{name: M2, dpd_min: 16, dpd_max: 60}")
    (tmp_path / "s.yaml").write_text(text)
    strategy = load_strategy(tmp_path / "s.yaml")
    b = generate_book(SynthParams(accounts=400, days=2, seed=3, history_months=3), strategy)
    ph = b["placement_history"].merge(b["accounts"], on=["account_id", "snapshot_date"])
    m1 = ph[ph["dpd"] <= 15]
    m2 = ph[(ph["dpd"] > 15) & (ph["dpd"] <= 30)]
    assert set(m1["queue"]) <= {"early_team", "sms", "not_worked"}
    assert "sms" not in set(m2["queue"]) and len(m2) > 0


def test_sort_order_matches_lexsort() -> None:
    from collections_engine.synth.ids import sort_order

    rng = np.random.default_rng(0)
    for n in (1, 7, 5000):
        small = rng.integers(0, 5, n)
        huge = rng.integers(0, 1 << 44, n)            # forces the dense-rank fallback
        ids = rng.integers(0, 3_000_000, n)
        days = (np.datetime64("2024-01-01") + rng.integers(0, 500, n)).astype("datetime64[D]")
        cents = np.round(rng.random(n) * 1000, 2)
        for keys in [(small, huge, ids), (cents, days, ids), (small, days, small, ids)]:
            assert (sort_order(*keys) == np.lexsort(keys)).all()
