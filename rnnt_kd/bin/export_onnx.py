#!/usr/bin/env python3
"""Export a trained model to ONNX for sherpa-onnx (icefall's ``export-onnx.py``).

  python -m rnnt_kd.bin.export_onnx --exp-dir exp/student --epoch 4 --avg 2 \\
      --bpe-model data/lang_bpe_256/bpe.model --out-dir exp/student/onnx
  python -m rnnt_kd.bin.export_onnx --checkpoint exp/teacher/pretrained.pt \\
      --bpe-model data/lang_bpe_256/bpe.model --out-dir exp/teacher/onnx

Writes into ``--out-dir``: ``encoder.onnx``, ``decoder.onnx``, ``joiner.onnx`` (float32),
``encoder.int8.onnx``, ``decoder.int8.onnx``, ``joiner.int8.onnx`` (onnxruntime dynamic int8
quantisation), ``tokens.txt`` and ``bpe.vocab``: the files
``sherpa_onnx.OfflineRecognizer.from_transducer(encoder, decoder, joiner, tokens, ...)`` loads
(see docs/DEPLOY.md). Then it checks the files with onnxruntime against the PyTorch model and
writes ``export_onnx.json``: the source, parameter counts and sparsity, the largest
onnxruntime-vs-PyTorch differences, file sizes (float32, int8) and the size of each set
compressed as it would be shipped (``.tar.bz2`` of the three files and tokens.txt; kept as
``model-fp32.tar.bz2`` / ``model-int8.tar.bz2`` with ``--archives``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List

from rnnt_kd.bin.model_args import add_model_args, check_model_args

# onnxruntime vs PyTorch (float32 files): larger differences mean a broken export
MAX_ABS_DIFF = 1e-3
log = logging.getLogger("export_onnx")


def fail(message: str) -> None:
    """One line on stderr, exit status 2."""
    print(f"export_onnx: error: {message}", file=sys.stderr)
    sys.exit(2)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="export_onnx",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p, "export", exp_dir_required=False)
    p.add_argument("--bpe-model", required=True, help="the BPE model the model was trained with")
    p.add_argument("--out-dir", required=True, help="output directory")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 files")
    p.add_argument(
        "--archives",
        action="store_true",
        help="also keep the .tar.bz2 archives whose sizes export_onnx.json reports",
    )
    return p


def main(argv: List[str] | None = None) -> Dict[str, Any]:
    parser = get_parser()
    args = parser.parse_args(argv)
    check_model_args(args, parser)
    for f in (args.bpe_model, args.checkpoint):
        if f is not None and not Path(f).is_file():
            parser.error(f"no such file: {f}")
    from rnnt_kd.utils import setup_logger

    setup_logger(None)  # a fresh stderr handler, also when called in-process
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        fail(
            f"{e.name} is not installed (local/setup.sh, or pip install onnx onnxruntime "
            "onnxscript)"
        )

    from rnnt_kd import pruning
    from rnnt_kd.deploy.frontend import frontend_mismatches
    from rnnt_kd.deploy.model_source import CheckpointError, load_transducer
    from rnnt_kd.deploy.onnx_check import check_onnx
    from rnnt_kd.deploy.onnx_export import OPSET, export_transducer
    from rnnt_kd.deploy.sizes import size_summary

    try:
        model, source = load_transducer(
            args.exp_dir, args.epoch, args.avg, args.checkpoint, args.bpe_model
        )
    except (CheckpointError, OSError, ValueError) as e:
        fail(str(e))
    report = pruning.sparsity_report(model)
    out_dir = Path(args.out_dir)
    files = export_transducer(
        model,
        args.bpe_model,
        out_dir,
        int8=not args.no_int8,
        extra_metadata={"sparsity": f"{report.total_sparsity:.4f}"},
    )
    diffs = {"fp32": check_onnx(model, out_dir)}
    if not args.no_int8:
        diffs["int8"] = check_onnx(model, out_dir, int8=True)
    bad = {k: v for k, v in diffs["fp32"].items() if not v <= MAX_ABS_DIFF}
    if bad:
        fail(f"onnxruntime differs from PyTorch by {bad} (> {MAX_ABS_DIFF})")
    mismatches = frontend_mismatches()
    for m in mismatches:
        log.warning("sherpa-onnx's fbank differs from the training features: %s", m)
    sizes = size_summary(out_dir, out_dir if args.archives else None)
    import onnxruntime
    import torch

    summary: Dict[str, Any] = {
        "source": source,
        "out_dir": str(out_dir),
        "files": {k: str(v) for k, v in files.items()},
        "params": report.total_params,
        "nonzero_params": report.nonzero_params,
        "sparsity": report.total_sparsity,
        "opset": OPSET,
        "versions": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "max_abs_diff": diffs,
        "frontend_mismatches": mismatches,
        **sizes,
    }
    (out_dir / "export_onnx.json").write_text(json.dumps(summary, indent=1) + "\n")
    mb = {k: v / 1e6 for k, v in sizes["onnx_bytes"].items()}
    cmb = {k: v / 1e6 for k, v in sizes["tar_bz2_bytes"].items()}
    print(
        f"{out_dir}: {report.nonzero_params / 1e6:.2f}M of {report.total_params / 1e6:.2f}M "
        f"parameters non-zero; float32 {mb['fp32']:.2f} MB ({cmb['fp32']:.2f} MB .tar.bz2)"
        + (f", int8 {mb['int8']:.2f} MB ({cmb['int8']:.2f} MB .tar.bz2)" if "int8" in mb else "")
        + f"; onnxruntime vs PyTorch max |diff| {max(diffs['fp32'].values()):.1e}"
    )
    return summary


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.export_onnx``: :func:`main`, every user error as one line."""
    from rnnt_kd.bin.cli_errors import run_cli

    return run_cli("export_onnx", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
