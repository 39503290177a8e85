"""Distillation compares like with like: KD vs no KD differ only by the KD term, teacher, student
and cache share one tokenizer, and a cached (clean-input) band is not mixed with SpecAugment
without the user saying so."""

from __future__ import annotations

import copy
import random

import pytest
import torch
from conftest import WORDS, train_argv

from rnnt_kd.bin import cache_teacher
from rnnt_kd.bin import train as train_cli
from rnnt_kd.checkpoint import load_model
from rnnt_kd.data import AsrDataModule, Tokenizer, batch_to_tensors, load_cuts, train_bpe
from rnnt_kd.kd.cache import TeacherCache, build_teacher_cache, file_sha256
from rnnt_kd.kd.teacher import CachedTeacher, KDBatch, OnlineTeacher
from rnnt_kd.settings import DistillSettings, LossSettings
from rnnt_kd.train.losses import compute_loss


def _batch(tiny_data):
    tok = Tokenizer(tiny_data["bpe_model"])
    loader = AsrDataModule().valid_dataloader(load_cuts(tiny_data["train_cuts"]), max_duration=8)
    feats, lens, y, ylens, ids, _ = batch_to_tensors(next(iter(loader)), tok, "cpu")
    return KDBatch(feats, lens, y, ylens, ids)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_kd_changes_only_the_kd_term(tiny_data, tiny_teacher, tmp_path, temperature):
    """A student whose bands differ from the teacher's: with a teacher (online or cached) its
    simple and pruned RNN-T losses are exactly those without one (its own band), and the
    gradient difference is the KD term's gradient alone."""
    teacher, _ = load_model(tiny_teacher)
    torch.manual_seed(5)
    student = copy.deepcopy(teacher)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.3 * torch.randn_like(p))
    student.eval()
    batch = _batch(tiny_data)
    loss_cfg = LossSettings(model_warm_step=0)
    kd = DistillSettings(distill_scale=1.0, distill_temperature=temperature)
    _, plain = compute_loss(student, batch, loss_cfg, 10, None, kd)
    meta = {"teacher_sha256": "x", "temperature": temperature, "prune_range": 5,
            "am_scale": 0.0, "lm_scale": 0.25}  # fmt: skip
    feats = (batch.features, batch.feature_lens, batch.targets, batch.target_lens, batch.cut_ids)
    path = tmp_path / "band.pt"
    torch.save(build_teacher_cache(teacher, [feats], meta), path)
    t_out = teacher(*feats[:4])
    s_own = student(*feats[:4])
    assert not torch.equal(t_out.ranges, s_own.ranges), "the test needs different bands"
    for kind in (OnlineTeacher(teacher), CachedTeacher(teacher, TeacherCache(path))):
        _, info = compute_loss(student, batch, loss_cfg, 10, kind, kd)
        assert info["distill_loss"] > 1e-4
        for k in ("simple_loss", "pruned_loss", "ctc_loss"):
            assert info[k] == plain[k], (kind.kind, k)
        assert info["loss"] == pytest.approx(plain["loss"] + info["distill_loss"], rel=1e-6)


@pytest.fixture(scope="module")
def other_bpe(tiny_data, tmp_path_factory):
    """A BPE model of the same size trained on other text: same vocab_size, other pieces."""
    rng = random.Random(7)
    texts = [" ".join(rng.choice(WORDS[::-1]) for _ in range(6)) for _ in range(300)]
    path = train_bpe(texts, tmp_path_factory.mktemp("other_bpe"), vocab_size=30)
    assert Tokenizer(path).vocab_size == Tokenizer(tiny_data["bpe_model"]).vocab_size
    assert Tokenizer(path).sha256 != Tokenizer(tiny_data["bpe_model"]).sha256
    return path


def test_teacher_and_init_with_another_tokenizer_are_refused(
    tiny_data, tiny_teacher, other_bpe, tmp_path, capsys
):
    for flag in ("--teacher-checkpoint", "--init-from"):
        argv = train_argv(tiny_data, tmp_path / flag.strip("-"), "--num-epochs", "1",
                          flag, str(tiny_teacher), "--bpe-model", str(other_bpe))  # fmt: skip
        assert train_cli.cli(argv) == 2
        err = [x for x in capsys.readouterr().err.splitlines() if "error" in x]
        assert len(err) == 1 and "another BPE model" in err[0], err
        assert "Traceback" not in err[0]
        assert not (tmp_path / flag.strip("-") / "epoch-1.pt").exists()


def test_cache_of_another_tokenizer_is_refused(tiny_data, tiny_teacher, other_bpe, tmp_path):
    cache = tmp_path / "band.pt"
    train_cuts = str(tiny_data["train_cuts"])
    common = ["--teacher-checkpoint", str(tiny_teacher), "--out", str(cache),
              "--train-cuts", train_cuts, "--min-utt-duration", "0.5"]  # fmt: skip
    # the teacher itself was trained with tiny_data's BPE model: cache_teacher refuses another
    assert cache_teacher.main([*common, "--bpe-model", str(other_bpe)]) == 2
    assert not cache.exists()
    assert cache_teacher.main([*common, "--bpe-model", str(tiny_data["bpe_model"])]) == 0
    meta = TeacherCache(cache).meta
    assert meta["tokenizer_sha256"] == Tokenizer(tiny_data["bpe_model"]).sha256
    assert meta["teacher_sha256"] == file_sha256(tiny_teacher)
    with pytest.raises(ValueError, match="tokenizer_sha256"):
        TeacherCache(cache, expected={"tokenizer_sha256": Tokenizer(other_bpe).sha256})


def test_teacher_cache_with_spec_augment_needs_explicit_consent(
    tiny_data, tiny_teacher, tmp_path, capsys
):
    cache = tmp_path / "band.pt"
    assert cache_teacher.main(
        ["--teacher-checkpoint", str(tiny_teacher), "--train-cuts", str(tiny_data["train_cuts"]),
         "--bpe-model", str(tiny_data["bpe_model"]), "--min-utt-duration", "0.5",
         "--out", str(cache)]
    ) == 0  # fmt: skip
    kd = ["--teacher-checkpoint", str(tiny_teacher), "--teacher-cache", str(cache),
          "--num-epochs", "1", "--max-steps", "1", "--tensorboard", "false"]  # fmt: skip
    with pytest.raises(SystemExit) as e:  # SpecAugment on by default: refused
        train_cli.main(train_argv(tiny_data, tmp_path / "a", *kd))
    assert e.value.code == 2 and "SpecAugment" in capsys.readouterr().err
    # asked for explicitly: trains, with a warning in the log
    train_cli.main(train_argv(tiny_data, tmp_path / "b", *kd, "--spec-augment", "true"))
    log = "\n".join(p.read_text() for p in (tmp_path / "b" / "log").glob("log-train-*"))
    assert "with SpecAugment on" in log
    # starting after the last epoch means never: no consent needed
    train_cli.main(train_argv(tiny_data, tmp_path / "c", *kd, "--spec-augment-start-epoch", "2"))
    assert (tmp_path / "c" / "epoch-1.pt").is_file()
