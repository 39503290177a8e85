"""Checkpoints: atomic save, validated load, discovery and averaging that keeps sparsity.

A checkpoint is a dict saved with ``torch.save``::

    {"model": plain state dict (pruned weights hold their zeros under the plain names),
     "masks": {param_name: bool tensor} or {},   # pruning masks, re-applied after loading
     "model_config": TransducerConfig.to_dict(),
     "optimizer", "scheduler", "pruner", "sampler", "grad_scaler": states or None,
     "params": {"cur_epoch", "batch_idx_train", ...}, "tokenizer_sha256": str or None}

Every entry is a tensor or a plain value (dict, list, tuple, str, number, bool, None): files are
read with ``torch.load(weights_only=True)``, so a crafted file cannot run code on load.

Files are written to ``<name>.tmp`` and renamed, so a kill never leaves a truncated
``epoch-N.pt``; a file that fails to load is reported by name and skipped by the finders.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated or incompatible."""


def save_checkpoint(path: Path | str, state: Dict[str, Any]) -> Path:
    """Atomically write ``state`` to ``path`` (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path | str) -> Dict[str, Any]:
    """Load a checkpoint on the CPU; raise :class:`CheckpointError` naming the file if it is bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        # weights_only: tensors and plain containers only; a pickled object (which could run
        # code on load) is refused, never constructed
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} holds pickled Python objects, not only tensors and plain values; rnnt-kd "
            "does not unpickle them (a model file could run code). If you trust the file (e.g. "
            "written by an older rnnt-kd), convert it once: python "
            f"local/convert_checkpoint.py --trust {path} <new file>"
        ) from e
    except Exception as e:  # noqa: BLE001 - truncated/corrupt files raise many exception types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"cannot load checkpoint {path} (truncated or corrupt?): {first}"
        ) from e
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not an rnnt-kd checkpoint (no 'model' entry)")
    return state


_EPOCH_RE = re.compile(r"^epoch-(\d+)\.pt$")
_BATCH_RE = re.compile(r"^checkpoint-(\d+)\.pt$")


def epoch_checkpoint(exp_dir: Path | str, epoch: int) -> Path:
    return Path(exp_dir) / f"epoch-{epoch}.pt"


def list_checkpoints(exp_dir: Path | str) -> List[Tuple[str, int, Path]]:
    """All ``epoch-N.pt`` ("epoch", N, path) and ``checkpoint-B.pt`` ("batch", B, path) files."""
    out = []
    for p in Path(exp_dir).glob("*.pt"):
        if m := _EPOCH_RE.match(p.name):
            out.append(("epoch", int(m.group(1)), p))
        elif m := _BATCH_RE.match(p.name):
            out.append(("batch", int(m.group(1)), p))
    return out


def find_latest_good_checkpoint(exp_dir: Path | str) -> Optional[Tuple[Path, Dict[str, Any]]]:
    """The loadable checkpoint with the largest training step, skipping (with a warning) bad files.

    On a tie (a batch checkpoint written at an epoch's last step) the epoch checkpoint wins.
    Only the best state so far is kept in memory. Returns ``(path, state)`` or None when no
    usable checkpoint exists.
    """
    best: Optional[Tuple[Tuple[int, int, float], Path, Dict[str, Any]]] = None
    for kind, _, path in list_checkpoints(exp_dir):
        try:
            state = load_checkpoint(path)
        except CheckpointError as e:
            log.warning("skipping bad checkpoint: %s", e)
            continue
        step = int(state.get("params", {}).get("batch_idx_train", -1))
        key = (step, int(kind == "epoch"), path.stat().st_mtime)
        if best is None or key > best[0]:
            best = (key, path, state)
        del state
    return None if best is None else (best[1], best[2])


def remove_stale_temp_files(exp_dir: Path | str) -> List[Path]:
    """Delete ``*.pt.tmp<pid>`` files left by a run killed while saving; returns them."""
    stale = [p for p in Path(exp_dir).glob("*.pt.tmp*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def remove_old_batch_checkpoints(exp_dir: Path | str, keep_last: int) -> None:
    """Keep only the ``keep_last`` newest ``checkpoint-B.pt`` files (0 keeps all)."""
    if keep_last <= 0:
        return
    batches = sorted((n, p) for kind, n, p in list_checkpoints(exp_dir) if kind == "batch")
    for _, p in batches[:-keep_last]:
        p.unlink(missing_ok=True)


def remove_old_epoch_checkpoints(exp_dir: Path | str, keep_last: int) -> List[Path]:
    """Keep the ``keep_last`` newest ``epoch-N.pt`` files (0 keeps all); returns the removed."""
    if keep_last <= 0:
        return []
    epochs = sorted((n, p) for kind, n, p in list_checkpoints(exp_dir) if kind == "epoch")
    removed = [p for _, p in epochs[:-keep_last]]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def average_state_dicts(states: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Element-wise mean of model state dicts (float tensors; integer buffers taken from the last).

    Averaging destroys sparsity (a weight pruned late is non-zero in earlier checkpoints): callers
    must re-apply the newest checkpoint's masks, as :func:`averaged_model_state` does.
    """
    if not states:
        raise ValueError("nothing to average")
    keys = list(states[-1].keys())
    for s in states:
        if list(s.keys()) != keys:
            raise CheckpointError("checkpoints to average hold different parameters")
    avg = {}
    for k in keys:
        if states[-1][k].is_floating_point():
            acc = torch.zeros_like(states[-1][k], dtype=torch.float64)
            for s in states:
                acc += s[k].to(torch.float64)
            avg[k] = (acc / len(states)).to(states[-1][k].dtype)
        else:
            avg[k] = states[-1][k].clone()
    return avg


def apply_masks_to_state(
    state: Dict[str, torch.Tensor], masks: Dict[str, torch.Tensor]
) -> Dict[str, torch.Tensor]:
    """Zero the entries of each masked parameter in a plain state dict (returns a new dict)."""
    out = dict(state)
    for name, mask in masks.items():
        if name not in out:
            raise CheckpointError(f"mask for unknown parameter '{name}'")
        out[name] = out[name] * mask.to(out[name].dtype)
    return out


def averaged_model_state(
    exp_dir: Path | str, epoch: int, avg: int
) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Average ``epoch-(epoch-avg+1).pt .. epoch-{epoch}.pt`` and re-apply the last one's masks.

    Returns ``(model_state, last_checkpoint)``. Raises :class:`CheckpointError` naming every
    missing file when the experiment directory lacks the requested epochs.
    """
    if epoch < 1 or avg < 1 or avg > epoch:
        raise CheckpointError(f"--epoch {epoch} --avg {avg}: need 1 <= avg <= epoch")
    paths = [epoch_checkpoint(exp_dir, e) for e in range(epoch - avg + 1, epoch + 1)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CheckpointError(
            f"--epoch {epoch} --avg {avg} needs {len(paths)} checkpoints; missing: "
            + ", ".join(missing)
        )
    ckpts = [load_checkpoint(p) for p in paths]
    last = ckpts[-1]
    log.info("averaging %s", ", ".join(p.name for p in paths))
    state = average_state_dicts([c["model"] for c in ckpts])
    masks = last.get("masks") or {}
    if masks:
        state = apply_masks_to_state(state, masks)
    return state, last
