"""Knowledge distillation losses for RNN-T output lattices.

The method (Panchapagesan et al., ICASSP 2021): at every lattice node (t, u) the V-way output
distribution is collapsed to three classes, y = P(y_{u+1} | t, u) (the correct next label),
blank = P(blank | t, u) and rest = 1 - y - blank, and the student is trained towards the teacher
with the KL divergence of these three-class distributions, summed over nodes and utterances::

    L = sum_{b, t < T_b, u <= U_b}  sum_{c in {y, blank, rest}}  Pt_c log(Pt_c / Ps_c)

On the last row (u = U_b) there is no next label: P_y = 0 and rest = 1 - blank. The teacher is
never differentiated.

Three variants, one job each:

- :func:`lattice_distill_loss`: the full lattice, logits (B, T, U+1, V).
- :func:`band_distill_loss_from_logits`: the pruned band, from the band logits
  (B, T, s_range, V) of student and teacher, scored on the same band (pass the teacher's
  ``ranges`` to the student forward). This is the one used in training, at every temperature;
  :func:`band_distill_loss_from_teacher_log_probs` is the same with the teacher's three
  log-probs read from a cache.
- :func:`band_distill_loss`: the same quantity from k2's band log-probs ``px``/``py``
  (``backend.get_rnnt_logprobs_pruned``, shared with the pruned RNN-T loss), temperature 1. It
  needs no pass over V, but P_rest = 1 - P_y - P_blank is then a difference, and px/py carry
  the rounding of ``logit - logsumexp`` (about ``eps * |logsumexp|``): in float32 a P_rest of
  1e-5 comes out with a ~1e-2 relative error. Exact for float64 inputs; not used in training.
- :func:`full_vocab_distill_loss`: the classic baseline, KL over all V classes at given nodes.

P_rest is never computed as 1 - P_y - P_blank from logits: the three classes are summed
separately from the max-shifted logits, ``P_rest = sum_{v not in {y, blank}} exp(z_v) / sum_v
exp(z_v)`` with ``z = (logits - max) / temperature``, so each log-prob has a rounding error
relative to itself (float32: < 1e-6 of log P_rest against a float64 reference, for P_rest down
to float underflow; tests/test_kd_losses.py).

Memory: the y/blank/rest log-probs are computed by a custom autograd function that walks the
logits in chunks of frames (``chunk_size``) and keeps only the logits (no copy) plus five
(B, T, N) tensors for the backward pass, which recomputes the exponentials chunk by chunk. No
V-sized copy of either lattice is ever alive beyond one chunk. Logits in float16/bfloat16 are
computed in float32; the log-probs are returned in float32 then.

Temperature: probabilities are softmax(logits / temperature) for teacher and student alike; the
loss is not rescaled by temperature**2 (multiply the weight yourself if you want Hinton's
scaling).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = [
    "lattice_distill_loss",
    "band_distill_loss",
    "band_distill_loss_from_logits",
    "band_distill_loss_from_teacher_log_probs",
    "band_ybr_log_probs_from_logits",
    "full_vocab_distill_loss",
    "ybr_log_probs",
    "band_ybr_log_probs",
    "three_class_kl",
    "lattice_node_mask",
    "band_node_mask",
    "log1mexp",
]

# Largest number of logit elements one chunk may hold when chunk_size is None (64 MB in float32).
DEFAULT_CHUNK_ELEMENTS = 1 << 24

_REDUCTIONS = ("none", "sum", "mean")


# ----------------------------------------------------------------------------------------------
# Small helpers


def log1mexp(a: Tensor) -> Tensor:
    """``log(1 - exp(a))`` for ``a <= 0``, stable at both ends (Maechler's log1mexp).

    ``a`` is clamped to ``<= -eps`` of its dtype, so the result is never -inf and its gradient is
    bounded: a probability ``1 - exp(a)`` below machine epsilon is not representable as a
    difference anyway (this is the floor of P_rest on the px/py path).
    """
    a = a.clamp(max=-torch.finfo(a.dtype).eps)
    return torch.where(a > -math.log(2.0), torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


def _kl_term(t_log: Tensor, s_log: Tensor) -> Tensor:
    """``Pt * (log Pt - log Ps)`` elementwise with ``0 log 0 = 0`` (term is 0 where Pt == 0)."""
    zero = t_log == float("-inf")
    t_safe = t_log.masked_fill(zero, 0.0)
    s_safe = s_log.masked_fill(zero, 0.0)
    return t_log.exp() * (t_safe - s_safe)


def three_class_kl(
    t_logy: Tensor,
    t_logb: Tensor,
    t_logr: Tensor,
    s_logy: Tensor,
    s_logb: Tensor,
    s_logr: Tensor,
) -> Tensor:
    """Elementwise KL(teacher || student) of three-class distributions given as log-probs.

    All six tensors have the same shape (...); returns (...). Where a teacher log-prob is -inf
    its term is 0 (e.g. log P_y on the last row u = U_b).
    """
    return _kl_term(t_logy, s_logy) + _kl_term(t_logb, s_logb) + _kl_term(t_logr, s_logr)


def lattice_node_mask(logit_lengths: Tensor, target_lengths: Tensor, T: int, U1: int) -> Tensor:
    """Valid full-lattice nodes: (B, T, U+1) bool, True where ``t < T_b`` and ``u <= U_b``."""
    dev = logit_lengths.device
    t_ok = torch.arange(T, device=dev)[None, :] < logit_lengths[:, None]  # (B, T)
    u_ok = torch.arange(U1, device=dev)[None, :] <= target_lengths.to(dev)[:, None]  # (B, U+1)
    return t_ok[:, :, None] & u_ok[:, None, :]


def band_node_mask(ranges: Tensor, boundary: Tensor) -> Tensor:
    """Valid band nodes: (B, T, s_range) bool, True where ``t < T_b`` and ``ranges[b,t,k] <= U_b``.

    ``ranges`` (B, T, s_range) holds the label position u of each band slot; ``boundary`` (B, 4)
    is ``[0, 0, U_b, T_b]``.
    """
    B, T, _ = ranges.shape
    t_ok = torch.arange(T, device=ranges.device)[None, :] < boundary[:, 3:4]  # (B, T)
    return t_ok[:, :, None] & (ranges <= boundary[:, 2].reshape(B, 1, 1))


def _reduce(kl: Tensor, mask: Tensor, reduction: str) -> Tensor:
    """Sum ``kl`` (B, ...) over valid nodes; ``none`` -> (B,), ``sum`` -> (), ``mean`` -> ()."""
    kl = torch.where(mask, kl, torch.zeros((), dtype=kl.dtype, device=kl.device))
    per_utt = kl.flatten(1).sum(dim=1)
    if reduction == "none":
        return per_utt
    total = per_utt.sum()
    if reduction == "sum":
        return total
    return total / mask.sum().clamp(min=1).to(total.dtype)


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _chunk_frames(logits: Tensor, chunk_size: Optional[int]) -> int:
    """Frames per chunk: ``chunk_size`` or enough to hold ~DEFAULT_CHUNK_ELEMENTS elements."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return int(chunk_size)
    B, _, N, V = logits.shape
    return max(1, DEFAULT_CHUNK_ELEMENTS // max(1, B * N * V))


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


# ----------------------------------------------------------------------------------------------
# y / blank / rest log-probs from logits (chunked, custom backward)


def _shifted(
    logits: Tensor, dtype: torch.dtype, temperature: float, m: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    """``z = (logits - m) / temperature`` in ``dtype`` (a new tensor, (..., V)) and ``m``
    (..., 1), by default the row maximum (non-finite maxima become 0).

    Log-probs are then differences of numbers in [-log V, 0] and [0, log V], so their rounding
    error is relative to their own size, not ``eps * |logsumexp(logits)|`` (that gave a small
    P_rest 1.5e-5 relative error at logits ~ 200 in float32). Subtracting the maximum before
    dividing keeps the division from rounding large logits first.
    """
    x = logits.to(dtype)
    if m is None:
        m = x.amax(dim=-1, keepdim=True)
        m = m.masked_fill(~torch.isfinite(m), 0.0)
    z = x - m
    return (z if temperature == 1.0 else z.div_(temperature)), m


def _tiny_sum(dtype: torch.dtype) -> float:
    """Below this a sum of exp(z) is too close to underflow to trust (2e-31 in float32)."""
    return torch.finfo(dtype).tiny * 2.0**24


class _YBRLogProbs(torch.autograd.Function):
    """(log P_y, log P_blank, log P_rest), each (B, T, N), from logits (B, T, N, V).

    ``y_index`` (B, T, N) int64 is the label whose probability is P_y; ``y_index == blank_id``
    means "no next label" (P_y = 0, rest = everything but blank). Probabilities are
    softmax(logits / temperature).

    P_rest is summed over the other classes, never taken as a difference: with
    ``z = (logits - max) / temperature`` and ``e = exp(z)`` (<= 1), ``S_rest`` is the sum of
    ``e`` over the rest and ``S = S_rest + e_y + e_blank`` (a sum of positive terms);
    ``log P_rest = log S_rest - log S``, ``log P_y = z_y - log S``. One exp per logit, one
    pass of sums; the backward takes one more exp per logit: ``d/dz_v`` of the three outputs is
    ``e_v * c`` on the rest classes with one factor ``c`` per node. Nodes whose ``S_rest`` is
    near float underflow (P_rest < ~1e-31 in float32) take an exact per-row fallback
    (a log-sum-exp over the rest), so P_rest is never 0 where it is not.
    """

    @staticmethod
    def forward(ctx, logits, y_index, blank_id, temperature, chunk):  # type: ignore[override]
        B, T, N, _ = logits.shape
        dtype = _compute_dtype(logits.dtype)
        outs = [torch.empty(B, T, N, dtype=dtype, device=logits.device) for _ in range(4)]
        log_y, log_b, log_r, log_s = outs
        shift = torch.empty(B, T, N, 1, dtype=dtype, device=logits.device)
        neg_inf = float("-inf")
        tiny = _tiny_sum(dtype)
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            z, m = _shifted(logits[:, t0:t1], dtype, temperature)  # the one chunk-sized temporary
            shift[:, t0:t1] = m
            idx = y_index[:, t0:t1].unsqueeze(-1)
            has_y = idx.squeeze(-1) != blank_id
            z_y = z.gather(-1, idx).squeeze(-1)
            z_b = z[..., blank_id].clone()
            e = z.exp_()
            e.scatter_(-1, idx, 0.0)
            e[..., blank_id] = 0.0
            s_rest = e.sum(dim=-1)
            e_y = torch.where(has_y, z_y.exp(), torch.zeros((), dtype=dtype, device=e.device))
            lse = torch.log(s_rest + e_y + z_b.exp())  # in [0, log V]
            log_s[:, t0:t1] = lse
            log_y[:, t0:t1] = (z_y - lse).masked_fill(~has_y, neg_inf)
            log_b[:, t0:t1] = z_b - lse
            log_r[:, t0:t1] = torch.log(s_rest) - lse
            small = s_rest < tiny
            if bool(small.any()):  # P_rest near or below underflow: exact log-sum-exp
                rows = small.nonzero(as_tuple=True)
                zr, _ = _shifted(logits[:, t0:t1][rows], dtype, temperature, m[rows])
                zr.scatter_(-1, idx[rows], neg_inf)
                zr[..., blank_id] = neg_inf
                log_r[:, t0:t1][rows] = torch.logsumexp(zr, dim=-1) - lse[rows]
        ctx.save_for_backward(logits, y_index, shift, log_s, log_y, log_b, log_r)
        ctx.blank_id, ctx.temperature, ctx.chunk = blank_id, temperature, chunk
        return log_y, log_b, log_r

    @staticmethod
    @once_differentiable
    def backward(ctx, g_y, g_b, g_r):  # type: ignore[override]
        logits, y_index, shift, log_s, log_y, log_b, log_r = ctx.saved_tensors
        blank_id, temperature, chunk = ctx.blank_id, ctx.temperature, ctx.chunk
        dtype = log_y.dtype
        T = logits.shape[1]
        grad = torch.empty_like(logits)
        # With p_v = e_v / S, q_v = e_v / S_rest (v in rest) and G = g_y + g_b + g_r:
        #   d/dz_v = g_y 1{v=y} + g_b 1{v=b} + g_r 1{v in rest} q_v - G p_v, i.e.
        #   y: g_y - G p_y;  blank: g_b - G p_b;
        #   rest: g_r (1 - P_r) q_v - (g_y + g_b) p_v = e_v * c,
        #   c = (g_r (p_y + p_b) / P_r - g_y - g_b) / S   (no cancellation as P_r -> 1).
        has_y = y_index != blank_id
        g_y = torch.where(has_y, g_y, torch.zeros((), dtype=dtype, device=g_y.device))
        G = g_y + g_b + g_r
        p_y, p_b = log_y.exp(), log_b.exp()
        small = (log_r + log_s) < math.log(_tiny_sum(dtype))  # the forward's fallback rows
        c = g_r * (p_y + p_b) * torch.exp(-log_r.masked_fill(small, 0.0)) - g_y - g_b
        c = c.mul_(torch.exp(-log_s)).div_(temperature)
        val_y = (g_y - G * p_y).div_(temperature)
        val_b = (g_b - G * p_b).div_(temperature)
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            z, _ = _shifted(logits[:, t0:t1], dtype, temperature, shift[:, t0:t1])
            idx = y_index[:, t0:t1].unsqueeze(-1)
            small_c = small[:, t0:t1]
            gc = z.exp_().mul_(c[:, t0:t1, :, None])
            if bool(small_c.any()):  # rows of the forward's fallback: q_v = exp(z_v - log S_rest)
                rows = small_c.nonzero(as_tuple=True)
                zr, _ = _shifted(logits[:, t0:t1][rows], dtype, temperature, shift[:, t0:t1][rows])
                rest = torch.ones_like(zr, dtype=torch.bool)
                rest.scatter_(-1, idx[rows], False)
                rest[..., blank_id] = False
                lr, ls = log_r[:, t0:t1][rows][:, None], log_s[:, t0:t1][rows][:, None]
                q = torch.where(rest, (zr - ls - lr).exp(), zr.new_zeros(()))
                gr, gyb = g_r[:, t0:t1][rows], g_y[:, t0:t1][rows] + g_b[:, t0:t1][rows]
                pr = lr.squeeze(-1).exp()
                row = q * (gr * (1 - pr))[:, None] - (zr - ls).exp() * gyb[:, None]
                gc[rows] = row.div_(temperature)
            # the y and blank columns (blank last: it wins where y == blank)
            gc.scatter_(-1, idx, val_y[:, t0:t1].unsqueeze(-1))
            gc[..., blank_id] = val_b[:, t0:t1]
            grad[:, t0:t1] = gc
        return grad, None, None, None, None


def _check_logits_targets(logits: Tensor, targets: Tensor, target_lengths: Tensor) -> None:
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, T, U+1, V), got shape {tuple(logits.shape)}")
    B, _, U1, _ = logits.shape
    if targets.dim() != 2 or targets.shape != (B, U1 - 1):
        raise ValueError(
            f"targets must be (B, U) = ({B}, {U1 - 1}) to match logits {tuple(logits.shape)}, "
            f"got {tuple(targets.shape)}"
        )
    if target_lengths.shape != (B,):
        raise ValueError(f"target_lengths must be ({B},), got {tuple(target_lengths.shape)}")


def _targets_with_final(targets: Tensor, target_lengths: Tensor, blank_id: int) -> Tensor:
    """(B, U+1): ``targets[b, u]`` for ``u < U_b``, ``blank_id`` (= no next label) otherwise.

    Raises ValueError if a real label equals ``blank_id`` (its P_y would be P_blank).
    """
    B, U = targets.shape
    ext = torch.cat([targets, targets.new_full((B, 1), blank_id)], dim=1)
    valid = torch.arange(U + 1, device=targets.device)[None, :] < target_lengths[:, None]
    if bool(((ext == blank_id) & valid).any()):
        raise ValueError(f"targets contain blank_id={blank_id} within target_lengths")
    return torch.where(valid, ext, torch.full_like(ext, blank_id))


def ybr_log_probs(
    logits: Tensor,
    targets: Tensor,
    target_lengths: Tensor,
    blank_id: int = 0,
    temperature: float = 1.0,
    chunk_size: Optional[int] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Three-class log-probs of a full lattice.

    Args:
      logits: (B, T, U+1, V) unnormalised joiner output.
      targets: (B, U) int64, padded (padding ignored, ``target_lengths`` are authoritative).
      target_lengths: (B,) U_b.
      blank_id: the blank symbol.
      temperature: probabilities are ``softmax(logits / temperature)``.
      chunk_size: frames per chunk (None: chunks of ~``DEFAULT_CHUNK_ELEMENTS`` logits).
    Returns:
      ``(log_y, log_blank, log_rest)`` each (B, T, U+1): log P(targets[b,u] | t, u) (-inf for
      ``u >= U_b``), log P(blank | t, u), log(1 - P_y - P_blank) (summed exactly over the other
      classes). Differentiable w.r.t. ``logits``.
    """
    _check_logits_targets(logits, targets, target_lengths)
    _check_temperature(temperature)
    B, T, U1, V = logits.shape
    if not 0 <= blank_id < V:
        raise ValueError(f"blank_id={blank_id} out of range for V={V}")
    y_full = _targets_with_final(targets, target_lengths, blank_id)  # (B, U+1)
    y_index = y_full[:, None, :].expand(B, T, U1)
    return _YBRLogProbs.apply(
        logits, y_index, blank_id, float(temperature), _chunk_frames(logits, chunk_size)
    )


# ----------------------------------------------------------------------------------------------
# Full-lattice loss


def lattice_distill_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank_id: int = 0,
    temperature: float = 1.0,
    reduction: str = "sum",
    chunk_size: Optional[int] = None,
) -> Tensor:
    """Three-class (y / blank / rest) lattice KD loss on the full lattice.

    Args:
      student_logits: (B, T, U+1, V) unnormalised student joiner output.
      teacher_logits: (B, T, U+1, V) unnormalised teacher joiner output (never differentiated).
      targets: (B, U) int64 padded labels; ``targets[b, u]`` is y_{u+1}.
      logit_lengths: (B,) frames T_b.
      target_lengths: (B,) labels U_b.
      blank_id: the blank symbol.
      temperature: both distributions are ``softmax(logits / temperature)``.
      reduction: ``"none"`` -> (B,) per-utterance sums; ``"sum"`` -> () total; ``"mean"`` -> ()
        total / number of valid nodes (sum_b T_b * (U_b + 1)).
      chunk_size: frames per chunk for the log-softmax (see :func:`ybr_log_probs`).
    Returns:
      The KL summed over nodes ``t < T_b, u <= U_b`` with the given reduction.
    """
    _check_reduction(reduction)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits "
            f"{tuple(teacher_logits.shape)} must have the same shape (B, T, U+1, V)"
        )
    _check_logits_targets(student_logits, targets, target_lengths)
    B, T, U1, _ = student_logits.shape
    if logit_lengths.shape != (B,):
        raise ValueError(f"logit_lengths must be ({B},), got {tuple(logit_lengths.shape)}")
    if bool((logit_lengths > T).any()) or bool((target_lengths > U1 - 1).any()):
        raise ValueError(
            f"lengths exceed the lattice: logit_lengths {logit_lengths.tolist()} (T={T}), "
            f"target_lengths {target_lengths.tolist()} (U={U1 - 1})"
        )
    args = (targets, target_lengths, blank_id, temperature, chunk_size)
    s = ybr_log_probs(student_logits, *args)
    with torch.no_grad():
        t = ybr_log_probs(teacher_logits.detach(), *args)
    kl = three_class_kl(*t, *s)
    mask = lattice_node_mask(logit_lengths, target_lengths, T, U1)
    return _reduce(kl, mask, reduction)


# ----------------------------------------------------------------------------------------------
# Pruned band


def _check_band(ranges: Tensor, boundary: Tensor, B: int, T: int) -> None:
    if ranges.dim() != 3 or ranges.shape[:2] != (B, T):
        raise ValueError(f"ranges must be (B, T, s_range) = ({B}, {T}, s), got {ranges.shape}")
    if boundary.shape != (B, 4):
        raise ValueError(f"boundary must be ({B}, 4), got {tuple(boundary.shape)}")


def band_ybr_log_probs(
    px: Tensor, py: Tensor, ranges: Tensor, boundary: Tensor
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Three-class log-probs on the band, from k2 band log-probs (regular RNN-T layout).

    Args:
      px: (B, S, T+1) ``px[b, u, t] = log P(y_{u+1} | t, u)`` (-inf outside the band and at
        ``t = T_b``), as returned by ``backend.get_rnnt_logprobs_pruned``.
      py: (B, S+1, T) ``py[b, u, t] = log P(blank | t, u)`` (-inf outside the band).
      ranges: (B, T, s_range) label position u of each band slot.
      boundary: (B, 4) ``[0, 0, U_b, T_b]``.
    Returns:
      ``(log_y, log_blank, log_rest, mask)`` each (B, T, s_range) in band layout; ``log_y`` is
      -inf for ``u >= U_b`` (no next label; px there holds the padding symbol's score),
      ``log_rest = log(1 - P_y - P_blank)`` (floored at machine epsilon, see :func:`log1mexp`),
      ``mask`` marks the valid nodes (:func:`band_node_mask`).
    """
    if px.dim() != 3 or py.dim() != 3:
        raise ValueError(f"px, py must be 3-D, got {tuple(px.shape)}, {tuple(py.shape)}")
    B, S, T1 = px.shape
    T = py.shape[2]
    if py.shape != (B, S + 1, T) or T1 != T + 1:
        raise ValueError(
            f"expected px (B, S, T+1) and py (B, S+1, T) (regular RNN-T), got "
            f"{tuple(px.shape)} and {tuple(py.shape)}"
        )
    _check_band(ranges, boundary, B, T)
    idx = ranges.permute(0, 2, 1)  # (B, s_range, T): u of each slot
    log_b = py.gather(1, idx).permute(0, 2, 1)
    log_y = px[:, :, :T].gather(1, idx.clamp(max=S - 1)).permute(0, 2, 1)
    has_y = ranges < boundary[:, 2].reshape(B, 1, 1)
    log_y = log_y.masked_fill(~has_y, float("-inf"))
    log_r = log1mexp(torch.logaddexp(log_y, log_b))
    return log_y, log_b, log_r, band_node_mask(ranges, boundary)


def band_distill_loss(
    student_px: Tensor,
    student_py: Tensor,
    teacher_px: Tensor,
    teacher_py: Tensor,
    ranges: Tensor,
    boundary: Tensor,
    reduction: str = "sum",
) -> Tensor:
    """Three-class lattice KD loss on the pruned band, from k2 band log-probs (temperature 1).

    Student and teacher must be scored on the same band ``ranges`` (the teacher's, passed to the
    student forward). The px/py of the pruned RNN-T loss serve here with no pass over V, but
    P_rest is ``1 - P_y - P_blank`` of them: its absolute error is that of px/py (about
    ``eps * |logsumexp(logits)|``), large relative to a small P_rest in float32. Training uses
    :func:`band_distill_loss_from_logits` (P_rest summed exactly); this one is exact for
    float64 inputs and serves as a cheap estimate and a test reference.

    Args:
      student_px, teacher_px: (B, S, T+1) log P(y_{u+1} | t, u), k2 layout (see
        :func:`band_ybr_log_probs`).
      student_py, teacher_py: (B, S+1, T) log P(blank | t, u).
      ranges: (B, T, s_range) the band (label positions per frame).
      boundary: (B, 4) ``[0, 0, U_b, T_b]``.
      reduction: ``"none"`` (B,), ``"sum"`` or ``"mean"`` (over valid band nodes).
    Returns:
      The KL summed over the band nodes ``t < T_b``, ``u <= U_b``.
    """
    _check_reduction(reduction)
    if student_px.shape != teacher_px.shape or student_py.shape != teacher_py.shape:
        raise ValueError(
            f"student px/py {tuple(student_px.shape)}/{tuple(student_py.shape)} and teacher "
            f"px/py {tuple(teacher_px.shape)}/{tuple(teacher_py.shape)} must match"
        )
    s_y, s_b, s_r, mask = band_ybr_log_probs(student_px, student_py, ranges, boundary)
    with torch.no_grad():
        t_y, t_b, t_r, _ = band_ybr_log_probs(
            teacher_px.detach(), teacher_py.detach(), ranges, boundary
        )
    return _reduce(three_class_kl(t_y, t_b, t_r, s_y, s_b, s_r), mask, reduction)


def band_distill_loss_from_logits(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    ranges: Tensor,
    boundary: Tensor,
    blank_id: int = 0,
    temperature: float = 1.0,
    reduction: str = "sum",
    chunk_size: Optional[int] = None,
) -> Tensor:
    """Three-class lattice KD loss on the pruned band, from pruned logits (any temperature).

    Args:
      student_logits, teacher_logits: (B, T, s_range, V) pruned joiner outputs on the same band.
      targets: (B, S) int64 padded labels.
      ranges: (B, T, s_range) label position u of each band slot.
      boundary: (B, 4) ``[0, 0, U_b, T_b]``.
      blank_id, temperature, reduction, chunk_size: as in :func:`lattice_distill_loss`.
    Returns:
      Same value as :func:`band_distill_loss` on px/py of these logits when temperature == 1
      (up to the rounding of P_rest = 1 - P_y - P_blank there).
    """
    _check_reduction(reduction)
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 4:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits "
            f"{tuple(teacher_logits.shape)} must both be (B, T, s_range, V)"
        )
    with torch.no_grad():
        t = band_ybr_log_probs_from_logits(
            teacher_logits.detach(), targets, ranges, boundary, blank_id, temperature, chunk_size
        )
    return band_distill_loss_from_teacher_log_probs(
        student_logits,
        torch.stack(t, dim=-1),
        targets,
        ranges,
        boundary,
        blank_id,
        temperature,
        reduction,
        chunk_size,
    )


def band_ybr_log_probs_from_logits(
    logits: Tensor,
    targets: Tensor,
    ranges: Tensor,
    boundary: Tensor,
    blank_id: int = 0,
    temperature: float = 1.0,
    chunk_size: Optional[int] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """``(log P_y, log P_blank, log P_rest)``, each (B, T, s_range), from pruned logits.

    logits (B, T, s_range, V) on the band ``ranges`` (B, T, s_range); targets (B, S) padded;
    boundary (B, 4) ``[0, 0, U_b, T_b]``. Differentiable (chunked custom backward). Nodes with
    no next label (``u >= U_b``) have ``log P_y = -inf``.
    """
    _check_temperature(temperature)
    if logits.dim() != 4:
        raise ValueError(f"logits must be (B, T, s_range, V), got {tuple(logits.shape)}")
    B, T, s_range, V = logits.shape
    _check_band(ranges, boundary, B, T)
    if ranges.shape[2] != s_range:
        raise ValueError(f"ranges {tuple(ranges.shape)} do not match logits s_range={s_range}")
    if targets.dim() != 2 or targets.shape[0] != B:
        raise ValueError(f"targets must be (B, S) with B={B}, got {tuple(targets.shape)}")
    if not 0 <= blank_id < V:
        raise ValueError(f"blank_id={blank_id} out of range for V={V}")
    S = targets.shape[1]
    y_full = _targets_with_final(targets, boundary[:, 2], blank_id)  # (B, S+1)
    y_index = torch.gather(y_full[:, None, :].expand(B, T, S + 1), 2, ranges)
    chunk = _chunk_frames(logits, chunk_size)
    return _YBRLogProbs.apply(logits, y_index, blank_id, float(temperature), chunk)


def band_distill_loss_from_teacher_log_probs(
    student_logits: Tensor,
    teacher_log_probs: Tensor,
    targets: Tensor,
    ranges: Tensor,
    boundary: Tensor,
    blank_id: int = 0,
    temperature: float = 1.0,
    reduction: str = "sum",
    chunk_size: Optional[int] = None,
) -> Tensor:
    """The loss of :func:`band_distill_loss_from_logits` with the teacher given as its three
    band log-probs (computed once and stored: ``rnnt_kd.kd.cache``).

    Args:
      student_logits: (B, T, s_range, V) pruned joiner outputs on the band ``ranges``.
      teacher_log_probs: (B, T, s_range, 3) teacher ``(log P_y, log P_blank, log P_rest)`` at
        the same temperature (:func:`band_ybr_log_probs_from_logits`).
      targets, ranges, boundary, blank_id, temperature, reduction, chunk_size: as in
        :func:`band_distill_loss_from_logits`.
    """
    _check_reduction(reduction)
    if teacher_log_probs.shape != (*student_logits.shape[:3], 3):
        raise ValueError(
            f"teacher_log_probs {tuple(teacher_log_probs.shape)} must be (B, T, s_range, 3) "
            f"for student_logits {tuple(student_logits.shape)}"
        )
    s = band_ybr_log_probs_from_logits(
        student_logits, targets, ranges, boundary, blank_id, temperature, chunk_size
    )
    t = teacher_log_probs.detach().to(s[0].dtype).unbind(-1)
    return _reduce(three_class_kl(*t, *s), band_node_mask(ranges, boundary), reduction)


# ----------------------------------------------------------------------------------------------
# Full-vocabulary baseline


class _FullVocabKL(torch.autograd.Function):
    """Per-node KL(softmax(t / temp) || softmax(s / temp)) over V: (B, T, N, V) x2 -> (B, T, N)."""

    @staticmethod
    def forward(ctx, student, teacher, temperature, chunk):  # type: ignore[override]
        B, T, N, _ = student.shape
        dtype = _compute_dtype(student.dtype)
        kl = torch.empty(B, T, N, dtype=dtype, device=student.device)
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            ls = torch.log_softmax(student[:, t0:t1].to(dtype) / temperature, dim=-1)
            lt = torch.log_softmax(teacher[:, t0:t1].to(dtype) / temperature, dim=-1)
            kl[:, t0:t1] = _kl_term(lt, ls).sum(dim=-1)
        ctx.save_for_backward(student, teacher)
        ctx.temperature, ctx.chunk, ctx.dtype = temperature, chunk, dtype
        return kl

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # type: ignore[override]
        student, teacher = ctx.saved_tensors
        temperature, chunk, dtype = ctx.temperature, ctx.chunk, ctx.dtype
        grad = torch.empty_like(student)
        for t0 in range(0, student.shape[1], chunk):
            t1 = min(student.shape[1], t0 + chunk)
            ps = torch.softmax(student[:, t0:t1].to(dtype) / temperature, dim=-1)
            ps.sub_(torch.softmax(teacher[:, t0:t1].to(dtype) / temperature, dim=-1))
            grad[:, t0:t1] = ps.mul_(g[:, t0:t1, :, None] / temperature)
        return grad, None, None, None


def full_vocab_distill_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    node_mask: Tensor,
    temperature: float = 1.0,
    reduction: str = "sum",
    chunk_size: Optional[int] = None,
) -> Tensor:
    """Classic KD baseline: KL over all V classes, summed over the nodes in ``node_mask``.

    Args:
      student_logits, teacher_logits: (B, T, N, V) with N = U+1 (full lattice) or s_range
        (pruned band).
      node_mask: (B, T, N) bool, the nodes to sum over (:func:`lattice_node_mask` or
        :func:`band_node_mask`).
      temperature: both distributions are ``softmax(logits / temperature)``.
      reduction: ``"none"`` (B,), ``"sum"`` or ``"mean"`` (over masked-in nodes).
      chunk_size: frames per chunk.
    """
    _check_reduction(reduction)
    _check_temperature(temperature)
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 4:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits "
            f"{tuple(teacher_logits.shape)} must both be (B, T, N, V)"
        )
    if node_mask.shape != student_logits.shape[:3]:
        raise ValueError(
            f"node_mask {tuple(node_mask.shape)} must be (B, T, N) = "
            f"{tuple(student_logits.shape[:3])}"
        )
    chunk = _chunk_frames(student_logits, chunk_size)
    kl = _FullVocabKL.apply(student_logits, teacher_logits.detach(), float(temperature), chunk)
    return _reduce(kl, node_mask.bool(), reduction)
