"""One training step's loss: simple + pruned RNN-T loss (with warm-up) + distillation term.

    loss = simple_scale * L_simple + pruned_scale * L_pruned + distill_scale * L_distill

All terms are sums over the batch (icefall convention); they are reported per frame by the
caller. The distillation term (see :mod:`rnnt_kd.distill`) compares the student with a frozen
teacher on either the pruned band or the full lattice, over three classes (y, blank, rest:
``ybr``) or the whole vocabulary (``full-vocab``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch

from rnnt_kd import distill
from rnnt_kd.model import Transducer, TransducerOutput
from rnnt_kd.train.teacher_cache import TeacherBand


@dataclass
class LossConfig:
    prune_range: int = 5
    lm_scale: float = 0.25
    am_scale: float = 0.0
    simple_loss_scale: float = 0.5
    warm_steps: int = 2000
    ctc_loss_scale: float = 0.0  # needs a model with use_ctc
    distill_scale: float = 0.0
    distill_temperature: float = 1.0
    distill_type: str = "ybr"  # "ybr" | "full-vocab"
    distill_lattice: str = "pruned"  # "pruned" | "full"
    distill_band: str = "teacher"  # whose prune ranges define the band: "teacher" | "student"

    def __post_init__(self) -> None:
        if self.distill_type not in ("ybr", "full-vocab"):
            raise ValueError(f"distill_type must be ybr or full-vocab, got {self.distill_type!r}")
        if self.distill_lattice not in ("pruned", "full"):
            raise ValueError(
                f"distill_lattice must be pruned or full, got {self.distill_lattice!r}"
            )
        if self.distill_band not in ("teacher", "student"):
            raise ValueError(f"distill_band must be teacher or student, got {self.distill_band!r}")
        if self.distill_temperature <= 0:
            raise ValueError("distill_temperature must be > 0")


def loss_scales(step: int, cfg: LossConfig) -> Tuple[float, float]:
    """(simple_scale, pruned_scale) at training step ``step``: icefall's warm-up moves weight from
    the simple to the pruned loss over ``warm_steps`` steps (1.0 -> s, 0.1 -> 1.0)."""
    if cfg.warm_steps <= 0 or step >= cfg.warm_steps:
        return cfg.simple_loss_scale, 1.0
    w = step / cfg.warm_steps
    return 1.0 - w * (1.0 - cfg.simple_loss_scale), 0.1 + 0.9 * w


def _unwrap(model: torch.nn.Module) -> Transducer:
    return model.module if hasattr(model, "module") else model  # DDP


def compute_loss(
    model: torch.nn.Module,
    features: torch.Tensor,
    feature_lens: torch.Tensor,
    targets: torch.Tensor,
    target_lens: torch.Tensor,
    cfg: LossConfig,
    step: int,
    teacher: Optional[Transducer] = None,
    teacher_features: Optional[torch.Tensor] = None,
    teacher_band: Optional[TeacherBand] = None,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Total loss (scalar, summed over the batch) and its parts as floats.

    features (B, T, F), feature_lens (B,), targets (B, U) padded with blank, target_lens (B,).
    ``teacher_features`` (B, T, F): what the teacher hears instead of ``features`` (same
    lengths; e.g. the clean originals of far-field copies, ``rnnt_kd.data.teacher_inputs``).
    ``info`` holds ``frames`` (sum of encoder output lengths), ``simple_loss``, ``pruned_loss``,
    ``distill_loss`` (sums) for per-frame reporting.
    ``teacher_band``: the teacher's band for this batch, precomputed
    (:mod:`rnnt_kd.train.teacher_cache`); the teacher is then not run (needs the pruned-band
    y/blank KD with the teacher's band, the recipe default).
    """
    if teacher_band is not None:
        return _loss_with_cached_teacher(
            model, features, feature_lens, targets, target_lens, cfg, step, teacher_band
        )
    use_kd = teacher is not None and cfg.distill_scale > 0

    def run(m: torch.nn.Module, ranges: Optional[torch.Tensor] = None) -> TransducerOutput:
        hears_other = m is teacher and teacher_features is not None
        return m(
            teacher_features if hears_other else features,
            feature_lens,
            targets,
            target_lens,
            prune_range=cfg.prune_range,
            am_scale=cfg.am_scale,
            lm_scale=cfg.lm_scale,
            ranges=ranges,
        )

    t_out: Optional[TransducerOutput] = None
    band_from_teacher = use_kd and cfg.distill_lattice == "pruned" and cfg.distill_band == "teacher"
    if use_kd and (band_from_teacher or cfg.distill_lattice == "full"):
        with torch.no_grad():
            t_out = run(teacher)
    s_out = run(model, t_out.ranges if band_from_teacher else None)
    if use_kd and t_out is None:  # band from the student: score the teacher on the student's band
        with torch.no_grad():
            t_out = run(teacher, s_out.ranges)
    if use_kd and not torch.equal(t_out.encoder_out_lens, s_out.encoder_out_lens):
        raise RuntimeError(
            "teacher and student give different encoder output lengths; they "
            "must share the subsampling front-end"
        )

    kd = None
    if use_kd:
        kd = distillation_term(model, teacher, s_out, t_out, targets, target_lens, cfg)
    return _total(s_out, kd, features.size(0), cfg, step)


def _loss_with_cached_teacher(
    model: torch.nn.Module,
    features: torch.Tensor,
    feature_lens: torch.Tensor,
    targets: torch.Tensor,
    target_lens: torch.Tensor,
    cfg: LossConfig,
    step: int,
    band: TeacherBand,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """:func:`compute_loss` with the teacher's band read from a cache instead of computed."""
    if (
        cfg.distill_type != "ybr"
        or cfg.distill_lattice != "pruned"
        or cfg.distill_band != "teacher"
    ):
        raise ValueError(
            "a cached teacher band needs distill_type ybr, distill_lattice pruned and "
            f"distill_band teacher, got {cfg.distill_type}/{cfg.distill_lattice}/{cfg.distill_band}"
        )
    s_out = model(
        features,
        feature_lens,
        targets,
        target_lens,
        prune_range=cfg.prune_range,
        am_scale=cfg.am_scale,
        lm_scale=cfg.lm_scale,
        ranges=band.ranges,
    )
    if not torch.equal(band.lens.to(s_out.encoder_out_lens.device), s_out.encoder_out_lens):
        raise RuntimeError(
            "the cached teacher band has other frame counts than the student's encoder output "
            f"({band.lens.tolist()} vs {s_out.encoder_out_lens.tolist()}): the cache was built "
            "from other features or a teacher with another front-end"
        )
    kd = None
    if cfg.distill_scale > 0:
        kd = distill.band_distill_loss_from_teacher_log_probs(
            s_out.logits,
            band.log_probs,
            targets,
            s_out.ranges,
            s_out.boundary,
            blank_id=_unwrap(model).blank_id,
            temperature=cfg.distill_temperature,
            reduction="sum",
        )
    return _total(s_out, kd, features.size(0), cfg, step)


def _total(
    s_out: TransducerOutput,
    kd: Optional[torch.Tensor],
    num_utterances: int,
    cfg: LossConfig,
    step: int,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Weighted sum of the student's losses and the KD term (None: no KD), and its parts."""
    simple_scale, pruned_scale = loss_scales(step, cfg)
    loss = simple_scale * s_out.simple_loss + pruned_scale * s_out.pruned_loss
    if cfg.ctc_loss_scale > 0 and s_out.ctc_loss is not None:
        loss = loss + cfg.ctc_loss_scale * s_out.ctc_loss
    if kd is None:
        kd = torch.zeros((), device=loss.device)
    else:
        loss = loss + cfg.distill_scale * kd
    info = {
        "frames": float(s_out.encoder_out_lens.sum()),
        "utterances": float(num_utterances),
        "simple_loss": float(s_out.simple_loss.detach()),
        "pruned_loss": float(s_out.pruned_loss.detach()),
        "ctc_loss": float(s_out.ctc_loss.detach()) if s_out.ctc_loss is not None else 0.0,
        "distill_loss": float(kd.detach()),
        "loss": float(loss.detach()),
    }
    return loss, info


def distillation_term(
    model: torch.nn.Module,
    teacher: Transducer,
    s_out: TransducerOutput,
    t_out: TransducerOutput,
    targets: torch.Tensor,
    target_lens: torch.Tensor,
    cfg: LossConfig,
) -> torch.Tensor:
    """KL(teacher || student) summed over lattice nodes, per ``cfg`` (type, lattice, temperature).

    On the pruned band the three classes come from the band logits at every temperature (as on
    the cached path), not from the pruned loss's px/py: P_rest = 1 - P_y - P_blank from float32
    log-probs loses a small P_rest (see :func:`rnnt_kd.distill.band_distill_loss`).
    """
    boundary = s_out.boundary
    if cfg.distill_lattice == "pruned":
        if cfg.distill_type == "ybr":
            return distill.band_distill_loss_from_logits(
                s_out.logits,
                t_out.logits.detach(),
                targets,
                s_out.ranges,
                boundary,
                blank_id=_unwrap(model).blank_id,
                temperature=cfg.distill_temperature,
                reduction="sum",
            )
        mask = distill.band_node_mask(s_out.ranges, boundary)
        return distill.full_vocab_distill_loss(
            s_out.logits,
            t_out.logits.detach(),
            mask,
            temperature=cfg.distill_temperature,
            reduction="sum",
        )
    # full lattice: O(T*U*V) joiner outputs for both models (the costly baseline)
    student = _unwrap(model)
    s_logits = student.full_logits(s_out.encoder_out, targets)
    with torch.no_grad():
        t_logits = teacher.full_logits(t_out.encoder_out, targets)
    if cfg.distill_type == "ybr":
        return distill.lattice_distill_loss(
            s_logits,
            t_logits,
            targets,
            s_out.encoder_out_lens,
            target_lens,
            blank_id=student.blank_id,
            temperature=cfg.distill_temperature,
            reduction="sum",
        )
    mask = distill.lattice_node_mask(
        s_out.encoder_out_lens, target_lens, s_logits.size(1), s_logits.size(2)
    )
    return distill.full_vocab_distill_loss(
        s_logits, t_logits, mask, temperature=cfg.distill_temperature, reduction="sum"
    )
