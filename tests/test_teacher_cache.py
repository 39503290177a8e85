"""The cached teacher band (rnnt_kd.kd.cache, bin.cache_teacher, train --teacher-cache)
gives the same KD loss and gradients as running the teacher at every step."""

from __future__ import annotations

import copy
import re

import pytest
import torch

from rnnt_kd.bin import cache_teacher
from rnnt_kd.bin import train as train_cli
from rnnt_kd.checkpoint import load_model
from rnnt_kd.data import AsrDataModule, Tokenizer, batch_to_tensors, load_cuts
from rnnt_kd.kd.cache import TeacherCache, build_teacher_cache, file_sha256
from rnnt_kd.kd.teacher import CachedTeacher, KDBatch, OnlineTeacher
from rnnt_kd.settings import DistillSettings, LossSettings
from rnnt_kd.train.losses import compute_loss
from tests.conftest import train_argv


def _models(tiny_teacher):
    teacher, _ = load_model(tiny_teacher)
    with torch.no_grad():  # sharper posteriors: a 1-epoch teacher is nearly uniform
        teacher.joiner.output_linear.weight.mul_(8.0)
    student = copy.deepcopy(teacher)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a student that differs from the teacher: KD term > 0
        for p in student.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    for p in student.parameters():
        p.requires_grad_(True)
    return teacher.eval(), student.eval()


def _batches(tiny_data, max_duration):
    tok = Tokenizer(tiny_data["bpe_model"])
    loader = AsrDataModule().valid_dataloader(
        load_cuts(tiny_data["dev_cuts"]), max_duration=max_duration
    )
    return [batch_to_tensors(b, tok, "cpu")[:5] for b in loader]


LOSS = LossSettings()


def _meta(tiny_teacher, kd):
    return {
        "teacher_sha256": file_sha256(tiny_teacher),
        "temperature": kd.distill_temperature,
        "prune_range": LOSS.prune_range,
        "am_scale": LOSS.am_scale,
        "lm_scale": LOSS.lm_scale,
    }


def _loss_and_grads(student, batch, kd, teacher):
    """Loss info and gradients of one training batch (cut ids given: a cache is read)."""
    student.zero_grad()
    loss, info = compute_loss(student, KDBatch(*batch), LOSS, 10_000, teacher, kd)
    loss.backward()
    return info, [p.grad.clone() for p in student.parameters() if p.grad is not None]


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_cached_band_gives_the_online_loss_and_gradients(
    tiny_data, tiny_teacher, tmp_path, temperature
):
    teacher, student = _models(tiny_teacher)
    cfg = DistillSettings(distill_scale=1.0, distill_temperature=temperature)
    batches = _batches(tiny_data, max_duration=8)
    path = tmp_path / "band.pt"
    torch.save(build_teacher_cache(teacher, batches, _meta(tiny_teacher, cfg)), path)
    cache = TeacherCache(path, expected=_meta(tiny_teacher, cfg))
    assert len(cache) == sum(len(b[4]) for b in batches) == 6

    batch = batches[0]
    online, g_online = _loss_and_grads(student, batch, cfg, OnlineTeacher(teacher))
    cached, g_cached = _loss_and_grads(student, batch, cfg, CachedTeacher(teacher, cache))
    assert online["distill_loss"] > 1e-3
    # T = 1: the online path takes P_rest = 1 - P_y - P_blank from k2's px/py (float32
    # cancellation where P_rest is small: ~0.1 % here), the cache sums it over the other classes
    rel, rtol = (1e-5, 1e-3) if temperature != 1.0 else (5e-3, 2e-2)
    for k in ("pruned_loss", "simple_loss"):
        assert cached[k] == pytest.approx(online[k], rel=1e-6), k
    for k in ("distill_loss", "loss"):
        assert cached[k] == pytest.approx(online[k], rel=rel), k
    assert len(g_cached) == len(g_online)
    for a, b in zip(g_cached, g_online):
        torch.testing.assert_close(a, b, rtol=rtol, atol=1e-5)


def test_cache_built_one_utterance_at_a_time_serves_any_batch(tiny_data, tiny_teacher, tmp_path):
    """Padding does not leak into the band: a cache made from single-utterance batches gives a
    whole batch the loss of the online teacher on that batch."""
    teacher, student = _models(tiny_teacher)
    cfg = DistillSettings(distill_scale=1.0, distill_temperature=2.0)
    singles = _batches(tiny_data, max_duration=1.0)  # one cut per batch
    assert all(len(b[4]) == 1 for b in singles)
    cache_dict = build_teacher_cache(teacher, singles, _meta(tiny_teacher, cfg))
    whole = _batches(tiny_data, max_duration=100)[0]
    assert len(whole[4]) == 6
    band = TeacherCache.__new__(TeacherCache)
    band.path, band.meta, band.cuts = "mem", cache_dict["meta"], cache_dict["cuts"]
    online, _ = _loss_and_grads(student, whole, cfg, OnlineTeacher(teacher))
    cached, _ = _loss_and_grads(student, whole, cfg, CachedTeacher(teacher, band))
    assert cached["distill_loss"] == pytest.approx(online["distill_loss"], rel=1e-4)
    assert cached["pruned_loss"] == pytest.approx(online["pruned_loss"], rel=1e-4)


def test_cache_refuses_other_settings_and_unknown_cuts(tiny_data, tiny_teacher, tmp_path):
    teacher, _ = _models(tiny_teacher)
    cfg = DistillSettings(distill_scale=1.0, distill_temperature=2.0)
    batches = _batches(tiny_data, max_duration=8)
    path = tmp_path / "band.pt"
    torch.save(build_teacher_cache(teacher, batches[:1], _meta(tiny_teacher, cfg)), path)
    with pytest.raises(ValueError, match="temperature=2.0.*uses 1.0"):
        TeacherCache(path, expected={**_meta(tiny_teacher, cfg), "temperature": 1.0})
    with pytest.raises(ValueError, match="teacher_sha256"):
        TeacherCache(path, expected={**_meta(tiny_teacher, cfg), "teacher_sha256": "0" * 64})
    with pytest.raises(ValueError, match="teacher_inputs_sha256=None"):  # made without them
        TeacherCache(path, expected={**_meta(tiny_teacher, cfg), "teacher_inputs_sha256": "ab"})
    cache = TeacherCache(path, expected=_meta(tiny_teacher, cfg))
    with pytest.raises(ValueError, match="no entry for cut 'nope'"):
        cache.batch(["nope"], torch.tensor([3]), 3)
    not_a_cache = tmp_path / "x.pt"
    torch.save({"model": 1}, not_a_cache)
    with pytest.raises(ValueError, match="not a teacher cache"):
        TeacherCache(not_a_cache)


def test_duplicate_cut_ids_are_refused(tiny_data, tiny_teacher, tmp_path, capsys):
    """One band per cut id: a repeated id (in one batch, across batches, or a manifest given
    twice to the CLI) is one clear error naming it, not a band silently overwritten."""
    teacher, _ = _models(tiny_teacher)
    meta = _meta(tiny_teacher, DistillSettings(distill_scale=1.0))
    first, second = _batches(tiny_data, max_duration=1.0)[:2]  # one cut each
    dup = first[4][0]
    across = (*second[:4], [dup])
    with pytest.raises(
        ValueError, match=rf"1 duplicate cut id\(s\) in the batches: {re.escape(repr(dup))};"
    ):
        build_teacher_cache(teacher, [first, across], meta)
    whole = _batches(tiny_data, max_duration=100)[0]
    within = (*whole[:4], [whole[4][1], *whole[4][1:]])
    with pytest.raises(ValueError, match=re.escape(repr(whole[4][1]))):
        build_teacher_cache(teacher, [within], meta)

    train = str(tiny_data["train_cuts"])
    rc = cache_teacher.main(
        ["--teacher-checkpoint", str(tiny_teacher), "--train-cuts", train, train,
         "--bpe-model", str(tiny_data["bpe_model"]), "--out", str(tmp_path / "band.pt")]
    )  # fmt: skip
    # one error line (log lines of the INFO level may stand beside it)
    err = [x for x in capsys.readouterr().err.splitlines() if "error" in x.lower()]
    assert rc == 2 and not (tmp_path / "band.pt").exists()
    assert len(err) == 1 and re.match(
        r"cache_teacher: error: \d+ duplicate cut id\(s\) in --train-cuts", err[0]
    )


def _kd_log(exp_dir):
    text = "\n".join(p.read_text() for p in (exp_dir / "log").glob("log-train-*"))
    losses = [float(x) for x in re.findall(r"batch: [^|]*distill_loss=([0-9.e+-]+)", text)]
    return text, losses


def test_train_with_teacher_cache_matches_online_kd(tiny_data, tiny_teacher, tmp_path):
    """CLI: cache_teacher, then train --teacher-cache: the same per-batch KD losses as a
    student that runs the teacher (same seed, same batches)."""
    cache = tmp_path / "band.pt"
    rc = cache_teacher.main(
        ["--teacher-checkpoint", str(tiny_teacher), "--train-cuts", str(tiny_data["train_cuts"]),
         "--bpe-model", str(tiny_data["bpe_model"]), "--distill-temperature", "2.0",
         "--min-utt-duration", "0.5", "--out", str(cache)]
    )  # fmt: skip
    assert rc == 0 and cache.is_file()
    assert TeacherCache(cache).meta["num_cuts"] == 24

    kd = ["--teacher-checkpoint", str(tiny_teacher), "--distill-scale", "0.5",
          "--distill-temperature", "2.0"]  # fmt: skip
    common = ("--num-epochs", "1", "--tensorboard", "false", "--log-interval", "1",
              "--spec-augment", "false")  # fmt: skip
    train_cli.main(train_argv(tiny_data, tmp_path / "online", *common, *kd))
    train_cli.main(
        train_argv(tiny_data, tmp_path / "cached", *common, *kd, "--teacher-cache", str(cache))
    )
    text, cached = _kd_log(tmp_path / "cached")
    _, online = _kd_log(tmp_path / "online")
    assert "teacher band of 24 training cuts read from" in text
    assert len(cached) == len(online) >= 3
    # rounding of the teacher values (other batch padding) and of the 4-digit log lines
    assert cached == pytest.approx(online, rel=5e-3)

    # a cache made at another temperature is refused with one clear line
    assert (
        train_cli.cli(
            train_argv(
                tiny_data,
                tmp_path / "bad",
                *common,
                *kd[:4],
                "--distill-temperature",
                "1.0",
                "--teacher-cache",
                str(cache),
            )
        )  # fmt: skip
        == 2
    )
    with pytest.raises(SystemExit):  # the cache holds the teacher's band only
        train_cli.main(
            train_argv(tiny_data, tmp_path / "bad2", *kd, "--teacher-cache", str(cache),
                       "--distill-band", "student")
        )  # fmt: skip
