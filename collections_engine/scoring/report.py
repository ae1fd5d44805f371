"""The model version report: one self-contained HTML page (inline PNG charts) from report.json."""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["render_html"]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _f(x, nd=3) -> str:
    return "" if x is None or x != x else f"{x:.{nd}f}"


def _auc_chart(rep: dict) -> str:
    segs = [s for s, r in rep["segments"].items() if r.get("final")]
    names = segs + ["overall"]
    blocks = [rep["segments"][s] for s in segs] + [rep["overall"]]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for k, (key, off, col) in enumerate((("final", -0.15, "#1f77b4"), ("pooled", 0.15, "#aaaaaa"))):
        a = [b[key]["auc"] for b in blocks]
        lo = [b[key]["auc"] - b[key]["lo"] if b[key]["lo"] == b[key]["lo"] else 0 for b in blocks]
        hi = [b[key]["hi"] - b[key]["auc"] if b[key]["hi"] == b[key]["hi"] else 0 for b in blocks]
        ax.errorbar([i + off for i in range(len(names))], a, yerr=[lo, hi], fmt="o", color=col,
                    label="segment/chosen model" if key == "final" else "one pooled model", capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("held-out AUC (95% CI)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def _capture_chart(dec: list[dict]) -> str:
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0] + [d["decile"] * 10 for d in dec], [0] + [d["capture"] for d in dec], "o-")
    ax.plot([0, 100], [0, 1], "--", color="grey")
    ax.set_xlabel("% of accounts, highest score first")
    ax.set_ylabel("share of repayers captured")
    ax.grid(alpha=0.3)
    return _png(fig)


def _band_chart(cal: list[dict]) -> str:
    fig, ax = plt.subplots(figsize=(4, 3))
    xs = [c["band"] for c in cal]
    ax.bar([i - 0.2 for i in range(len(xs))], [c["mean_p"] or 0 for c in cal], 0.4, label="predicted")
    ax.bar([i + 0.2 for i in range(len(xs))], [c["repay_rate"] or 0 for c in cal], 0.4, label="observed")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_ylabel("repayment rate")
    ax.legend(fontsize=8)
    return _png(fig)


def render_html(version_id: str, rep: dict, meta: dict) -> str:
    e = html.escape
    ov = rep["overall"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Model version {e(version_id)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
             "collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
             "th{background:#eee}td{white-space:nowrap}td.l{text-align:left;white-space:normal}</style></head><body>",
             f"<h1>Willingness models, version {e(version_id)}</h1>",
             f"<p>Validation: {e(meta['windows']['validation'])}. Training snapshots: "
             f"{e(', '.join(meta['windows']['train_dates']))}. Held out: "
             f"{e(', '.join(meta['windows']['held_out_dates']))}. Held-out rows are split by account: "
             "one half chooses between segment and pooled models and fits the calibration, the "
             "other half (the test rows) gives every figure below, scored with the queue each "
             "account was in.</p>",
             f"<p>Scores tonight: {e(meta['no_action'])}.</p>"]
    if meta.get("warnings"):
        parts.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{e(w)}</li>" for w in meta["warnings"]) + "</ul>")
    parts.append("<h2>Discrimination per segment</h2>" + _auc_chart(rep))
    head = ("<tr><th>segment</th><th>model</th><th>test rows</th><th>repay rate</th><th>AUC [95% CI]</th>"
            "<th>Gini [95% CI]</th><th>KS</th><th>pooled AUC [95% CI]</th><th>decision evidence</th></tr>")
    body = []
    for s, r in [*rep["segments"].items(), ("overall", {**ov, "model": "", "decision": {}})]:
        if not r.get("final"):
            body.append(f"<tr><td class=l>{e(s)}</td><td>{e(r['model'])}</td><td>0</td><td colspan=5>"
                        f"no held-out rows</td><td class=l>{e(str(r['decision'].get('why', '')))}</td></tr>")
            continue
        fi, po, d = r["final"], r["pooled"], r.get("decision", {})
        ev = ""
        if d:
            ev = f"{d.get('why', '')}; rows {d.get('segment_rows')}"
            if "auc_own" in d:
                ev += f"; own {_f(d['auc_own'])} vs pooled {_f(d['auc_pooled'])} (se {_f(d['diff_se'])})"
        body.append(
            f"<tr><td class=l>{e(s)}</td><td>{e(r['model'])}</td><td>{fi['n']:,}</td><td>{_f(fi['repay_rate'])}</td>"
            f"<td>{_f(fi['auc'])} [{_f(fi['lo'])}, {_f(fi['hi'])}]</td>"
            f"<td>{_f(fi['gini'])} [{_f(fi['gini_lo'])}, {_f(fi['gini_hi'])}]</td><td>{_f(fi['ks'])}</td>"
            f"<td>{_f(po['auc'])} [{_f(po['lo'])}, {_f(po['hi'])}]</td><td class=l>{e(ev)}</td></tr>")
    parts.append(f"<table>{head}{''.join(body)}</table>")
    parts.append("<h2>Lift, capture and calibration (all test rows)</h2>")
    parts.append(_capture_chart(ov["deciles"]) + _band_chart(ov["calibration_by_band"]))
    parts.append("<table><tr><th>decile</th><th>rows</th><th>mean p</th><th>repay rate</th><th>lift</th>"
                 "<th>capture</th></tr>" + "".join(
                     f"<tr><td>{d['decile']}</td><td>{d['rows']:,}</td><td>{_f(d['mean_p'])}</td>"
                     f"<td>{_f(d['repay_rate'])}</td><td>{_f(d['lift'], 2)}</td><td>{_f(d['capture'])}</td></tr>"
                     for d in ov["deciles"]) + "</table>")
    parts.append("<h3>Calibration by band</h3><table><tr><th>band</th><th>rows</th><th>predicted</th>"
                 "<th>observed</th></tr>" + "".join(
                     f"<tr><td>{e(c['band'])}</td><td>{c['rows']:,}</td><td>{_f(c['mean_p'])}</td>"
                     f"<td>{_f(c['repay_rate'])}</td></tr>" for c in ov["calibration_by_band"]) + "</table>")
    parts.append("<h2>Out-of-time stability</h2><table><tr><th>snapshot</th><th>rows</th><th>AUC</th>"
                 "<th>KS</th></tr>" + "".join(
                     f"<tr><td>{e(s['snapshot_date'])}</td><td>{s['n']:,}</td><td>{_f(s['auc'])}</td>"
                     f"<td>{_f(s['ks'])}</td></tr>" for s in ov["stability"]) + "</table>"
                 f"<p>AUC on the training window (in sample): {_f(rep['train_window_auc']['auc'])}</p>")
    parts.append("<h2>Top features per segment (share of gain)</h2><table><tr><th>segment</th>"
                 "<th>features</th></tr>" + "".join(
                     f"<tr><td class=l>{e(s)}</td><td class=l>" + e(", ".join(
                         f"{t['feature']} {t['gain_share']:.2f}" for t in r["top_features"][:8])) + "</td></tr>"
                     for s, r in rep["segments"].items()) + "</table>")
    if rep.get("reason_agreement"):
        a = rep["reason_agreement"]
        parts.append(f"<h2>Reason codes</h2><p>Bin tables of mean TreeSHAP contributions; agreement with "
                     f"exact TreeSHAP on {a['rows']} test rows: top-1 {a['top1']:.3f} (with direction "
                     f"{a['top1_with_direction']:.3f}), top-3 overlap {a['top3_overlap']:.3f}, same top-3 "
                     f"set {a['top3_same_set']:.3f}, fast top-1 within exact top-3 "
                     f"{a['fast_top1_in_exact_top3']:.3f}.</p>")
    from collections_engine.scoring.report_cards import families_html

    parts.append(families_html(rep, meta, _png))
    parts.append("</body></html>")
    return "\n".join(parts)
