"""Tests for rnnt_kd.model: config, Conformer encoder, decoder, joiner, pruned-loss transducer."""

from __future__ import annotations

import math
import re

import pytest
import torch

from rnnt_kd import backend
from rnnt_kd.model import PRESETS, Transducer, TransducerConfig, TransducerOutput
from rnnt_kd.model import config as config_module
from rnnt_kd.model.conformer import (
    ConformerEncoder,
    Conv1dSubsampling,
    Conv2dSubsampling,
    make_pad_mask,
    min_input_frames,
    rel_shift,
    subsampled_lengths,
)
from rnnt_kd.model.decoder import Decoder
from rnnt_kd.model.joiner import Joiner

V = 12


def small_config(**kw) -> TransducerConfig:
    base = dict(
        vocab_size=V,
        encoder_dim=32,
        num_encoder_layers=2,
        num_heads=4,
        feedforward_dim=64,
        conv_kernel_size=5,
        decoder_dim=24,
        joiner_dim=20,
    )
    base.update(kw)
    return TransducerConfig(**base)


def make_batch(feature_lens, target_lens, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, t, u = len(feature_lens), max(feature_lens), max(target_lens)
    features = torch.randn(b, t, 80, generator=g)
    targets = torch.randint(1, V, (b, u), generator=g)
    for i, n in enumerate(target_lens):
        targets[i, n:] = 0
    return features, torch.tensor(feature_lens), targets, torch.tensor(target_lens)


def rnnt_nll_reference(logits: torch.Tensor, y: list, blank: int) -> float:
    """Brute-force RNN-T negative log-likelihood on one (T, U+1, V) lattice (float64 DP)."""
    lp = logits.double().log_softmax(-1)
    t_len, u1 = lp.shape[0], len(y) + 1
    alpha = torch.full((t_len, u1), -math.inf, dtype=torch.float64)
    for t in range(t_len):
        for u in range(u1):
            if t == 0 and u == 0:
                alpha[t, u] = 0.0
                continue
            terms = []
            if t > 0:
                terms.append(alpha[t - 1, u] + lp[t - 1, u, blank])
            if u > 0:
                terms.append(alpha[t, u - 1] + lp[t, u - 1, y[u - 1]])
            alpha[t, u] = torch.logsumexp(torch.stack(terms), 0)
    return -float(alpha[t_len - 1, u1 - 1] + lp[t_len - 1, u1 - 1, blank])


# ---------------------------------------------------------------- config


def test_config_roundtrip_validation_and_presets():
    cfg = TransducerConfig(vocab_size=500)
    assert TransducerConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.encoder_dim == 144 and cfg.context_size == 2 and cfg.blank_id == 0
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TransducerConfig(vocab_size=10, encoder_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="blank_id"):
        TransducerConfig(vocab_size=10, blank_id=10)
    with pytest.raises(ValueError, match="odd"):
        TransducerConfig(vocab_size=10, conv_kernel_size=4)
    with pytest.raises(ValueError, match="context_size"):
        TransducerConfig(vocab_size=10, context_size=0)
    with pytest.raises(ValueError, match="unknown field"):
        TransducerConfig.from_dict({"vocab_size": 10, "bogus": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        TransducerConfig.from_preset("huge", 10)
    large = TransducerConfig.from_preset("large", 500, dropout=0.0)
    assert (large.encoder_dim, large.num_encoder_layers, large.num_heads) == (512, 17, 8)
    assert (large.feedforward_dim, large.conv_kernel_size, large.dropout) == (2048, 31, 0.0)
    assert set(PRESETS) == {"tiny", "small", "medium", "large"}


def _count(name: str, vocab: int = 500) -> int:
    with torch.device("meta"):
        model = Transducer(TransducerConfig.from_preset(name, vocab))
    return sum(p.numel() for p in model.parameters())


def test_preset_param_counts_match_docstring_and_ranges():
    counts = {name: _count(name) for name in PRESETS}
    table = dict(
        (m.group(1), int(m.group(2).replace(",", "")))
        for m in re.finditer(r"``(\w+)``\s.*?\s([\d,]{7,})\s*$", config_module.__doc__, re.M)
    )
    assert table == counts
    assert 0.7e6 <= counts["tiny"] <= 1.3e6
    assert 2e6 <= counts["medium"] <= 9e6
    assert 0.2 <= counts["small"] / counts["medium"] <= 0.35
    assert counts["large"] >= 100e6


# ---------------------------------------------------------------- encoder pieces


def test_subsampled_lengths_match_conv_output():
    sub = Conv2dSubsampling(80, 16)
    for t in range(1, 60):
        out = sub(torch.zeros(1, t, 80))
        assert out.shape[1] == subsampled_lengths(t) == max(((t - 7) // 2 + 1) // 2, 0)
        assert out.shape[1] == int(subsampled_lengths(torch.tensor([t]))[0])
    assert subsampled_lengths(3) == 0 and subsampled_lengths(100) == 23
    for n in range(0, 30):
        t = min_input_frames(n)
        assert subsampled_lengths(t) >= n
        assert t == 0 or subsampled_lengths(t - 1) < n
    assert Transducer.min_frames_for(0) == 9 and Transducer.min_frames_for(5) == 25


def test_conv1d_subsampling_lengths_and_receptive_field():
    """Same T' as the Conv2d front-end for every T, and output frame t sees input frames
    4t .. 4t+8 only (so padding never leaks in)."""
    torch.manual_seed(0)
    sub = Conv1dSubsampling(80, 16).eval()
    for t in range(1, 60):
        assert sub(torch.zeros(1, t, 80)).shape == (1, subsampled_lengths(t), 16)
    x = torch.randn(1, 41, 80)
    base = sub(x)
    for k in range(41):  # perturb one input frame: only outputs t with 4t <= k <= 4t + 8 change
        y = x.clone()
        y[0, k] += 10.0
        changed = (sub(y) - base).abs().amax(-1)[0] > 1e-6
        expect = torch.tensor([4 * t <= k <= 4 * t + 8 for t in range(base.size(1))])
        assert torch.equal(changed, expect), k


def test_layer_scale_starts_close_to_identity_and_is_trained():
    """With LayerScale the blocks start as small perturbations of their input (the relative change
    each block makes is ~layer_scale), the gains are parameters and get gradients; 0 = off."""
    torch.manual_seed(0)
    feats, lens = torch.randn(2, 60, 80), torch.tensor([60, 45])

    def block_change(cfg: TransducerConfig) -> float:
        enc = ConformerEncoder(cfg).eval()
        x = enc.encoder_embed(feats)
        x, pos = enc.encoder_pos(x)
        pad = make_pad_mask(subsampled_lengths(lens), x.size(1))
        layer = enc.layers[1]
        x = enc.layers[0](x, pos, pad)  # unit-scale input, as every block but the first sees
        with torch.no_grad():
            return float((layer(x, pos, pad) - x).norm() / x.norm())

    assert block_change(small_config(layer_scale=0.01)) < 0.1
    assert block_change(small_config()) > 0.3  # off: the branches change the stream a lot
    model = Transducer(small_config(layer_scale=0.1))
    gains = model.encoder.layers[0].branch_scales
    assert gains.shape == (4, 32) and torch.allclose(gains, torch.full_like(gains, 0.1))
    feats_t, targets = torch.randn(2, 40, 80), torch.randint(1, V, (2, 4))
    out = model(feats_t, torch.tensor([40, 33]), targets, torch.tensor([4, 3]))
    (out.simple_loss + out.pruned_loss).backward()
    assert gains.grad is not None and gains.grad.abs().sum() > 0
    assert Transducer(small_config()).encoder.layers[0].branch_scales is None
    with pytest.raises(ValueError, match="layer_scale"):
        small_config(layer_scale=-0.1)
    with pytest.raises(ValueError, match="subsampling"):
        small_config(subsampling="conv3d")
    from rnnt_kd.model.conformer import SUBSAMPLING

    assert tuple(SUBSAMPLING) == config_module.SUBSAMPLING_KINDS


def test_rel_shift_brute_force():
    b, h, t = 2, 3, 5
    x = torch.randn(b, h, t, 2 * t - 1)
    out = rel_shift(x)
    for i in range(t):
        for j in range(t):
            assert torch.equal(out[:, :, i, j], x[:, :, i, t - 1 - i + j])


@pytest.mark.parametrize(
    "extra", [{}, {"subsampling": "conv1d", "layer_scale": 0.1}], ids=["conv2d", "conv1d-ls"]
)
def test_encoder_shapes_and_padding_invariance(extra):
    torch.manual_seed(0)
    model = Transducer(small_config(**extra)).eval()
    lens = [61, 40, 25, 13]
    features, feature_lens, _, _ = make_batch(lens, [1, 1, 1, 1])
    for i, n in enumerate(lens):  # garbage in the padding must not leak into valid frames
        features[i, n:] = 1e3
    enc, enc_lens = model.encode(features, feature_lens)
    assert enc.shape == (4, subsampled_lengths(61), 32)
    assert enc_lens.tolist() == [subsampled_lengths(n) for n in lens]
    assert torch.all(enc[make_pad_mask(enc_lens, enc.size(1))] == 0)
    for i, n in enumerate(lens):
        alone, alone_lens = model.encode(features[i : i + 1, :n], feature_lens[i : i + 1])
        k = int(enc_lens[i])
        assert int(alone_lens[0]) == k and alone.shape[1] == k
        torch.testing.assert_close(enc[i, :k], alone[0], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- decoder, joiner


def test_decoder_context_and_need_pad():
    torch.manual_seed(0)
    dec = Decoder(vocab_size=V, decoder_dim=8, blank_id=0, context_size=3)
    assert torch.all(dec.embedding.weight[0] == 0)
    y = torch.tensor([[0, 4, 7, 2, 9]])
    out = dec(y)
    assert out.shape == (1, 5, 8)
    padded = torch.cat([torch.zeros(1, 2, dtype=torch.int64), y], dim=1)
    for u in range(5):
        ref = dec(padded[:, u : u + 3], need_pad=False)
        assert ref.shape == (1, 1, 8)
        torch.testing.assert_close(out[:, u], ref[:, 0])
    # -1 context padding embeds as zero, like blank
    torch.testing.assert_close(
        dec(torch.tensor([[-1, -1, 5]]), need_pad=False),
        dec(torch.tensor([[0, 0, 5]]), need_pad=False),
    )
    # output u = relu(sum_k w[:, k] * emb(y[u - 2 + k])) (depthwise conv, hand-computed)
    e = dec.embedding.weight
    w = dec.conv.weight[:, 0, :]  # (D, 3)
    manual = torch.relu(w[:, 0] * e[4] + w[:, 1] * e[7] + w[:, 2] * e[2])
    torch.testing.assert_close(out[0, 3], manual)
    with pytest.raises(ValueError):
        dec(torch.tensor([[1, 2]]), need_pad=False)


def test_joiner_broadcasting():
    torch.manual_seed(0)
    j = Joiner(encoder_dim=6, decoder_dim=5, joiner_dim=7, vocab_size=V)
    enc, dec = torch.randn(2, 3, 6), torch.randn(2, 4, 5)
    out = j(enc.unsqueeze(2), dec.unsqueeze(1))
    assert out.shape == (2, 3, 4, V)
    ref = j.output_linear(torch.tanh(j.encoder_proj(enc[1, 2]) + j.decoder_proj(dec[1, 3])))
    torch.testing.assert_close(out[1, 2, 3], ref)
    pre = j(j.encoder_proj(enc).unsqueeze(2), j.decoder_proj(dec).unsqueeze(1), project_input=False)
    torch.testing.assert_close(pre, out)


# ---------------------------------------------------------------- transducer losses


@pytest.fixture(scope="module")
def model_and_batch():
    torch.manual_seed(0)
    model = Transducer(small_config(dropout=0.0)).eval()
    batch = make_batch([70, 55, 41], [6, 3, 5], seed=1)
    return model, batch


def test_forward_shapes_and_band_logprobs(model_and_batch):
    model, (features, feature_lens, targets, target_lens) = model_and_batch
    out = model(features, feature_lens, targets, target_lens, prune_range=3)
    assert isinstance(out, TransducerOutput)
    t_max = subsampled_lengths(70)
    assert out.encoder_out.shape == (3, t_max, 32)
    assert out.boundary.tolist() == [
        [0, 0, u, subsampled_lengths(t)] for u, t in zip([6, 3, 5], [70, 55, 41])
    ]
    assert out.ranges.shape == (3, t_max, 3) and out.ranges.dtype == torch.int64
    assert out.logits.shape == (3, t_max, 3, V)
    assert out.px.shape == (3, 6, t_max + 1) and out.py.shape == (3, 7, t_max)
    assert out.simple_loss.dim() == 0 and out.pruned_loss.dim() == 0
    assert torch.isfinite(out.simple_loss) and torch.isfinite(out.pruned_loss)
    # pruned loss from the returned band log-probs equals k2's rnnt_loss_pruned
    ref = backend.rnnt_loss_pruned(
        logits=out.logits,
        symbols=targets,
        ranges=out.ranges,
        termination_symbol=0,
        boundary=out.boundary,
        reduction="sum",
    )
    torch.testing.assert_close(out.pruned_loss, ref)
    # forcing the same band reproduces everything
    again = model(features, feature_lens, targets, target_lens, ranges=out.ranges)
    torch.testing.assert_close(again.pruned_loss, out.pruned_loss)
    torch.testing.assert_close(again.simple_loss, out.simple_loss)


def test_full_band_equals_full_lattice_loss(model_and_batch):
    model, (features, feature_lens, targets, target_lens) = model_and_batch
    with torch.no_grad():
        out = model(features, feature_lens, targets, target_lens, prune_range=100)
        full = model.full_logits(out.encoder_out, targets, target_lens)
    assert out.ranges.shape[-1] == 7  # clamped to max(U) + 1
    assert full.shape == (3, out.encoder_out.size(1), 7, V)
    ref = backend.rnnt_loss(
        logits=full,
        symbols=targets,
        termination_symbol=0,
        boundary=out.boundary,
        reduction="sum",
    )
    assert abs(float(out.pruned_loss) - float(ref)) <= 1e-4 * abs(float(ref))
    brute = sum(
        rnnt_nll_reference(
            full[b, : out.boundary[b, 3], : out.boundary[b, 2] + 1],
            targets[b, : out.boundary[b, 2]].tolist(),
            blank=0,
        )
        for b in range(3)
    )
    assert abs(float(out.pruned_loss) - brute) <= 1e-4 * brute
    # band log-probs equal the full lattice's on every valid node
    lp = full.log_softmax(-1)
    for b in range(3):
        u_b, t_b = int(out.boundary[b, 2]), int(out.boundary[b, 3])
        torch.testing.assert_close(out.py[b, : u_b + 1, :t_b], lp[b, :t_b, : u_b + 1, 0].T)
        y = targets[b, :u_b]
        px_ref = lp[b, :t_b, torch.arange(u_b), y].T  # (U_b, T_b)
        torch.testing.assert_close(out.px[b, :u_b, :t_b], px_ref)
        assert torch.all(out.px[b, :u_b, t_b] == -math.inf)


def test_short_utterance_widens_band_and_rejects_empty():
    torch.manual_seed(0)
    model = Transducer(small_config(dropout=0.0))
    features, feature_lens, targets, target_lens = make_batch([17, 40], [8, 2], seed=2)
    out = model(features, feature_lens, targets, target_lens, prune_range=2)
    # T' = 3 < U = 8: band raised to (8 - 1) // 3 + 2 = 4
    assert out.ranges.shape[-1] == 4 and torch.isfinite(out.pruned_loss)
    with pytest.raises(ValueError, match=">= 1 token"):
        model(features, feature_lens, targets, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="0 encoder frames"):
        model(features, torch.tensor([17, 5]), targets, target_lens)


def test_target_padding_value_is_irrelevant(model_and_batch):
    model, (features, feature_lens, targets, target_lens) = model_and_batch
    out = model(features, feature_lens, targets, target_lens)
    dirty = targets.clone()
    dirty[1, 3:] = -1
    dirty[2, 5:] = V - 1
    out2 = model(features, feature_lens, dirty, target_lens)
    torch.testing.assert_close(out2.pruned_loss, out.pruned_loss)
    torch.testing.assert_close(out2.simple_loss, out.simple_loss)


def test_gradients_reach_all_parts():
    torch.manual_seed(0)
    model = Transducer(small_config())
    features, feature_lens, targets, target_lens = make_batch([50, 33], [4, 2], seed=3)
    out = model(features, feature_lens, targets, target_lens)
    (0.5 * out.simple_loss + out.pruned_loss).backward()
    for name in (
        "encoder.encoder_embed.conv.0.weight",
        "encoder.layers.0.self_attn.pos_bias_u",
        "encoder.layers.0.self_attn.linear_pos.weight",
        "encoder.layers.1.conv_module.depthwise_conv.weight",
        "decoder.embedding.weight",
        "decoder.conv.weight",
        "joiner.output_linear.weight",
        "simple_am_proj.weight",
        "simple_lm_proj.weight",
    ):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    assert torch.all(model.decoder.embedding.weight.grad[0] == 0)  # blank = padding_idx
