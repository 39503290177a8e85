#!/usr/bin/env python3
"""Export a trained model for inference (icefall's ``export.py``): averaged weights, no optimizer.

  python -m rnnt_kd.bin.export --exp-dir exp/student90 --epoch 4 --avg 2
  python -m rnnt_kd.bin.export --checkpoint exp/teacher/epoch-14.pt --out teacher.pt --dtype float16

Writes ``--out`` (default ``<exp-dir>/pretrained-epoch-E-avg-A.pt``), readable by
``decode --checkpoint`` and ``transcribe --checkpoint``. Weights that are at least
``--min-sparsity`` zeros (a pruned student's) are stored as a bitmask plus their non-zero values,
so the file shrinks with the sparsity (``rnnt_kd.checkpoint.export``). Prints a size summary
and, with ``--json``, writes it as JSON (with ``layer_sparsity``: each prunable tensor's share
of zeros).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import torch

from rnnt_kd.bin.cli_errors import one_line, run_cli
from rnnt_kd.bin.model_args import add_model_args, check_model_args

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_args(p, "export", exp_dir_required=False)
    p.add_argument("--out", default=None, help="output file (default: see above)")
    p.add_argument(
        "--min-sparsity",
        type=float,
        default=0.0,
        help="store a weight as bitmask + non-zero values when at least this share of it is "
        "zero and that saves space (default 0: whenever it saves space, i.e. > 3.1 %% zeros at "
        "float32); 1.0 stores every weight dense",
    )
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="stored precision")
    p.add_argument("--json", default=None, help="also write the size summary here")
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    check_model_args(args, parser)
    if not 0.0 <= args.min_sparsity <= 1.0:
        parser.error(f"--min-sparsity must be in [0, 1], got {args.min_sparsity}")


def main(argv: List[str] | None = None) -> Dict[str, Any]:
    parser = get_parser()
    args = parser.parse_args(argv)
    check_args(args, parser)
    from rnnt_kd import pruning
    from rnnt_kd.checkpoint import (
        CheckpointError,
        averaged_model_state,
        export_model,
        load_checkpoint,
        model_from_state,
    )
    from rnnt_kd.checkpoint.export import expand_state_dict
    from rnnt_kd.utils import setup_logger

    setup_logger(None)  # a fresh stderr handler, also when called in-process
    try:
        if args.checkpoint:
            ckpt = load_checkpoint(args.checkpoint)
            state = expand_state_dict(ckpt)
            source: Dict[str, Any] = {"checkpoint": str(args.checkpoint)}
            out = Path(args.out or Path(args.checkpoint).with_name("pretrained.pt"))
        else:
            state, ckpt = averaged_model_state(args.exp_dir, args.epoch, args.avg)
            source = {"exp_dir": str(args.exp_dir), "epoch": args.epoch, "avg": args.avg}
            out = Path(
                args.out or Path(args.exp_dir) / f"pretrained-epoch-{args.epoch}-avg-{args.avg}.pt"
            )
        path = export_model(state, ckpt, out, args.min_sparsity, DTYPES[args.dtype], source)
    except (CheckpointError, OSError) as e:
        sys.exit(f"export: error: {one_line(e)}")
    model = model_from_state(state, ckpt["model_config"])
    report = pruning.sparsity_report(model)
    total, nonzero = report.total_params, report.nonzero_params
    dense_bytes = sum(t.numel() * t.element_size() for t in state.values())
    summary = {
        "out": str(path),
        "params": total,
        "nonzero_params": nonzero,
        "sparsity": report.total_sparsity,
        "dense_float32_mb": dense_bytes / 1e6,
        "file_mb": path.stat().st_size / 1e6,
        "dtype": args.dtype,
        "layer_sparsity": pruning.layer_sparsity(model),
    }
    summary["file_vs_dense"] = summary["file_mb"] / summary["dense_float32_mb"]
    print(
        f"{path}: {nonzero / 1e6:.2f}M of {total / 1e6:.2f}M parameters non-zero "
        f"(sparsity {100 * summary['sparsity']:.1f} %), {summary['file_mb']:.2f} MB "
        f"({100 * summary['file_vs_dense']:.0f} % of the dense float32 weights, "
        f"{summary['dense_float32_mb']:.2f} MB)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.export``: :func:`main` with every user error as one line."""
    return run_cli("export", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
