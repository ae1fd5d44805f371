"""The backtest command's checks and writes (the one I/O layer around `run_backtest`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from collections_engine.errors import InputError
from collections_engine.io.atomic import atomic_dir
from collections_engine.io.tables import write_csv
from collections_engine.loop.backtest import BacktestRequest, run_backtest, summarise
from collections_engine.loop.policies import POLICIES
from collections_engine.loop.world import read_world

__all__ = ["backtest_command"]


def backtest_command(data: Path, strategy: Path, graph: Path, models: Path, out: Path,
                     cycles: int, policies: str, draws: int, days: int) -> pd.DataFrame:
    pols = tuple(p.strip() for p in policies.split(",") if p.strip())
    problems = []
    bad = [p for p in pols if p not in POLICIES]
    if bad or not pols:
        problems.append(f"--policies: found {policies!r}; expected a comma-separated list of "
                        f"{', '.join(POLICIES)}")
    if "greedy_net" in pols:
        from collections_engine.assign import greedy

        if not hasattr(greedy, "greedy_net_plan"):
            problems.append("--policies: greedy_net is not in this version of the engine "
                            "(assign.greedy has no greedy_net_plan); leave it out")
    for name, v, lo in (("--cycles", cycles, 1), ("--draws", draws, 1), ("--days", days, 1)):
        if v < lo:
            problems.append(f"{name}: found {v}; expected at least {lo}")
    for name, p in (("--strategy", strategy), ("--graph", graph)):
        if not Path(p).is_file():
            problems.append(f"{name}: {p} not found")
    if problems:
        raise InputError("backtest", problems)
    read_world(data)            # exit 2 when DATA has no world v2
    req = BacktestRequest(data=Path(data), strategy=Path(strategy), graph=Path(graph),
                          models=Path(models), out=Path(out) / ".work", cycles=cycles,
                          policies=pols, draws=draws, days=days)
    rows = run_backtest(req)
    ref = "engine" if "engine" in pols else pols[0]
    summary = summarise(rows, ref)
    from collections_engine.report.backtest import backtest_report

    html = backtest_report(rows, summary, {"cycles": cycles, "draws": draws, "days": days,
                                           "data": str(data),
                                           "start": str(read_world(data).state_date.date())})
    with atomic_dir(Path(out), replace=True) as tmp:
        write_csv(rows[["policy", "draw", "cycle", "realised_net", "realised_recovery", "cost",
                        "date", "accounts", "worked"]], tmp / "backtest.csv")
        write_csv(summary, tmp / "backtest_summary.csv")
        (tmp / "backtest.html").write_text(html, encoding="utf-8")
    import shutil

    shutil.rmtree(Path(out) / ".work", ignore_errors=True)
    return summary
