"""report.html of a night: one page for the collections manager, charts inline, opens offline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.codes import encode_arrow
from collections_engine.frames import isin
from collections_engine.report.html import bar_chart, esc, hist_chart, human, kv, page, section, table
from collections_engine.report.rings import ring_section
from collections_engine.report.trend import trend_section, warnings_tile
from collections_engine.stats import psi
from collections_engine.vocabulary import FRAUD_HOLD, KEPT, PLACED, RECALLED, RETURNED

__all__ = ["nightly_report", "psi_table", "PSI_WATCH", "PSI_ACT"]

PSI_WATCH, PSI_ACT = 0.10, 0.25


def psi_table(reference: dict | None, scores: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """PSI of points and of every reference feature, worst first, with the action level."""
    if not reference:
        return pd.DataFrame(columns=["what", "psi", "level"])
    rows = [("score points", psi(reference["points"], scores["points"]))]
    for name, ref in sorted(reference.get("features", {}).items()):
        if name in features.columns:
            rows.append((name, psi(ref, features[name].reset_index(drop=True))))
    df = pd.DataFrame(rows, columns=["what", "psi"])
    df["level"] = np.select([df["psi"] >= PSI_ACT, df["psi"] >= PSI_WATCH], ["act", "watch"], "stable")
    head, rest = df.iloc[:1], df.iloc[1:].sort_values(["psi", "what"], ascending=[False, True])
    return pd.concat([head, rest], ignore_index=True)


def _changes(assign: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    rows = [
        ("new vendor placements", int((assign["decision"] == PLACED).sum())),
        ("placements kept", int((assign["decision"] == KEPT).sum())),
        ("placements recalled", int((assign["ended"] == RECALLED).sum())),
        ("placements returned (period over)", int((assign["ended"] == RETURNED).sum())),
    ]
    if previous is not None and len(previous):
        gone = ~isin(previous["account_id"], assign["account_id"])
        rows.append(("accounts delinquent last night, not tonight (cured, paid or closed)", int(gone.sum())))
        new = ~isin(assign["account_id"], previous["account_id"])
        rows.append(("accounts newly delinquent tonight", int(new.sum())))
        rows.append(("accounts that changed queue", _changed_queue(assign, previous)))
    else:
        rows.append(("previous night", "none (first night)"))
    return pd.DataFrame(rows, columns=["change since last night", "accounts"])


def _changed_queue(assign: pd.DataFrame, previous: pd.DataFrame) -> int:
    """Accounts in both nights whose queue differs (an inner join on account_id). Each night
    has one assignments row per account: the join is a look-up of tonight's ids among last
    night's (Arrow's hash, no pandas merge of a million strings); repeated ids take the join."""
    (now, before), _ = encode_arrow(assign["account_id"], previous["account_id"], sort=False)
    if len(before) and np.bincount(before[before >= 0]).max(initial=0) > 1:
        both = assign.merge(previous[["account_id", "queue"]], on="account_id", suffixes=("", "_prev"))
        return int((both["queue"] != both["queue_prev"]).sum())
    pos = np.full(int(max(now.max(initial=-1), before.max(initial=-1))) + 1, -1, np.int64)
    pos[before[before >= 0]] = np.flatnonzero(before >= 0)
    at = pos[now[now >= 0]] if len(pos) else np.zeros(0, np.int64)
    mine = np.flatnonzero(now >= 0)[at >= 0]
    at = at[at >= 0]
    cur = assign["queue"].iloc[mine].reset_index(drop=True)
    prev = previous["queue"].iloc[at].reset_index(drop=True)
    return int((cur != prev).sum())


def _arms_section(a: pd.DataFrame, solver: dict) -> list[str]:
    """Champion/challenger arms tonight (only under an experiment): accounts, explorers and the
    expected money per account of each arm (realised results: the `experiments` command)."""
    if "arm" not in a.columns or "experiments" not in solver:
        return []
    g = a.assign(explorer=a["reason"].astype(str).str.startswith("explore")).groupby("arm", observed=True)
    tab = g.agg(accounts=("account_id", "size"), explorers=("explorer", "sum"),
                mean_propensity=("propensity", "mean"), expected_recovery_per_account=("expected_recovery", "mean"),
                expected_cost_per_account=("expected_cost", "mean"),
                expected_net_per_account=("expected_net", "mean")).reset_index()
    exp = solver["experiments"]
    return [section("Champion/challenger arms",
                    f"<p>Exploration {exp['explore']:.0%} (seed {exp['seed']}). Expected money per "
                    "account under each arm's own strategy; realised results once outcomes arrive: "
                    "<code>collections-engine experiments</code>.</p>", table(tab))]


def nightly_report(*, date: pd.Timestamp, strategy: Strategy, scores: pd.DataFrame,
                   version: Any, reference: dict | None, decision: Any,
                   rings: pd.DataFrame, previous_assignments: pd.DataFrame | None,
                   warnings: list[str], counts: dict[str, int], psi_frame: pd.DataFrame,
                   effects: pd.DataFrame | None = None, alerts: list[str] | None = None,
                   monitor_records: list[dict] | None = None) -> str:
    """The page; `alerts` (tables missing and who that affects) go first, above the figures."""
    a = decision.assignments
    cur = strategy.currency
    records = monitor_records or []
    top = ("<div class='alerts'>" + "".join(f"<div class='warn'>{esc(w)}</div>" for w in alerts) + "</div>"
           if alerts else "")
    warn_html = "".join(f"<div class='warn'>{esc(w)}</div>" for w in warnings) or "<p>none</p>"
    body = [
        top,
        warnings_tile(warnings, _drift_level(records, psi_frame)),
        _cards(a, rings, version, cur),
        _volumes(a, scores, strategy),
        *_queues(decision.queue_summary.copy(), decision.solver, cur),
        _drift(scores, strategy, psi_frame),
        section("Drift and money across the nights", trend_section(records, cur, strategy.outcome.horizon_days)) if records else "",
        _effects(effects),
        *_arms_section(a, decision.solver),
        section("Fraud rings", ring_section(rings, date)),
        section("What changed since last night", table(_changes(a, previous_assignments))),
        "<a id='warnings'></a>" + section("Warnings", warn_html),
    ]
    title = f"Collections night {date.date().isoformat()}"
    sub = f"strategy '{strategy.name}', model {version.version_id}, {len(a):,d} delinquent accounts"
    return page(title, sub, body)


def _drift_level(records: list[dict], psi_frame: pd.DataFrame) -> str:
    """Tonight's monitor level, or the worst level of the drift table where none was recorded."""
    if records:
        return (records[-1].get("monitor") or {}).get("level", "stable")
    return ("act" if (psi_frame["level"] == "act").any() else
            "watch" if (psi_frame["level"] == "watch").any() else "stable")


def _cards(a: pd.DataFrame, rings: pd.DataFrame, version: Any, cur: str) -> str:
    return kv([
        ("delinquent accounts", f"{len(a):,d}"),
        ("expected net recovery", f"{human(float(a['expected_net'].sum()))} {cur}"),
        ("new placements", f"{int((a['decision'] == PLACED).sum()):,d}"),
        ("recalled", f"{int((a['ended'] == RECALLED).sum()):,d}"),
        ("fraud holds", f"{int((a['decision'] == FRAUD_HOLD).sum()):,d}"),
        ("rings", f"{len(rings):,d}"),
        ("model version", version.version_id),
    ])


def _volumes(a: pd.DataFrame, scores: pd.DataFrame, strategy: Strategy) -> str:
    vol = (scores.groupby(["stage", "customer_line"], observed=True).size().unstack(fill_value=0)
           .reindex(strategy.stage_names(), fill_value=0))
    vol_chart = bar_chart(list(vol.index), {c: vol[c].tolist() for c in vol.columns},
                          "Delinquent accounts by stage and customer line", "accounts")
    vol_tab = vol.reset_index().rename(columns={"index": "stage"})
    by_dec = a.groupby(["stage", "decision"], observed=True).size().unstack(fill_value=0).reset_index()
    return section("Tonight's volumes", vol_chart, table(vol_tab), table(by_dec))


def _queues(qs: pd.DataFrame, solver: dict, cur: str) -> list[str]:
    """Expected money by queue; capacity use, shadow prices and the solver's figures."""
    q_chart = bar_chart(list(qs["queue"]), {
        "expected recovery": qs["expected_recovery"].tolist(),
        "expected cost": qs["expected_cost"].tolist()}, f"Expected recovery and cost by queue ({cur})", cur)
    cap_chart = bar_chart(list(qs["queue"]), {"capacity use": qs["use"].fillna(0).tolist()},
                          "Capacity use (share of capacity held after tonight)", "share")

    def _num(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1 else f"{v:,.2f}"
        return str(v)

    # no clock readings (keys ending in _s, or naming a time): same inputs, same page
    solver_txt = ", ".join(f"{k}: {_num(v)}" for k, v in solver.items()
                           if not isinstance(v, dict | list) and not (k.endswith("_s") or "time" in k))
    solver_txt += "".join(f"; {n}" for n in solver.get("notes", []))
    return [section("Expected recovery and cost by queue", q_chart, table(qs)),
            section("Capacity use and shadow prices",
                    "<p>Shadow price: what one more slot (or one more unit of balance cap) would add to "
                    f"tonight's expected net recovery, in {esc(cur)}.</p>", cap_chart,
                    f"<p>Solver: {esc(solver_txt)}</p>")]


def _drift(scores: pd.DataFrame, strategy: Strategy, psi_frame: pd.DataFrame) -> str:
    bins = np.linspace(float(np.nanmin(scores["points"])) if len(scores) else 400,
                       float(np.nanmax(scores["points"])) if len(scores) else 800, 40) if len(scores) else np.linspace(400, 800, 40)
    score_chart = hist_chart({seg: scores.loc[scores["stage"] == seg, "points"].to_numpy()
                              for seg in strategy.stage_names()}, bins, "Score points by stage tonight", "points")
    drift_note = ("<p>PSI against the model version's reference (held-out history): below 0.10 stable, "
                  "0.10-0.25 watch, 0.25 and above act.</p>")
    if "psi_vs_history" in psi_frame.columns:
        drift_note = ("<p>PSI against this model version's <b>nightly reference</b> (the first night it "
                      "scored): below 0.10 stable, 0.10-0.25 watch, 0.25 and above act. "
                      "'psi_vs_history' compares with the version's monthly-history reference, another "
                      "kind of snapshot (month ends): for information, never an alarm.</p>")
    return section("Scores and drift", score_chart, drift_note, table(psi_frame.head(15)))


def _effects(effects: pd.DataFrame | None) -> str:
    return section(
        "Queue effects used",
        "<p>Placement multiplies each account's no-action probability by its queue's effect: "
        "estimated from the randomised placement history (rows with a propensity; held "
        "accounts left out of the queue and of the not-worked control) where a queue and stage "
        "have at least 200 accounts in the queue and in the control (source 'history'), the "
        "strategy's figure elsewhere ('strategy'; everywhere with --effects strategy or a "
        "history without propensity) and 'untested' where no placement history covers the "
        "queue and stage at all (e.g. a new vendor). 'agrees': the strategy's figure lies "
        "in the estimate's 95% interval.</p>",
        table(effects[[c for c in ("queue", "stage", "strategy_effect", "effect", "ci_low", "ci_high",
                                   "n", "n_control", "n_held", "n_no_propensity", "agrees", "used",
                                   "source") if c in effects.columns]])
        if effects is not None else "<p>none</p>")
