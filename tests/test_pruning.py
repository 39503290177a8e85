"""Tests for rnnt_kd.pruning: schedule values, exact mask counts, masks through optimiser steps,
checkpoints, averaging and export; no scope prunes a tensor away (the ``small`` preset at 90 %)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from rnnt_kd.pruning import (
    GradualPruner,
    apply_masks,
    layer_sparsity,
    make_pruning_permanent,
    masks_from_model,
    plain_state_dict,
    prunable_modules,
    prunable_parameters,
    sparsity_at_step,
    sparsity_report,
    tensor_prune_counts,
)


class TinyTransducer(nn.Module):
    """Stand-in with the layer kinds of the real model (no dependency on rnnt_kd.model)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(1), nn.Linear(4 * 4 * 4, 24), nn.LayerNorm(24)
        )
        self.embedding = nn.Embedding(10, 8)
        self.decoder_conv = nn.Conv1d(8, 8, 2, groups=2)
        self.joiner = nn.Linear(24 + 8, 10)
        self.simple_am_proj = nn.Linear(24, 10)
        self.simple_lm_proj = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        enc = self.encoder(x)  # (B, 24)
        dec = self.decoder_conv(self.embedding(y).transpose(1, 2)).mean(dim=2)  # (B, 8)
        out = self.joiner(torch.cat([enc, dec], dim=1))
        return out.pow(2).mean() + self.simple_am_proj(enc).mean() + self.simple_lm_proj(dec).mean()


PRUNED = ["encoder.0", "encoder.3", "decoder_conv", "joiner"]


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 1, 6, 6, generator=g), torch.randint(0, 10, (3, 2), generator=g)


def _zeros(m: nn.Module) -> int:
    return int((m.weight == 0).sum())


def test_schedule_values():
    kw = dict(initial_sparsity=0.1, final_sparsity=0.9, start_step=100, end_step=300)
    assert sparsity_at_step(0, **kw) == pytest.approx(0.1)  # before t0: s_i
    assert sparsity_at_step(99, **kw) == pytest.approx(0.1)
    assert sparsity_at_step(100, **kw) == pytest.approx(0.1)  # t0
    assert sparsity_at_step(150, **kw) == pytest.approx(0.9 - 0.8 * 0.75**3)  # 0.5625
    assert sparsity_at_step(200, **kw) == pytest.approx(0.8)  # midpoint: 0.9 - 0.8 / 8
    assert sparsity_at_step(300, **kw) == pytest.approx(0.9)  # t1
    assert sparsity_at_step(10_000, **kw) == pytest.approx(0.9)
    assert sparsity_at_step(5, 0.0, 0.6, 5, 5) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        sparsity_at_step(5, 0.0, 0.6, 10, 5)


def test_prunable_parameters_selection():
    model = TinyTransducer()
    assert [n for n, _ in prunable_modules(model)] == PRUNED
    pairs = prunable_parameters(model)
    assert all(name == "weight" for _, name in pairs)
    assert [m for m, _ in pairs] == [model.get_submodule(n) for n in PRUNED]
    assert [n for n, _ in prunable_modules(model, exclude=("joiner",))] == PRUNED[:3] + [
        "simple_am_proj",
        "simple_lm_proj",
    ]


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_pruner_follows_schedule(scope):
    model = TinyTransducer()
    before = {n: model.get_submodule(n).weight.detach().clone() for n in PRUNED}
    pruner = GradualPruner(model, 0.8, start_step=10, end_step=50, prune_every=10, scope=scope)
    total = sum(w.numel() for w in before.values())
    fired = []
    for step in range(0, 71):
        s = pruner.step(step)
        if s is None:
            continue
        fired.append(step)
        assert s == pytest.approx(sparsity_at_step(step, 0.0, 0.8, 10, 50))
        mods = [model.get_submodule(n) for n in PRUNED]
        if scope == "global":
            assert sum(_zeros(m) for m in mods) == round(s * total)
        else:
            for m in mods:
                assert abs(_zeros(m) - s * m.weight.numel()) <= 1
        assert pruner.current_sparsity() == pytest.approx(s, abs=len(PRUNED) / total)
    assert fired == [20, 30, 40, 50]  # step 10 has target 0: nothing to prune
    assert pruner.current_sparsity() == pytest.approx(0.8, abs=len(PRUNED) / total)
    # magnitude ranking: every kept weight is at least as large as every pruned one
    groups = [PRUNED] if scope == "global" else [[n] for n in PRUNED]
    for names in groups:
        w = torch.cat([before[n].flatten() for n in names]).abs()
        keep = torch.cat([model.get_submodule(n).weight_mask.flatten() for n in names]).bool()
        assert w[keep].min() >= w[~keep].max()
    # untouched: embedding, norms, biases, simple projections
    assert not hasattr(model.simple_am_proj, "weight_mask")
    assert not hasattr(model.embedding, "weight_mask")
    assert (model.joiner.bias != 0).all()


def test_masks_only_grow():
    model = TinyTransducer()
    pruner = GradualPruner(model, 0.9, start_step=0, end_step=2, prune_every=1, scope="global")
    pruner.prune_to(0.5)
    old = masks_from_model(model)
    with torch.no_grad():  # reshuffle magnitudes so that a fresh ranking would differ
        for n in PRUNED:
            orig = model.get_submodule(n).weight_orig
            orig.copy_(torch.randn_like(orig))
    pruner.prune_to(0.7)
    new = masks_from_model(model)
    for k in old:
        assert not (new[k] & ~old[k]).any()  # nothing pruned came back
    total = sum(m.numel() for m in new.values())
    assert sum(int((~m).sum()) for m in new.values()) == round(0.7 * total)


def test_masks_hold_through_adamw_with_weight_decay():
    model = TinyTransducer()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.5)
    x, y = _batch()
    for _ in range(3):  # dense steps: AdamW moments become nonzero everywhere
        opt.zero_grad()
        model(x, y).backward()
        opt.step()
    pruner = GradualPruner(model, 0.6, start_step=0, end_step=0, scope="layer")
    assert pruner.step(0) == pytest.approx(0.6)
    masks = masks_from_model(model)
    for _ in range(5):
        opt.zero_grad()
        model(x, y).backward()
        opt.step()
    model(x, y)  # the forward recomputes weight = weight_orig * weight_mask
    plain, _ = plain_state_dict(model)
    for n in PRUNED:
        key = f"{n}.weight"
        assert (model.get_submodule(n).weight[~masks[key]] == 0).all()
        assert (plain[key][~masks[key]] == 0).all()
        assert (plain[key][masks[key]] != 0).all()
    assert sparsity_report(model).global_sparsity == pytest.approx(0.6, abs=4 / 1000)


def _pruned_model(sparsity: float, seed: int = 0) -> tuple[TinyTransducer, GradualPruner]:
    model = TinyTransducer(seed)
    pruner = GradualPruner(model, sparsity, start_step=0, end_step=0)
    pruner.step(0)
    return model, pruner


def test_plain_state_dict_save_load_and_resume(tmp_path):
    model, pruner = _pruned_model(0.5)
    plain, masks = plain_state_dict(model)
    assert not any(k.endswith(("_orig", "_mask")) for k in plain)
    torch.save({"model": plain, "masks": masks, "pruner": pruner.state_dict()}, tmp_path / "c.pt")

    ckpt = torch.load(tmp_path / "c.pt")
    fresh = TinyTransducer(seed=1)
    fresh.load_state_dict(ckpt["model"], strict=True)
    apply_masks(fresh, ckpt["masks"])
    x, y = _batch()
    torch.testing.assert_close(fresh(x, y), model(x, y))
    for k, m in masks_from_model(fresh).items():
        assert torch.equal(m, masks[k])
        assert (fresh.get_submodule(k[: -len(".weight")]).weight[~m] == 0).all()
    # resume the schedule: state restored, masks keep growing from the loaded ones
    fresh_pruner = GradualPruner(fresh, 0.1, start_step=5, end_step=6)
    fresh_pruner.load_state_dict(ckpt["pruner"])
    assert fresh_pruner.state_dict() == pruner.state_dict()
    assert fresh_pruner.step(1) is None  # target 0.5 reached already
    fresh_pruner.prune_to(0.75)
    for k, m in masks_from_model(fresh).items():
        assert not (m & ~masks[k]).any()
    assert fresh_pruner.current_sparsity() == pytest.approx(0.75, abs=1e-3)


def test_averaging_then_reapplying_masks_keeps_zeros():
    model_a, _ = _pruned_model(0.5, seed=0)
    model_b = copy.deepcopy(model_a)
    pruner_b = GradualPruner(model_b, 0.7, start_step=0, end_step=0)
    with torch.no_grad():
        for n in PRUNED:
            model_b.get_submodule(n).weight_orig.mul_(1.5)
    pruner_b.step(0)
    sd_a, _ = plain_state_dict(model_a)
    sd_b, masks_b = plain_state_dict(model_b)
    avg = {k: (sd_a[k] + sd_b[k]) / 2 for k in sd_a}
    plain = TinyTransducer(seed=3)
    plain.load_state_dict(avg)
    # the average alone is not as sparse as b (a kept weights b pruned) ...
    assert sparsity_report(plain).global_sparsity < 0.69
    apply_masks(plain, masks_b, reparametrize=False)
    assert not hasattr(plain.joiner, "weight_orig")
    for k, m in masks_b.items():
        w = plain.get_submodule(k[: -len(".weight")]).weight
        assert (w[~m] == 0).all()
        torch.testing.assert_close(w[m], avg[k][m])
    assert sparsity_report(plain).global_sparsity == pytest.approx(0.7, abs=1e-3)


def test_permanent_export_and_report():
    model, pruner = _pruned_model(0.75)
    reference = {n: model.get_submodule(n).weight.detach().clone() for n in PRUNED}
    report_pruned = sparsity_report(model)
    make_pruning_permanent(model)
    sd = model.state_dict()
    assert not any(k.endswith(("_orig", "_mask")) for k in sd)
    assert masks_from_model(model) == {}
    for n in PRUNED:
        assert isinstance(model.get_submodule(n).weight, nn.Parameter)
        assert torch.equal(sd[f"{n}.weight"], reference[n])
    report = sparsity_report(model)
    zeros = sum(int((sd[f"{n}.weight"] == 0).sum()) for n in PRUNED)
    prunable = sum(sd[f"{n}.weight"].numel() for n in PRUNED)
    assert report.prunable_params == prunable
    assert report.global_sparsity == pytest.approx(zeros / prunable)
    assert report.global_sparsity == pytest.approx(0.75, abs=1e-3)
    assert report.global_sparsity == pytest.approx(pruner.current_sparsity())
    all_params = list(TinyTransducer().parameters())
    assert report.total_params == sum(p.numel() for p in all_params)
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    assert report.nonzero_params == nonzero
    assert report.nonzero_params == report_pruned.nonzero_params  # same before and after export
    assert [x.name for x in report.layers] == [f"{n}.weight" for n in PRUNED]
    table = report.format()
    assert "joiner.weight" in table and "whole model" in table and "0.75" in table


def test_apply_masks_errors_and_pruner_args():
    model, _ = _pruned_model(0.5)
    masks = masks_from_model(model)
    with pytest.raises(ValueError, match="shape"):
        apply_masks(TinyTransducer(), {"joiner.weight": masks["joiner.weight"][:, :3]})
    with pytest.raises(ValueError, match="no module"):
        apply_masks(TinyTransducer(), {"nothere.weight": masks["joiner.weight"]})
    with pytest.raises(ValueError, match="scope"):
        GradualPruner(TinyTransducer(), 0.5, 0, 10, scope="row")
    with pytest.raises(ValueError, match="target_sparsity"):
        GradualPruner(TinyTransducer(), 1.0, 0, 10)
    with pytest.raises(ValueError, match="start_step"):
        GradualPruner(TinyTransducer(), 0.5, 10, 5)


# ----------------------------------------------------------------------------------------------
# every tensor stays alive: the real model at 90 %


# the preset as it is, and as the default recipe builds it (Conv1d front-end, LayerScale, CTC)
ARCHS = {"conv2d": {}, "recipe": dict(subsampling="conv1d", layer_scale=0.1, use_ctc=True)}


def _small_model(arch: str = "conv2d", seed: int = 0) -> nn.Module:
    from rnnt_kd.model.config import TransducerConfig
    from rnnt_kd.model.transducer import Transducer

    torch.manual_seed(seed)
    cfg = TransducerConfig.from_preset("small", 500, dropout=0.0, **ARCHS[arch])
    return Transducer(cfg).eval()


FRONT_END = [f"encoder.encoder_embed.conv.{i}.weight" for i in (0, 2, 4)]


def _hears(model: nn.Module) -> float:
    """Largest difference of the encoder outputs of two unrelated inputs, relative to their
    size (0: the output does not depend on the input)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 120, model.config.feature_dim, generator=g)
    with torch.no_grad():
        out, _ = model.encode(x, torch.tensor([120, 120]))
    return float((out[0] - out[1]).abs().max() / out.abs().max())


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize(
    "scope, keep_ratio, cap",
    [("layer", 0.5, 0.9), ("global", 0.5, 0.95), ("global", 0.1, 0.99), ("global", 1.0, 0.9)],
)
def test_small_preset_at_90_percent_keeps_every_tensor_and_hears(arch, scope, keep_ratio, cap):
    """Plain global ranking at initialisation zeroed 12 tensors of the conv2d model (the
    front-end's last convolution and output projection among them) and 13 of the recipe's (all
    three Conv1d front-end convolutions among them), and the encoder output did not depend on
    its input. No scope may do that now; each tensor is at most ``cap`` sparse (+ rounding)."""
    model = _small_model(arch)
    pruner = GradualPruner(model, 0.9, 0, 0, scope=scope, keep_ratio=keep_ratio)
    pruner.step(0)
    sparsity = layer_sparsity(model)
    assert len(sparsity) == len(prunable_modules(model)) == (48 if arch == "conv2d" else 47)
    sizes = {f"{n}.weight": m.weight.numel() for n, m in prunable_modules(model)}
    for name, value in sparsity.items():
        assert value < 1.0, name  # at least one weight kept
        assert value <= cap + 1.0 / sizes[name], name
    # the overall target is reached (within the rounding of the per-tensor floors)
    assert sparsity_report(model).global_sparsity == pytest.approx(0.9, abs=48 / 1.28e6)
    if scope == "layer":
        for name in FRONT_END:
            assert sparsity[name] == pytest.approx(0.9, abs=1.0 / sizes[name])
    assert _hears(model) > 0.01  # exactly 0 for plain global ranking


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_small_preset_dense_hears(arch):
    assert _hears(_small_model(arch)) > 0.05


def test_capped_global_is_the_best_ranking_under_the_caps():
    """Water-filling: tensors held at their cap, all others cut at one common threshold."""
    g = torch.Generator().manual_seed(0)
    # tensor 0 has tiny weights (plain global ranking would prune it whole), 2 is small
    scores = [
        torch.rand(400, generator=g) * 0.01,
        torch.rand(300, generator=g),
        torch.rand(7, generator=g) * 0.02,
        torch.rand(500, generator=g) * 2,
    ]
    sizes = [x.numel() for x in scores]
    for sparsity, ratio in [(0.9, 0.5), (0.6, 0.5), (0.9, 0.0), (0.9, 1.0), (0.3, 0.25)]:
        counts = tensor_prune_counts(scores, [0] * 4, sparsity, ratio)
        floors = [max(1, math.ceil(ratio * (1 - sparsity) * n - 1e-9)) for n in sizes]
        caps = [n - f for n, f in zip(sizes, floors)]
        assert sum(counts) == min(round(sparsity * sum(sizes)), sum(caps))
        assert all(0 <= c <= cap for c, cap in zip(counts, caps))
        held = [c == cap for c, cap in zip(counts, caps)]
        pruned = torch.cat([x.sort().values[:c] for x, c in zip(scores, counts)])
        free_kept = [x.sort().values[c:] for x, c, h in zip(scores, counts, held) if not h]
        if free_kept and pruned.numel():
            assert pruned.max() <= torch.cat(free_kept).min()
    # plain global ranking would take tensor 0 whole; the cap leaves it its floor
    assert tensor_prune_counts(scores, [0] * 4, 0.5, 0.5)[0] == 400 - 100
    # per-layer (keep_ratio None) keeps one weight of a tiny tensor at high sparsity
    assert tensor_prune_counts([torch.rand(10)], [0], 0.97, None) == [9]
    # never un-prune: a tensor already beyond its cap (an old checkpoint) stays as it is
    assert tensor_prune_counts(scores, [400, 0, 0, 0], 0.9, 0.5)[0] == 400


def test_capped_global_masks_grow_and_resume():
    model = TinyTransducer()
    pruner = GradualPruner(model, 0.9, 0, 10, prune_every=5, scope="global", keep_ratio=0.8)
    pruner.prune_to(0.5)
    old = masks_from_model(model)
    pruner.prune_to(0.9)
    new = masks_from_model(model)
    for k in old:
        assert not (new[k] & ~old[k]).any()
    sizes = {k: m.numel() for k, m in new.items()}
    for k, m in new.items():
        assert int(m.sum()) >= math.ceil(0.8 * 0.1 * sizes[k] - 1e-9)
    state = pruner.state_dict()
    assert state["keep_ratio"] == 0.8
    other = GradualPruner(TinyTransducer(), 0.5, 0, 1)
    other.load_state_dict(state)
    assert other.keep_ratio == 0.8 and other.state_dict() == state
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="keep_ratio"):
            GradualPruner(TinyTransducer(), 0.5, 0, 10, keep_ratio=bad)


@pytest.mark.parametrize("arch, at_floor", [("conv2d", 12), ("recipe", 13)])
def test_one_weight_per_tensor_is_not_enough_to_hear(arch, at_floor):
    """Why the floor is relative: plain global ranking that spares one weight per tensor
    (keep_ratio 0, refused by GradualPruner) still leaves the 90 % small preset deaf; the
    tensors held at one weight are the ones plain global ranking zeroes."""
    model = _small_model(arch)
    mods = [m for _, m in prunable_modules(model)]
    scores = [m.weight.detach().abs().flatten() for m in mods]
    counts = tensor_prune_counts(scores, [0] * len(mods), 0.9, 0.0)
    assert all(c < m.weight.numel() for c, m in zip(counts, mods))
    assert sum(c == m.weight.numel() - 1 for c, m in zip(counts, mods)) == at_floor
    for m, sc, k in zip(mods, scores, counts):
        with torch.no_grad():
            keep = torch.ones_like(sc, dtype=torch.bool)
            keep[sc.argsort()[:k]] = False
            m.weight.mul_(keep.view_as(m.weight))
    assert _hears(model) == 0.0


def test_layer_sparsity_of_model_and_state_dicts():
    model, _ = _pruned_model(0.75)
    want = {x.name: (x.params - x.nonzero) / x.params for x in sparsity_report(model).layers}
    assert list(want) == [f"{n}.weight" for n in PRUNED]
    assert layer_sparsity(model) == want
    assert layer_sparsity(model.state_dict()) == want  # weight_orig / weight_mask pairs
    plain, _ = plain_state_dict(model)
    assert layer_sparsity(plain) == want
    real = _small_model()
    GradualPruner(real, 0.6, 0, 0, scope="layer").step(0)
    got = layer_sparsity(plain_state_dict(real)[0])
    assert got == layer_sparsity(real) and len(got) == 48
    assert all(v == pytest.approx(0.6, abs=1e-2) for v in got.values())
