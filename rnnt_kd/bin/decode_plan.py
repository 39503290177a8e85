#!/usr/bin/env python3
"""Which checkpoints to decode: one line ``<exp dir> <epoch> <avg>`` per trained run.

  python -m rnnt_kd.bin.decode_plan --experiments conf/experiments.txt --exp-root exp --max-avg 2
  python -m rnnt_kd.bin.decode_plan --exp-dirs exp/sweep/b0.3_t1.0 --exp-root exp --max-avg 2

The runs are those of the experiment matrix (every seed: ``rnnt_kd.experiments.seed_runs``), or
the given directories. Each is decoded at its last epoch, averaging at most ``--max-avg`` epoch
checkpoints, and for a pruned run only those saved after pruning ended
(``rnnt_kd.experiments.epochs_to_average``); both come from the run's ``train_config.json``. A
run without its last checkpoint (still training, or killed) is left out with a warning. No
trained run at all is an error (one line, exit status 2): the recipe's decoding stage ran before
training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List

from rnnt_kd.experiments import (
    epochs_to_average,
    final_epoch,
    read_experiments,
    seed_runs,
    train_config,
)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="decode_plan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--exp-root", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--experiments", help="the recipe's experiment matrix")
    g.add_argument("--exp-dirs", nargs="+", help="these run directories instead")
    p.add_argument("--max-avg", type=int, default=1, help="average at most this many epochs")
    return p


def main(argv: List[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        if args.experiments:
            names = [e.name for e in read_experiments(args.experiments)]
            dirs = [d for n in names for d in seed_runs(args.exp_root, n).values()]
        else:
            names, dirs = [], [Path(d) for d in args.exp_dirs]
    except (FileNotFoundError, ValueError) as e:
        print(f"decode_plan: error: {e}", file=sys.stderr)
        return 2
    lines = []
    for d in dirs:
        epoch = final_epoch(d)
        if epoch is None:
            print(f"decode_plan: {d} has no final checkpoint, not decoding it", file=sys.stderr)
            continue
        lines.append(f"{d} {epoch} {epochs_to_average(train_config(d), args.max_avg)}")
    if not lines:
        what = ", ".join(names) if names else " ".join(args.exp_dirs)
        print(
            f"decode_plan: error: no trained model under {args.exp_root} ({what}): "
            "run the training stages (4 and 5) first",
            file=sys.stderr,
        )
        return 2
    print("\n".join(lines))
    return 0


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.decode_plan``: :func:`main`, every user error as one line."""
    from rnnt_kd.bin.cli_errors import run_cli

    return run_cli("decode_plan", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
