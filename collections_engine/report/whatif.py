"""What-if: the difference between the plan that ran and a re-decision under another strategy."""

from __future__ import annotations

from typing import Any

import pandas as pd

from collections_engine.report.html import bar_chart, esc, kv, page, section, table

__all__ = ["compare_plans", "whatif_report"]


def compare_plans(before: pd.DataFrame, after: pd.DataFrame, qs_before: pd.DataFrame,
                  qs_after: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """By-queue money, the moves between queues, and capacity use / shadow prices side by side."""
    def by_queue(a: pd.DataFrame) -> pd.DataFrame:
        q = a.assign(queue=a["queue"].replace("", "(not worked)").fillna("(not worked)"))
        return q.groupby("queue", observed=True).agg(
            accounts=("account_id", "size"), expected_recovery=("expected_recovery", "sum"),
            expected_cost=("expected_cost", "sum"), expected_net=("expected_net", "sum"))

    b, a = by_queue(before), by_queue(after)
    money = b.merge(a, how="outer", left_index=True, right_index=True,
                    suffixes=("_ran", "_whatif")).fillna(0)
    for col in ("accounts", "expected_recovery", "expected_cost", "expected_net"):
        money[f"{col}_change"] = money[f"{col}_whatif"] - money[f"{col}_ran"]
    money = money.reset_index().sort_values("queue")
    both = before[["account_id", "queue", "decision"]].merge(
        after[["account_id", "queue", "decision"]], on="account_id", suffixes=("_ran", "_whatif"))
    for c in ("queue_ran", "queue_whatif"):
        both[c] = both[c].replace("", "(not worked)").fillna("(not worked)")
    moved = both[both["queue_ran"] != both["queue_whatif"]]
    moves = (moved.groupby(["queue_ran", "queue_whatif"], observed=True).size()
             .rename("accounts").reset_index().sort_values(["accounts", "queue_ran"], ascending=[False, True]))
    keep = [c for c in ("queue", "capacity", "accounts", "use", "shadow_price") if c in qs_before.columns]
    cap = qs_before[keep].merge(qs_after[[c for c in keep if c in qs_after.columns]], on="queue",
                                how="outer", suffixes=("_ran", "_whatif")).sort_values("queue")
    moved_accounts = moved[["account_id", "queue_ran", "queue_whatif", "decision_ran", "decision_whatif"]]
    return {"by_queue": money, "moves": moves, "capacity": cap,
            "moved_accounts": moved_accounts.sort_values("account_id").reset_index(drop=True)}


def whatif_report(date: str, strategy_name: str, diff: dict[str, pd.DataFrame], totals: dict[str, Any],
                  currency: str, warnings: list[str], effects: pd.DataFrame | None = None,
                  unused_edits: list[str] | None = None) -> str:
    """The page; `unused_edits` (edited values with no effect tonight, and why) and the queue
    effects with their source (history, strategy, untested) come right after the totals."""
    money = diff["by_queue"]
    chart = bar_chart(list(money["queue"]), {"ran": money["expected_net_ran"].tolist(),
                                             "what-if": money["expected_net_whatif"].tolist()},
                      f"Expected net recovery by queue ({currency})", currency)
    cards = kv([
        ("expected net, ran", f"{totals['net_ran']:,.0f} {currency}"),
        ("expected net, what-if", f"{totals['net_whatif']:,.0f} {currency}"),
        ("change", f"{totals['net_whatif'] - totals['net_ran']:+,.0f} {currency}"),
        ("accounts that move", f"{totals['moved']:,d}"),
    ])
    warn = "".join(f"<div class='warn'>{esc(w)}</div>" for w in warnings) or "<p>none</p>"
    edits = ("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in unused_edits) + "</ul>" if unused_edits
             else "<p>none: every edited value the run folder records changed some decision, or nothing was edited</p>")
    eff_html = (table(effects[[c for c in ("queue", "stage", "strategy_effect", "effect", "n", "n_control",
                                           "used", "source") if c in effects.columns]])
                if effects is not None else "<p>none</p>")
    body = [cards,
            section("Edited values with no effect on tonight's decisions", edits),
            section("Queue effects used",
                    "<p>source 'history': estimated from the night's randomised placement history; "
                    "'strategy': the YAML's figure; 'untested': the YAML's figure for a queue and stage "
                    "with no placement history at all (e.g. a new vendor).</p>", eff_html),
            section("Expected recovery and cost by queue", chart, table(money)),
            section("Accounts that move between queues", table(diff["moves"])),
            section("Capacity use and shadow prices", table(diff["capacity"])),
            section("Warnings", warn)]
    return page(f"What-if for {date}: strategy '{strategy_name}'",
                "Re-decided from the night's decision_inputs.parquet; the run folder is untouched.", body)
