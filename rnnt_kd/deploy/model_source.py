"""The trained model to deploy: ``--exp-dir/--epoch/--avg`` (averaged) or ``--checkpoint``.

The one place in ``rnnt_kd.deploy`` (and its CLIs, tests and benchmarks) that imports the
checkpoint API, so that moving it is a one-line change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from rnnt_kd.checkpoint import (
    CheckpointError,
    check_tokenizer,
    load_averaged_model,
    load_model,
    save_checkpoint,
)
from rnnt_kd.model import Transducer

__all__ = ["CheckpointError", "load_transducer", "save_checkpoint"]


def load_transducer(
    exp_dir: Optional[Path | str] = None,
    epoch: Optional[int] = None,
    avg: int = 1,
    checkpoint: Optional[Path | str] = None,
    bpe_model: Optional[Path | str] = None,
) -> Tuple[Transducer, Dict[str, Any]]:
    """The model (eval mode) and where it came from.

    Args:
      exp_dir, epoch, avg: average ``avg`` epoch checkpoints of ``exp_dir`` ending at ``epoch``
        (pruning masks re-applied), as ``decode --epoch E --avg A`` does; or
      checkpoint: one ``epoch-N.pt`` or a file written by ``rnnt_kd.bin.export``.
      bpe_model: if given, must be the BPE model the checkpoint was trained with (same sha256
        where the checkpoint records it, same vocabulary size).
    Returns:
      (model, source) with source ``{"checkpoint": path}`` or ``{"exp_dir", "epoch", "avg"}``.
    Raises:
      CheckpointError naming the file and the problem.
    """
    if checkpoint is not None:
        model, ckpt = load_model(checkpoint)
        source: Dict[str, Any] = {"checkpoint": str(checkpoint)}
    elif exp_dir is not None and epoch is not None:
        model, ckpt = load_averaged_model(exp_dir, epoch, avg)
        source = {"exp_dir": str(exp_dir), "epoch": epoch, "avg": avg}
    else:
        raise ValueError("give checkpoint, or exp_dir and epoch")
    if bpe_model is not None:
        from rnnt_kd.data import Tokenizer

        tokenizer = Tokenizer(bpe_model)
        check_tokenizer(model, ckpt, tokenizer, bpe_model)
    model.eval()
    return model, source
