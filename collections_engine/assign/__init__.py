"""OR-Tools placement: decision inputs -> problem arrays -> exact solve -> CONTRACT tables.

Public API (the nightly `run` and `whatif` call these):
- build_decision_inputs: one row per delinquent account with everything decide needs;
- decide: the optimal assignment, open placements, recalls, queue summary, solver info;
- greedy_plan: the baseline bank rule, same output format;
- estimate_effects / effects_dict: queue x stage effects from randomised placement history;
- Effects: the effects a night decides with, each cell's source (history, strategy, untested);
- vendor_files / worklists: what goes to each vendor and in-house team;
- check_plan: the independent contract check every plan passes before anything is written.
"""

from collections_engine.assign.check import PlanError, check_plan
from collections_engine.assign.decide import (ASSIGNMENT_COLUMNS, PLACEMENT_COLUMNS, RECALL_COLUMNS,
                                              Decision, decide)
from collections_engine.assign.effects import EFFECT_COLUMNS, Effects, effects_dict, estimate_effects
from collections_engine.assign.files import vendor_files, worklists
from collections_engine.assign.greedy import greedy_plan
from collections_engine.assign.inputs import INPUT_COLUMNS, build_decision_inputs

__all__ = ["check_plan", "PlanError", "build_decision_inputs", "decide", "Decision", "greedy_plan", "estimate_effects", "effects_dict",
           "Effects", "vendor_files", "worklists", "ASSIGNMENT_COLUMNS", "PLACEMENT_COLUMNS", "RECALL_COLUMNS",
           "INPUT_COLUMNS", "EFFECT_COLUMNS"]
