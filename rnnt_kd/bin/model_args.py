"""Choosing a model on the command line: ``--exp-dir/--epoch/--avg`` or ``--checkpoint``.

Shared by ``decode`` and ``export`` (icefall's flags: average ``--avg`` epoch checkpoints ending
at ``--epoch``, or take one file).
"""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser, verb: str, exp_dir_required: bool) -> None:
    """``--exp-dir``, ``--epoch``, ``--avg``, ``--checkpoint``; ``verb``: what the tool does with
    the model ("decode", "export"), for the help text."""
    p.add_argument(
        "--exp-dir", required=exp_dir_required, help="training directory with epoch-N.pt"
    )
    p.add_argument("--epoch", type=int, default=None, help="last epoch to use")
    p.add_argument("--avg", type=int, default=1, help="average this many epochs ending at --epoch")
    p.add_argument(
        "--checkpoint",
        default=None,
        help=f"{verb} this checkpoint (or exported) file instead of --epoch/--avg",
    )


def check_model_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Exactly one of ``--checkpoint`` and ``--epoch`` (which needs ``--exp-dir``)."""
    if args.checkpoint is None and args.epoch is None:
        parser.error("give --epoch (with --avg) or --checkpoint")
    if args.checkpoint is not None and args.epoch is not None:
        parser.error("give either --checkpoint or --epoch/--avg, not both")
    if args.epoch is not None and args.exp_dir is None:
        parser.error("--epoch needs --exp-dir")
