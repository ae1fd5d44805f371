"""The closed loop: the generator's world answers the engine's decisions (`simulate`) and
policies are compared over months on common random numbers (`backtest`).

One function per step, typed inputs (for champion/challenger and other callers):
- `read_world(DATA) -> World`; `draw_month(world, tonight, decisions, holds, date, days, draw)
  -> Month` (pure); `append_month(DATA, world, month)`; `simulate_night(SimulateRequest)`;
- `policy_placement(name, ...)`: the placement callable a `RunRequest` takes;
- `run_backtest(BacktestRequest) -> pd.DataFrame` (backtest.csv's rows).
"""

from collections_engine.loop.simulate import Month, draw_month
from collections_engine.loop.store import SimulateRequest, append_month, read_night, simulate_night
from collections_engine.loop.world import World, read_world

__all__ = ["World", "read_world", "Month", "draw_month", "SimulateRequest", "simulate_night",
           "append_month", "read_night"]
