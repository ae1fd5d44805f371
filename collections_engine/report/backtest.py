"""backtest.html: realised net per cycle and cumulated per policy, with intervals over draws."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from collections_engine.report.html import bar_chart, kv, page, section, svg, table

__all__ = ["backtest_report"]


def _line_chart(df: pd.DataFrame, title: str) -> str:
    """Cumulated realised net per cycle: the mean over draws per policy, with the draws' range."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for pol, g in df.groupby("policy", sort=True):
        cum = g.sort_values("cycle").groupby("draw")["realised_net"].cumsum()
        g = g.assign(cum=cum.to_numpy() if len(cum) == len(g) else cum)
        m = g.groupby("cycle")["cum"].agg(["mean", "min", "max"])
        ax.plot(m.index, m["mean"], marker="o", label=pol)
        if g["draw"].nunique() > 1:
            ax.fill_between(m.index, m["min"], m["max"], alpha=0.15)
    ax.set_xlabel("cycle", fontsize=9)
    ax.set_ylabel("cumulated realised net", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return svg(fig)


def backtest_report(df: pd.DataFrame, summary: pd.DataFrame, meta: dict) -> str:
    """The page; `meta`: start date, cycles, draws, days, data, model version."""
    df = df.sort_values(["policy", "draw", "cycle"], kind="stable")
    per_cycle = df.groupby(["cycle", "policy"])["realised_net"].mean().unstack("policy")
    chart_cycle = bar_chart([str(c) for c in per_cycle.index],
                            {p: per_cycle[p].to_numpy(float) for p in per_cycle.columns},
                            "realised net per cycle (mean over draws)", "net")
    best = summary.sort_values("net_total_mean", ascending=False).iloc[0]["policy"] \
        if len(summary) else ""
    cards = [("cycles", meta.get("cycles")), ("draws", meta.get("draws")),
             ("days per cycle", meta.get("days")), ("best policy", best)]
    return page(
        "Backtest: realised net recovery by policy",
        f"from {meta.get('start')} on {meta.get('data')}; each cycle = the nightly run then "
        "simulate, common random numbers across policies within a draw",
        [kv(cards),
         section("Cumulated realised net", _line_chart(df, "cumulated realised net"),
                 table(summary.round(2))),
         section("Per cycle", chart_cycle, table(per_cycle.round(2).reset_index())),
         section("Every row (backtest.csv)", table(df, max_rows=400))])
