"""One line per user error, from every command-line tool.

Each ``rnnt_kd.bin.<tool>`` has ``cli(argv) -> exit code`` = :func:`run_cli` around its
``main(argv)``: a user error (:class:`rnnt_kd.errors.UserError`, a checkpoint that is missing or
does not fit, a file that is missing or unreadable, a value that does not fit) becomes ONE line
``PROG: error: MESSAGE`` on stderr and exit code 2, not a traceback; argparse's own errors keep
their usage line and exit code 2. Anything else is a bug and keeps its traceback. Set
``RNNT_KD_TRACEBACK=1`` to see the traceback of a user error too.

Example::

    def cli(argv=None) -> int:
        return run_cli("decode", main, argv)

    if __name__ == "__main__":
        sys.exit(cli())
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable, List, Optional, Union

from rnnt_kd.errors import UserError

# exception classes (by name, so this module imports neither torch nor the checkpoint package)
# that mean "the input or the options are wrong"
USER_ERROR_NAMES = ("CheckpointError",)


def is_user_error(e: Union[BaseException, type]) -> bool:
    """Whether an exception (or exception class) is reported as one line (see above)."""
    cls = e if isinstance(e, type) else type(e)
    if issubclass(cls, (UserError, OSError, ValueError)):
        return True
    return any(c.__name__ in USER_ERROR_NAMES for c in cls.__mro__)


def traceback_wanted() -> bool:
    """``RNNT_KD_TRACEBACK=1``: user errors keep their traceback (for debugging)."""
    return os.environ.get("RNNT_KD_TRACEBACK", "") not in ("", "0")


def exception_class(qualname: str) -> Optional[type]:
    """The class named ``module.Class`` (or a builtin ``Class``), e.g. from the last line of a
    traceback printed by another process; None if it cannot be imported."""
    module, _, name = qualname.strip().rpartition(".")
    try:
        cls = getattr(importlib.import_module(module or "builtins"), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else None


def one_line(message: object) -> str:
    """``message`` on one line (runs of whitespace, newlines included, become one space)."""
    return " ".join(str(message).split())


def describe(e: BaseException) -> str:
    """The message of a user error: its text, or its type when it has none."""
    return one_line(e) or type(e).__name__


def report(prog: str, message: object, code: int = 2) -> int:
    """Print ``PROG: error: MESSAGE`` (one line) on stderr; returns ``code``."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return code


def run_cli(
    prog: str, main: Callable[[Optional[List[str]]], Any], argv: Optional[List[str]] = None
) -> int:
    """Run ``main(argv)`` and return the process exit code, user errors reported as one line."""
    try:
        ret = main(argv)
    except SystemExit as e:  # argparse (usage + one error line) or an explicit exit
        if isinstance(e.code, str):
            return report(prog, e.code.removeprefix(f"{prog}: ").removeprefix("error: "), 2)
        return 0 if e.code is None else int(e.code)
    except KeyboardInterrupt:
        return report(prog, "interrupted", 130)
    except Exception as e:
        if not is_user_error(e) or traceback_wanted():
            raise
        return report(prog, describe(e), 2)
    return ret if isinstance(ret, int) else 0
