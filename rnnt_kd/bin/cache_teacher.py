#!/usr/bin/env python3
"""Compute a frozen teacher's band posteriors over the training data once, for KD students.

  python -m rnnt_kd.bin.cache_teacher --teacher-checkpoint exp/teacher/epoch-14.pt \\
      --train-cuts data/fbank/synthlibri_cuts_train-clean-synth.jsonl.gz \\
      --bpe-model data/lang_bpe_128/bpe.model --distill-temperature 2.0 \\
      --out exp/teacher/band-epoch-14-T2.0.pt
  python -m rnnt_kd.bin.train ... --teacher-checkpoint exp/teacher/epoch-14.pt \\
      --distill-temperature 2.0 --teacher-cache exp/teacher/band-epoch-14-T2.0.pt

Every KD student then reads the teacher's prune ranges and y/blank/rest log-probs
(``rnnt_kd.kd.cache``) instead of running the teacher at each step. The file records
the teacher checkpoint's SHA-256, the temperature, --prune-range, --am-scale and --lm-scale;
``train --teacher-cache`` refuses a file made with other values. --prune-range, --am-scale,
--lm-scale, --min/--max-utt-duration have train's defaults (``rnnt_kd.settings``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from rnnt_kd.bin.cli_errors import one_line, run_cli

log = logging.getLogger("cache_teacher")


def get_parser() -> argparse.ArgumentParser:
    from rnnt_kd.settings import DataSettings, DistillSettings, LossSettings, default_of

    p = argparse.ArgumentParser(
        prog="cache_teacher",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher-checkpoint", required=True, help="the frozen teacher (epoch-N.pt)")
    p.add_argument("--train-cuts", nargs="+", required=True, help="the students' training cuts")
    p.add_argument("--bpe-model", required=True, help="the students' (and teacher's) BPE model")
    p.add_argument("--out", required=True, help="cache file to write")
    # the same defaults as train's (one default per setting, in rnnt_kd.settings)
    for klass, name, typ in (
        (DistillSettings, "distill_temperature", float),
        (LossSettings, "prune_range", int),
        (LossSettings, "am_scale", float),
        (LossSettings, "lm_scale", float),
        (DataSettings, "min_utt_duration", float),
        (DataSettings, "max_utt_duration", float),
    ):
        default = default_of(klass, name)
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=typ,
            default=default,
            help=f"as in train (default: {default})",
        )
    p.add_argument(
        "--teacher-input-cuts",
        default=None,
        help="as in train: features the teacher hears instead of the students' (clean teacher)",
    )
    p.add_argument("--max-duration", type=float, default=200.0, help="seconds of audio per batch")
    p.add_argument("--num-threads", type=int, default=2)
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    from rnnt_kd.utils import setup_logger

    setup_logger(None)  # a fresh stderr handler, also when called in-process
    from rnnt_kd.checkpoint import CheckpointError, load_model
    from rnnt_kd.data import AsrDataModule, Tokenizer, batch_is_empty, batch_to_tensors
    from rnnt_kd.data.datamodule import filter_cuts, load_cuts
    from rnnt_kd.errors import UserError
    from rnnt_kd.kd.cache import build_teacher_cache, check_unique_cut_ids, file_sha256
    from rnnt_kd.kd.inputs import TeacherInputs
    from rnnt_kd.model import Transducer

    torch.set_num_threads(args.num_threads)
    out = Path(args.out)
    try:
        if args.distill_temperature <= 0:
            raise ValueError("--distill-temperature must be > 0")
        check_writable(out)  # before the teacher runs over the whole training set
        tokenizer = Tokenizer(args.bpe_model)
        teacher, ckpt = load_model(args.teacher_checkpoint)
        sha = ckpt.get("tokenizer_sha256")
        if sha is not None and sha != tokenizer.sha256:
            raise ValueError(
                f"--teacher-checkpoint {args.teacher_checkpoint} was trained with another BPE "
                f"model than --bpe-model {args.bpe_model}"
            )
        if teacher.config.vocab_size != tokenizer.vocab_size:
            raise ValueError(
                f"teacher vocab_size {teacher.config.vocab_size} != BPE model's "
                f"{tokenizer.vocab_size}"
            )
        cuts = filter_cuts(
            load_cuts(args.train_cuts),
            tokenizer,
            min_duration=args.min_utt_duration,
            max_duration=args.max_utt_duration,
            subsampled_length_fn=Transducer.output_lengths,
        )
        check_unique_cut_ids((c.id for c in cuts), f"--train-cuts {' '.join(args.train_cuts)}")
        inputs = TeacherInputs(args.teacher_input_cuts) if args.teacher_input_cuts else None
    except (CheckpointError, UserError, OSError, ValueError) as e:
        print(f"cache_teacher: error: {one_line(e)}", file=sys.stderr)
        return 2
    loader = AsrDataModule().valid_dataloader(cuts, max_duration=args.max_duration)

    def batches():
        for batch in loader:
            if batch_is_empty(batch):
                continue
            feats, lens, targets, target_lens, cut_ids, _ = batch_to_tensors(batch, tokenizer)
            if inputs is not None:
                feats = inputs.features(feats, lens, cut_ids)
            yield feats, lens, targets, target_lens, cut_ids

    meta = {
        "teacher_checkpoint": str(args.teacher_checkpoint),
        "teacher_sha256": file_sha256(args.teacher_checkpoint),
        "temperature": args.distill_temperature,
        "prune_range": args.prune_range,
        "am_scale": args.am_scale,
        "lm_scale": args.lm_scale,
        "teacher_input_cuts": args.teacher_input_cuts,
        "teacher_inputs_sha256": (
            file_sha256(args.teacher_input_cuts) if args.teacher_input_cuts else None
        ),
        "train_cuts": [str(c) for c in args.train_cuts],
        "tokenizer_sha256": tokenizer.sha256,
    }
    with tqdm(total=len(cuts), desc="teacher band", unit="utt") as bar:
        cache = build_teacher_cache(teacher, batches(), meta, progress=bar)
    tmp = out.with_name(out.name + ".tmp")
    try:
        torch.save(cache, tmp)
        tmp.replace(out)  # never a half-written cache under the real name
    except OSError as e:  # full disk: no temp file left behind
        tmp.unlink(missing_ok=True)
        print(f"cache_teacher: error: cannot write {out}: {one_line(e)}", file=sys.stderr)
        return 2
    log.info("%d cuts -> %s (%.1f MB)", len(cache["cuts"]), out, out.stat().st_size / 1e6)
    return 0


def check_writable(out: Path) -> None:
    """Raise :class:`rnnt_kd.errors.UserError` unless ``out`` (and its temporary name) can be
    written: creates the parent directory and a probe file, which it removes."""
    from rnnt_kd.errors import UserError

    probe = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write {out}: {e}") from e


def cli(argv: list[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.cache_teacher``: :func:`main` with every user error as one line."""
    return run_cli("cache_teacher", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
