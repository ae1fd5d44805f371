"""Step bookkeeping for long jobs: timings, progress lines, and a crash hook for tests.

`COLLECTIONS_ENGINE_FAIL_AT=<step>` makes the named step fail as if the process were killed
there (`kill`: the process exits at once with status 137, skipping every cleanup; `raise`
(default): an exception). Tests use it to prove that a run killed at any step leaves no
partial output and earlier state untouched.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StepClock", "Laps", "crash_point"]

log = logging.getLogger("collections_engine")


def crash_point(step: str) -> None:
    """Fail here when the crash hook names this step."""
    target = os.environ.get("COLLECTIONS_ENGINE_FAIL_AT")
    if target != step:
        return
    if os.environ.get("COLLECTIONS_ENGINE_FAIL_MODE", "raise") == "kill":
        sys.stderr.flush()
        os._exit(137)
    raise RuntimeError(f"injected failure at step '{step}'")


class StepClock:
    """Times named steps and logs one plain line per step (fine under cron and on a terminal)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.peak_rss_gib: dict[str, float] = {}
        # per step, this process's CPU (all its threads) and the pages the kernel had to find
        # for it: a step whose system time is large next to its user time waits on fresh memory
        # (on a VM that hands freed pages back to its host, each costs what a first touch costs)
        self.cpu: dict[str, dict[str, float]] = {}
        self._t0 = time.perf_counter()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        log.info("step %s: started", name)
        t = time.perf_counter()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        crash_point(name)
        yield
        dt = time.perf_counter() - t
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.timings[name] = round(self.timings.get(name, 0.0) + dt, 3)
        self.peak_rss_gib[name] = round(r.ru_maxrss / 1024**2, 3)
        was = self.cpu.get(name, {"user_s": 0.0, "system_s": 0.0, "minor_faults": 0})
        self.cpu[name] = {"user_s": round(was["user_s"] + r.ru_utime - r0.ru_utime, 3),
                          "system_s": round(was["system_s"] + r.ru_stime - r0.ru_stime, 3),
                          "minor_faults": int(was["minor_faults"] + r.ru_minflt - r0.ru_minflt)}
        log.info("step %s: done in %.1f s", name, dt)

    def total(self) -> float:
        return round(time.perf_counter() - self._t0, 3)


class Laps:
    """Named laps of one job inside a step (the ring step's phases, training's models): seconds
    since the previous lap, rounded to `digits` when given, with a progress line per lap when
    `log_as` names the job. The one timer besides `StepClock`."""

    def __init__(self, log_as: str | None = None, digits: int | None = None) -> None:
        self.laps: dict[str, float] = {}
        self._log_as, self._digits = log_as, digits
        self._t0 = self._t = time.perf_counter()

    def lap(self, what: str) -> float:
        now = time.perf_counter()
        dt = now - self._t
        self.laps[what] = round(dt, self._digits) if self._digits is not None else dt
        if self._log_as:
            log.info("%s: %s in %.1f s", self._log_as, what, dt)
        self._t = now
        return dt

    def total(self) -> float:
        """Seconds since the first lap began."""
        return time.perf_counter() - self._t0
