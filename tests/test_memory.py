"""`memory.keep_freed`: a process that keeps what it frees holds a freed array's pages for its next
allocations (and hands them back on `return_free_memory`); with COLLECTIONS_ENGINE_KEEP_FREED=0
the allocators are left as they are. Each case runs in a fresh interpreter (the setting is the
process's), measuring its resident memory from /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# 192 MiB: far above glibc's largest dynamic mmap threshold (32 MiB), so without keep_freed the
# array is unmapped the moment it is freed.
_PROBE = r"""
import ctypes, json, sys
import numpy as np
import pyarrow as pa
from collections_engine.memory import keep_freed, own_process, return_free_memory

def rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20

def thp_off():
    return ctypes.CDLL("libc.so.6").prctl(42, 0, 0, 0, 0)  # PR_GET_THP_DISABLE

ctypes.CDLL("libc.so.6").prctl(41, 0, 0, 0, 0)  # huge pages on, whatever this process inherited

not_own = keep_freed(only_own=True)  # a process that is not the program's own is left alone
thp_before = thp_off()
own_process()
kept = keep_freed(only_own=True)
base = rss_mib()
a = np.ones(192 * 2**20 // 8)
held = rss_mib()
del a
freed = rss_mib()
b = pa.array(np.arange(24 * 2**20 // 8, dtype=np.int64))  # Arrow's allocations: the same pool
pool = pa.default_memory_pool().backend_name
del b
return_free_memory()
print(json.dumps({"not_own": not_own, "kept": kept, "base": base, "held": held, "freed": freed, "trimmed": rss_mib(), "pool": pool,
                  "thp_before": thp_before, "thp_off": thp_off()}))
"""


def _probe(keep: str) -> dict:
    env = {**os.environ, "COLLECTIONS_ENGINE_KEEP_FREED": keep, "PYTHONPATH": str(ROOT)}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc: Linux")
def test_freed_memory_is_kept_for_reuse_and_handed_back_when_asked():
    got = _probe("1")
    assert got["not_own"] is False
    assert got["kept"] is True and got["pool"] == "system"
    assert got["thp_before"] == 0 and got["thp_off"] == 1  # no transparent huge pages from here on
    assert got["held"] - got["base"] > 150            # the array was touched
    assert got["freed"] - got["base"] > 150           # freed, still the process's
    assert got["held"] - got["trimmed"] > 120         # return_free_memory hands most of it back


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc: Linux")
def test_keep_freed_0_leaves_the_allocators_as_they_are():
    got = _probe("0")
    assert got["kept"] is False and got["pool"] != "system"
    assert got["thp_off"] == 0
    assert got["held"] - got["base"] > 150
    assert got["held"] - got["freed"] > 150           # unmapped as soon as it is freed


def test_the_run_command_asks_to_keep_freed_memory_for_the_in_process_engine_only(monkeypatch, tmp_path):
    """`collections-engine run` asks `keep_freed(only_own=True)` for the in-process engine (set in
    the program's own process, `cli.main`; here, inside pytest, the recorder stands in for it),
    before anything is read: a night refused for bad input has asked too; another engine's does not."""
    from typer.testing import CliRunner

    from collections_engine import memory
    from collections_engine.cli import app

    asked: list[bool] = []
    monkeypatch.setattr(memory, "keep_freed", lambda only_own=False: asked.append(only_own) or False)
    args = ["run", "--data", str(tmp_path / "missing"), "--date", "2025-06-01", "--strategy",
            str(ROOT / "strategies" / "default.yaml"), "--graph", str(ROOT / "graphs" / "default.yaml"),
            "--models", str(tmp_path / "models"), "--out", str(tmp_path / "runs")]
    assert CliRunner().invoke(app, args).exit_code == 2
    assert asked == [True]
    assert CliRunner().invoke(app, args + ["--engine", "elsewhere"]).exit_code == 2  # not in-process: not asked
    assert asked == [True]
