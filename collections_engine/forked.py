"""A step run in a forked child while the parent goes on.

The nightly run finds rings in a child process while it builds features and scores: the child
sees a copy-on-write view of the book (nothing is copied or pickled on the way in) and sends its
result back through a pipe, pickled with its arrays out of band (`send`, `receive`): the child
writes each array's memory as it is, the parent reads it into the buffer the array then uses,
so neither holds a second, pickled copy of the result (at a million accounts the result is
about 0.6 GiB; a whole pickle in each process at the hand-over was 1.2 GiB more at the night's
peak). Kept apart from the pipeline so the run reads as its steps.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import resource
import signal
import struct
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Forked", "send", "receive"]

_COUNT = struct.Struct("<QQ")   # size of the pickle, number of out-of-band buffers
_SIZE = struct.Struct("<Q")


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class Forked:
    """`fn(*args)` in a forked child. Where fork is not available, or COLLECTIONS_ENGINE_SERIAL is
    set, it runs inline when its result is asked for. The result is the same either way as long
    as `fn` is deterministic."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._fn = fn
        self._args = args
        self._pid = 0
        self._fd = -1
        if hasattr(os, "fork") and not os.environ.get("COLLECTIONS_ENGINE_SERIAL"):
            r, w = os.pipe()
            # Frozen objects are left alone by the child's garbage collector, which would
            # otherwise write to (and so copy) every page of the parent's Python objects.
            gc.freeze()
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(r)
                _child(w, fn, args)
            gc.unfreeze()
            os.close(w)
            self._pid, self._fd = pid, r

    @property
    def forked(self) -> bool:
        """Whether `fn` runs in a child (False: inline, when the result is asked for)."""
        return self._pid != 0

    def result(self) -> tuple[Any, float, float]:
        """(what `fn` returned, seconds, peak RSS GiB of the process that ran it)."""
        if not self._pid:
            t = time.perf_counter()
            out = self._fn(*self._args)
            return out, time.perf_counter() - t, _peak_gib()
        with os.fdopen(self._fd, "rb") as fh:
            self._fd = -1
            got = receive(fh)
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if got is None:
            raise RuntimeError(f"ring detection process ended without a result (wait status {status})")
        kind, value, seconds, peak = got
        if kind == "error":
            raise value
        return value, seconds, peak

    def stop(self) -> None:
        """End the child if it is still there (the run failed before asking for the result)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._pid:
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._pid = 0


def _child(fd: int, fn: Callable[..., Any], args: tuple) -> None:
    code = 0
    try:
        try:  # die with the parent (Linux): a killed run leaves no orphan behind
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        t = time.perf_counter()
        try:
            out = fn(*args)
            buffers: list[pickle.PickleBuffer] = []
            payload = pickle.dumps(("ok", out, time.perf_counter() - t, _peak_gib()), protocol=5,
                                   buffer_callback=buffers.append)
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            buffers = []
            try:
                payload = pickle.dumps(("error", exc, 0.0, 0.0))
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), 0.0, 0.0))
        with os.fdopen(fd, "wb") as fh:
            send(fh, payload, buffers)
    except BaseException:  # noqa: BLE001 - the parent reports a missing result
        code = 1
    finally:
        os._exit(code)


def send(fh, payload: bytes, buffers: list[pickle.PickleBuffer]) -> None:
    """A protocol-5 pickle and its out-of-band buffers onto `fh`: the sizes, the pickle, then
    each buffer's bytes straight from the memory of the array it belongs to (no copy)."""
    views = [b.raw() for b in buffers]
    fh.write(_COUNT.pack(len(payload), len(views)))
    fh.write(b"".join(_SIZE.pack(v.nbytes) for v in views))
    fh.write(payload)
    for v in views:
        fh.write(v)
    fh.flush()


def receive(fh) -> object | None:
    """What `send` wrote, unpickled; each buffer read into the bytearray its array then uses.
    None when the stream ends before a whole result (the writer died)."""
    head = _read_exact(fh, _COUNT.size)
    if head is None:
        return None
    size, n = _COUNT.unpack(head)
    sizes = _read_exact(fh, _SIZE.size * n)
    payload = _read_exact(fh, size)
    if sizes is None or payload is None:
        return None
    buffers = []
    for (nbytes,) in _SIZE.iter_unpack(sizes):
        buf = bytearray(nbytes)
        if _read_into(fh, buf) < nbytes:
            return None
        buffers.append(buf)
    return pickle.loads(payload, buffers=buffers)


def _read_exact(fh, n: int) -> bytes | None:
    buf = bytearray(n)
    return bytes(buf) if _read_into(fh, buf) == n else None


def _read_into(fh, buf: bytearray) -> int:
    view, got = memoryview(buf), 0
    while got < len(buf):
        k = fh.readinto(view[got:])
        if not k:
            break
        got += k
    return got

