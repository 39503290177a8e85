"""Knowledge distillation: the y/blank lattice loss and everything a teacher brings to a student.

- :mod:`~rnnt_kd.kd.losses`: the losses (``lattice_distill_loss``: full lattice, y/blank/rest;
  band variants on k2's pruned band; full-vocabulary KL), brute-force references beside them.
- :mod:`~rnnt_kd.kd.term`: the KD term of one batch from both models' outputs or a cached band.
- :mod:`~rnnt_kd.kd.teacher`: the teacher interface and its kinds (online, online on other
  inputs, cached band) and teacher loading.
- :mod:`~rnnt_kd.kd.cache`: the teacher's band computed once for every student.
- :mod:`~rnnt_kd.kd.inputs`: features the teacher hears instead of the student's.
"""

from rnnt_kd.kd.losses import (
    band_distill_loss,
    band_distill_loss_from_logits,
    full_vocab_distill_loss,
    lattice_distill_loss,
)
from rnnt_kd.kd.teacher import (
    CachedTeacher,
    KDBatch,
    OnlineTeacher,
    OtherInputsTeacher,
    load_teacher_model,
)

__all__ = [
    "CachedTeacher",
    "KDBatch",
    "OnlineTeacher",
    "OtherInputsTeacher",
    "band_distill_loss",
    "band_distill_loss_from_logits",
    "full_vocab_distill_loss",
    "lattice_distill_loss",
    "load_teacher_model",
]
