"""The process's memory: keep what it frees for its next allocations, and hand it back when asked.

A night allocates and frees gigabytes of short-lived arrays (a column's codes, a mask, a sort's
permutation: 0.1 GiB each at a million accounts). By default glibc serves every allocation above
32 MiB with its own `mmap` and unmaps it when freed, and Arrow's mimalloc pool purges what it
frees within milliseconds: each such array is memory the kernel must find and zero again. On a
virtual machine that reports freed pages to its host (free page reporting), touching them again
costs what a first touch costs there: about 17 s per GiB on the VM of issue 17's sessions 11-14,
where the 1M second night spent 139.6 of its 218.3 CPU seconds in the kernel.

`keep_freed()` makes the process keep what it frees, to serve its next allocations from:
glibc serves large allocations from its heap (`M_MMAP_MAX` 0) and keeps the heap's free top
(`M_TRIM_THRESHOLD` 2 GiB), and Arrow's default pool allocates through the same allocator (its
system pool; an operator's `ARROW_DEFAULT_MEMORY_POOL` is left as it is). It also turns off
transparent huge pages for the process and the children it forks (Linux's
`prctl(PR_SET_THP_DISABLE)`): numpy asks for them on every large array, and on that VM a huge
page's first touch cost about 27 ms, forty times what the same 2 MiB cost in 4 KiB pages; over
six interleaved pairs the 1M second night was 4.5 s faster on the mean without them
(`docs/notes/issue-17.md` section 12). What the process holds then follows its peak, not what it
uses at the moment, so the night still hands its free memory back where that matters
(`return_free_memory`: before the ring child is forked, after features and after scoring). It
is the process's setting, for the rest of its life: `collections-engine run` turns it on for
the in-process engine when the process is the program's own (`cli.main`); `run_night` called as
a library, or the app inside another program, leaves that process as it is.
`COLLECTIONS_ENGINE_KEEP_FREED=0` leaves the allocators and huge pages as they are. Neither
changes an output byte.
"""

from __future__ import annotations

import ctypes
import gc
import os

import pyarrow as pa

__all__ = ["keep_freed", "own_process", "return_free_memory"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_AT = 2**31 - 1  # mallopt takes an int: 2 GiB of free heap top before it is handed back
_PR_SET_THP_DISABLE = 41  # linux/prctl.h


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return None


_OWN = {"process": False}


def own_process() -> None:
    """Say that this process is the program's own (`cli.main`): `keep_freed(only_own=True)` may
    then change it."""
    _OWN["process"] = True


def keep_freed(only_own: bool = False) -> bool:
    """Make this process (and the children it forks later) keep the memory it frees for its
    next allocations, without transparent huge pages. True when set; False where the allocator
    is not glibc's, where `COLLECTIONS_ENGINE_KEEP_FREED=0` says to leave the allocators as
    they are, or, with `only_own`, where the process is not the program's own (`own_process`)."""
    if os.environ.get("COLLECTIONS_ENGINE_KEEP_FREED", "1") == "0" or (only_own and not _OWN["process"]):
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not (mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, _TRIM_AT)):
        return False
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
    prctl = getattr(libc, "prctl", None)
    if prctl is not None:  # a kernel without the option (before 3.15) keeps its huge pages
        prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)
    return True


def return_free_memory() -> None:
    """Hand back to the system what the allocators keep free (after features and scoring, while
    the ring child, whose peak comes later, still runs)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
