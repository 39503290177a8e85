"""Building models from checkpoints: teachers, ``--init-from``, decoding with ``--epoch/--avg``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from rnnt_kd.model import Transducer, TransducerConfig
from rnnt_kd.train.checkpoint import CheckpointError, averaged_model_state, load_checkpoint
from rnnt_kd.train.export import expand_state_dict

log = logging.getLogger(__name__)


def model_from_state(
    state: Dict[str, torch.Tensor], config: Dict[str, Any] | TransducerConfig
) -> Transducer:
    """A plain (unpruned-container) Transducer holding ``state``."""
    cfg = config if isinstance(config, TransducerConfig) else TransducerConfig.from_dict(config)
    model = Transducer(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model


def load_model(path: Path | str) -> Tuple[Transducer, Dict[str, Any]]:
    """Model (eval mode) and the raw checkpoint dict from one checkpoint or exported file."""
    ckpt = load_checkpoint(path)
    if "model_config" not in ckpt:
        raise CheckpointError(f"{path} has no model_config")
    model = model_from_state(expand_state_dict(ckpt), ckpt["model_config"])
    model.eval()
    return model, ckpt


def load_averaged_model(
    exp_dir: Path | str, epoch: int, avg: int
) -> Tuple[Transducer, Dict[str, Any]]:
    """Average ``--avg`` epoch checkpoints ending at ``--epoch`` (masks re-applied), eval mode."""
    state, last = averaged_model_state(exp_dir, epoch, avg)
    model = model_from_state(state, last["model_config"])
    model.eval()
    return model, last


def load_teacher(
    path: Path | str, student_config: TransducerConfig, device: Optional[torch.device] = None
) -> Transducer:
    """Frozen teacher (eval mode, no grad). Vocabulary and blank id must match the student's."""
    teacher, _ = load_model(path)
    tc = teacher.config
    if tc.vocab_size != student_config.vocab_size or tc.blank_id != student_config.blank_id:
        raise CheckpointError(
            f"teacher {path} has vocab_size={tc.vocab_size}, blank_id={tc.blank_id}; the student "
            f"has vocab_size={student_config.vocab_size}, blank_id={student_config.blank_id}: "
            "they must match (train both with the same BPE model)"
        )
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher.eval()
    if device is not None:
        teacher.to(device)
    return teacher
