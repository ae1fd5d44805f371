"""Nights the generator never makes (issue 18), run end to end through the CLI on the fixture
book: no vendor placement, protective tables missing, customers missing, formulas in names,
loose dates, a broken chain of nights, and the same bytes for every file of a rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from collections_engine.cli import app
from tests.pipeline_helpers import (BOOK, GRAPH, ROOT, fixture_nights, short_placement_strategy, train_fast,
                                    tree_digest, unscored_nights)

runner = CliRunner()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("edges")
    strategy = short_placement_strategy(tmp / "short.yaml")
    models = tmp / "models"
    train_fast(models, strategy)
    return {"tmp": tmp, "strategy": strategy, "models": models,
            "nights": unscored_nights()}


def strategy_variant(env: dict, name: str, edit) -> Path:
    doc = yaml.safe_load(env["strategy"].read_text())
    edit(doc)
    p = env["tmp"] / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def book_variant(env: dict, name: str, edit=None, drop: tuple[str, ...] = ()) -> Path:
    d = env["tmp"] / f"book_{name}"
    if not d.exists():
        shutil.copytree(BOOK, d, ignore=shutil.ignore_patterns("truth"))
        for t in drop:
            (d / f"{t}.parquet").unlink()
        if edit is not None:
            edit(d)
    return d


def run(env: dict, night: str, *, data: Path = BOOK, strategy: Path | None = None, runs: Path,
        extra: tuple[str, ...] = ()):
    args = ["run", "--data", str(data), "--date", night, "--strategy", str(strategy or env["strategy"]),
            "--graph", str(GRAPH), "--models", str(env["models"]), "--out", str(runs), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output + str(result.stderr or "")


def test_night_with_no_vendor_placement_runs(env: dict) -> None:
    """Issue 18's crash (exit 1, TypeError in the vendor files) when file_fields name placed_on or
    ends_on and nobody is placed: here every vendor has capacity 0."""
    def no_room(doc):
        for q in doc["queues"]:
            if q["kind"] == "vendor":
                q["capacity"] = 0
                q["min_share"] = 0.0
                assert "placed_on" in q["file_fields"] and "ends_on" in q["file_fields"]
    s = strategy_variant(env, "no_vendor_room", no_room)
    runs = env["tmp"] / "runs_novendor"
    night = env["nights"][0]
    code, out = run(env, night, strategy=s, runs=runs)
    assert code == 0, out
    a = pd.read_parquet(runs / night / "assignments.parquet")
    assert not (a["decision"] == "placed").any()
    for v in ("agency_north", "agency_south", "agency_east"):
        folder = runs / night / "vendors" / v
        assert len(pd.read_csv(folder / f"placements_{night}.csv")) == 0
        m = json.loads((folder / "manifest.json").read_text())
        assert [f["rows"] for f in m["files"]] == [0, 0]


def test_missing_holds_exits_2_unless_declared_none(env: dict) -> None:
    night = env["nights"][0]
    data = book_variant(env, "noholds", drop=("holds",))
    runs = env["tmp"] / "runs_noholds"
    code, out = run(env, night, data=data, runs=runs)
    assert code == 2, out
    assert "holds: table missing" in out and "holds_table: none" in out
    assert not (runs / night).exists()
    s = strategy_variant(env, "no_holds_kept", lambda d: d.update(holds_table="none"))
    code, out = run(env, night, data=data, strategy=s, runs=runs)
    assert code == 0, out
    rec = json.loads((runs / night / "run.json").read_text())
    assert any("holds_table: none" in w for w in rec["warnings"])
    html = (runs / night / "report.html").read_text()
    assert html.index("holds: no table") < html.index("<div class='grid'>")  # at the top, above the figures


def test_missing_fraud_labels_exits_2_unless_declared_none(env: dict) -> None:
    night = env["nights"][0]
    data = book_variant(env, "nofraud", drop=("fraud_labels",))
    runs = env["tmp"] / "runs_nofraud"
    code, out = run(env, night, data=data, runs=runs)
    assert code == 2 and "fraud_labels: table missing" in out and "fraud_labels_table: none" in out, out
    s = strategy_variant(env, "no_fraud_labels", lambda d: d.update(fraud_labels_table="none"))
    assert run(env, night, data=data, strategy=s, runs=runs)[0] == 0


def test_missing_customers_warns_for_every_vendor_field(env: dict) -> None:
    night = env["nights"][0]
    data = book_variant(env, "nocustomers", drop=("customers",))
    runs = env["tmp"] / "runs_nocustomers"
    code, out = run(env, night, data=data, runs=runs)
    assert code == 0, out
    rec = json.loads((runs / night / "run.json").read_text())
    want = {("agency_north", "name"), ("agency_north", "phone"), ("agency_east", "name"), ("agency_east", "address")}
    for v, f in want:
        msg = f"customers: table missing; vendor '{v}' file field '{f}' is left out of its files tonight"
        assert msg in rec["warnings"] and msg in out  # run.json and the log
        assert msg.replace("'", "&#x27;") in (runs / night / "report.html").read_text().split("<div class='grid'>")[0]
        cols = pd.read_csv(runs / night / "vendors" / v / f"placements_{night}.csv", nrows=0).columns
        assert f not in cols


def test_formulas_in_names_reach_vendors_neutralised(env: dict) -> None:
    night = env["nights"][0]
    attacks = ["=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-1+2", "\t=1"]

    def poison(d: Path) -> None:
        c = pd.read_parquet(d / "customers.parquet")
        c["name"] = [attacks[i % len(attacks)] for i in range(len(c))]
        c["address"] = "=1+1"
        c.to_parquet(d / "customers.parquet", index=False)
    data = book_variant(env, "formulas", poison)
    runs = env["tmp"] / "runs_formulas"
    assert run(env, night, data=data, runs=runs)[0] == 0
    seen = 0
    for v in ("agency_north", "agency_east"):
        f = pd.read_csv(runs / night / "vendors" / v / f"placements_{night}.csv", dtype=str, keep_default_na=False)
        for col in ("name", "address"):
            if col in f:
                assert f[col].str.startswith("'").all()
                seen += len(f)
        assert not f["overdue_amount"].str.startswith("'").any()
        assert f["overdue_amount"].str.fullmatch(r"-?\d+\.\d\d").all()  # two decimals
        assert (f["currency"] == "CNY").all()
    assert seen > 0


def test_loose_dates_refused(env: dict) -> None:
    runs = env["tmp"] / "runs_dates"
    y, m, d = env["nights"][0].split("-")
    for bad in (f"{y}-{int(m)}-{int(d)}", f"{y}{m}{d}", f"{d}/{m}/{y}", f"{y}-02-30", f"{y}-{m}-{d}T00:00"):
        code, out = run(env, bad, runs=runs)
        assert code == 2 and "expected YYYY-MM-DD" in out, (bad, out)
    assert not runs.exists() or not any(p for p in runs.iterdir() if p.name != ".lock")


def test_earlier_night_refused_unless_force(env: dict) -> None:
    n = env["nights"]
    runs = fixture_nights(1, env["strategy"], env["models"], env["tmp"] / "runs_chain")  # n[0] ran
    assert run(env, n[2], runs=runs)[0] == 0  # n[1] missed
    before = tree_digest(runs)
    code, out = run(env, n[1], runs=runs)
    assert code == 2 and f"earlier than the latest finished night {n[2]}" in out, out
    assert tree_digest(runs) == before and not (runs / n[1]).exists()
    assert run(env, n[0], runs=runs)[0] == 0  # a finished night rerun with the same inputs: allowed
    code, out = run(env, n[1], runs=runs, extra=("--force",))
    assert code == 0, out
    assert any("rerun them in date order" in w for w in json.loads((runs / n[1] / "run.json").read_text())["warnings"])


def test_rerun_every_file_same_bytes(env: dict) -> None:
    """run.json and report.html included; only timings.json (documented as not compared) differs."""
    runs = fixture_nights(2, env["strategy"], env["models"], env["tmp"] / "runs_same")  # both nights ran
    night = env["nights"][1]
    first = tree_digest(runs / night)
    timings = json.loads((runs / night / "timings.json").read_text())
    assert {"timings_s", "peak_rss_gib", "started_at"} <= set(timings)
    # each step's CPU (user and system) and the pages the kernel found for it, beside its time
    cpu = timings["cpu_by_step"]
    assert set(cpu) == set(timings["timings_s"]) - {"rings", "total"}  # the ring step: its own process
    assert all(c["user_s"] >= 0 and c["system_s"] >= 0 and c["minor_faults"] >= 0 for c in cpu.values())
    assert sum(c["user_s"] + c["system_s"] for c in cpu.values()) > 0
    assert cpu["validate"]["minor_faults"] > 0  # reading the book takes fresh memory
    assert run(env, night, runs=runs)[0] == 0
    again = tree_digest(runs / night)
    first.pop("timings.json"), again.pop("timings.json")
    assert "run.json" in first and "report.html" in first
    assert again == first
    rec = json.loads((runs / night / "run.json").read_text())
    assert "timings_s" not in rec and "time_s" not in rec["solver"]


def test_no_dtype_warning_from_csv_book(env: dict, tmp_path: Path) -> None:
    """A CSV book whose text columns look like numbers in one part of the file and not in
    another (pandas' chunked guessing: DtypeWarning on stderr) reads silently."""
    import warnings

    from collections_engine.io.tables import read_table

    n = 300_000
    df = pd.DataFrame({"account_id": [str(i) for i in range(n)], "hold": ["dispute"] * n,
                       "start": ["2024-01-01"] * n, "end": [""] * (n - 1) + ["2024-02-01"]})
    df.loc[: n // 2, "account_id"] = [str(i) for i in range(n // 2 + 1)]
    df.loc[n // 2:, "hold"] = "1"
    df.to_csv(tmp_path / "holds.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = read_table(tmp_path / "holds.csv")
    assert out["hold"].map(type).eq(str).all()


def test_default_strategy_declares_nothing_unsafe() -> None:
    doc = yaml.safe_load((ROOT / "strategies" / "default.yaml").read_text())
    assert doc.get("holds_table", "required") == "required"


def _export(env: dict, name: str, kind: str) -> Path:
    """The fixture book re-exported as a bank's own system would: parquet with DATE (date32)
    columns and plain `string` text columns, or CSV (every table and source)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = env["tmp"] / f"book_{name}"
    if d.exists():
        return d
    (d / "sources").mkdir(parents=True)
    for src in sorted(BOOK.rglob("*.parquet")):
        rel = src.relative_to(BOOK)
        if rel.parts[0] == "truth":
            continue
        t = pq.read_table(src)
        if kind == "parquet_date_string":
            fields = []
            for f in t.schema:
                if pa.types.is_timestamp(f.type):
                    f = f.with_type(pa.date32())
                elif pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type):
                    f = f.with_type(pa.string())
                fields.append(f)
            t = t.cast(pa.schema(fields))
            pq.write_table(t, d / rel)
        else:
            t.to_pandas().to_csv((d / rel).with_suffix(".csv"), index=False)
    return d


@pytest.mark.slow
def test_parquet_dates_strings_and_csv_reach_the_same_decisions(env: dict) -> None:
    """Issue 18's bar: a book exported as parquet with DATE columns and plain strings, and the
    same book as CSV, reach the same decisions as the generator's files (two nights, so the
    second reads the first's open placements)."""
    from tests.pipeline_helpers import data_digest

    nights = env["nights"][:2]
    digests = {}
    for name, data in (("generator", BOOK), ("parquet_date_string", _export(env, "pq", "parquet_date_string")),
                       ("csv", _export(env, "csv", "csv"))):
        runs = env["tmp"] / f"runs_format_{name}"
        if data == BOOK:  # the generator's files: the session's nights of the fixture book
            fixture_nights(len(nights), env["strategy"], env["models"], runs)
        for night in nights:
            if not (runs / night).is_dir():
                code, out = run(env, night, data=data, runs=runs)
                assert code == 0, (name, out[-2000:])
        digests[name] = {n: data_digest(runs / n) for n in nights}
        a = pd.read_parquet(runs / nights[-1] / "assignments.parquet")
        assert len(a) > 0
    assert digests["parquet_date_string"] == digests["generator"]
    assert digests["csv"] == digests["generator"]


def test_csv_personal_fields_stay_text(tmp_path: Path) -> None:
    """A phone '+8613800000000' or '07551234567' read from customers.csv keeps its sign and zero."""
    from collections_engine.io.tables import read_table

    (tmp_path / "customers.csv").write_text("customer_id,phone,national_id,income\n"
                                            "007,+8613800000000,44030119900101001X,1.5\n"
                                            "8,07551234567,440301199001010011,2\n")
    c = read_table(tmp_path / "customers.csv")
    assert c["customer_id"].tolist() == ["007", "8"]
    assert c["phone"].tolist() == ["+8613800000000", "07551234567"]
    assert c["national_id"].tolist()[1] == "440301199001010011"
    assert c["income"].dtype.kind == "f"
