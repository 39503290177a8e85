#!/usr/bin/env python3
"""Train an RNN-T (Conformer + stateless decoder, k2 pruned loss), optionally distilled from a
teacher with the y/blank lattice loss and/or gradually pruned to a target sparsity.

Examples (from a recipe directory)::

  # dense teacher
  python -m rnnt_kd.bin.train --exp-dir exp/teacher --model-preset medium \\
      --train-cuts data/fbank/cuts_train.jsonl.gz --valid-cuts data/fbank/cuts_dev.jsonl.gz \\
      --bpe-model data/lang_bpe_256/bpe.model --num-epochs 20 --max-duration 200

  # 90%-sparse student pruned from the teacher, distilled from it
  python -m rnnt_kd.bin.train --exp-dir exp/student90 --init-from exp/teacher/epoch-20.pt \\
      --target-sparsity 0.9 --prune-start-fraction 0 --prune-end-fraction 0.667 \\
      --teacher-checkpoint exp/teacher/epoch-20.pt --distill-scale 0.01 ...

Every option is a field of the settings dataclasses in ``rnnt_kd/settings.py`` (one default
each); the resolved settings are written to ``<exp-dir>/train_config.json``.

Multi-process: ``--world-size N`` (spawns N processes) or ``torchrun --nproc-per-node N -m
rnnt_kd.bin.train ...``; NCCL on GPU, gloo on CPU.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

from rnnt_kd.settings import TrainSettings, build_parser, parse_train_settings


def get_parser() -> argparse.ArgumentParser:
    """The ``train`` command line, built from the settings dataclasses (``rnnt_kd.settings``)."""
    p = argparse.ArgumentParser(
        prog="train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return build_parser(p)


def check_settings(s: TrainSettings, parser: argparse.ArgumentParser) -> None:
    """Reject inconsistent option combinations with one clear line."""
    pr, run, d = s.pruning, s.run, s.distill
    if pr.target_sparsity and not 0 < pr.target_sparsity < 1:
        parser.error("--target-sparsity must be in (0, 1)")
    for name in ("prune_start_fraction", "prune_end_fraction"):
        v = getattr(pr, name)
        if v is not None and not 0 <= v <= 1:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 1]")
    if pr.target_sparsity and not pr.uses_fractions and pr.prune_end_step <= pr.prune_start_step:
        parser.error("--prune-end-step must be greater than --prune-start-step")
    start = pr.prune_start_fraction or 0.0
    if pr.prune_end_fraction is not None and pr.prune_end_fraction <= start:
        parser.error("--prune-end-fraction must be greater than --prune-start-fraction")
    if pr.prune_every < 0:
        parser.error("--prune-every must be >= 0 (0: automatic)")
    if not 0 < pr.prune_keep_ratio <= 1:
        parser.error("--prune-keep-ratio must be in (0, 1]")
    if s.optim.use_fp16 and s.optim.use_bf16:
        parser.error("choose one of --use-fp16 and --use-bf16")
    if run.start_batch > 0 and run.start_epoch > 1:
        parser.error("give either --start-epoch or --start-batch, not both")
    if d.teacher_checkpoint is None:
        for name in ("distill_scale", "distill_temperature", "teacher_input_cuts", "teacher_cache"):
            if s.given(name):
                flag = "--" + name.replace("_", "-")
                parser.error(f"{flag} needs --teacher-checkpoint")
    if d.distill_temperature <= 0:
        parser.error("--distill-temperature must be > 0")
    if d.teacher_input_cuts is not None and not Path(d.teacher_input_cuts).is_file():
        parser.error(f"--teacher-input-cuts: no such file {d.teacher_input_cuts}")
    if d.teacher_cache is not None:
        if (d.distill_type, d.distill_lattice, d.distill_band) != ("ybr", "pruned", "teacher"):
            parser.error(
                "--teacher-cache needs --distill-type ybr --distill-lattice pruned "
                "--distill-band teacher (the cache holds the teacher's band)"
            )
        if not Path(d.teacher_cache).is_file():
            parser.error(f"--teacher-cache: no such file {d.teacher_cache}")
        augments = s.data.spec_augment and s.data.spec_augment_start_epoch <= run.num_epochs
        if augments and not s.given("spec_augment"):
            parser.error(
                "--teacher-cache holds the teacher's band on clean features, but SpecAugment is "
                "on (the default): the student would hear masked features, the teacher clean "
                "ones. Pass --spec-augment false, or --spec-augment true to accept that"
            )
    if run.num_epochs < run.start_epoch:
        parser.error("--num-epochs must be >= --start-epoch")
    if not 0 <= s.optim.lr_anneal_epochs <= run.num_epochs:
        parser.error("--lr-anneal-epochs must be between 0 and --num-epochs")
    if run.keep_last_epochs < 0:
        parser.error("--keep-last-epochs must be >= 0 (0 keeps all)")


def main(argv: list[str] | None = None) -> None:
    """Train; errors propagate (use :func:`cli` for one-line messages and exit codes)."""
    parser = get_parser()
    settings = parse_train_settings(argv, parser)
    check_settings(settings, parser)
    from rnnt_kd.train import distributed
    from rnnt_kd.train.lock import training_lock

    with training_lock(settings.run.exp_dir):  # an exp dir belongs to one run at a time
        distributed.launch(functools.partial(_run, settings=settings), settings.run.world_size)


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

    from rnnt_kd.bin.cli_errors import describe, exception_class, is_user_error, traceback_wanted
    from rnnt_kd.train.trainer import TooManyBadBatches

    try:
        main(argv)
    except TooManyBadBatches as e:
        return _fail(str(e), 1)
    except mp.ProcessRaisedException as e:  # --world-size N: a spawned rank raised
        last = str(e).strip().splitlines()[-1]
        name, _, message = last.partition(": ")
        cls = exception_class(name)
        if cls is None or not (issubclass(cls, TooManyBadBatches) or is_user_error(cls)):
            raise
        return _fail(message, 1 if issubclass(cls, TooManyBadBatches) else 2)
    except Exception as e:
        if not is_user_error(e) or traceback_wanted():
            raise
        return _fail(describe(e), 2)
    except KeyboardInterrupt:
        return _fail("interrupted; continue with --auto-resume true", 130)
    return 0


def _run(rank: int, world_size: int, settings: TrainSettings) -> None:
    from rnnt_kd.train.trainer import run

    run(rank, world_size, settings)


if __name__ == "__main__":
    sys.exit(cli())
