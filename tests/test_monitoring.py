"""Monitoring (issue 21): nightly reference per model version, no alarm on a stable book,
"act" soon after a planted shift, the trend across nights in the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.io import write_parquet
from collections_engine.loop import read_world
from collections_engine.report.html import human
from collections_engine.report.monitor import find_reference, level_of, monitor_night
from tests.loop_builders import write_book
from tests.pipeline_helpers import BOOK, GRAPH, ROOT, short_placement_strategy, train_fast

DEFAULT = ROOT / "strategies" / "default.yaml"

runner = CliRunner()


def _nights() -> list[str]:
    acc = pd.read_parquet(BOOK / "accounts.parquet", columns=["snapshot_date"])
    out = pd.read_parquet(BOOK / "outcomes.parquet", columns=["snapshot_date"])
    dates = sorted(set(pd.to_datetime(acc["snapshot_date"])) - set(pd.to_datetime(out["snapshot_date"])))
    return [d.date().isoformat() for d in dates]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitor")
    strategy = short_placement_strategy(tmp / "short.yaml")
    doc = yaml.safe_load(strategy.read_text())
    doc["models"]["family"] = "auto"            # scorecards in the nightly path too
    strategy.write_text(yaml.safe_dump(doc, sort_keys=False))
    models = tmp / "models"
    train_fast(models, strategy)
    return {"tmp": tmp, "strategy": strategy, "models": models, "nights": _nights()}


def _run(s, data: Path, runs: Path, night: str) -> dict:
    res = runner.invoke(app, ["run", "--data", str(data), "--date", night, "--strategy", str(s["strategy"]),
                              "--graph", str(GRAPH), "--models", str(s["models"]), "--out", str(runs)])
    assert res.exit_code == 0, res.output[-3000:]
    return json.loads((runs / night / "run.json").read_text())


def _simulate(data: Path, runs: Path, night: str) -> str:
    """The bank's next day, made as a real bank's is: the world answers tonight's decisions
    (contacts, payments, the next snapshot) one business day on; returns the next night."""
    res = runner.invoke(app, ["simulate", "--data", str(data), "--runs", str(runs), "--date", night,
                              "--days", "1"])
    assert res.exit_code == 0, res.output[-3000:]
    return str(read_world(data).state_date.date())


@pytest.fixture(scope="module")
def loop(setup):
    """A stable book's first three nights through the closed loop: the fixture's world (same
    command, seed and history, one night), then `run` and `simulate --days 1` after each
    night, so nights 2 and 3 carry the contacts and payments the previous night's work made.
    (The generator's own nights after the first carry no contacts: a contact log that stopped,
    which the monitor rightly flags: see the next test.)"""
    data, runs = setup["tmp"] / "loop_data", setup["tmp"] / "loop_runs"
    write_book(data, accounts=3000, days=1, seed=1)
    night, nights, recs = str(read_world(data).state_date.date()), [], []
    for _ in range(3):
        recs.append(_run(setup, data, runs, night)["monitor"])
        nights.append(night)
        night = _simulate(data, runs, night)
    return {"data": data, "runs": runs, "nights": nights, "recs": recs, "next": night}


def test_a_stable_book_raises_no_act_on_its_first_three_nights(setup, loop):
    recs, nights, runs = loop["recs"], loop["nights"], loop["runs"]
    assert recs[0]["level"] == "reference night" and "reference" in recs[0]
    assert all(r["reference_night"] == nights[0] for r in recs)
    assert all("reference" not in r for r in recs[1:])
    assert all(r["level"] != "act" for r in recs), [r["level"] for r in recs]
    assert all(r["score_psi"] < 0.25 for r in recs)
    # the monthly-history comparison is shown, and is what used to ring every night
    assert recs[0]["score_psi_vs_history"] is not None
    assert recs[1]["realised"]["since"] == nights[0]
    assert recs[1]["expected_net"] > 0 and recs[1]["accounts"] > 0
    html = (runs / nights[2] / "report.html").read_text()
    assert "Drift and money across the nights" in html and "nightly reference" in html
    assert html.index("Drift:") < html.index("<div class='grid'>")   # the tile is on top
    assert "e+0" not in html                                        # no 1e7 on axes or tables


def test_a_contact_log_that_stops_is_flagged(setup):
    """The generator's nights after the first carry no contacts: everyone's days since the last
    contact grow by a night each night. That is a real change of the feed (a contact log that
    stopped), and by the third night the monitor says act on that feature."""
    runs = setup["tmp"] / "runs_generator"
    recs = [_run(setup, BOOK, runs, n)["monitor"] for n in setup["nights"][:3]]
    assert [r["level"] for r in recs] == ["reference night", "stable", "act"]
    drifted = {k for k, v in recs[2]["features_psi"].items() if v >= 0.25}
    assert drifted == {"days_since_last_contact"}, recs[2]["features_psi"]


def _plant(data: Path, night: str, factor: float = 1.8) -> None:
    """A portfolio shift on `night`: overdue amounts and balances grow by `factor` (what a new
    product line or a price change does to a book). The generator has no switch for one, so the
    night's snapshot is transformed in place."""
    path = data / "accounts.parquet"
    acc = pd.read_parquet(path)
    m = (acc["snapshot_date"] == pd.Timestamp(night)).to_numpy()
    for c in ("overdue_amount", "balance"):
        acc.loc[m, c] = (acc.loc[m, c] * factor).round(2)
    write_parquet(acc, path)


def test_a_planted_shift_acts_within_two_nights(setup, loop):
    data, runs = setup["tmp"] / "planted_data", setup["tmp"] / "planted_runs"
    shutil.copytree(loop["data"], data)
    shutil.copytree(loop["runs"], runs)
    levels = [r["level"] for r in loop["recs"]]
    night = loop["next"]
    for _ in range(2):                     # nights 4 and 5 shifted
        _plant(data, night)
        rec = _run(setup, data, runs, night)["monitor"]
        levels.append(rec["level"])
        last = night
        night = _simulate(data, runs, night)
    assert "act" not in levels[:3]
    assert "act" in levels[3:5], levels
    html = (runs / last / "report.html").read_text()
    assert "Drift: act" in html


def test_monitor_night_units():
    class V:
        version_id = "m1"
        boosters: dict = {}
        scorecards: dict = {}

    rng = np.random.default_rng(0)
    n = 4000
    scores = pd.DataFrame({"points": rng.normal(600, 40, n).round(2), "stage": "M1"})
    feats = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    types = {"x": "numeric", "c": "categorical"}
    kw = dict(date=pd.Timestamp("2025-06-02"), version=V(), history_reference=None, types=types)
    rec, df = monitor_night(scores=scores, features=feats, earlier=[], **kw)
    assert rec["level"] == "reference night" and (df["psi"] == 0).all()
    earlier = [{"monitor": rec}]
    assert find_reference(earlier, "m1") is rec["reference"] and find_reference(earlier, "m2") is None
    same, _ = monitor_night(scores=scores, features=feats, earlier=earlier, **kw)
    assert same["level"] == "stable" and "reference" not in same
    shifted = feats.assign(x=feats["x"] + 1.0)
    moved, df2 = monitor_night(scores=scores, features=shifted, earlier=earlier, **kw)
    assert moved["level"] == "act" and df2.loc[df2["what"] == "x", "level"].item() == "act"
    assert [level_of(v) for v in (0.05, 0.1, 0.25)] == ["stable", "watch", "act"]


def test_numbers_for_people():
    assert human(12_345_678.0) == "12.3 million"
    assert human(2.5e9) == "2.5 billion"
    assert human(45_678.4) == "45,678"
    assert human(3.0) == "3"
    assert human(0.1234) == "0.123"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


PROBE = ("<script>window.addEventListener('load',()=>{const bad=[];document.querySelectorAll('table')"
         ".forEach((t,i)=>{if(t.scrollWidth>t.clientWidth+1)bad.push(i)});document.body.setAttribute("
         "'data-overflow',bad.join(' ')||'none');document.body.setAttribute('data-docwidth',"
         "document.documentElement.scrollWidth)});</script>")


def no_sideways_scrolling(report: Path, tmp: Path) -> None:
    """At 1400 px no table scrolls sideways and the page is not wider than the window."""
    import re
    import subprocess

    probe = tmp / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,900",
             f"--user-data-dir={tmp / 'profile'}", "--disable-background-networking", "--disable-sync"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'data-overflow="none"', dom.stdout), re.findall(r'data-overflow="[^"]*"', dom.stdout)
    width = int(re.search(r'data-docwidth="(\d+)"', dom.stdout).group(1))
    assert width <= 1400


@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium is not installed (scripts/test.sh installs it)")
def test_night_and_model_reports_fit_1400_px_in_chromium(setup, loop, tmp_path):
    runs, night = loop["runs"], loop["nights"][2]
    no_sideways_scrolling(runs / night / "report.html", tmp_path)
    from collections_engine.report.model import model_report

    folder = next(p.parent for p in Path(setup["models"]).glob("*/version.json"))
    rep = json.loads((folder / "report.json").read_text())
    meta = json.loads((folder / "version.json").read_text())
    page = tmp_path / "model.html"
    page.write_text(model_report(folder.name, rep, meta))
    assert "Scorecard" in page.read_text()
    no_sideways_scrolling(page, tmp_path)
