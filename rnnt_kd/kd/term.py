"""The distillation term of one batch: KL(teacher || student) summed over lattice nodes.

Chooses the loss of :mod:`rnnt_kd.kd.losses` that ``DistillSettings`` ask for (y/blank/rest or
the whole vocabulary; the pruned band or the full lattice; a temperature), given both models'
forward outputs (:class:`rnnt_kd.model.TransducerOutput`) or the student's output and a cached
teacher band (:class:`rnnt_kd.kd.cache.TeacherBand`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnt_kd.kd import losses
from rnnt_kd.kd.cache import TeacherBand
from rnnt_kd.model import BandScores, Transducer, TransducerOutput


def student_band(s_out: TransducerOutput) -> BandScores:
    """The student's scores on the band the KD term uses: the teacher's band when the student
    was also run on it (``forward(kd_ranges=...)``), else the student's own band."""
    if s_out.kd_band is not None:
        return s_out.kd_band
    return BandScores(s_out.ranges, s_out.logits, s_out.px, s_out.py)


def kd_term_from_outputs(
    student: Transducer,
    teacher: Transducer,
    s_out: TransducerOutput,
    t_out: TransducerOutput,
    targets: Tensor,
    target_lens: Tensor,
    distill_type: str,
    distill_lattice: str,
    temperature: float,
) -> Tensor:
    """KL(teacher || student) (scalar, summed) on the teacher's pruned band (the student scored
    on it: :func:`student_band`) or the full lattice.

    On the pruned band the three classes come from the band logits at every temperature (as on
    the cached path), not from the pruned loss's px/py: P_rest = 1 - P_y - P_blank of float32
    log-probs loses a small P_rest (see :func:`rnnt_kd.kd.losses.band_distill_loss`).
    targets (B, U) padded with blank, target_lens (B,).
    """
    boundary = s_out.boundary
    if distill_lattice == "pruned":
        s_band = student_band(s_out)
        if not torch.equal(s_band.ranges, t_out.ranges):
            raise RuntimeError("the KD term needs both models on the same band")
        if distill_type == "ybr":
            return losses.band_distill_loss_from_logits(
                s_band.logits,
                t_out.logits.detach(),
                targets,
                s_band.ranges,
                boundary,
                blank_id=student.blank_id,
                temperature=temperature,
                reduction="sum",
            )
        mask = losses.band_node_mask(s_band.ranges, boundary)
        return losses.full_vocab_distill_loss(
            s_band.logits, t_out.logits.detach(), mask, temperature=temperature, reduction="sum"
        )
    # full lattice: O(T*U*V) joiner outputs for both models (the costly baseline)
    s_logits = student.full_logits(s_out.encoder_out, targets)
    with torch.no_grad():
        t_logits = teacher.full_logits(t_out.encoder_out, targets)
    if distill_type == "ybr":
        return losses.lattice_distill_loss(
            s_logits,
            t_logits,
            targets,
            s_out.encoder_out_lens,
            target_lens,
            blank_id=student.blank_id,
            temperature=temperature,
            reduction="sum",
        )
    mask = losses.lattice_node_mask(
        s_out.encoder_out_lens, target_lens, s_logits.size(1), s_logits.size(2)
    )
    return losses.full_vocab_distill_loss(
        s_logits, t_logits, mask, temperature=temperature, reduction="sum"
    )


def kd_term_from_band(
    student: Transducer,
    s_out: TransducerOutput,
    band: TeacherBand,
    targets: Tensor,
    temperature: float,
) -> Tensor:
    """KL(teacher || student) (scalar, summed) against a cached teacher band; the student must
    have been scored on the band's ranges (``forward(kd_ranges=band.ranges)``)."""
    if not torch.equal(band.lens.to(s_out.encoder_out_lens.device), s_out.encoder_out_lens):
        raise RuntimeError(
            "the cached teacher band has other frame counts than the student's encoder output "
            f"({band.lens.tolist()} vs {s_out.encoder_out_lens.tolist()}): the cache was built "
            "from other features or a teacher with another front-end"
        )
    s_band = student_band(s_out)
    if not torch.equal(s_band.ranges, band.ranges.to(s_band.ranges.device)):
        raise RuntimeError("the student was not scored on the cached teacher band")
    return losses.band_distill_loss_from_teacher_log_probs(
        s_band.logits,
        band.log_probs,
        targets,
        s_band.ranges,
        s_out.boundary,
        blank_id=student.blank_id,
        temperature=temperature,
        reduction="sum",
    )
