"""The pruned RNN-T backend (k2 or fast_rnnt): pruned loss == full loss when the band is full."""

import torch

from rnnt_kd import backend


def _random_problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    B, T, U, C = 3, 12, 5, 7
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64, requires_grad=True)
    lm = torch.randn(B, U + 1, C, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, C, (B, U), generator=g)
    t_lens = torch.tensor([12, 9, 7])
    u_lens = torch.tensor([5, 3, 4])
    for b in range(B):
        symbols[b, u_lens[b] :] = 0
    boundary = torch.zeros(B, 4, dtype=torch.int64)
    boundary[:, 2] = u_lens
    boundary[:, 3] = t_lens
    return am, lm, symbols, boundary


def _prune_ranges(am, lm, symbols, boundary, s_range: int) -> torch.Tensor:
    """k2's band: simple (additive) loss gradients -> prune ranges (B, T, s_range)."""
    _, (px_grad, py_grad) = backend.rnnt_loss_smoothed(
        lm=lm,
        am=am,
        symbols=symbols,
        termination_symbol=0,
        lm_only_scale=0.25,
        am_only_scale=0.0,
        boundary=boundary,
        reduction="none",
        return_grad=True,
    )
    return backend.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range=s_range)


def test_backend_names_itself():
    assert backend.NAME in ("k2", "fast_rnnt")
    assert backend.describe().startswith(backend.NAME)


def test_pruned_loss_equals_full_loss_when_band_covers_all_labels():
    am, lm, symbols, boundary = _random_problem()
    U = symbols.size(1)
    ranges = _prune_ranges(am, lm, symbols, boundary, s_range=U + 1)
    am_pruned, lm_pruned = backend.do_rnnt_pruning(am, lm, ranges)
    pruned = backend.rnnt_loss_pruned(
        logits=torch.tanh(am_pruned + lm_pruned),
        symbols=symbols,
        ranges=ranges,
        termination_symbol=0,
        boundary=boundary,
        reduction="none",
    )
    full_logits = torch.tanh(am.unsqueeze(2) + lm.unsqueeze(1))  # (B, T, U+1, C)
    full = backend.rnnt_loss(
        full_logits, symbols, termination_symbol=0, boundary=boundary, reduction="none"
    )
    assert full.shape == (3,)
    assert torch.all(full > 0)
    torch.testing.assert_close(pruned, full, rtol=1e-9, atol=1e-9)
    # different lengths give different losses: the boundary is honoured
    assert len(set(round(v, 6) for v in full.tolist())) == 3

    pruned.sum().backward()
    assert am.grad is not None and am.grad.abs().sum() > 0  # encoder side
    assert lm.grad is not None and lm.grad.abs().sum() > 0  # decoder side
    # padded frames of a shorter utterance get no gradient
    assert am.grad[2, 7:].abs().max() == 0


def test_narrow_band_differs_from_full_loss():
    am, lm, symbols, boundary = _random_problem(1)
    ranges = _prune_ranges(am, lm, symbols, boundary, s_range=2)
    am_p, lm_p = backend.do_rnnt_pruning(am, lm, ranges)
    pruned = backend.rnnt_loss_pruned(
        torch.tanh(am_p + lm_p), symbols, ranges, 0, boundary, reduction="none"
    )
    full = backend.rnnt_loss(
        torch.tanh(am.unsqueeze(2) + lm.unsqueeze(1)), symbols, 0, boundary, reduction="none"
    )
    # fewer paths -> lower total probability -> higher loss
    assert torch.all(pruned >= full - 1e-9)
    assert torch.any(pruned > full + 1e-6)


def test_check_device_accepts_cpu_and_names_the_fix_for_cuda(monkeypatch):
    backend.check_device(torch.device("cpu"))
    monkeypatch.setattr(backend._MODULE, "with_cuda", lambda: False, raising=False)
    import pytest

    with pytest.raises(RuntimeError, match="without CUDA.*RNNT_KD_CUDA=1"):
        backend.check_device(torch.device("cuda"))
