"""The one HTML kit of every page the engine writes (the night, what-if, backtest, sources and
model version reports): a page shell with its CSS, sections, cards, tables and inline SVG charts
(matplotlib); self-contained, no network needed."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["page", "section", "subsection", "table", "bar_chart", "hist_chart", "interval_chart",
           "line_chart", "esc", "svg", "kv", "human"]

plt.rcParams["svg.hashsalt"] = "collections-engine"
plt.rcParams["svg.fonttype"] = "none"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1340px;
color:#1d2733;background:#fff}h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;
border-bottom:2px solid #e3e8ee;padding-bottom:4px}.sub{color:#5b6b7c;margin-top:0}
table{border-collapse:collapse;font-size:12px;margin:8px 0;display:block;overflow-x:auto;max-width:100%}th,td{padding:4px 8px;border-bottom:1px solid #e3e8ee;
text-align:right}th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:6px 10px;margin:4px 0}
.ok{color:#1a7f37}.bad{color:#c62828}.grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #e3e8ee;border-radius:6px;padding:8px 14px;min-width:150px}
.card b{display:block;font-size:20px}svg{max-width:100%;height:auto}
td{white-space:nowrap}th{white-space:normal;vertical-align:bottom}.tile{background:#f5f7fa;padding:8px 14px;margin:8px 0}.tile ul{margin:4px 0}
"""


def esc(x: object) -> str:
    return html.escape(str(x))


def page(title: str, subtitle: str, body: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class='sub'>{esc(subtitle)}</p>{''.join(body)}</body></html>"
    )


def section(title: str, *parts: str) -> str:
    return f"<h2>{esc(title)}</h2>{''.join(parts)}"


def subsection(title: str, *parts: str) -> str:
    return f"<h3>{esc(title)}</h3>{''.join(parts)}"


def kv(items: Sequence[tuple[str, object]]) -> str:
    return "<div class='grid'>" + "".join(
        f"<div class='card'>{esc(k)}<b>{esc(v)}</b></div>" for k, v in items) + "</div>"


def human(x: float) -> str:
    """Numbers for people: 12.3 million, 45,678, 3.5 (no 1e7)."""
    if x is None or x != x:
        return ""
    a = abs(x)
    if a >= 1e9:
        return f"{x / 1e9:,.1f} billion"
    if a >= 1e6:
        return f"{x / 1e6:,.1f} million"
    if a >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _fmt(v: object) -> str:
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return ""
        if float(v).is_integer():   # counts kept as floats, and zeros: no decimals
            return f"{v:,.0f}"
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.0f}"
    if isinstance(v, int | np.integer):
        return f"{v:,d}"
    return esc(v)


def table(df: pd.DataFrame, max_rows: int = 200, wrap: Sequence[str] = ()) -> str:
    """The frame as a table; the `wrap` columns (sentences) are left-aligned and may wrap."""
    if df is None or len(df) == 0:
        return "<p><i>none</i></p>"
    # headers wrap at their underscores: a wide table fits 1400 px without sideways scrolling
    head = "".join(("<th style='text-align:left'>" if c in wrap else "<th>")
                   + f"{esc(c).replace('_', '_<wbr>')}</th>" for c in df.columns)
    opens = ["<td style='white-space:normal;text-align:left'>" if c in wrap else "<td>"
             for c in df.columns]
    rows = "".join(
        "<tr>" + "".join(f"{o}{_fmt(v)}</td>" for o, v in zip(opens, row)) + "</tr>"
        for row in df.head(max_rows).itertuples(index=False)
    )
    more = f"<p><i>{len(df) - max_rows} more rows not shown</i></p>" if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{rows}</table>{more}"


def svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str,
              ylabel: str = "") -> str:
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    x = np.arange(len(labels))
    k = max(len(series), 1)
    width = 0.8 / k
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=name)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    from matplotlib.ticker import FuncFormatter
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: human(v)))   # millions, not 1e7
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return svg(fig)


def hist_chart(series: dict[str, np.ndarray], bins: np.ndarray, title: str, xlabel: str) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    for name, vals in series.items():
        vals = np.asarray(vals, dtype=float)
        if len(vals):
            ax.hist(vals, bins=bins, alpha=0.5, density=True, label=name)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.legend(fontsize=8)
    return svg(fig)


def interval_chart(labels: Sequence[str], series: dict[str, tuple[Sequence[float], Sequence[float],
                   Sequence[float]]], title: str, ylabel: str = "",
                   colours: Sequence[str] = ("#1f77b4", "#aaaaaa")) -> str:
    """Estimates with their intervals per label, one marker series per entry of `series`
    (name -> (estimate, low, high)); a missing bound draws no whisker."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    k = max(len(series), 1)
    offs = np.linspace(-0.15, 0.15, k) if k > 1 else [0.0]
    for (name, (est, lo, hi)), off, col in zip(series.items(), offs, colours):
        e = np.asarray(est, float)
        down = np.nan_to_num(e - np.asarray(lo, float), nan=0.0)
        up = np.nan_to_num(np.asarray(hi, float) - e, nan=0.0)
        ax.errorbar(np.arange(len(labels)) + off, e, yerr=[down, up], fmt="o", color=col, label=name,
                    capsize=3)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return svg(fig)


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str,
               ylabel: str, diagonal: tuple[float, float] | None = None) -> str:
    """Lines with markers (name -> (x, y)); `diagonal` (x and y up to it) draws the line of chance
    or of perfect calibration."""
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for name, (x, y) in series.items():
        ax.plot(x, y, "o-", label=name)
    if diagonal is not None:
        ax.plot([0, diagonal[0]], [0, diagonal[1]], "--", color="grey")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return svg(fig)
