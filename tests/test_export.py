"""Exported models: sparse weights packed as bitmask + values, the same outputs after loading."""

from __future__ import annotations

import pytest
import torch

from rnnt_kd import pruning
from rnnt_kd.bin import decode as decode_cli
from rnnt_kd.bin import export as export_cli
from rnnt_kd.checkpoint import files as ckpt_lib
from rnnt_kd.checkpoint.export import compact_state_dict, pack_sparse, unpack_sparse
from rnnt_kd.checkpoint.files import CheckpointError
from rnnt_kd.checkpoint.loading import load_model
from rnnt_kd.model import Transducer, TransducerConfig


def _sparse_exp(tmp_path, sparsity: float):
    """An exp dir with epoch-1.pt of a tiny model pruned to ``sparsity`` (masks saved)."""
    torch.manual_seed(0)
    cfg = TransducerConfig.from_preset("tiny", 50)
    model = Transducer(cfg)
    if sparsity > 0:
        pruner = pruning.GradualPruner(
            model, target_sparsity=sparsity, start_step=0, end_step=1, prune_every=1
        )
        pruner.prune_to(sparsity)
    state, masks = pruning.plain_state_dict(model)
    exp = tmp_path / f"exp{sparsity}"
    ckpt_lib.save_checkpoint(
        exp / "epoch-1.pt",
        {"model": state, "masks": masks, "model_config": cfg.to_dict(), "tokenizer_sha256": None},
    )
    return exp


def _outputs(model: Transducer) -> torch.Tensor:
    x = torch.randn(2, 80, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        enc, _ = model.encode(x, torch.tensor([80, 61]))
    return enc


def test_pack_roundtrip_and_size():
    w = torch.randn(64, 33)
    w[torch.rand(64, 33, generator=torch.Generator().manual_seed(0)) < 0.9] = 0
    packed = pack_sparse(w)
    assert torch.equal(unpack_sparse(packed), w)
    assert packed["bits"].numel() == (64 * 33 + 7) // 8
    assert packed["values"].numel() == int(torch.count_nonzero(w))
    dense, sparse = compact_state_dict(
        {"w": w, "b": torch.randn(33), "n": torch.tensor(3)}, min_sparsity=0.5
    )
    assert set(sparse) == {"w"} and set(dense) == {"b", "n"}
    # a weight without zeros would grow when packed: stored dense even with min_sparsity 0
    dense, sparse = compact_state_dict({"w": torch.randn(64, 33)}, min_sparsity=0.0)
    assert not sparse
    # with 1.0 nothing is packed, however sparse
    assert not compact_state_dict({"w": w}, min_sparsity=1.0)[1]


def test_corrupt_packed_weight_is_refused():
    packed = pack_sparse(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
    packed["values"] = packed["values"][:1]
    with pytest.raises(CheckpointError, match="corrupt sparse weight"):
        unpack_sparse(packed)


@pytest.mark.parametrize("sparsity,max_ratio", [(0.9, 0.2), (0.6, 0.55), (0.0, 1.01)])
def test_export_shrinks_with_sparsity_and_gives_identical_outputs(tmp_path, sparsity, max_ratio):
    exp = _sparse_exp(tmp_path, sparsity)
    summary = export_cli.main(["--exp-dir", str(exp), "--epoch", "1", "--avg", "1"])
    exported, _ = load_model(summary["out"])
    source, _ = load_model(exp / "epoch-1.pt")
    assert torch.equal(_outputs(exported), _outputs(source))
    assert summary["sparsity"] == pytest.approx(
        pruning.sparsity_report(source).total_sparsity, abs=1e-6
    )
    assert summary["layer_sparsity"] == pruning.layer_sparsity(source)
    assert all(v < 1.0 for v in summary["layer_sparsity"].values())  # no tensor pruned away
    # file size relative to the dense float32 weights (pickle overhead included)
    assert summary["file_vs_dense"] < max_ratio
    if sparsity == 0.9:
        assert summary["file_vs_dense"] > 0.1  # bits + values: not less than the theory allows


def test_float16_export_halves_the_file_and_stays_close(tmp_path):
    exp = _sparse_exp(tmp_path, 0.0)
    full = export_cli.main(["--checkpoint", str(exp / "epoch-1.pt"), "--out", str(tmp_path / "a")])
    half = export_cli.main(
        [
            "--checkpoint",
            str(exp / "epoch-1.pt"),
            "--out",
            str(tmp_path / "b"),
            "--dtype",
            "float16",
        ]
    )
    assert half["file_mb"] < 0.55 * full["file_mb"]
    a, _ = load_model(tmp_path / "a")
    b, _ = load_model(tmp_path / "b")
    assert all(p.dtype == torch.float32 for p in b.parameters())
    torch.testing.assert_close(_outputs(a), _outputs(b), rtol=0.02, atol=0.02)


def test_decode_reads_an_exported_model(tiny_data, tiny_teacher, tmp_path):
    out = tmp_path / "exported.pt"
    export_cli.main(["--checkpoint", str(tiny_teacher), "--out", str(out)])
    args = ["--bpe-model", str(tiny_data["bpe_model"]), "--test-cuts", str(tiny_data["dev_cuts"])]
    args += ["--method", "greedy_search", "--device", "cpu", "--num-threads", "1"]
    from_export = decode_cli.main(
        ["--exp-dir", str(tmp_path), "--checkpoint", str(out), "--res-dir", str(tmp_path / "x")]
        + args
    )
    from_ckpt = decode_cli.main(
        ["--exp-dir", str(tmp_path), "--checkpoint", str(tiny_teacher)]
        + ["--res-dir", str(tmp_path / "y")]
        + args
    )
    assert from_export == from_ckpt


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(SystemExit):
        export_cli.main(["--exp-dir", str(tmp_path)])  # no --epoch
    with pytest.raises(SystemExit):
        export_cli.main(["--checkpoint", "x.pt", "--min-sparsity", "1.5"])
    with pytest.raises(SystemExit, match="checkpoint not found"):
        export_cli.main(["--checkpoint", str(tmp_path / "missing.pt")])
