"""The teacher of a distilled student: one interface, three kinds.

- :class:`OnlineTeacher`: a frozen model run on the student's batch at every step.
- :class:`OtherInputsTeacher`: an online teacher that hears other features than the student
  for the training cuts it has them for (e.g. the clean originals of far-field copies,
  :mod:`rnnt_kd.kd.inputs`).
- :class:`CachedTeacher`: training batches read the teacher's band from a file computed once
  (:mod:`rnnt_kd.kd.cache`); validation batches still run the model.

The loss (:func:`rnnt_kd.train.losses.compute_loss`) takes one optional teacher and asks it
either for a cached band (:meth:`OnlineTeacher.cached_band`, None for online teachers) or to
run the model (:meth:`OnlineTeacher.run`) on the features it hears
(:meth:`OnlineTeacher.features_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor

from rnnt_kd.checkpoint import CheckpointError, load_model
from rnnt_kd.kd.cache import TeacherBand, TeacherCache
from rnnt_kd.kd.inputs import TeacherInputs
from rnnt_kd.model import Transducer, TransducerConfig, TransducerOutput


@dataclass
class KDBatch:
    """One batch as both models see it: features (B, T, F), feature_lens (B,), targets (B, U)
    padded with blank, target_lens (B,); ``cut_ids`` for training batches (None for validation
    batches: caches and other inputs hold training cuts only)."""

    features: Tensor
    feature_lens: Tensor
    targets: Tensor
    target_lens: Tensor
    cut_ids: Optional[Sequence[str]] = None


class OnlineTeacher:
    """A frozen teacher model (eval mode, no gradients) run on the student's batch."""

    kind = "online"

    def __init__(self, model: Transducer) -> None:
        self.model = model

    def features_for(self, batch: KDBatch) -> Tensor:
        """(B, T, F): what the teacher hears for this batch."""
        return batch.features

    def cached_band(self, batch: KDBatch) -> Optional[TeacherBand]:
        """The teacher's precomputed band for a training batch, or None (run the model)."""
        return None

    @torch.no_grad()
    def run(
        self,
        batch: KDBatch,
        prune_range: int,
        am_scale: float,
        lm_scale: float,
        ranges: Optional[Tensor] = None,
    ) -> TransducerOutput:
        """The teacher's forward pass (``ranges`` (B, T', s): score it on a given band)."""
        return self.model(
            self.features_for(batch),
            batch.feature_lens,
            batch.targets,
            batch.target_lens,
            prune_range=prune_range,
            am_scale=am_scale,
            lm_scale=lm_scale,
            ranges=ranges,
        )

    def describe(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return f"{self.kind} teacher, {n} parameters"


class OtherInputsTeacher(OnlineTeacher):
    """An online teacher that hears ``inputs``' features for the training cuts (same lengths)."""

    kind = "online, other inputs"

    def __init__(self, model: Transducer, inputs: TeacherInputs) -> None:
        super().__init__(model)
        self.inputs = inputs

    def features_for(self, batch: KDBatch) -> Tensor:
        if batch.cut_ids is None:
            return batch.features
        return self.inputs.features(batch.features, batch.feature_lens, batch.cut_ids)

    def describe(self) -> str:
        return f"{super().describe()}; teacher hears other features for {len(self.inputs)} cuts"


class CachedTeacher(OnlineTeacher):
    """Training batches read the teacher's band from ``cache``; validation batches run it."""

    kind = "cached band"

    def __init__(self, model: Transducer, cache: TeacherCache) -> None:
        super().__init__(model)
        self.cache = cache

    def cached_band(self, batch: KDBatch) -> Optional[TeacherBand]:
        if batch.cut_ids is None:
            return None
        return self.cache.batch(
            batch.cut_ids, batch.target_lens, batch.targets.size(1), batch.features.device
        )

    def describe(self) -> str:
        return (
            f"{super().describe()}; teacher band of {len(self.cache)} training cuts read from "
            f"{self.cache.path} (the teacher runs on validation batches only)"
        )


def load_teacher_model(
    path: Path | str, student_config: TransducerConfig, device: Optional[torch.device] = None
) -> tuple[Transducer, Dict[str, Any]]:
    """A frozen teacher model (eval mode, no grad) and its checkpoint dict. Vocabulary and blank
    id must match the student's (:class:`CheckpointError` otherwise)."""
    teacher, ckpt = load_model(path)
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
    return teacher, ckpt
