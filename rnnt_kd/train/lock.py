"""An experiment directory belongs to one training at a time.

:func:`exp_dir_lock` takes an exclusive ``flock`` on ``<exp-dir>/.lock`` for the whole run and
writes the holder's pid into it. A second training pointed at the same directory stops at start-up
with ``<exp-dir> is in use by another training (pid N)`` instead of mixing its checkpoints with
the other's (decode would average epochs of two runs; ``--auto-resume`` would pick up the other
run's checkpoint; one run's clean-up would delete the other's files). The kernel releases the
lock when the holder exits, however it exits (``kill -9`` included), so a stale ``.lock`` file
never blocks anyone; a run that ends normally removes the file.

Example::

    with exp_dir_lock("exp/teacher"):
        train(...)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, ContextManager, Iterator, Union

from rnnt_kd.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class ExpDirBusy(UserError):
    """Another training holds the experiment directory."""


class ExpDirUnusable(UserError):
    """The experiment directory cannot be created or written."""


@contextlib.contextmanager
def exp_dir_lock(exp_dir: Union[str, Path]) -> Iterator[Path]:
    """Hold ``<exp_dir>/.lock`` (created, with the directory, if needed) for the ``with`` block;
    the file is removed when the block ends (a ``kill -9`` leaves it, unlocked and harmless).

    Raises :class:`ExpDirBusy` naming the holder's pid when another process holds it, and
    :class:`ExpDirUnusable` when the directory cannot be created or written (read-only, full,
    a file in the way). Yields the lock file's path.
    """
    exp_dir = Path(exp_dir)
    path = exp_dir / LOCK_NAME
    f = _acquire(exp_dir, path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # still locked: whoever opens it now waits for the close below
        f.close()  # closing the file releases the lock


def _acquire(exp_dir: Path, path: Path) -> IO[str]:
    while True:
        try:
            exp_dir.mkdir(parents=True, exist_ok=True)
            f = open(path, "a+", encoding="utf-8")
        except OSError as e:
            raise ExpDirUnusable(f"cannot use {exp_dir} as the exp dir: {e}") from e
        if fcntl is None:
            return f
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise ExpDirBusy(
                f"{exp_dir} is in use by another training (pid {holder}); wait for it to end, "
                "stop it, or give this run another --exp-dir"
            ) from None
        try:  # the holder before us may have removed the file between our open and flock
            same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            f.close()
            continue
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
        except OSError as e:
            f.close()
            raise ExpDirUnusable(f"cannot use {exp_dir} as the exp dir: {e}") from e
        return f


def training_lock(exp_dir: Union[str, Path]) -> ContextManager[Path]:
    """:func:`exp_dir_lock` for the process that starts a training: the ``--world-size N``
    launcher, or rank 0 of a ``torchrun`` job (its other ranks share rank 0's lock)."""
    if os.environ.get("LOCAL_RANK") is not None and os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext(Path(exp_dir) / LOCK_NAME)
    return exp_dir_lock(exp_dir)
