"""Exported models: averaged weights only, sparse weights stored as a bitmask + non-zero values.

A sparse student's checkpoint holds its zeros like any other weight, so 90 % sparsity saves no
disk. :func:`export_model` writes what inference needs (icefall's ``pretrained.pt``: weights,
model config, tokenizer hash; no optimizer, scheduler or masks) and stores every weight tensor
that is at least ``min_sparsity`` zeros (default: any, when packing is smaller) as
``{"shape", "bits", "values"}``: one bit per entry (``numpy.packbits`` of the non-zero
pattern) and the non-zero values in order. Per weight that is
N/8 + 4·nnz bytes instead of 4·N: 0.13x the dense size at 90 % sparsity, 0.43x at 60 %.
torch's own sparse layouts are not used: they store 8-byte indices per non-zero (a 2-D weight:
COO two, 0.5x / 2.0x the dense size at 90 % / 60 %; CSR one, 0.3x / 1.2x), and CSR
serialisation is still marked beta.

:func:`expand_state_dict` restores the dense state dict; ``model_io.load_model`` calls it, so
``decode --checkpoint`` and ``transcribe --checkpoint`` read exported files like checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from rnnt_kd.checkpoint.files import CheckpointError, save_checkpoint

EXPORT_FORMAT = "rnnt-kd-export-1"


def pack_sparse(weight: Tensor, dtype: Optional[torch.dtype] = None) -> Dict[str, Any]:
    """``weight`` (any shape) -> {"shape", "bits" (uint8, ceil(N/8)), "values" (nnz,)}."""
    flat = weight.detach().reshape(-1).cpu()
    nonzero = flat != 0
    bits = torch.from_numpy(np.packbits(nonzero.numpy()))
    values = flat[nonzero].clone()
    return {
        "shape": tuple(weight.shape),
        "bits": bits,
        "values": values.to(dtype) if dtype is not None else values,
    }


def unpack_sparse(packed: Dict[str, Any], dtype: torch.dtype = torch.float32) -> Tensor:
    """Inverse of :func:`pack_sparse` (values cast to ``dtype``)."""
    shape = tuple(packed["shape"])
    n = int(np.prod(shape)) if shape else 1
    nonzero = torch.from_numpy(np.unpackbits(packed["bits"].numpy(), count=n).astype(bool))
    values = packed["values"].to(dtype)
    if int(nonzero.sum()) != values.numel():
        raise CheckpointError(
            f"corrupt sparse weight: {int(nonzero.sum())} non-zero bits, {values.numel()} values"
        )
    out = torch.zeros(n, dtype=dtype)
    out[nonzero] = values
    return out.reshape(shape)


def _packed_bytes(n: int, nnz: int, value_bytes: int) -> int:
    return (n + 7) // 8 + nnz * value_bytes


def compact_state_dict(
    state: Dict[str, Tensor], min_sparsity: float = 0.0, dtype: Optional[torch.dtype] = None
) -> Tuple[Dict[str, Tensor], Dict[str, Dict[str, Any]]]:
    """Split ``state`` into (dense tensors, packed sparse tensors).

    A floating-point tensor with at least ``min_sparsity`` zeros is packed when that is smaller
    than storing it dense; ``dtype`` (e.g. ``torch.float16``) applies to every floating-point
    value stored. Buffers and integer tensors are kept as they are.
    """
    if not 0.0 <= min_sparsity <= 1.0:
        raise ValueError(f"min_sparsity must be in [0, 1], got {min_sparsity}")
    dense: Dict[str, Tensor] = {}
    packed: Dict[str, Dict[str, Any]] = {}
    for name, t in state.items():
        if not t.is_floating_point():
            dense[name] = t
            continue
        n, nnz = t.numel(), int(torch.count_nonzero(t))
        value_bytes = torch.empty(0, dtype=dtype or t.dtype).element_size()
        zeros = 1.0 - nnz / n if n else 0.0
        if n and zeros >= min_sparsity and _packed_bytes(n, nnz, value_bytes) < n * value_bytes:
            packed[name] = pack_sparse(t, dtype)
        else:
            dense[name] = t.to(dtype) if dtype is not None else t
    return dense, packed


def expand_state_dict(ckpt: Dict[str, Any]) -> Dict[str, Tensor]:
    """The dense float32 state dict of an exported file (or a checkpoint's ``model`` as is)."""
    if ckpt.get("format") != EXPORT_FORMAT:
        return ckpt["model"]
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    for name, packed in ckpt.get("sparse_weights", {}).items():
        state[name] = unpack_sparse(packed)
    return state


def export_model(
    state: Dict[str, Tensor],
    ckpt: Dict[str, Any],
    out: Path | str,
    min_sparsity: float = 0.0,
    dtype: Optional[torch.dtype] = None,
    source: Optional[Dict[str, Any]] = None,
) -> Path:
    """Write the inference file of ``state`` (a plain state dict with the masks applied).

    ``ckpt``: the checkpoint it came from (its ``model_config`` and ``tokenizer_sha256`` are
    kept); ``source``: free-form provenance (exp dir, epoch, avg) stored as ``export``.
    ``min_sparsity`` 1.0 stores every tensor dense.
    """
    if "model_config" not in ckpt:
        raise CheckpointError("the checkpoint has no model_config: cannot export")
    dense, packed = compact_state_dict(state, min_sparsity, dtype)
    return save_checkpoint(
        out,
        {
            "format": EXPORT_FORMAT,
            "model": dense,
            "sparse_weights": packed,
            "model_config": ckpt["model_config"],
            "tokenizer_sha256": ckpt.get("tokenizer_sha256"),
            "export": dict(source or {}, dtype=str(dtype or torch.float32)),
        },
    )
