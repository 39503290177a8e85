#!/usr/bin/env python3
"""Train an RNN-T (Conformer + stateless decoder, k2 pruned loss), optionally distilled from a
teacher with the y/blank lattice loss and/or gradually pruned to a target sparsity.

Examples (from a recipe directory)::

  # dense teacher
  python -m rnnt_kd.bin.train --exp-dir exp/teacher --model-preset medium \\
      --train-cuts data/fbank/cuts_train.jsonl.gz --valid-cuts data/fbank/cuts_dev.jsonl.gz \\
      --bpe-model data/lang_bpe_256/bpe.model --num-epochs 20 --max-duration 200

  # 90%-sparse student pruned from the teacher, distilled from it
  python -m rnnt_kd.bin.train --exp-dir exp/sparse90_kd --init-from exp/teacher/epoch-20.pt \\
      --target-sparsity 0.9 --prune-start-step 0 --prune-end-step 3000 \\
      --teacher-checkpoint exp/teacher/epoch-20.pt --distill-scale 0.01 ...

Multi-process: ``--world-size N`` (spawns N processes) or ``torchrun --nproc-per-node N -m
rnnt_kd.bin.train ...``; NCCL on GPU, gloo on CPU.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

from rnnt_kd.utils import str2bool


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    g = p.add_argument_group("data")
    g.add_argument("--train-cuts", nargs="+", required=True, help="lhotse CutSet(s) with features")
    g.add_argument("--valid-cuts", nargs="+", required=True, help="validation CutSet(s)")
    g.add_argument("--bpe-model", required=True, help="sentencepiece model (blank must be id 0)")
    g.add_argument(
        "--max-duration", type=float, default=200.0, help="seconds of audio per batch (per process)"
    )
    g.add_argument(
        "--min-utt-duration",
        type=float,
        default=0.3,
        help="drop training utterances shorter than this (s)",
    )
    g.add_argument(
        "--max-utt-duration",
        type=float,
        default=30.0,
        help="drop training utterances longer than this (s)",
    )
    g.add_argument("--spec-augment", type=str2bool, default=True)
    g.add_argument(
        "--spec-augment-start-epoch",
        type=int,
        default=1,
        help="apply SpecAugment from this epoch on (a from-scratch model leaves the all-blank "
        "plateau sooner on clean features; augmentation matters once it starts to overfit)",
    )
    g.add_argument("--num-workers", type=int, default=0, help="dataloader workers")

    g = p.add_argument_group("model")
    g.add_argument(
        "--model-preset",
        default="medium",
        help="tiny | small | medium | large (see rnnt_kd.model.config.PRESETS)",
    )
    for name in (
        "encoder-dim",
        "num-encoder-layers",
        "num-heads",
        "feedforward-dim",
        "conv-kernel-size",
        "decoder-dim",
        "joiner-dim",
    ):
        g.add_argument(f"--{name}", type=int, default=None, help="override the preset's value")
    g.add_argument("--dropout", type=float, default=None, help="override the preset's dropout")
    g.add_argument(
        "--layer-scale",
        type=float,
        default=None,
        help="initial gain of the Conformer's residual branches (LayerScale; 0 = off); 0.1 "
        "shortens the from-scratch all-blank plateau several-fold",
    )
    g.add_argument(
        "--subsampling",
        choices=["conv2d", "conv1d"],
        default=None,
        help="x4 front-end: conv2d (icefall's, preset default) or conv1d (~4x cheaper on CPU)",
    )
    g.add_argument(
        "--use-ctc",
        type=str2bool,
        default=None,
        help="add an auxiliary CTC head on the encoder (faster convergence)",
    )

    g = p.add_argument_group("training")
    g.add_argument("--exp-dir", required=True, help="checkpoints, logs, tensorboard go here")
    g.add_argument("--num-epochs", type=int, default=20)
    g.add_argument(
        "--start-epoch", type=int, default=1, help="resume from epoch-(N-1).pt when N > 1"
    )
    g.add_argument(
        "--start-batch",
        type=int,
        default=0,
        help="resume mid-epoch from checkpoint-<N>.pt when N > 0",
    )
    g.add_argument(
        "--auto-resume",
        type=str2bool,
        default=False,
        help="resume from the newest loadable checkpoint in --exp-dir, if any",
    )
    g.add_argument(
        "--max-steps",
        type=int,
        default=0,
        help="stop each epoch after this global step (0: no limit; for quick tests)",
    )
    g.add_argument("--world-size", type=int, default=1, help="processes for data parallel")
    g.add_argument("--device", default="auto", help="auto | cpu | cuda")
    g.add_argument("--num-threads", type=int, default=2, help="CPU threads (split over ranks)")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--base-lr", type=float, default=3e-3)
    g.add_argument("--lr-batches", type=float, default=5000)
    g.add_argument("--lr-epochs", type=float, default=6)
    g.add_argument("--warmup-batches", type=int, default=500, help="linear LR warm-up")
    g.add_argument(
        "--lr-anneal-epochs",
        type=float,
        default=0.0,
        help="ramp the LR linearly down to ~0 over the last N epochs (0: off); short runs end "
        "far better annealed than at Eden's still-high LR",
    )
    g.add_argument("--weight-decay", type=float, default=1e-3)
    g.add_argument("--grad-clip", type=float, default=5.0, help="max gradient norm")
    g.add_argument("--prune-range", type=int, default=5, help="s_range of the pruned RNN-T loss")
    g.add_argument("--lm-scale", type=float, default=0.25)
    g.add_argument("--am-scale", type=float, default=0.0)
    g.add_argument("--simple-loss-scale", type=float, default=0.5)
    g.add_argument(
        "--ctc-loss-scale",
        type=float,
        default=0.2,
        help="weight of the auxiliary CTC loss (with --use-ctc true)",
    )
    g.add_argument(
        "--model-warm-step",
        type=int,
        default=2000,
        help="steps over which weight moves from the simple to the pruned loss",
    )
    g.add_argument("--use-fp16", type=str2bool, default=False, help="GPU only")
    g.add_argument("--use-bf16", type=str2bool, default=False, help="GPU only")
    g.add_argument(
        "--save-every-n",
        type=int,
        default=0,
        help="write checkpoint-<step>.pt every N steps (0: never)",
    )
    g.add_argument("--keep-last-k", type=int, default=3, help="batch checkpoints to keep")
    g.add_argument("--log-interval", type=int, default=50)
    g.add_argument(
        "--max-bad-batches",
        type=int,
        default=20,
        help="abort after this many consecutive non-finite batches",
    )
    g.add_argument("--tensorboard", type=str2bool, default=True)
    g.add_argument("--progress", type=str2bool, default=True, help="tqdm bar per epoch")
    g.add_argument("--inject-nan-at-step", type=int, default=-1, help=argparse.SUPPRESS)
    g.add_argument("--inject-nan-count", type=int, default=1, help=argparse.SUPPRESS)
    g.add_argument(
        "--inject-nan-kind", choices=["loss", "grad"], default="loss", help=argparse.SUPPRESS
    )

    g = p.add_argument_group("distillation (y/blank lattice KD, Panchapagesan et al. 2021)")
    g.add_argument(
        "--teacher-checkpoint",
        default=None,
        help="frozen teacher; without it training is plain RNN-T",
    )
    g.add_argument(
        "--init-from",
        default=None,
        help="initialise the student from this checkpoint (pruning runs)",
    )
    g.add_argument(
        "--distill-scale",
        type=float,
        default=None,
        help="beta in L_rnnt + beta*L_kd (default 0.01 with --teacher-checkpoint)",
    )
    g.add_argument("--distill-temperature", type=float, default=1.0)
    g.add_argument("--distill-type", choices=["ybr", "full-vocab"], default="ybr")
    g.add_argument(
        "--distill-lattice",
        choices=["pruned", "full"],
        default="pruned",
        help="KD on the pruned band (cheap) or the full T x (U+1) lattice",
    )
    g.add_argument(
        "--distill-band",
        choices=["teacher", "student"],
        default="teacher",
        help="whose prune ranges define the band (teacher's: shared with the "
        "student's pruned loss, so band log-probs are computed once)",
    )
    g.add_argument(
        "--teacher-input-cuts",
        default=None,
        help="lhotse CutSet whose features the teacher hears instead of the student's, matched "
        "by cut id (same lengths), e.g. the clean originals of far-field training copies "
        "renamed to the copies' ids (prepare_data teacher-inputs): a clean teacher for a "
        "noisy student",
    )
    g.add_argument(
        "--teacher-cache",
        default=None,
        help="the teacher's band posteriors, computed once by python -m rnnt_kd.bin.cache_teacher "
        "with this run's --teacher-checkpoint, --distill-temperature and --prune-range: training "
        "batches read them instead of running the teacher (same loss up to float rounding; the "
        "teacher still scores the validation set). Needs the default --distill-type ybr "
        "--distill-lattice pruned --distill-band teacher",
    )

    g = p.add_argument_group("gradual magnitude pruning (Zhu & Gupta 2017)")
    g.add_argument("--target-sparsity", type=float, default=0.0, help="0 disables pruning")
    g.add_argument("--initial-sparsity", type=float, default=0.0)
    g.add_argument("--prune-start-step", type=int, default=0)
    g.add_argument("--prune-end-step", type=int, default=2000)
    g.add_argument("--prune-every", type=int, default=100)
    g.add_argument(
        "--prune-scope",
        choices=["global", "layer"],
        default="global",
        help="global: rank all prunable weights together, each tensor capped (--prune-keep-ratio); "
        "layer: prune every tensor to the schedule's sparsity (Zhu & Gupta)",
    )
    g.add_argument(
        "--prune-keep-ratio",
        type=float,
        default=0.5,
        help="--prune-scope global: every tensor keeps at least this share of the weights "
        "per-layer pruning would leave it, i.e. none is sparser than 1 - R (1 - s) (95 %% at "
        "s = 90 %%); in (0, 1], 1 = per-layer",
    )
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Reject inconsistent option combinations with one clear line."""
    if args.target_sparsity and not 0 < args.target_sparsity < 1:
        parser.error("--target-sparsity must be in (0, 1)")
    if not 0 < args.prune_keep_ratio <= 1:
        parser.error("--prune-keep-ratio must be in (0, 1]")
    if args.target_sparsity and args.prune_end_step <= args.prune_start_step:
        parser.error("--prune-end-step must be greater than --prune-start-step")
    if args.use_fp16 and args.use_bf16:
        parser.error("choose one of --use-fp16 and --use-bf16")
    if args.start_batch > 0 and args.start_epoch > 1:
        parser.error("give either --start-epoch or --start-batch, not both")
    if args.teacher_checkpoint is None and args.distill_scale is not None:
        parser.error("--distill-scale needs --teacher-checkpoint")
    if args.teacher_input_cuts is not None:
        if args.teacher_checkpoint is None:
            parser.error("--teacher-input-cuts needs --teacher-checkpoint")
        if not Path(args.teacher_input_cuts).is_file():
            parser.error(f"--teacher-input-cuts: no such file {args.teacher_input_cuts}")
    if args.teacher_cache is not None:
        if args.teacher_checkpoint is None:
            parser.error(
                "--teacher-cache needs --teacher-checkpoint (the teacher it was built from)"
            )
        if (args.distill_type, args.distill_lattice, args.distill_band) != (
            "ybr",
            "pruned",
            "teacher",
        ):
            parser.error(
                "--teacher-cache needs --distill-type ybr --distill-lattice pruned "
                "--distill-band teacher (the cache holds the teacher's band)"
            )
        if not Path(args.teacher_cache).is_file():
            parser.error(f"--teacher-cache: no such file {args.teacher_cache}")
    if args.num_epochs < args.start_epoch:
        parser.error("--num-epochs must be >= --start-epoch")
    if not 0 <= args.lr_anneal_epochs <= args.num_epochs:
        parser.error("--lr-anneal-epochs must be between 0 and --num-epochs")


def main(argv: list[str] | None = None) -> None:
    """Train; errors propagate (use :func:`cli` for one-line messages and exit codes)."""
    parser = get_parser()
    args = parser.parse_args(argv)
    check_args(args, parser)
    from rnnt_kd.train import distributed

    distributed.launch(functools.partial(_run, args=args), args.world_size)


# exceptions that mean "the input or the options are wrong", not "rnnt-kd has a bug"
USER_ERRORS = ("CheckpointError", "TooManyBadBatches", "FileNotFoundError", "ValueError")


def _fail(message: str, code: int) -> int:
    """Print ``train: error: MESSAGE`` (one line) on stderr and into the training log file."""
    message = " ".join(message.split())
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.emit(
                logging.makeLogRecord(
                    {"msg": f"train: error: {message}", "levelname": "ERROR", "levelno": 40}
                )
            )
    print(f"train: error: {message}", file=sys.stderr)
    return code


def cli(argv: list[str] | None = None) -> int:
    """The command line: :func:`main`, with user errors (a missing, corrupt or incompatible
    checkpoint, a BPE model or teacher that does not match, a missing file, too many non-finite
    batches) reported as one ``train: error: ...`` line and a non-zero exit code instead of a
    traceback. Returns the exit code."""
    import torch.multiprocessing as mp

    from rnnt_kd.train.checkpoint import CheckpointError
    from rnnt_kd.train.trainer import TooManyBadBatches

    try:
        main(argv)
    except TooManyBadBatches as e:
        return _fail(str(e), 1)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        return _fail(str(e), 2)
    except mp.ProcessRaisedException as e:  # --world-size N: a spawned rank raised
        last = str(e).strip().splitlines()[-1]
        name, _, message = last.partition(": ")
        if name.rsplit(".", 1)[-1] not in USER_ERRORS:
            raise
        return _fail(message, 1 if name.endswith("TooManyBadBatches") else 2)
    except KeyboardInterrupt:
        return _fail("interrupted; continue with --auto-resume true", 130)
    return 0


def _run(rank: int, world_size: int, args: argparse.Namespace) -> None:
    from rnnt_kd.train.trainer import run

    run(rank, world_size, args)


if __name__ == "__main__":
    sys.exit(cli())
