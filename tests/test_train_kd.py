"""Training with the method's options: distillation from a teacher and gradual pruning."""

from __future__ import annotations

import pytest
import torch

from rnnt_kd import pruning
from rnnt_kd.bin import train as train_cli
from rnnt_kd.checkpoint import files as ckpt_lib
from rnnt_kd.checkpoint.loading import load_averaged_model
from rnnt_kd.data import Tokenizer, train_bpe
from tests.conftest import WORDS, logged_distill_losses, sparse_kd_args, train_argv


def test_pruned_distilled_student(tiny_data, tiny_teacher, tmp_path):
    exp = tmp_path / "sparse60_kd"
    train_cli.main(train_argv(tiny_data, exp, *sparse_kd_args(tiny_teacher)))
    for epoch in (1, 2):
        ckpt = ckpt_lib.load_checkpoint(exp / f"epoch-{epoch}.pt")
        assert ckpt["masks"], "pruning masks are saved in the checkpoint"
        assert ckpt["pruner"]["last_sparsity"] == pytest.approx(0.6)
        for name, mask in ckpt["masks"].items():  # plain weights hold the zeros
            assert torch.all(ckpt["model"][name][~mask] == 0)
    # the decoded model (2 epochs averaged, masks re-applied) is truly 60% sparse
    model, _ = load_averaged_model(exp, epoch=2, avg=2)
    rep = pruning.sparsity_report(model)
    assert rep.global_sparsity == pytest.approx(0.6, abs=1e-3)
    assert rep.nonzero_params < rep.total_params
    kd = logged_distill_losses(exp)
    assert kd and all(v > 0 for v in kd) and all(torch.isfinite(torch.tensor(kd)))


@pytest.mark.parametrize(
    "kd_type,lattice,band,temp",
    [
        ("ybr", "pruned", "student", "1.0"),
        ("ybr", "pruned", "teacher", "2.0"),
        ("ybr", "full", "teacher", "1.0"),
        ("full-vocab", "pruned", "teacher", "1.0"),
        ("full-vocab", "full", "teacher", "1.0"),
    ],
)
def test_distillation_variants_train(
    tiny_data, tiny_teacher, tmp_path, kd_type, lattice, band, temp
):
    exp = tmp_path / "kd"
    train_cli.main(
        train_argv(
            tiny_data,
            exp,
            "--num-epochs",
            "1",
            "--max-steps",
            "2",
            "--tensorboard",
            "false",
            "--teacher-checkpoint",
            str(tiny_teacher),
            "--distill-scale",
            "0.1",
            "--distill-type",
            kd_type,
            "--distill-lattice",
            lattice,
            "--distill-band",
            band,
            "--distill-temperature",
            temp,
            "--log-interval",
            "1",
        )
    )
    kd = logged_distill_losses(exp)
    assert len(kd) == 2 and all(v > 0 for v in kd)


def test_student_equal_to_teacher_has_zero_distill_loss(tiny_data, tiny_teacher, tmp_path):
    """A student identical to the teacher (both in eval mode) has a zero KD term, and the KD
    option leaves the RNN-T loss itself unchanged."""
    from rnnt_kd.checkpoint import load_model
    from rnnt_kd.data import AsrDataModule, batch_to_tensors, load_cuts
    from rnnt_kd.kd import KDBatch, OnlineTeacher
    from rnnt_kd.settings import DistillSettings, LossSettings
    from rnnt_kd.train.losses import compute_loss

    teacher, _ = load_model(tiny_teacher)
    student, _ = load_model(tiny_teacher)
    student.eval()
    tok = Tokenizer(tiny_data["bpe_model"])
    loader = AsrDataModule().valid_dataloader(load_cuts(tiny_data["dev_cuts"]), max_duration=8)
    feats, lens, y, ylens, _, _ = batch_to_tensors(next(iter(loader)), tok, "cpu")
    batch = KDBatch(feats, lens, y, ylens)
    for lattice in ("pruned", "full"):
        kd = DistillSettings(distill_scale=1.0, distill_lattice=lattice)
        _, info = compute_loss(student, batch, LossSettings(), 10_000, OnlineTeacher(teacher), kd)
        assert info["distill_loss"] == pytest.approx(0.0, abs=1e-4)
        _, info_plain = compute_loss(student, batch, LossSettings(), 10_000, None)
        assert info["pruned_loss"] == pytest.approx(info_plain["pruned_loss"], rel=1e-5)


def test_teacher_with_other_vocabulary_is_rejected(tiny_data, tiny_teacher, tmp_path):
    other = tmp_path / "bpe_other"
    texts = [" ".join(WORDS[i % len(WORDS)] for i in range(j, j + 5)) for j in range(200)]
    train_bpe(texts, other, vocab_size=25)
    argv = train_argv(
        tiny_data, tmp_path / "exp", "--num-epochs", "1", "--teacher-checkpoint", str(tiny_teacher)
    )
    argv[argv.index("--bpe-model") + 1] = str(other / "bpe.model")
    with pytest.raises(ckpt_lib.CheckpointError, match="vocab_size=30.*vocab_size=25"):
        train_cli.main(argv)
    assert not list((tmp_path / "exp").glob("*.pt"))
