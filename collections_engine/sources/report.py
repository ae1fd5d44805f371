"""sources.html: one self-contained page for people (tables and inline SVG charts)."""

from __future__ import annotations

import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.report.html import bar_chart, esc, kv, page, section, table

__all__ = ["sources_html"]


def _warn(lines: list[str]) -> str:
    return "".join(f"<div class='warn'>{esc(w)}</div>" for w in lines) or "<p><i>none</i></p>"


def sources_html(result, strategy: Strategy, load_warnings: list[str] | None = None) -> str:
    t, s, meta = result.table, result.summary, result.meta
    cur = strategy.currency
    valued = t[t["status"] == "valued"]
    body = [kv([("sources declared", len(strategy.sources)), ("valued", len(meta.get("valued", []))),
                ("held-out rows", meta.get("held_out_rows_used", 0)),
                ("held-out months", meta.get("months_held_out", "")),
                ("money estimator", meta.get("estimator", "n/a")),
                ("queue effects of the plans", meta.get("effects", "n/a"))])]
    cols = [c for c in ("source", "status", "overall", "new", "existing", "buy_for", "rank_auc",
                        "rank_money", "auc_diff", "p_holm", "value_month", "cost_month",
                        "net_value_month", "why") if c in s.columns]
    body.append(section("Recommendation per source", table(s[cols])))
    if len(valued):
        o = valued[valued["segment"] == "overall"]
        body.append(section(
            "Model lift overall",
            bar_chart(list(o["source"]), {"removed from full": o["auc_diff"].to_numpy(float),
                                          "added to internal": o["add_auc_diff"].to_numpy(float)},
                      "AUC change from the source (out-of-time rows)", "AUC change"),
            "<p>Removed: AUC(full) - AUC(full without the source); added: AUC(internal + source) - "
            "AUC(internal only). Paired DeLong test on the same rows; Holm correction across every "
            "source x segment tested.</p>"))
        body.append(section(
            f"Money per month ({cur})",
            bar_chart(list(o["source"]), {"value": o["value_month"].to_numpy(float),
                                          "price": o["cost_month"].to_numpy(float)},
                      f"Value of the placements with the source vs its price ({cur}/month)", cur),
            f"<p>Estimator: {esc(meta.get('estimator', ''))}. Value = net recovery of the plan "
            "decided with the full model minus the plan decided without the source, both valued by "
            "the same estimator; 95% bootstrap interval by account.</p>"))
        lines = valued[valued["segment"].isin(["new", "existing"])]
        if len(lines):
            lab = [f"{a} / {b}" for a, b in zip(lines["source"], lines["segment"])]
            body.append(section("By customer line", bar_chart(
                lab, {"AUC change x 100": 100 * lines["auc_diff"].to_numpy(float)},
                "AUC change (x100) when removed, per customer line", "AUC x 100"),
                bar_chart(lab, {"net value": lines["net_value_month"].to_numpy(float)},
                          f"Value minus price per customer line ({cur}/month)", cur)))
        seg_cols = ["source", "segment", "rows", "auc_full", "auc_diff", "auc_diff_lo", "auc_diff_hi",
                    "p_holm", "ks_diff", "ks_diff_lo", "ks_diff_hi", "add_auc_diff", "add_p_holm",
                    "value_month", "value_lo", "value_hi", "cost_month", "recommendation"]
        body.append(section("Per segment", table(valued[seg_cols], max_rows=400)))
        cs = (valued[["source", "segment", "mean_abs_contribution", "plans_differ_share"]]
              .pivot(index="segment", columns="source", values="mean_abs_contribution")
              .reindex([x for x in pd.unique(valued["segment"])]).reset_index())
        body.append(section(
            "Where each source matters",
            "<p>Mean absolute contribution of the source's features to the full model's log-odds "
            "(LightGBM TreeSHAP, no-action score) on the held-out rows; per account in "
            "contributions.parquet.</p>", table(cs)))
        why = valued[["source", "segment", "recommendation", "why"]]
        body.append(section("Why, per segment", table(why, max_rows=400)))
    nv = t[t["status"] != "valued"][["source", "why"]]
    if len(nv):
        body.append(section("Not valued", table(nv)))
    body.append(section("Warnings", _warn(list(load_warnings or []) + list(result.warnings))))
    how = [("split", meta.get("split", "")), ("history rows", meta.get("history_rows", "")),
           ("training rows used", meta.get("train_rows_used", "")),
           ("night volume (capacity scale base)", meta.get("night_volume", ""))]
    body.append(section("Method", table(pd.DataFrame(how, columns=["what", "value"])),
                        table(pd.DataFrame(meta.get("plans", [])))))
    return page("Data-source valuation", f"strategy {strategy.name}; currency {cur}", body)
