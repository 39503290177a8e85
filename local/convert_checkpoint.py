#!/usr/bin/env python3
"""Convert a model file that holds pickled Python objects into one of tensors and plain values.

rnnt-kd reads every model file with ``torch.load(weights_only=True)``: tensors, dicts, lists,
tuples, strings, numbers, booleans and None only, so that a crafted file cannot run code when
it is read. A file written by an older rnnt-kd (or by hand) that also holds objects (an
argparse ``Namespace``, a dataclass, numpy values, a ``Path``) is refused with a message that
points here. Run this ONCE, knowingly, on a file you trust: it unpickles the file in full
(which runs whatever code the file names) and writes a plain copy that loads safely.

  python local/convert_checkpoint.py --trust exp/old/epoch-10.pt exp/old/epoch-10.plain.pt

It lives outside the library on purpose: nothing under rnnt_kd/ ever unpickles a file in full.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import PurePath
from typing import Any, List


class NotConvertible(ValueError):
    """An object with no plain equivalent (its type is named in the message)."""


def to_plain(obj: Any, where: str = "") -> Any:
    """``obj`` with namespaces, dataclasses, numpy values and paths replaced by plain types."""
    import numpy as np
    import torch

    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor, torch.Size)):
        return obj
    if isinstance(obj, dict):
        return {k: to_plain(v, f"{where}/{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, argparse.Namespace):
        return to_plain(vars(obj), where)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_plain(dataclasses.asdict(obj), where)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(to_plain(v, where) for v in obj)
    raise NotConvertible(f"{where or '/'}: {type(obj).__module__}.{type(obj).__name__}")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="convert_checkpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--trust",
        action="store_true",
        help="required: you trust IN (it is fully unpickled, which can run code)",
    )
    p.add_argument("input", help="the model file to convert (read with full pickle)")
    p.add_argument("output", help="the plain copy to write (must not exist)")
    return p


def main(argv: List[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    import torch

    from rnnt_kd.checkpoint.files import load_checkpoint, save_checkpoint

    def fail(msg: str) -> int:
        print(f"convert_checkpoint: error: {msg}", file=sys.stderr)
        return 2

    if not args.trust:
        return fail("refusing to unpickle without --trust (a model file can run code)")
    if PurePath(args.input) == PurePath(args.output):
        return fail("write the plain copy to a new file, not over the input")
    try:
        state = torch.load(args.input, map_location="cpu", weights_only=False)  # --trust given
    except Exception as e:  # noqa: BLE001 - any unreadable file
        return fail(f"cannot read {args.input}: {str(e).splitlines()[0] if str(e) else e!r}")
    try:
        plain = to_plain(state)
    except NotConvertible as e:
        return fail(f"{args.input} holds an object with no plain equivalent at {e}")
    import os

    if os.path.exists(args.output):
        return fail(f"{args.output} exists; choose a new file")
    save_checkpoint(args.output, plain)
    load_checkpoint(args.output)  # proves the copy loads with weights_only=True
    print(f"{args.output}: a plain copy of {args.input} (loads with weights_only=True)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
