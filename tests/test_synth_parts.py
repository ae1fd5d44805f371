"""`generate --parts K`: a book drawn as K parts of disjoint customers and accounts.

One part is today's book to the byte (hashes of books written by the generator before parts
existed); K parts give a book the validator accepts, with disjoint ids, every ring, household
and label within one part, the first night's count exact, and the date-major tables in order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.config import load_strategy
from collections_engine.io.load import load_book
from collections_engine.synth import SynthParams, iter_book
from collections_engine.synth.book import Placement, iter_part
from collections_engine.synth.parts import iter_parts, part_sizes
from collections_engine.synth.rings import EMP, HUB

ROOT = Path(__file__).resolve().parents[1]
STRATEGY = load_strategy(ROOT / "strategies" / "default.yaml")
runner = CliRunner()

# (accounts, days, history months, seed, digest of every file's sha256): written by
# `generate` at main 525638a, before --parts existed
TODAY = [
    (50, 1, 1, 3, "147e644625313a17db97f0e6f3b0df2abed14aa44d98c14572e4038b35a025a5"),
    (137, 2, 2, 9, "7b3f480fdbd81e94ac07a5b2da9d8c3108a00e8b99a279e0e0eff4df87b49a70"),
    (400, 3, 4, 11, "5ba85383048e493bd777abb8380e46308edbc3f1efb17478c6f5d7024a73ce9c"),
    (900, 2, 3, 2, "15ee6cb48b99e4dd70c6516894a83e9417148c0a48fd7cce498380eeb77d1cb5"),
]


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + b"\0"
                     + hashlib.sha256(p.read_bytes()).hexdigest().encode() + b"\n")
    return h.hexdigest()


def _generate(out: Path, accounts: int, days: int, months: int, seed: int, *extra: str) -> None:
    res = runner.invoke(app, ["generate", "--out", str(out), "--accounts", str(accounts),
                              "--days", str(days), "--history-months", str(months),
                              "--seed", str(seed), *extra])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("accounts, days, months, seed, digest", TODAY)
def test_one_part_is_todays_bytes(tmp_path: Path, accounts: int, days: int, months: int,
                                  seed: int, digest: str) -> None:
    extra = ("--parts", "1") if accounts % 2 else ()       # the default and the explicit 1
    _generate(tmp_path / "a", accounts, days, months, seed, *extra)
    assert _digest(tmp_path / "a") == digest


@settings(max_examples=4)
@given(accounts=st.integers(40, 250), days=st.integers(1, 3), months=st.integers(1, 3),
       seed=st.integers(0, 2**31))
def test_a_part_at_the_origin_is_the_one_part_book(accounts: int, days: int, months: int,
                                                   seed: int) -> None:
    """The part machinery with the default placement draws and writes the one-part book."""
    p = SynthParams(accounts=accounts, days=days, seed=seed, history_months=months)
    whole = dict(iter_book(p, STRATEGY))
    out: dict = {}
    part = dict(iter_part(p, STRATEGY, Placement(), out))
    for name, frame in part.items():
        pd.testing.assert_frame_equal(frame, whole[name], obj=name)
    assert set(whole) - set(part) == {"truth/effects", "truth/sources", "truth/world"}
    assert out["accounts"] >= len(whole["truth/state"])        # the pool, trimmed ones too


def _tables_by_part(p: SynthParams, parts: int) -> tuple[list[dict], dict]:
    per: list[dict] = [dict() for _ in range(parts)]
    whole: dict = {}
    for name, frame, i in iter_parts(p, STRATEGY, parts):
        (whole if i is None else per[i])[name] = frame
    return per, whole


@settings(max_examples=4)
@given(accounts=st.integers(60, 300), parts=st.integers(2, 3), days=st.integers(1, 3),
       seed=st.integers(0, 2**31))
def test_parts_are_disjoint_and_keep_their_rings(accounts: int, parts: int, days: int,
                                                 seed: int) -> None:
    p = SynthParams(accounts=accounts, days=days, seed=seed, history_months=2)
    per, whole = _tables_by_part(p, parts)
    nights = sorted(per[0]["accounts"]["snapshot_date"].unique())[-days:]
    # the first night's count is exact, part by part and in all
    counts = [int((t["accounts"]["snapshot_date"] == nights[0]).sum()) for t in per]
    assert counts == part_sizes(accounts, parts) and sum(counts) == accounts
    # ids disjoint: accounts, customers, rings, households' shared values
    for col, name in (("account_id", "truth/state"), ("customer_id", "customers"),
                      ("ring_id", "truth/rings")):
        sets = [set(t[name][col]) for t in per]
        assert sum(len(s) for s in sets) == len(set().union(*sets)), col
    owner = {c: i for i, t in enumerate(per) for c in t["customers"]["customer_id"]}
    acc_owner = {a: i for i, t in enumerate(per) for a in t["truth/state"]["account_id"]}
    for i, t in enumerate(per):
        # every table's customers and accounts are the part's own
        for name, frame in t.items():
            if "customer_id" in frame.columns:
                assert {owner[c] for c in frame["customer_id"]} <= {i}, name
            if "account_id" in frame.columns:
                assert {acc_owner[a] for a in frame["account_id"]} <= {i}, name
    # a value shared across parts is an employer's or one of the three hubs' (a call-centre
    # number, an office address), never a ring's, a household's or somebody's own
    ids = pd.concat([t["identifiers"].assign(part=i) for i, t in enumerate(per)])
    spread = ids.groupby("value")["part"].nunique()
    crossing = ids[ids["value"].isin(spread[spread > 1].index)]
    assert crossing.loc[crossing["kind"] != "employer", "value"].nunique() <= 2
    ring_members = set(pd.concat([t["truth/rings"] for t in per])["customer_id"])
    assert (crossing.loc[crossing["customer_id"].isin(ring_members), "kind"] == "employer").all()
    # the whole book's answer key: one effects table, sources adding up the parts' records
    assert {"truth/effects", "truth/sources", "truth/world"} == set(whole)
    assert whole["truth/world"]["accounts"] == accounts
    assert whole["truth/world"]["parts"]["accounts"] == part_sizes(accounts, parts)
    assert len(whole["truth/effects"]) > 0


def test_codes_that_cross_parts_are_hubs_and_firms_only() -> None:
    """The identity codes behind the values: own, household and ring codes of different parts
    never meet; only the hubs' and the firms' codes are shared."""
    from collections_engine.synth import book as book_mod

    seen: list[np.ndarray] = []
    real = book_mod.assign_codes

    def spy(*a, **k):  # noqa: ANN002, ANN003, ANN202 - keeps each part's codes
        codes = real(*a, **k)
        alive = a[2]
        seen.append(np.unique(np.concatenate([
            getattr(codes, f)[alive] for f in ("phone", "landline", "device", "device2", "email",
                                               "address", "emergency_contact", "employer")])))
        return codes

    book_mod.assign_codes = spy
    try:
        for _ in iter_parts(SynthParams(accounts=900, days=2, seed=4, history_months=2),
                            STRATEGY, 3):
            pass
    finally:
        book_mod.assign_codes = real
    assert len(seen) == 3
    for i in range(3):
        for j in range(i + 1, 3):
            both = np.intersect1d(seen[i], seen[j])
            both = both[both >= 0]
            assert ((both >= HUB) & (both < EMP + 10**9)).all(), both[:5]
            assert len(both) > 0          # the firms and hubs are shared


def test_a_book_of_parts_is_valid_ordered_and_deterministic(tmp_path: Path) -> None:
    parts = 3
    _generate(tmp_path / "a", 500, 2, 3, 5, "--parts", str(parts))
    _generate(tmp_path / "b", 500, 2, 3, 5, "--parts", str(parts))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    book, warnings = load_book(tmp_path / "a", STRATEGY)
    assert warnings == []
    acc = pd.read_parquet(tmp_path / "a" / "accounts.parquet")
    key = list(zip(acc["snapshot_date"], acc["account_id"]))
    assert key == sorted(key) and len(set(key)) == len(key)
    assert int((acc["snapshot_date"] == acc["snapshot_date"].min()).sum()) > 0
    nights = sorted(acc["snapshot_date"].unique())[-2:]
    assert int((acc["snapshot_date"] == nights[0]).sum()) == 500
    for name in ("placement_history", "outcomes", "truth/accounts"):
        t = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        k = list(zip(t["snapshot_date"], t["account_id"]))
        assert k == sorted(k), name
    for name, col in (("payments", "account_id"), ("identifiers", "customer_id"),
                      ("customers", "customer_id"), ("truth/state", "account_id")):
        t = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        assert t[col].is_monotonic_increasing, name
    world = json.loads((tmp_path / "a" / "truth" / "world.json").read_text())
    assert world["accounts"] == 500 and world["parts"]["count"] == parts
    assert not (tmp_path / "a" / ".parts").exists()


@pytest.mark.parametrize("parts", ["0", "401"])
def test_bad_parts_exit_2(tmp_path: Path, parts: str) -> None:
    res = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), "--accounts", "400",
                              "--parts", parts])
    assert res.exit_code == 2
    assert f"--parts: found {parts}" in res.output
    assert not (tmp_path / "x").exists()
