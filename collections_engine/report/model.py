"""The model version's page (MODELS/VERSION/report.html) from its report.json and version.json,
on the report kit (`report.html`): which model scores each segment and why, discrimination with
DeLong intervals, lift, capture and calibration, out-of-time stability, top features, reason-code
agreement, and the parts a validator signs for the two families (issue 21): LightGBM and the
scorecard side by side, reliability, stability against the training window, every scorecard's
table (characteristic, bin, count, repayment rate, WoE, IV, points)."""

from __future__ import annotations

import pandas as pd

from collections_engine.report.html import (
    bar_chart, esc, interval_chart, line_chart, page, section, subsection, table,
)

__all__ = ["model_report"]


def model_report(version_id: str, rep: dict, meta: dict) -> str:
    """The page; `rep`: report.json, `meta`: version.json (or train's meta with provenance)."""
    w = meta["windows"]
    intro = (f"<p>Training snapshots: {esc(', '.join(w['train_dates']))}. Held out: "
             f"{esc(', '.join(w['held_out_dates']))}. Held-out rows are split by account: one half "
             "chooses between segment and pooled models and fits the calibration, the other half "
             "(the test rows) gives every figure below, scored with the queue each account was in."
             f"</p><p>Scores tonight: {esc(meta['no_action'])}.</p>")
    warns = "".join(f"<div class='warn'>{esc(x)}</div>" for x in meta.get("warnings") or [])
    body = [intro, section("Warnings", warns) if warns else "",
            _discrimination(rep), _lift(rep["overall"]), _stability(rep), _top_features(rep),
            _reason_codes(rep.get("reason_agreement")), _side_by_side(rep), _reliability(rep),
            _candidate_stability(rep.get("stability_vs_training")), _scorecards(rep, meta)]
    return page(f"Willingness models, version {version_id}", f"Validation: {w['validation']}", body)


def _f(x: float | None, nd: int = 3) -> str:
    return "" if x is None or x != x else f"{x:.{nd}f}"


def _ci(s: dict | None) -> str:
    return f"{_f(s['auc'])} [{_f(s['lo'])}, {_f(s['hi'])}]" if s else ""


def _evidence(d: dict) -> str:
    if not d:
        return ""
    ev = f"{d.get('why', '')}; rows {d.get('segment_rows')}"
    if "auc_own" in d:
        ev += f"; own {_f(d['auc_own'])} vs pooled {_f(d['auc_pooled'])} (se {_f(d['diff_se'])})"
    return ev


def _discrimination(rep: dict) -> str:
    """Held-out AUC per segment against the pooled model's, with the decision's evidence."""
    segs = [s for s, r in rep["segments"].items() if r.get("final")]
    blocks = [rep["segments"][s] for s in segs] + [rep["overall"]]
    series = {label: ([b[key]["auc"] for b in blocks], [b[key]["lo"] for b in blocks],
                      [b[key]["hi"] for b in blocks])
              for key, label in (("final", "segment/chosen model"), ("pooled", "one pooled model"))}
    chart = interval_chart(segs + ["overall"], series, "Held-out AUC per segment",
                           "held-out AUC (95% CI)")
    rows = []
    for s, r in [*rep["segments"].items(), ("overall", {**rep["overall"], "model": "", "decision": {}})]:
        if not r.get("final"):
            rows.append({"segment": s, "model": r["model"], "test rows": "0", "repay rate": "",
                         "AUC [95% CI]": "no held-out rows", "Gini [95% CI]": "", "KS": "",
                         "pooled AUC [95% CI]": "",
                         "decision evidence": str(r["decision"].get("why", ""))})
            continue
        fi, po = r["final"], r["pooled"]
        rows.append({"segment": s, "model": r["model"], "test rows": f"{fi['n']:,}",
                     "repay rate": _f(fi["repay_rate"]), "AUC [95% CI]": _ci(fi),
                     "Gini [95% CI]": f"{_f(fi['gini'])} [{_f(fi['gini_lo'])}, {_f(fi['gini_hi'])}]",
                     "KS": _f(fi["ks"]), "pooled AUC [95% CI]": _ci(po),
                     "decision evidence": _evidence(r.get("decision", {}))})
    return section("Discrimination per segment", chart,
                   table(pd.DataFrame(rows), max_rows=len(rows), wrap=["decision evidence"]))


def _lift(ov: dict) -> str:
    """Capture curve, calibration by band and the decile table, all test rows."""
    dec, cal = ov["deciles"], ov["calibration_by_band"]
    capture = line_chart({"model": ([0] + [d["decile"] * 10 for d in dec], [0] + [d["capture"] for d in dec])},
                         "Capture of repayers", "% of accounts, highest score first",
                         "share of repayers captured", diagonal=(100, 1))
    bands = bar_chart([c["band"] for c in cal], {"predicted": [c["mean_p"] or 0 for c in cal],
                                                 "observed": [c["repay_rate"] or 0 for c in cal]},
                      "Calibration by band", "repayment rate")
    deciles = pd.DataFrame([{"decile": str(d["decile"]), "rows": f"{d['rows']:,}", "mean p": _f(d["mean_p"]),
                             "repay rate": _f(d["repay_rate"]), "lift": _f(d["lift"], 2),
                             "capture": _f(d["capture"])} for d in dec])
    by_band = pd.DataFrame([{"band": c["band"], "rows": f"{c['rows']:,}", "predicted": _f(c["mean_p"]),
                             "observed": _f(c["repay_rate"])} for c in cal])
    return section("Lift, capture and calibration (all test rows)", capture, bands, table(deciles),
                   subsection("Calibration by band", table(by_band)))


def _stability(rep: dict) -> str:
    st = pd.DataFrame([{"snapshot": s["snapshot_date"], "rows": f"{s['n']:,}", "AUC": _f(s["auc"]),
                        "KS": _f(s["ks"])} for s in rep["overall"]["stability"]])
    return section("Out-of-time stability", table(st),
                   f"<p>AUC on the training window (in sample): {_f(rep['train_window_auc']['auc'])}</p>")


def _top_features(rep: dict) -> str:
    top = pd.DataFrame([{"segment": s, "features": ", ".join(f"{t['feature']} {t['gain_share']:.2f}"
                                                             for t in r["top_features"][:8])}
                        for s, r in rep["segments"].items()])
    return section("Top features per segment (share of gain)", table(top, wrap=["features"]))


def _reason_codes(a: dict | None) -> str:
    if not a:
        return ""
    return section("Reason codes",
                   f"<p>Bin tables of mean TreeSHAP contributions; agreement with exact TreeSHAP on "
                   f"{a['rows']} test rows: top-1 {a['top1']:.3f} (with direction "
                   f"{a['top1_with_direction']:.3f}), top-3 overlap {a['top3_overlap']:.3f}, same top-3 "
                   f"set {a['top3_same_set']:.3f}, fast top-1 within exact top-3 "
                   f"{a['fast_top1_in_exact_top3']:.3f}.</p>")


def _side_by_side(rep: dict) -> str:
    """LightGBM and the scorecard on the same test rows, per segment that has both."""
    rows = [(s, r) for s, r in rep["segments"].items() if r.get("scorecard")] + [("overall", rep["overall"])]
    rows = [(s, r) for s, r in rows if r.get("scorecard")]
    if not rows:
        return ""
    series = {label: ([r[key]["auc"] for _, r in rows], [r[key]["lo"] for _, r in rows],
                      [r[key]["hi"] for _, r in rows])
              for key, label in (("gbm", "LightGBM"), ("scorecard", "scorecard"))}
    chart = interval_chart([s for s, _ in rows], series, "LightGBM and scorecard, test rows",
                           "test-row AUC (95% CI)", colours=("#1f77b4", "#d62728"))
    tab = pd.DataFrame([{"segment": s, "family used": r.get("family", ""),
                         "LightGBM AUC [95% CI]": _ci(r["gbm"]), "scorecard AUC [95% CI]": _ci(r["scorecard"]),
                         "difference (se)": f"{_f((r.get('gbm_minus_scorecard') or {}).get('diff'))} "
                                            f"({_f((r.get('gbm_minus_scorecard') or {}).get('se'))})",
                         "why": (r.get("family_decision") or {}).get("why", "")} for s, r in rows])
    return section("LightGBM and scorecard side by side (test rows)", chart,
                   table(tab, max_rows=len(tab), wrap=["why"]),
                   "<p>Where the strategy says <i>auto</i> the family was chosen on the other half of "
                   "the held-out rows (the calibration half): LightGBM only when its AUC is higher by "
                   "more than 1.96 DeLong standard errors of the paired difference.</p>")


def _reliability(rep: dict) -> str:
    rel = rep["overall"].get("reliability")
    if not rel:
        return ""
    series = {lab: ([p["mean_p"] for p in rel.get(key) or []], [p["repay_rate"] for p in rel.get(key) or []])
              for key, lab in (("gbm", "LightGBM"), ("scorecard", "scorecard"))}
    return section("Reliability (calibration), all test rows",
                   line_chart(series, "Reliability", "predicted repayment probability (decile mean)",
                              "observed repayment rate", diagonal=(1, 1)))


def _candidate_stability(st: dict | None) -> str:
    if not st:
        return ""
    worst = sorted(st["features_psi"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    tab = pd.DataFrame([{"feature": k, "PSI": f"{v:.3f}"} for k, v in worst])
    return section("Candidate against its training reference",
                   f"<p>PSI of no-action score points, held-out snapshots against the training window: "
                   f"<b>{st['points_psi']:.3f}</b> (below 0.10 stable, 0.10-0.25 watch, 0.25 act). "
                   "Characteristic stability (CSI) is given beside each characteristic in the scorecard "
                   "tables. Features with the largest PSI:</p>", table(tab))


def _scorecards(rep: dict, meta: dict) -> str:
    cards = rep.get("scorecards") or {}
    if not cards:
        return ""
    csi = (rep.get("stability_vs_training") or {}).get("csi", {})
    parts = ["<p>Bins from optimal binning (monotone where the strategy says), WoE = ln(share of "
             "repayers / share of non-repayers), points = the strategy's points formula spread over "
             "the characteristics. Reason codes of a scorecard: the characteristics where the account "
             "lost most points against the best bin.</p>"]
    for name, card in cards.items():
        used = [s for s, i in meta["segments"].items()
                if i.get("family") == "scorecard" and i.get("scorecard") == name]
        parts.append(_card_table(name, card, used, csi.get(name, {})))
    return section("Scorecards", *parts)


def _card_table(name: str, card: dict, used_by: list[str], csi: dict) -> str:
    """One scorecard: a row per bin; the characteristic, its IV and CSI on its first bin's row."""
    fixed = card.get("fixed") or {}
    rows = []
    for ch in card["characteristics"]:
        head = ch["name"] + (f" (fixed to {fixed[ch['name']]} when scoring)" if ch["name"] in fixed else "") \
            + f", IV {sum(ch['iv']):.3f}" + (f", CSI {csi[ch['name']]:.3f}" if ch["name"] in csi else "")
        for i, lab in enumerate(ch["labels"]):
            c = ch["count"][i]
            rows.append({"characteristic": head if i == 0 else "", "bin": lab, "count": f"{c:,d}",
                         "repay rate": _f(ch["repaid"][i] / c if c else None), "WoE": _f(ch["woe"][i]),
                         "IV": _f(ch["iv"][i], 4), "points": f"{ch['points'][i] / 100:.2f}"})
    segs = ", ".join(used_by) if used_by else "none (LightGBM scores its segments)"
    return subsection(f"Scorecard '{name}': scores {segs}",
                      f"<p>{card['rows']:,d} training rows; constant {card['constant'] / 100:.2f} points; "
                      "score = constant + the points of the account's bin in every characteristic.</p>",
                      table(pd.DataFrame(rows), max_rows=len(rows), wrap=["characteristic", "bin"]))
