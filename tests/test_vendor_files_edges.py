"""Vendor files on nights the generator never makes (issue 18) and every ending (issue 16):
empty nights, spreadsheet-safe CSV, two-decimal amounts, currency, control totals, encodings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign import decide
from collections_engine.assign.files import vendor_batches, vendor_endings, vendor_files
from collections_engine.config.strategy import Strategy
from collections_engine.io.csvsafe import FORMULA_STARTS, csv_text, safe_cell, spreadsheet_safe
from collections_engine.io.runfolder import write_vendor_folder
from tests.assign_builders import DATE, make_inputs, make_strategy

DAY = DATE.date().isoformat()
EVERY_OUTPUT = ["account_id", "placed_on", "ends_on", "name", "points", "band", "stage", "overdue_amount",
                "balance", "dpd"]


def _with_fields(s0: Strategy, fields: list[str], **vendor_keys) -> Strategy:
    qs = [q.model_copy(update={"file_fields": fields, **vendor_keys}) if q.kind == "vendor" else q
          for q in s0.queues]
    return s0.model_copy(update={"queues": qs})


def _frames(n: int = 30, seed: int = 0, open_vendor=None, ends_in=None, hold=None):
    rng = np.random.default_rng(seed)
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0.05, 0.8, n),
                      rng.integers(100, 5000, n).astype(float), list(range(n)),
                      open_vendor or [""] * n, ends_in or [0] * n, hold=hold)
    acc = inp[["account_id", "customer_id", "dpd", "overdue_amount", "balance"]].assign(product="card")
    cus = pd.DataFrame({"customer_id": inp["customer_id"], "name": "N"})
    sc = inp[["account_id", "band", "points"]]
    return inp, acc, cus, sc


@pytest.mark.parametrize("caps", [(2, 0, 0), (0, 0, 0)])
def test_night_without_vendor_placement_writes_empty_files(caps, tmp_path: Path) -> None:
    """Issue 18's crash: file_fields naming placed_on/ends_on on a night nobody is placed
    (TypeError: Cannot cast DatetimeArray to dtype float64). Each vendor still gets both files
    (a header line) and a manifest with zero rows."""
    s = _with_fields(make_strategy(caps), EVERY_OUTPUT)
    inp, acc, cus, sc = _frames()
    d = decide(inp, s, DATE)
    assert not (d.assignments["decision"] == "placed").any()
    warns: list[str] = []
    files = vendor_files(d, inp, acc, cus, sc, s, DATE, warnings=warns)
    assert warns == []
    assert sorted(files) == ["v1", "v2"]
    for placements, endings in files.values():
        assert list(placements.columns) == EVERY_OUTPUT and len(placements) == 0
        assert len(endings) == 0
    batches = vendor_batches(files, s, warns, DAY)
    for v, b in batches.items():
        write_vendor_folder(tmp_path / v, v, DAY, b)
        text = (tmp_path / v / f"placements_{DAY}.csv").read_bytes().decode()
        assert text == ",".join(EVERY_OUTPUT + ["currency"]) + "\r\n"
        m = json.loads((tmp_path / v / "manifest.json").read_text())
        assert [f["rows"] for f in m["files"]] == [0, 0]
        assert m["files"][0]["amount_sums"] == {"overdue_amount": "0.00", "balance": "0.00"}


def test_placed_on_and_ends_on_still_dates_when_placed(tmp_path: Path) -> None:
    s = _with_fields(make_strategy((0, 5, 5)), EVERY_OUTPUT)
    inp, acc, cus, sc = _frames()
    d = decide(inp, s, DATE)
    files = vendor_files(d, inp, acc, cus, sc, s, DATE, warnings=[])
    placed = files["v1"][0]
    assert len(placed) > 0
    assert (placed["placed_on"] == DATE).all()
    b = vendor_batches(files, s, [], DAY)["v1"]
    write_vendor_folder(tmp_path, "v1", DAY, b)
    back = pd.read_csv(tmp_path / f"placements_{DAY}.csv", dtype=str)
    assert (back["placed_on"] == DAY).all()
    assert (back["ends_on"] == (DATE + pd.Timedelta(days=30)).date().isoformat()).all()


def test_every_ending_reaches_its_vendor() -> None:
    """recalled (hold), returned (period over), cured (dpd 0 tonight), paid (gone from the book):
    one line each in the vendor's recall/return file, the same morning."""
    n = 4
    inp, acc, cus, sc = _frames(n, open_vendor=["v1", "v1", "v2", ""], ends_in=[5, 0, 9, 0],
                                hold=["dispute", "", "", ""])
    s = make_strategy((0, 0, 0))
    d = decide(inp, s, DATE)
    last_night = pd.DataFrame({"account_id": ["A0", "A1", "A2", "X_paid", "X_cured"],
                               "vendor": ["v1", "v1", "v2", "v2", "v1"],
                               "placed_on": DATE - pd.Timedelta(days=10), "ends_on": DATE + pd.Timedelta(days=5)})
    current = pd.Series(["X_cured", "Z_never_placed"], dtype="str")
    e = vendor_endings(d, last_night, current)
    got = {(r.vendor, r.account_id): (r.ended, r.reason) for r in e.itertuples()}
    assert got == {("v1", "A0"): ("recalled", "hold:dispute"),
                   ("v1", "A1"): ("returned", "placement_period_over"),
                   ("v1", "X_cured"): ("cured", "account_current"),
                   ("v2", "X_paid"): ("paid", "paid_off_or_closed")}
    files = vendor_files(d, inp, acc, cus, sc, s, DATE, warnings=[], open_placements=last_night,
                         current_ids=current)
    assert list(files["v1"][1]["account_id"]) == ["A0", "A1", "X_cured"]
    assert list(files["v2"][1]["account_id"]) == ["X_paid"]  # A2 is kept: no line
    # every open placement of last night is either still open tonight or has exactly one line
    still = set(d.placements["account_id"])
    lines = set(e["account_id"])
    assert set(last_night["account_id"]) == still | lines and not (still & lines)


def test_vendor_gone_from_strategy_still_hears_of_its_endings() -> None:
    inp, acc, cus, sc = _frames(2, open_vendor=["old_agency", ""], ends_in=[30, 0])
    s = make_strategy((0, 0, 0))
    d = decide(inp, s, DATE)
    files = vendor_files(d, inp, acc, cus, sc, s, DATE, warnings=[])
    assert list(files["old_agency"][1]["reason"]) == ["vendor_not_in_strategy"]


def test_amounts_two_decimals_currency_and_control_totals(tmp_path: Path) -> None:
    s = _with_fields(make_strategy((0, 10, 0)), ["account_id", "overdue_amount", "balance"])
    placements = pd.DataFrame({"account_id": ["a", "b", "c", "d"],
                               "overdue_amount": [-12.5, 1234.567, np.nan, 0.1 + 0.2],
                               "balance": [1e7, 3.0, 2.005, -0.004]})
    endings = pd.DataFrame({"account_id": pd.Series([], dtype="str"), "ended": pd.Series([], dtype="str"),
                            "reason": pd.Series([], dtype="str")})
    b = vendor_batches({"v1": (placements, endings)}, s, [], DAY)["v1"]
    write_vendor_folder(tmp_path, "v1", DAY, b)
    rows = _cells((tmp_path / f"placements_{DAY}.csv").read_bytes().decode())
    assert rows[0] == ["account_id", "overdue_amount", "balance", "currency"]
    assert [r[1] for r in rows[1:]] == ["-12.50", "1234.57", "", "0.30"]  # a negative amount: a number
    assert [r[2] for r in rows[1:]] == ["10000000.00", "3.00", "2.01", "0.00"]
    assert {r[3] for r in rows[1:]} == {"CNY"}
    m = json.loads((tmp_path / "manifest.json").read_text())
    f = m["files"][0]
    assert f["rows"] == 4 and m["currency"] == "CNY"
    # control totals are the sums of the figures in the file, to the cent
    assert f["amount_sums"] == {"overdue_amount": "1222.37", "balance": "10000005.01"}


def test_file_encoding_utf8_sig_and_unencodable_names(tmp_path: Path) -> None:
    fields = ["account_id", "name"]
    placements = pd.DataFrame({"account_id": ["a", "b"], "name": ["王小明", "Ann"]})
    endings = pd.DataFrame({"account_id": pd.Series([], dtype="str"), "ended": pd.Series([], dtype="str"),
                            "reason": pd.Series([], dtype="str")})
    s = _with_fields(make_strategy((0, 10, 0)), fields, file_encoding="utf-8-sig")
    b = vendor_batches({"v1": (placements, endings)}, s, [], DAY)["v1"]
    write_vendor_folder(tmp_path / "sig", "v1", DAY, b)
    raw = (tmp_path / "sig" / f"placements_{DAY}.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "王小明".encode() in raw
    assert json.loads((tmp_path / "sig" / "manifest.json").read_text())["encoding"] == "utf-8-sig"
    warns: list[str] = []
    s = _with_fields(make_strategy((0, 10, 0)), fields, file_encoding="latin-1")
    b = vendor_batches({"v1": (placements, endings)}, s, warns, DAY)["v1"]
    write_vendor_folder(tmp_path / "l1", "v1", DAY, b)
    assert (tmp_path / "l1" / f"placements_{DAY}.csv").read_bytes().decode("latin-1").splitlines()[1] == "a,???,CNY"
    assert len(warns) == 1 and "rows 1" in warns[0] and "王" not in warns[0]  # no personal value shown


def test_bad_file_encoding_is_a_config_error(tmp_path: Path) -> None:
    from collections_engine.config import load_strategy
    from collections_engine.errors import ConfigError

    text = (Path(__file__).resolve().parents[1] / "strategies" / "default.yaml").read_text()
    p = tmp_path / "s.yaml"
    p.write_text(text.replace("keep_customer_together: true,", "keep_customer_together: true, file_encoding: klingon,"))
    with pytest.raises(ConfigError, match="file_encoding"):
        load_strategy(p)


# ----------------------------------------------------------------------------- spreadsheet-safe CSV

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
RISKY = st.builds(lambda a, b: a + b, st.sampled_from(FORMULA_STARTS + ("", "'", " ")), TEXT)
ATTACKS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
           "=1", "+8613800000000", "-12.50"]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))  # CSV's own line splitting


@settings(max_examples=150)
@given(names=st.lists(st.one_of(RISKY, st.sampled_from(ATTACKS)), min_size=1, max_size=8),
       addresses=st.lists(st.one_of(RISKY, st.none()), min_size=1, max_size=8),
       amounts=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=8))
def test_no_cell_starts_a_formula(names, addresses, amounts) -> None:
    """Every text cell of every CSV the engine writes, read back by a CSV reader, starts with a
    formula character only when it is one plain number; numbers stay numbers (a negative
    amount is written '-12.5', never quoted)."""
    n = min(len(names), len(addresses), len(amounts))
    df = pd.DataFrame({"name": pd.Series(names[:n], dtype=object),
                       "address": pd.Series(addresses[:n], dtype="string"),
                       "amount": amounts[:n]})
    rows = _cells(csv_text(df))
    assert rows[0] == ["name", "address", "amount"]
    for i, row in enumerate(rows[1:]):
        for cell, raw in zip(row[:2], (df["name"].iloc[i], df["address"].iloc[i])):
            want = "" if raw is None or raw is pd.NA else safe_cell(raw)
            assert cell == want
            if cell.startswith(FORMULA_STARTS):
                assert float(cell) == float(cell)  # a plain number, which no spreadsheet evaluates
        assert float(row[2]) == df["amount"].iloc[i]
    for attack in ATTACKS[:-2]:
        assert safe_cell(attack) == "'" + attack


def test_spreadsheet_safe_leaves_numbers_dates_and_categories_right() -> None:
    df = pd.DataFrame({"n": [-1.5, 2.0], "i": [-3, 4], "d": pd.to_datetime(["2024-01-02", "2024-01-03"]),
                       "c": pd.Categorical(["=x", "ok"]), "s": pd.array(["-1", "@a"], dtype="string")})
    out = spreadsheet_safe(df)
    assert out["n"].tolist() == [-1.5, 2.0] and out["i"].tolist() == [-3, 4]
    assert out["c"].tolist() == ["'=x", "ok"] and out["s"].tolist() == ["-1", "'@a"]
    assert _cells(csv_text(df))[1] == ["-1.5", "-3", "2024-01-02", "'=x", "-1"]
