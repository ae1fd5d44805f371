"""All-or-nothing output folders.

Every command writes into a hidden temporary sibling of its output folder and renames it into
place only when everything is written, so a failure at any point leaves no half-written folder
and whatever was there before untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "write_bytes_atomic"]


@contextmanager
def atomic_dir(final: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes `final` when the block ends without error.

    With `replace`, an existing `final` is swapped out (renamed aside, then deleted) only after
    the new folder is complete; without it, an existing non-empty `final` is merged into: files
    already there stay unless the new folder has the same name.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it owner-only; outputs are shared folders
    try:
        yield tmp
        _fsync_tree(tmp)
        if final.exists() and replace:
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        elif final.exists() and any(final.iterdir()):
            for child in sorted(tmp.iterdir()):
                target = final / child.name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(child, target)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            if final.exists():
                final.rmdir()
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write one file by temp-file-and-rename, so readers never see it half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
