"""The nightly report's monitoring parts: the warnings tile at the top and drift as a trend
across the nights in RUNS (score PSI, the top features' PSI, volumes, expected and realised
money), from the `monitor` records each night keeps in its run.json (report/monitor.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from collections_engine.report.html import esc, human, svg, table  # noqa: E402
from collections_engine.report.monitor import PSI_ACT, PSI_WATCH  # noqa: E402

__all__ = ["warnings_tile", "trend_section"]

LEVEL_COLOUR = {"act": "#c62828", "watch": "#f0a020", "stable": "#1a7f37", "reference night": "#5b6b7c"}


def warnings_tile(warnings: list[str], level: str, shown: int = 5) -> str:
    """A tile at the top: tonight's drift level and the first warnings (all are listed below)."""
    colour = LEVEL_COLOUR.get(level, "#5b6b7c")
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings[:shown])
    more = (f"<li><a href='#warnings'>{len(warnings) - shown:,d} more</a></li>"
            if len(warnings) > shown else "")
    what = {"act": "act: a drift beyond 0.25 PSI against the nightly reference",
            "watch": "watch: a drift of 0.10-0.25 PSI against the nightly reference",
            "stable": "stable: no drift against the nightly reference",
            "reference night": "reference night: tonight sets this model version's nightly reference",
            "monthly history only": "not levelled: the Spark engine compares tonight with the "
                                    "monthly-history reference only (information, never an alarm)"}
    return (f"<div class='tile' style='border-left:6px solid {colour}'>"
            f"<b>Drift: {esc(what.get(level, level))}</b> &middot; {len(warnings):,d} warning(s)"
            f"{'<ul>' + items + more + '</ul>' if items else ''}</div>")


def _tick(x: float, _pos: object = None) -> str:
    return human(x)


def _frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r in records:
        m = r.get("monitor")
        if not m:
            continue
        real = m.get("realised") or {}
        rows.append({"night": m["date"], "model": m["model_version"], "level": m.get("level", ""),
                     "score PSI": m.get("score_psi"), "accounts": m.get("accounts"),
                     "expected net": m.get("expected_net"),
                     "realised since previous night": real.get("amount"),
                     **{f"PSI {k}": v for k, v in (m.get("features_psi") or {}).items()}})
    return pd.DataFrame(rows)


def trend_section(records: list[dict], currency: str, horizon_days: int | None = None) -> str:
    df = _frame(records)
    if not len(df):
        return "<p><i>no monitored nights yet</i></p>"
    x = np.arange(len(df))
    labels = [d[5:] for d in df["night"]]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.9))
    ax = axes[0]
    ax.plot(x, df["score PSI"].astype(float), "o-", lw=2, label="score points")
    for c in [c for c in df.columns if c.startswith("PSI ")]:
        ax.plot(x, df[c].astype(float), ".-", lw=1, label=c[4:])
    ax.axhline(PSI_WATCH, ls="--", color="#f0a020", lw=1)
    ax.axhline(PSI_ACT, ls="--", color="#c62828", lw=1)
    ax.set_title("PSI against the nightly reference", fontsize=10)
    ax.set_ylim(0, max(PSI_ACT * 1.2, float(np.nanmax(df.filter(like="PSI").astype(float).to_numpy(),
                                                       initial=0.0)) * 1.1))
    # legends under the plots: the lines they name stay visible
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    ax = axes[1]
    ax.bar(x, df["accounts"].astype(float), color="#4c78a8")
    ax.set_title("Delinquent accounts", fontsize=10)
    ax.yaxis.set_major_formatter(FuncFormatter(_tick))
    ax = axes[2]
    span = f" over {horizon_days} days" if horizon_days else ""
    ax.plot(x, df["expected net"].astype(float), "o-", label=f"expected net of the night's plan{span}")
    # what a night's plan realised is known the next night: drawn at the night it follows
    real = df["realised since previous night"].astype(float).to_numpy()
    ax.plot(x[:-1], real[1:], "s--", label="paid by those accounts before the next night")
    ax.set_title(f"Money ({currency})", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(_tick))
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    for a in axes:
        a.set_xticks(x, labels, fontsize=8)
        a.grid(alpha=0.3)
    fig.tight_layout()
    tab = df.rename(columns={"expected net": f"expected net ({currency})",
                             "realised since previous night": f"paid since previous night ({currency})"})
    return svg(fig) + table(tab)
