"""Building models from checkpoints and exports: ``--init-from``, teachers, ``--epoch/--avg``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Tuple

import torch

from rnnt_kd.checkpoint.export import expand_state_dict
from rnnt_kd.checkpoint.files import CheckpointError, averaged_model_state, load_checkpoint
from rnnt_kd.model import Transducer, TransducerConfig

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


def check_tokenizer(
    model: Transducer, ckpt: Dict[str, Any], tokenizer: Any, bpe_model: Any
) -> None:
    """Raise :class:`CheckpointError` unless ``tokenizer`` (a ``rnnt_kd.data.Tokenizer`` read from
    ``bpe_model``) is the one the model was trained with: the same sha256 when the checkpoint
    records it, and the same vocabulary size."""
    sha = ckpt.get("tokenizer_sha256")
    if sha and sha != tokenizer.sha256:
        raise CheckpointError(
            f"{bpe_model} is not the BPE model this checkpoint was trained with (sha256 differs)"
        )
    if model.config.vocab_size != tokenizer.vocab_size:
        raise CheckpointError(
            f"{bpe_model} has {tokenizer.vocab_size} tokens, the model {model.config.vocab_size}"
        )
