"""No process outlives the command that started it: rank processes die with their launcher.

``--world-size N`` spawns N rank processes. torch's spawn asks the kernel to send each a SIGINT
when the launcher dies, but a process started in the background by a script (``cmd &``) inherits
an *ignored* SIGINT, so after ``kill -9`` of the launcher the ranks went on training and writing
checkpoints into an exp dir that nobody holds any more. :func:`die_with_parent`, called first in
each rank, makes the kernel send SIGKILL instead (Linux ``prctl(PR_SET_PDEATHSIG)``); elsewhere a
daemon thread polls the parent pid. Both also cover a parent that died before the call.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from typing import Optional

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


def _set_pdeathsig(sig: int) -> bool:
    """Linux: the kernel sends ``sig`` to this process when its parent thread exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, interval: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent(parent: Optional[int] = None, poll_interval: float = 1.0) -> None:
    """Make this process die (SIGKILL) as soon as its parent does.

    Args:
      parent: the pid the parent had when it started this process (``os.getpid()`` in the
        launcher); when given and the parent is already gone, this process exits at once.
      poll_interval: seconds between parent checks where ``prctl`` is not available.
    """
    parent = os.getppid() if parent is None else parent
    if not _set_pdeathsig(signal.SIGKILL):
        threading.Thread(
            target=_watch_parent, args=(parent, poll_interval), daemon=True, name="die-with-parent"
        ).start()
    if os.getppid() != parent:  # the launcher died before the line above took effect
        os._exit(1)
