"""Checkpoints and model files, for training and inference alike (no import of ``rnnt_kd.train``).

- :mod:`~rnnt_kd.checkpoint.files`: atomic save, safe load (``weights_only=True``: a model file is
  data, never code), discovery, retention, averaging that keeps sparsity.
- :mod:`~rnnt_kd.checkpoint.loading`: a ``Transducer`` from a checkpoint, an export or an
  ``--epoch/--avg`` average.
- :mod:`~rnnt_kd.checkpoint.export`: inference files with sparse weights packed.
"""

from rnnt_kd.checkpoint.export import export_model
from rnnt_kd.checkpoint.files import (
    CheckpointError,
    averaged_model_state,
    epoch_checkpoint,
    find_latest_good_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rnnt_kd.checkpoint.loading import (
    check_tokenizer,
    load_averaged_model,
    load_model,
    model_from_state,
)

__all__ = [
    "CheckpointError",
    "averaged_model_state",
    "check_tokenizer",
    "epoch_checkpoint",
    "export_model",
    "find_latest_good_checkpoint",
    "load_averaged_model",
    "load_checkpoint",
    "load_model",
    "model_from_state",
    "save_checkpoint",
]
