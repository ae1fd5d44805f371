"""Champion/challenger results: per-arm outcomes, effects from the engine's own history, promotion."""

from collections_engine.experiments.results import (RESULT_COLUMNS, arm_results, explored_effects,
                                                    realised_rows)

__all__ = ["RESULT_COLUMNS", "arm_results", "explored_effects", "realised_rows"]
