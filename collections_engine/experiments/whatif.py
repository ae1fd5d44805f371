"""`whatif` over a champion/challenger test: re-decide a night arm by arm, or say plainly that
the changed strategy is applied to every account as the champion.

Why: a night that ran under a test was decided arm by arm (each arm its own strategy and a share
of the capacities) with exploration's random queues. Re-deciding it with `decide` alone compares
a plan with a test against one without: the difference then includes ending the test (the
explorers back to the optimiser, the arms' strategies gone), not only the edit.

- The changed strategy has `experiments` (arms or exploration): the night is re-decided by
  `decide_night` with the changed file's arms (the same customer hash: an unchanged test puts
  every customer in the same arm, and exploration draws the same accounts), and the open
  placements keep the arm they ran under (the previous night's assignments). The comparison is
  per arm.
- It has none while the night ran under a test: every account is decided by the changed
  strategy as the champion; a warning says so, and the comparison per arm of the night shows
  what each arm's accounts would get.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from collections_engine.assign import decide
from collections_engine.assign.decide import Decision
from collections_engine.assign.experiments import decide_night, previous_arms
from collections_engine.config import load_strategy
from collections_engine.config.experiments import CHAMPION, arm_strategies
from collections_engine.config.strategy import Strategy
from collections_engine.io.runs import FinishedNight

__all__ = ["whatif_decision", "by_arm", "ran_under_test"]


def ran_under_test(before: pd.DataFrame) -> bool:
    """Whether the night's assignments came from a test (a challenger arm or exploration)."""
    if "arm" not in before.columns:
        return False
    arms = set(before["arm"].astype("str"))
    explored = "propensity" in before.columns and bool((pd.to_numeric(before["propensity"]) < 1).any())
    return bool(arms - {CHAMPION}) or explored


def whatif_decision(night: FinishedNight, strategy: Strategy, strategy_path: Path, date: pd.Timestamp,
                    effects: dict | None) -> tuple[Decision, str, list[str]]:
    """(the re-decision of `night`, 'per arm' or 'champion for all', warnings about what is compared)."""
    inputs, before = night.inputs, night.assignments
    exp = strategy.experiments
    tested = exp is not None and (bool(exp.arms) or exp.explore > 0)
    if tested:
        arms = arm_strategies(strategy, Path(strategy_path), load_strategy)
        d = decide_night(inputs, strategy, date, arms=arms, effects=effects,
                         previous_arm=previous_arms(night.previous_assignments()))
        return d, "per arm", []
    d = decide(inputs, strategy, date, effects=effects)
    d.assignments["arm"] = pd.Series([CHAMPION] * len(d.assignments), dtype="str")
    d.assignments["propensity"] = 1.0
    notes = []
    if ran_under_test(before):
        arms = sorted(set(before["arm"].astype("str")) - {CHAMPION})
        n_x = int(before["reason"].astype("str").str.startswith("explore").sum()) if "reason" in before else 0
        notes.append("the night ran under a champion/challenger test (challenger arms: "
                     f"{', '.join(arms) or 'none'}; {n_x:,d} explorers); the changed strategy has no "
                     "experiments, so this what-if decides every account with it as the champion, "
                     "without arms or exploration: the difference includes ending the test. Keep the "
                     "experiments key in the changed file to compare arm by arm.")
    return d, "champion for all", notes


def by_arm(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per arm the night ran: accounts, expected net as it ran and under the what-if for the
    same accounts, and how many change queue; `arm_whatif` the arm they have in the what-if."""
    keep = ["account_id", "queue", "expected_net", "arm"]
    b = before.reindex(columns=keep).assign(arm=lambda f: f["arm"].fillna(CHAMPION).astype("str"))
    a = after.reindex(columns=keep).assign(arm=lambda f: f["arm"].fillna(CHAMPION).astype("str"))
    both = b.merge(a, on="account_id", suffixes=("_ran", "_whatif"), how="inner")
    both["moved"] = both["queue_ran"].fillna("").astype("str") != both["queue_whatif"].fillna("").astype("str")
    g = both.groupby(["arm_ran", "arm_whatif"], observed=True).agg(
        accounts=("account_id", "size"), expected_net_ran=("expected_net_ran", "sum"),
        expected_net_whatif=("expected_net_whatif", "sum"), moved=("moved", "sum")).reset_index()
    g["expected_net_change"] = g["expected_net_whatif"] - g["expected_net_ran"]
    g["moved"] = g["moved"].astype("int64")
    return g.sort_values(["arm_ran", "arm_whatif"], key=lambda s: s.ne(CHAMPION).astype(str) + s,
                         kind="mergesort").reset_index(drop=True)
