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
from rnnt_kd.model import Transducer, TransducerOutput


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
    """KL(teacher || student) (scalar, summed), both models' outputs on the same band.

    On the pruned band with temperature 1, the y/blank log-probs px/py computed once by the
    model's forward feed both the pruned RNN-T loss and this term (no extra log-softmax).
    targets (B, U) padded with blank, target_lens (B,).
    """
    boundary = s_out.boundary
    if distill_lattice == "pruned":
        if distill_type == "ybr":
            if temperature == 1.0:
                return losses.band_distill_loss(
                    s_out.px,
                    s_out.py,
                    t_out.px,
                    t_out.py,
                    ranges=s_out.ranges,
                    boundary=boundary,
                    reduction="sum",
                )
            return losses.band_distill_loss_from_logits(
                s_out.logits,
                t_out.logits.detach(),
                targets,
                s_out.ranges,
                boundary,
                blank_id=student.blank_id,
                temperature=temperature,
                reduction="sum",
            )
        mask = losses.band_node_mask(s_out.ranges, boundary)
        return losses.full_vocab_distill_loss(
            s_out.logits, t_out.logits.detach(), mask, temperature=temperature, reduction="sum"
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
    """KL(teacher || student) (scalar, summed) against a cached teacher band; the student's
    output ``s_out`` must be computed on the band's ranges."""
    if not torch.equal(band.lens.to(s_out.encoder_out_lens.device), s_out.encoder_out_lens):
        raise RuntimeError(
            "the cached teacher band has other frame counts than the student's encoder output "
            f"({band.lens.tolist()} vs {s_out.encoder_out_lens.tolist()}): the cache was built "
            "from other features or a teacher with another front-end"
        )
    return losses.band_distill_loss_from_teacher_log_probs(
        s_out.logits,
        band.log_probs,
        targets,
        s_out.ranges,
        s_out.boundary,
        blank_id=student.blank_id,
        temperature=temperature,
        reduction="sum",
    )
