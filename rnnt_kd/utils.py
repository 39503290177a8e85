"""Small shared helpers: logging setup, argument types, seeding."""

from __future__ import annotations

import argparse
import logging
import random
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np
import torch


class _LogFile(logging.FileHandler):
    """A log file whose write errors (full disk, read-only file system) are reported once, in
    one line, instead of a traceback per log record (logging's default)."""

    _failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if not self._failed:
            self._failed = True
            print(
                f"warning: cannot write the log file {self.baseFilename}: {sys.exc_info()[1]}",
                file=sys.stderr,
            )


def setup_logger(log_prefix: Optional[Path | str], rank: int = 0, world_size: int = 1) -> None:
    """Log to stderr and, when ``log_prefix`` is given, to ``<log_prefix>-<date>[-<rank>]``."""
    fmt = "%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s"
    if world_size > 1:
        fmt = f"%(asctime)s %(levelname)s [rank {rank}] [%(filename)s:%(lineno)d] %(message)s"
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_prefix is not None:
        stamp = datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
        suffix = f"-{rank}" if world_size > 1 else ""
        path = Path(f"{log_prefix}-{stamp}{suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(_LogFile(path))
    logging.basicConfig(level=logging.INFO, format=fmt, handlers=handlers, force=True)


def str2bool(v: str | bool) -> bool:
    """argparse type accepting true/false, yes/no, 1/0 (icefall convention)."""
    if isinstance(v, bool):
        return v
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {v!r}")


def fix_random_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(requested: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; anything else is passed to torch.device."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
