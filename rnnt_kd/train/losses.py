"""One training step's loss: simple + pruned RNN-T loss (with warm-up) + distillation term.

    loss = simple_scale * L_simple + pruned_scale * L_pruned + ctc_scale * L_ctc
           + distill_scale * L_distill

All terms are sums over the batch (icefall convention); they are reported per frame by the
caller. The distillation term (:mod:`rnnt_kd.kd.term`) compares the student with a frozen
teacher (:mod:`rnnt_kd.kd.teacher`: online, online on other inputs, or a cached band).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from rnnt_kd.kd.teacher import KDBatch, OnlineTeacher
from rnnt_kd.kd.term import kd_term_from_band, kd_term_from_outputs
from rnnt_kd.model import Transducer, TransducerOutput
from rnnt_kd.settings import DistillSettings, LossSettings


def loss_scales(step: int, cfg: LossSettings) -> Tuple[float, float]:
    """(simple_scale, pruned_scale) at training step ``step``: icefall's warm-up moves weight from
    the simple to the pruned loss over ``model_warm_step`` steps (1.0 -> s, 0.1 -> 1.0)."""
    if cfg.model_warm_step <= 0 or step >= cfg.model_warm_step:
        return cfg.simple_loss_scale, 1.0
    w = step / cfg.model_warm_step
    return 1.0 - w * (1.0 - cfg.simple_loss_scale), 0.1 + 0.9 * w


def _unwrap(model: torch.nn.Module) -> Transducer:
    return model.module if hasattr(model, "module") else model  # DDP


def compute_loss(
    model: torch.nn.Module,
    batch: KDBatch,
    cfg: LossSettings,
    step: int,
    teacher: Optional[OnlineTeacher] = None,
    kd: Optional[DistillSettings] = None,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Total loss (scalar, summed over the batch) and its parts as floats.

    ``batch``: features (B, T, F), feature_lens (B,), targets (B, U) padded with blank,
    target_lens (B,), cut ids (training batches). ``teacher`` (None: plain RNN-T) and ``kd``
    (its settings; default ``DistillSettings()``) add the distillation term. ``info`` holds
    ``frames`` (sum of encoder output lengths), ``simple_loss``, ``pruned_loss``, ``ctc_loss``,
    ``distill_loss`` and ``loss`` (sums) for per-frame reporting.
    """
    kd = kd or DistillSettings()
    use_kd = teacher is not None and kd.distill_scale > 0

    def student(kd_ranges: Optional[torch.Tensor] = None) -> TransducerOutput:
        # the student's RNN-T loss is always on its own band (as without KD); the KD term on
        # the teacher's band scores the student there too (one more joiner pass on a band)
        return model(
            batch.features,
            batch.feature_lens,
            batch.targets,
            batch.target_lens,
            prune_range=cfg.prune_range,
            am_scale=cfg.am_scale,
            lm_scale=cfg.lm_scale,
            kd_ranges=kd_ranges,
        )

    def run_teacher(ranges: Optional[torch.Tensor] = None) -> TransducerOutput:
        return teacher.run(batch, cfg.prune_range, cfg.am_scale, cfg.lm_scale, ranges)

    band = teacher.cached_band(batch) if teacher is not None else None
    if band is not None:
        if (kd.distill_type, kd.distill_lattice, kd.distill_band) != ("ybr", "pruned", "teacher"):
            raise ValueError(
                "a cached teacher band needs distill_type ybr, distill_lattice pruned and "
                f"distill_band teacher, got {kd.distill_type}/{kd.distill_lattice}/"
                f"{kd.distill_band}"
            )
        if kd.distill_scale <= 0:
            return _total(student(), None, batch, cfg, kd, step)
        s_out = student(band.ranges)
        term = kd_term_from_band(_unwrap(model), s_out, band, batch.targets, kd.distill_temperature)
        return _total(s_out, term, batch, cfg, kd, step)

    t_out: Optional[TransducerOutput] = None
    band_from_teacher = use_kd and kd.distill_lattice == "pruned" and kd.distill_band == "teacher"
    if use_kd and (band_from_teacher or kd.distill_lattice == "full"):
        t_out = run_teacher()
    s_out = student(t_out.ranges if band_from_teacher else None)
    if use_kd and t_out is None:  # band from the student: score the teacher on the student's band
        t_out = run_teacher(s_out.ranges)
    if use_kd and not torch.equal(t_out.encoder_out_lens, s_out.encoder_out_lens):
        raise RuntimeError(
            "teacher and student give different encoder output lengths; they "
            "must share the subsampling front-end"
        )
    term = None
    if use_kd:
        term = kd_term_from_outputs(
            _unwrap(model),
            teacher.model,
            s_out,
            t_out,
            batch.targets,
            batch.target_lens,
            kd.distill_type,
            kd.distill_lattice,
            kd.distill_temperature,
        )
    return _total(s_out, term, batch, cfg, kd, step)


def _total(
    s_out: TransducerOutput,
    term: Optional[torch.Tensor],
    batch: KDBatch,
    cfg: LossSettings,
    kd: DistillSettings,
    step: int,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Weighted sum of the student's losses and the KD term (None: no KD), and its parts."""
    simple_scale, pruned_scale = loss_scales(step, cfg)
    loss = simple_scale * s_out.simple_loss + pruned_scale * s_out.pruned_loss
    if cfg.ctc_loss_scale > 0 and s_out.ctc_loss is not None:
        loss = loss + cfg.ctc_loss_scale * s_out.ctc_loss
    if term is None:
        term = torch.zeros((), device=loss.device)
    else:
        loss = loss + kd.distill_scale * term
    info = {
        "frames": float(s_out.encoder_out_lens.sum()),
        "utterances": float(batch.features.size(0)),
        "simple_loss": float(s_out.simple_loss.detach()),
        "pruned_loss": float(s_out.pruned_loss.detach()),
        "ctc_loss": float(s_out.ctc_loss.detach()) if s_out.ctc_loss is not None else 0.0,
        "distill_loss": float(term.detach()),
        "loss": float(loss.detach()),
    }
    return loss, info
