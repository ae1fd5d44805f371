"""The model report's parts a validator signs for the two families (issue 21): LightGBM and
the scorecard side by side with intervals, reliability curves, every scorecard's table
(characteristic, bin, count, repayment rate, WoE, IV, points), and the candidate's PSI / CSI
against its training reference."""

from __future__ import annotations

import html

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["families_html"]

e = html.escape


def _f(x, nd=3) -> str:
    return "" if x is None or x != x else f"{x:.{nd}f}"


def _ci(s: dict | None) -> str:
    return f"{_f(s['auc'])} [{_f(s['lo'])}, {_f(s['hi'])}]" if s else ""


def _side_by_side(rep: dict, png) -> str:
    rows = [(s, r) for s, r in rep["segments"].items() if r.get("scorecard")] + [("overall", rep["overall"])]
    rows = [(s, r) for s, r in rows if r.get("scorecard")]
    if not rows:
        return ""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for key, off, col, lab in (("gbm", -0.15, "#1f77b4", "LightGBM"), ("scorecard", 0.15, "#d62728", "scorecard")):
        a = [r[key]["auc"] for _, r in rows]
        lo = [r[key]["auc"] - r[key]["lo"] for _, r in rows]
        hi = [r[key]["hi"] - r[key]["auc"] for _, r in rows]
        ax.errorbar([i + off for i in range(len(rows))], a, yerr=[lo, hi], fmt="o", color=col, label=lab, capsize=3)
    ax.set_xticks(range(len(rows)), [s for s, _ in rows], rotation=30, ha="right")
    ax.set_ylabel("test-row AUC (95% CI)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    head = ("<tr><th>segment</th><th>family used</th><th>LightGBM AUC [95% CI]</th><th>scorecard AUC [95% CI]</th>"
            "<th>difference (se)</th><th>why</th></tr>")
    body = []
    for s, r in rows:
        d = r.get("gbm_minus_scorecard") or {}
        fd = r.get("family_decision") or {}
        body.append(f"<tr><td class=l>{e(s)}</td><td>{e(r.get('family', ''))}</td><td>{_ci(r['gbm'])}</td>"
                    f"<td>{_ci(r['scorecard'])}</td><td>{_f(d.get('diff'))} ({_f(d.get('se'))})</td>"
                    f"<td class=l>{e(fd.get('why', ''))}</td></tr>")
    return (f"<h2>LightGBM and scorecard side by side (test rows)</h2>{png(fig)}"
            f"<table>{head}{''.join(body)}</table><p>Where the strategy says <i>auto</i> the family was chosen on "
            "the other half of the held-out rows (the calibration half): LightGBM only when its AUC is higher by "
            "more than 1.96 DeLong standard errors of the paired difference.</p>")


def _reliability(rep: dict, png) -> str:
    rel = rep["overall"].get("reliability")
    if not rel:
        return ""
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for key, col, lab in (("gbm", "#1f77b4", "LightGBM"), ("scorecard", "#d62728", "scorecard")):
        pts = rel.get(key) or []
        ax.plot([p["mean_p"] for p in pts], [p["repay_rate"] for p in pts], "o-", color=col, label=lab)
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set_xlabel("predicted repayment probability (decile mean)")
    ax.set_ylabel("observed repayment rate")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return f"<h2>Reliability (calibration), all test rows</h2>{png(fig)}"


def _card_table(name: str, card: dict, used_by: list[str], csi: dict) -> str:
    fixed = card.get("fixed") or {}
    head = ("<tr><th>characteristic</th><th>bin</th><th>count</th><th>repay rate</th><th>WoE</th>"
            "<th>IV</th><th>points</th></tr>")
    body = []
    for ch in card["characteristics"]:
        note = f" (fixed to {fixed[ch['name']]} when scoring)" if ch["name"] in fixed else ""
        tiv = sum(ch["iv"])
        for i, lab in enumerate(ch["labels"]):
            c = ch["count"][i]
            rate = ch["repaid"][i] / c if c else None
            first = (f"<td class=l rowspan={len(ch['labels'])}><b>{e(ch['name'])}</b>{e(note)}<br>IV {tiv:.3f}"
                     + (f", CSI {csi[ch['name']]:.3f}" if ch["name"] in csi else "") + "</td>") if i == 0 else ""
            body.append(f"<tr>{first}<td class=l>{e(lab)}</td><td>{c:,d}</td><td>{_f(rate)}</td>"
                        f"<td>{_f(ch['woe'][i])}</td><td>{_f(ch['iv'][i], 4)}</td>"
                        f"<td>{ch['points'][i] / 100:.2f}</td></tr>")
    segs = ", ".join(used_by) if used_by else "none (LightGBM scores its segments)"
    return (f"<h3>Scorecard '{e(name)}': scores {e(segs)}</h3><p>{card['rows']:,d} training rows; constant "
            f"{card['constant'] / 100:.2f} points; score = constant + the points of the account's bin in every "
            "characteristic.</p>" f"<table>{head}{''.join(body)}</table>")


def _stability(st: dict | None) -> str:
    if not st:
        return ""
    worst = sorted(st["features_psi"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    rows = "".join(f"<tr><td class=l>{e(k)}</td><td>{v:.3f}</td></tr>" for k, v in worst)
    return ("<h2>Candidate against its training reference</h2>"
            f"<p>PSI of no-action score points, held-out snapshots against the training window: "
            f"<b>{st['points_psi']:.3f}</b> (below 0.10 stable, 0.10-0.25 watch, 0.25 act). Characteristic "
            "stability (CSI) is given beside each characteristic in the scorecard tables. Features with the "
            f"largest PSI:</p><table><tr><th>feature</th><th>PSI</th></tr>{rows}</table>")


def families_html(rep: dict, meta: dict, png) -> str:
    cards = rep.get("scorecards") or {}
    st = rep.get("stability_vs_training")
    parts = [_side_by_side(rep, png), _reliability(rep, png), _stability(st)]
    if cards:
        parts.append("<h2>Scorecards</h2><p>Bins from optimal binning (monotone where the strategy says), "
                     "WoE = ln(share of repayers / share of non-repayers), points = the strategy's points "
                     "formula spread over the characteristics. Reason codes of a scorecard: the characteristics "
                     "where the account lost most points against the best bin.</p>")
        for name, card in cards.items():
            used = [s for s, i in meta["segments"].items() if i.get("family") == "scorecard" and i.get("scorecard") == name]
            parts.append(_card_table(name, card, used, (st or {}).get("csi", {}).get(name, {})))
    return "".join(parts)
