"""Tests for rnnt_kd.kd.losses against float64 brute-force references (per-node softmax)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnt_kd import backend
from rnnt_kd.kd.losses import (
    band_distill_loss,
    band_distill_loss_from_logits,
    band_node_mask,
    full_vocab_distill_loss,
    lattice_distill_loss,
    lattice_node_mask,
    log1mexp,
    three_class_kl,
    ybr_log_probs,
)

BLANK = 0


def _softmax(row: torch.Tensor, temperature: float) -> list[float]:
    xs = [float(v) / temperature for v in row]
    m = max(xs)
    es = [math.exp(x - m) for x in xs]
    z = sum(es)
    return [e / z for e in es]


def _node_kl(s_row, t_row, y, temperature, blank=BLANK) -> float:
    """Three-class KL at one node; y is None on the last row (P_y = 0)."""
    ps, pt = _softmax(s_row, temperature), _softmax(t_row, temperature)

    def ybr(p):
        py = p[y] if y is not None else 0.0
        pb = p[blank]
        return (py, pb, 1.0 - py - pb)

    kl = 0.0
    for a, c in zip(ybr(pt), ybr(ps)):
        if a > 0:
            kl += a * math.log(a / c)
    return kl


def _brute_lattice(s, t, targets, t_lens, u_lens, temperature, reduction):
    per_utt, nodes = [], 0
    for b in range(s.shape[0]):
        tot = 0.0
        for ti in range(int(t_lens[b])):
            for u in range(int(u_lens[b]) + 1):
                y = int(targets[b, u]) if u < int(u_lens[b]) else None
                tot += _node_kl(s[b, ti, u], t[b, ti, u], y, temperature)
                nodes += 1
        per_utt.append(tot)
    if reduction == "none":
        return torch.tensor(per_utt, dtype=torch.float64)
    total = sum(per_utt)
    return torch.tensor(total if reduction == "sum" else total / nodes, dtype=torch.float64)


def _lattice_inputs(seed=0, B=3, T=5, U=4, V=7, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(B, T, U + 1, V, generator=g, dtype=dtype) * 2
    t = torch.randn(B, T, U + 1, V, generator=g, dtype=dtype) * 2
    targets = torch.randint(1, V, (B, U), generator=g)
    t_lens = torch.tensor([T, T - 2, 3])[:B]
    u_lens = torch.tensor([U, 2, 1])[:B]
    # padding that must be ignored: blank ids past the end, garbage logits in padded frames
    for b in range(B):
        targets[b, u_lens[b] :] = BLANK
    return s, t, targets, t_lens, u_lens


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_lattice_matches_bruteforce(reduction, temperature):
    s, t, targets, t_lens, u_lens = _lattice_inputs()
    got = lattice_distill_loss(
        s, t, targets, t_lens, u_lens, temperature=temperature, reduction=reduction
    )
    want = _brute_lattice(s, t, targets, t_lens, u_lens, temperature, reduction)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert (got > 0).all()


def test_ybr_log_probs_match_softmax():
    s, _, targets, _, u_lens = _lattice_inputs(seed=3)
    ly, lb, lr = ybr_log_probs(s, targets, u_lens, temperature=0.7)
    p = torch.softmax(s / 0.7, dim=-1)
    for b in range(s.shape[0]):
        for u in range(s.shape[2]):
            py = p[b, :, u, targets[b, u]] if u < u_lens[b] else torch.zeros(s.shape[1])
            torch.testing.assert_close(ly[b, :, u].exp(), py.to(ly.dtype))
            torch.testing.assert_close(lb[b, :, u].exp(), p[b, :, u, BLANK])
            torch.testing.assert_close(lr[b, :, u].exp(), 1 - py - p[b, :, u, BLANK])
    assert torch.isneginf(ly[0, :, 4]).all() and torch.isfinite(ly[0, :, :4]).all()


def test_zero_when_student_equals_teacher():
    s, _, targets, t_lens, u_lens = _lattice_inputs(seed=1)
    for temperature in (1.0, 3.0):
        loss = lattice_distill_loss(s, s.clone(), targets, t_lens, u_lens, temperature=temperature)
        assert abs(loss.item()) < 1e-12
    # and a different teacher gives a clearly positive loss
    other = s + torch.randn_like(s)
    assert lattice_distill_loss(s, other, targets, t_lens, u_lens).item() > 1e-2


def test_gradcheck_lattice():
    s, t, targets, t_lens, u_lens = _lattice_inputs(seed=2, B=2, T=3, U=2, V=5)
    s.requires_grad_(True)

    def f(x):
        return lattice_distill_loss(
            x, t, targets, t_lens, u_lens, temperature=1.7, reduction="none", chunk_size=2
        )

    assert torch.autograd.gradcheck(f, (s,), eps=1e-6, atol=1e-8)


def test_gradcheck_ybr_each_output():
    """Custom backward of the y/blank/rest log-probs, with random upstream gradients."""
    s, _, targets, _, u_lens = _lattice_inputs(seed=4, B=2, T=3, U=2, V=5)
    s.requires_grad_(True)
    w = [torch.randn(2, 3, 3, dtype=torch.float64) for _ in range(3)]

    def f(x):
        ly, lb, lr = ybr_log_probs(x, targets, u_lens, temperature=0.8, chunk_size=1)
        return (
            (ly.masked_fill(ly.isinf(), 0.0) * w[0]).sum() + (lb * w[1]).sum() + (lr * w[2]).sum()
        )

    assert torch.autograd.gradcheck(f, (s,), eps=1e-6, atol=1e-8)


def test_teacher_gets_no_gradient():
    s, t, targets, t_lens, u_lens = _lattice_inputs(seed=5)
    s.requires_grad_(True)
    t.requires_grad_(True)
    lattice_distill_loss(s, t, targets, t_lens, u_lens, temperature=2.0).backward()
    assert t.grad is None
    assert s.grad is not None and s.grad.abs().sum() > 0
    # padded frames / label positions get exactly zero gradient
    assert (s.grad[1, t_lens[1] :] == 0).all() and (s.grad[2, :, u_lens[2] + 1 :] == 0).all()


def test_chunked_equals_unchunked():
    s, t, targets, t_lens, u_lens = _lattice_inputs(seed=6, T=7)
    grads, values = [], []
    for chunk in (1, 3, 100, None):
        x = s.clone().requires_grad_(True)
        v = lattice_distill_loss(x, t, targets, t_lens, u_lens, temperature=1.3, chunk_size=chunk)
        v.backward()
        values.append(v.detach())
        grads.append(x.grad)
    for v, gr in zip(values[1:], grads[1:]):
        torch.testing.assert_close(v, values[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gr, grads[0], rtol=1e-12, atol=1e-12)


def test_float32_peaked_is_finite():
    """Confident teacher (P_rest ~ 1e-13, below float32 resolution): finite loss and gradients."""
    s, t, targets, t_lens, u_lens = _lattice_inputs(seed=7, dtype=torch.float32)
    t[..., BLANK] += 30.0
    s = s.requires_grad_(True)
    loss = lattice_distill_loss(s, t, targets, t_lens, u_lens)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()


def test_errors():
    s, t, targets, t_lens, u_lens = _lattice_inputs()
    with pytest.raises(ValueError, match="reduction"):
        lattice_distill_loss(s, t, targets, t_lens, u_lens, reduction="avg")
    with pytest.raises(ValueError, match="same shape"):
        lattice_distill_loss(s, t[:, :, :, :5], targets, t_lens, u_lens)
    with pytest.raises(ValueError, match="targets must be"):
        lattice_distill_loss(s, t, targets[:, :3], t_lens, u_lens)
    with pytest.raises(ValueError, match="lengths exceed"):
        lattice_distill_loss(s, t, targets, t_lens + 1, u_lens)
    bad = targets.clone()
    bad[0, 1] = BLANK
    with pytest.raises(ValueError, match="blank_id"):
        lattice_distill_loss(s, t, bad, t_lens, u_lens)
    with pytest.raises(ValueError, match="temperature"):
        lattice_distill_loss(s, t, targets, t_lens, u_lens, temperature=0.0)


def test_three_class_kl_and_log1mexp():
    tl = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.0, 0.6, 0.4]], dtype=torch.float64))
    sl = torch.log(torch.tensor([[0.2, 0.2, 0.6], [0.1, 0.1, 0.8]], dtype=torch.float64))
    kl = three_class_kl(tl[:, 0], tl[:, 1], tl[:, 2], sl[:, 0], sl[:, 1], sl[:, 2])
    want0 = 0.5 * math.log(0.5 / 0.2) + 0.3 * math.log(0.3 / 0.2) + 0.2 * math.log(0.2 / 0.6)
    want1 = 0.6 * math.log(0.6 / 0.1) + 0.4 * math.log(0.4 / 0.8)  # 0 log 0 = 0
    torch.testing.assert_close(kl, torch.tensor([want0, want1], dtype=torch.float64))
    a = torch.tensor([-1e-10, -0.1, -0.69, -0.7, -5.0, -50.0], dtype=torch.float64)
    # each branch is accurate on its side (Maechler 2012); the cut differs from log1mexp's ln 2
    want = [math.log(-math.expm1(v)) if v > -1 else math.log1p(-math.exp(v)) for v in a.tolist()]
    want = torch.tensor(want, dtype=torch.float64)
    torch.testing.assert_close(log1mexp(a), want, rtol=1e-12, atol=0)
    assert torch.isfinite(log1mexp(torch.zeros(1))).all()  # floored at eps, not -inf


# ----------------------------------------------------------------------------------------------
# pruned band


def _band_inputs(s_range, seed=0, B=3, T=6, U=5, V=8):
    g = torch.Generator().manual_seed(seed)
    s_full = torch.randn(B, T, U + 1, V, generator=g, dtype=torch.float64) * 2
    t_full = torch.randn(B, T, U + 1, V, generator=g, dtype=torch.float64) * 2
    targets = torch.randint(1, V, (B, U), generator=g)
    t_lens = torch.tensor([T, 4, 5])
    u_lens = torch.tensor([U, 3, 1])
    for b in range(B):
        targets[b, u_lens[b] :] = BLANK
    boundary = torch.stack([torch.zeros(B), torch.zeros(B), u_lens, t_lens], dim=1).long()
    px_grad = torch.rand(B, U, T + 1, generator=g, dtype=torch.float64)
    py_grad = torch.rand(B, U + 1, T, generator=g, dtype=torch.float64)
    ranges = backend.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    return s_full, t_full, targets, t_lens, u_lens, boundary, ranges


def _prune(full, ranges):
    B, T, s_range = ranges.shape
    idx = ranges.unsqueeze(-1).expand(B, T, s_range, full.shape[-1])
    return torch.gather(full, 2, idx)


def _brute_band(s_full, t_full, targets, t_lens, u_lens, ranges, temperature=1.0):
    per_utt = []
    for b in range(s_full.shape[0]):
        tot = 0.0
        for ti in range(int(t_lens[b])):
            for u in ranges[b, ti].tolist():
                if u > u_lens[b]:
                    continue
                y = int(targets[b, u]) if u < u_lens[b] else None
                tot += _node_kl(s_full[b, ti, u], t_full[b, ti, u], y, temperature)
        per_utt.append(tot)
    return torch.tensor(per_utt, dtype=torch.float64)


def _pxpy(pruned, targets, ranges, boundary):
    return backend.get_rnnt_logprobs_pruned(pruned, targets, ranges, BLANK, boundary)


def test_band_full_coverage_equals_lattice():
    s_full, t_full, targets, t_lens, u_lens, boundary, ranges = _band_inputs(s_range=6)
    assert ranges.shape[2] == 6 and (ranges == torch.arange(6)).all()
    s_px, s_py = _pxpy(_prune(s_full, ranges), targets, ranges, boundary)
    t_px, t_py = _pxpy(_prune(t_full, ranges), targets, ranges, boundary)
    lattice = lattice_distill_loss(s_full, t_full, targets, t_lens, u_lens, reduction="none")
    for reduction in ("none", "sum", "mean"):
        band = band_distill_loss(s_px, s_py, t_px, t_py, ranges, boundary, reduction=reduction)
        want = lattice_distill_loss(s_full, t_full, targets, t_lens, u_lens, reduction=reduction)
        torch.testing.assert_close(band, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        band_distill_loss(s_px, s_py, t_px, t_py, ranges, boundary, reduction="none"), lattice
    )


@pytest.mark.parametrize("s_range", [2, 3])
def test_band_partial_equals_bruteforce(s_range):
    s_full, t_full, targets, t_lens, u_lens, boundary, ranges = _band_inputs(s_range, seed=s_range)
    assert ranges.shape[2] == s_range
    s_pr, t_pr = _prune(s_full, ranges), _prune(t_full, ranges)
    s_px, s_py = _pxpy(s_pr, targets, ranges, boundary)
    t_px, t_py = _pxpy(t_pr, targets, ranges, boundary)
    want = _brute_band(s_full, t_full, targets, t_lens, u_lens, ranges)
    got = band_distill_loss(s_px, s_py, t_px, t_py, ranges, boundary, reduction="none")
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    got_logits = band_distill_loss_from_logits(
        s_pr, t_pr, targets, ranges, boundary, reduction="none"
    )
    torch.testing.assert_close(got_logits, want, rtol=1e-10, atol=1e-12)
    # temperature != 1 through the logits path
    want_t = _brute_band(s_full, t_full, targets, t_lens, u_lens, ranges, temperature=2.0)
    got_t = band_distill_loss_from_logits(
        s_pr, t_pr, targets, ranges, boundary, temperature=2.0, reduction="none", chunk_size=2
    )
    torch.testing.assert_close(got_t, want_t, rtol=1e-10, atol=1e-12)
    # mean divides by the number of valid band nodes
    n_nodes = band_node_mask(ranges, boundary).sum()
    got_mean = band_distill_loss(s_px, s_py, t_px, t_py, ranges, boundary, reduction="mean")
    torch.testing.assert_close(got_mean, want.sum() / n_nodes)


def test_band_gradients_pxpy_path_equals_logits_path():
    """d loss / d pruned student logits: via k2's px/py == via the chunked logits function."""
    s_full, t_full, targets, _, _, boundary, ranges = _band_inputs(3, seed=9)
    t_px, t_py = _pxpy(_prune(t_full, ranges), targets, ranges, boundary)
    a = _prune(s_full, ranges).requires_grad_(True)
    band_distill_loss(*_pxpy(a, targets, ranges, boundary), t_px, t_py, ranges, boundary).backward()
    b = _prune(s_full, ranges).requires_grad_(True)
    band_distill_loss_from_logits(b, _prune(t_full, ranges), targets, ranges, boundary).backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12)
    assert a.grad.abs().sum() > 0


def test_band_teacher_gets_no_gradient():
    s_full, t_full, targets, _, _, boundary, ranges = _band_inputs(3, seed=4)
    t_pr = _prune(t_full, ranges).requires_grad_(True)
    s_pr = _prune(s_full, ranges).requires_grad_(True)
    t_px, t_py = _pxpy(t_pr, targets, ranges, boundary)
    band_distill_loss(
        *_pxpy(s_pr, targets, ranges, boundary), t_px, t_py, ranges, boundary
    ).backward()
    assert t_pr.grad is None and s_pr.grad is not None


def test_band_errors():
    s_full, t_full, targets, _, _, boundary, ranges = _band_inputs(3)
    s_px, s_py = _pxpy(_prune(s_full, ranges), targets, ranges, boundary)
    with pytest.raises(ValueError, match="reduction"):
        band_distill_loss(s_px, s_py, s_px, s_py, ranges, boundary, reduction="x")
    with pytest.raises(ValueError, match="must match"):
        band_distill_loss(s_px, s_py, s_px[:, :, :-1], s_py, ranges, boundary)
    with pytest.raises(ValueError, match="boundary"):
        band_distill_loss(s_px, s_py, s_px, s_py, ranges, boundary[:, :3])
    with pytest.raises(ValueError, match="regular"):
        band_distill_loss(s_px[:, :, :-1], s_py, s_px[:, :, :-1], s_py, ranges, boundary)


# ----------------------------------------------------------------------------------------------
# full-vocabulary baseline


def _brute_full_vocab(s, t, mask, temperature):
    per_utt = []
    for b in range(s.shape[0]):
        tot = 0.0
        for idx in mask[b].nonzero().tolist():
            ps = _softmax(s[b][tuple(idx)], temperature)
            pt = _softmax(t[b][tuple(idx)], temperature)
            tot += sum(a * math.log(a / c) for a, c in zip(pt, ps))
        per_utt.append(tot)
    return torch.tensor(per_utt, dtype=torch.float64)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_full_vocab_matches_bruteforce(temperature):
    s, t, _, t_lens, u_lens = _lattice_inputs(seed=11)
    mask = lattice_node_mask(t_lens, u_lens, s.shape[1], s.shape[2])
    want = _brute_full_vocab(s, t, mask, temperature)
    got = full_vocab_distill_loss(s, t, mask, temperature=temperature, reduction="none")
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    got_mean = full_vocab_distill_loss(s, t, mask, temperature=temperature, reduction="mean")
    torch.testing.assert_close(got_mean, want.sum() / mask.sum())
    # on the pruned band with the band mask
    s_full, t_full, _, _, _, boundary, ranges = _band_inputs(3, seed=12)
    s_pr, t_pr = _prune(s_full, ranges), _prune(t_full, ranges)
    bmask = band_node_mask(ranges, boundary)
    got_b = full_vocab_distill_loss(s_pr, t_pr, bmask, temperature=temperature, chunk_size=1)
    torch.testing.assert_close(got_b, _brute_full_vocab(s_pr, t_pr, bmask, temperature).sum())


def test_full_vocab_gradcheck_and_teacher_no_grad():
    s, t, _, t_lens, u_lens = _lattice_inputs(seed=13, B=2, T=3, U=2, V=5)
    mask = lattice_node_mask(t_lens, u_lens, 3, 3)
    s.requires_grad_(True)
    t.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: full_vocab_distill_loss(
            x, t, mask, temperature=1.5, chunk_size=2, reduction="none"
        ),
        (s,),
        eps=1e-6,
        atol=1e-8,
    )
    full_vocab_distill_loss(s, t, mask).backward()
    assert t.grad is None
    assert full_vocab_distill_loss(s, s.detach().clone(), mask).abs().item() < 1e-12
    with pytest.raises(ValueError, match="node_mask"):
        full_vocab_distill_loss(s, t, mask[:, :2])


def test_saved_for_backward_is_small():
    """Autograd keeps the student logits (no copy) and O(B*T*(U+1)) tensors, never V-sized ones."""
    s, t, targets, t_lens, u_lens = _lattice_inputs(seed=14, B=2, T=6, U=3, V=50)
    s.requires_grad_(True)
    node_count = s[..., 0].numel()
    saved = []

    def pack(x):
        saved.append(x)
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        loss = lattice_distill_loss(s, t, targets, t_lens, u_lens, temperature=2.0, chunk_size=2)
    assert saved
    for x in saved:
        assert x.data_ptr() == s.data_ptr() or x.numel() <= node_count, tuple(x.shape)
    loss.backward()
    assert torch.isfinite(s.grad).all()


# ----------------------------------------------------------------------------------------------
# P_rest of confident models in float32


def _peaked(seed: int, B: int = 2, T: int = 6, U: int = 4, V: int = 300, offset: float = 150.0):
    """float32 lattice logits of a confident model: N(offset, 3^2), and at each node the next
    label or blank 14-22 nats above the others (P_rest ~ 1e-4 ... 1e-8)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, V, generator=g, dtype=torch.float64) * 3 + offset
    targets = torch.randint(1, V, (B, U), generator=g)
    nxt = torch.cat([targets, targets.new_full((B, 1), BLANK)], 1)[:, None, :].expand(B, T, U + 1)
    win = torch.where(torch.rand(B, T, U + 1, generator=g) < 0.5, nxt, BLANK)
    boost = 14.0 + 8.0 * torch.rand(B, T, U + 1, 1, generator=g, dtype=torch.float64)
    logits.scatter_add_(-1, win.unsqueeze(-1), boost)
    return logits.float(), targets, torch.full((B,), T), torch.full((B,), U)


def _brute_log_rest(logits, targets, u_lens, temperature=1.0):
    """float64 log P_rest per node, summed class by class: (B, T, U+1)."""
    B, T, U1, V = logits.shape
    out = torch.empty(B, T, U1, dtype=torch.float64)
    for b, t, u in itertools.product(range(B), range(T), range(U1)):
        p = _softmax(logits[b, t, u].double(), temperature)
        y = int(targets[b, u]) if u < int(u_lens[b]) else None
        out[b, t, u] = math.log(sum(pv for v, pv in enumerate(p) if v not in (y, BLANK)))
    return out


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_peaked_float32_rest_matches_float64(temperature):
    """P_rest of a confident model, float32 logits ~150: within 3e-6 (relative) of the float64
    class-by-class sum. Taking log-probs as ``logits - logsumexp`` gave ~2e-5 (eps * 170)."""
    logits, targets, t_lens, u_lens = _peaked(seed=21)
    want = _brute_log_rest(logits, targets, u_lens, temperature)
    assert want.min() < math.log(1e-6 if temperature == 1.0 else 1e-3)
    got = ybr_log_probs(logits, targets, u_lens, BLANK, temperature, chunk_size=2)[2]
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double() - want, torch.zeros_like(want), rtol=0, atol=3e-6)


def test_peaked_float32_rest_underflow_is_exact():
    """P_rest below float32's smallest normal sums (1e-40): finite, exact log and gradient."""
    logits, targets, t_lens, u_lens = _peaked(seed=22, V=40, offset=0.0)
    logits[0, :3, :, BLANK] += 90.0
    want = _brute_log_rest(logits, targets, u_lens)
    assert want.min() < -90
    s32 = logits.clone().requires_grad_(True)
    s64 = logits.double().requires_grad_(True)
    out32 = ybr_log_probs(s32, targets, u_lens, BLANK, chunk_size=4)
    out64 = ybr_log_probs(s64, targets, u_lens, BLANK)
    torch.testing.assert_close(out32[2].double(), want, rtol=1e-6, atol=0)
    w = torch.randn(3, *want.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for out in (out32, out64):
        sum((wi * o.double().clamp(min=-1e4)).sum() for wi, o in zip(w, out)).backward()
    torch.testing.assert_close(s32.grad.double(), s64.grad, rtol=0, atol=2e-5)


def test_trainer_band_kd_of_a_confident_teacher_matches_float64():
    """The training step's pruned-band KD term at temperature 1 (``kd.term``), float32
    logits of a confident teacher and a student near it, against the float64 class-by-class
    KL: within 1e-5 (2e-6 now). It took P_rest = 1 - P_y - P_blank from the pruned loss's
    float32 px/py: 1.3e-4 off here."""
    from rnnt_kd.kd.term import kd_term_from_outputs
    from rnnt_kd.model import TransducerOutput

    t_full, targets, t_lens, u_lens = _peaked(seed=23, T=8, U=5, V=200, offset=20.0)
    g = torch.Generator().manual_seed(1)
    s_full = (t_full.double() + torch.randn(t_full.shape, generator=g, dtype=torch.float64)).float()
    boundary = torch.stack([torch.zeros(2), torch.zeros(2), u_lens, t_lens], 1).long()
    g = torch.Generator().manual_seed(0)
    px_grad, py_grad = torch.rand(2, 5, 9, generator=g), torch.rand(2, 6, 8, generator=g)
    ranges = backend.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)

    def out(full):
        pruned = _prune(full, ranges)
        px, py = _pxpy(pruned, targets, ranges, boundary)
        z = torch.zeros(())
        return TransducerOutput(z, z, z, t_lens, boundary, ranges, pruned, px, py)

    model = torch.nn.Module()
    model.blank_id = BLANK
    got = kd_term_from_outputs(model, None, out(s_full), out(t_full), targets, u_lens, "ybr",
                               "pruned", 1.0)  # fmt: skip
    want = _brute_band(s_full.double(), t_full.double(), targets, t_lens, u_lens, ranges).sum()
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=0)
