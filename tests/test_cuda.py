"""The GPU path: the same numbers on CUDA as on the CPU, and training/decoding with --device cuda.

Skipped where no GPU is visible (CI has none); run on a GPU machine with
``python -m pytest tests/test_cuda.py``. The backend must have CUDA kernels (k2, or fast_rnnt
built by ``RNNT_KD_CUDA=1 local/setup.sh``).
"""

from __future__ import annotations

import pytest
import torch

from rnnt_kd import backend, pruning
from rnnt_kd.bin import decode as decode_cli
from rnnt_kd.bin import train as train_cli
from rnnt_kd.checkpoint import files as ckpt_lib
from rnnt_kd.kd import losses as distill
from rnnt_kd.kd.teacher import KDBatch, OnlineTeacher
from rnnt_kd.model import Transducer, TransducerConfig
from rnnt_kd.settings import DistillSettings, LossSettings
from rnnt_kd.train.losses import compute_loss
from tests.conftest import logged_distill_losses, sparse_kd_args, train_argv

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
CUDA = torch.device("cuda")


def _rand_lattice(b=3, t=20, s=6, c=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(b, t, c, generator=g, dtype=torch.float64)
    lm = torch.randn(b, s + 1, c, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, c, (b, s), generator=g)
    boundary = torch.tensor([[0, 0, s, t], [0, 0, s - 2, t - 3], [0, 0, 1, t - 9]])[:b]
    return am, lm, symbols, boundary


def test_backend_has_cuda_kernels():
    backend.check_device(CUDA)  # raises with the fix when the build has no CUDA


def test_pruned_rnnt_loss_and_grads_match_cpu():
    am, lm, symbols, boundary = _rand_lattice()
    out = {}
    for dev in ("cpu", "cuda"):
        a = am.detach().to(dev).requires_grad_()  # a fresh leaf per device
        l_ = lm.detach().to(dev).requires_grad_()
        simple, (px_grad, py_grad) = backend.rnnt_loss_smoothed(
            lm=l_,
            am=a,
            symbols=symbols.to(dev),
            termination_symbol=0,
            lm_only_scale=0.25,
            am_only_scale=0.0,
            boundary=boundary.to(dev),
            reduction="sum",
            return_grad=True,
        )
        ranges = backend.get_rnnt_prune_ranges(px_grad, py_grad, boundary.to(dev), s_range=3)
        am_p, lm_p = backend.do_rnnt_pruning(a, l_, ranges)
        pruned = backend.rnnt_loss_pruned(
            logits=(am_p + lm_p).log_softmax(-1),
            symbols=symbols.to(dev),
            ranges=ranges,
            termination_symbol=0,
            boundary=boundary.to(dev),
            reduction="sum",
        )
        (simple + pruned).backward()
        out[dev] = [simple.detach(), pruned.detach(), ranges, a.grad, l_.grad]
    assert torch.equal(out["cpu"][2], out["cuda"][2].cpu())  # same band
    for x, y in zip(out["cpu"], out["cuda"]):
        torch.testing.assert_close(x, y.cpu(), rtol=1e-9, atol=1e-9)


def test_band_kd_loss_and_grads_match_cpu():
    am, lm, symbols, boundary = _rand_lattice(seed=1)
    t_am, t_lm, _, _ = _rand_lattice(seed=2)
    res = {}
    for dev in ("cpu", "cuda"):
        ranges = torch.stack(
            [torch.clamp(torch.arange(am.size(1)) // 3, max=symbols.size(1) - 2)] * am.size(0)
        )
        ranges = (ranges.unsqueeze(-1) + torch.arange(3)).to(dev)
        s_logits = sum(backend.do_rnnt_pruning(am.to(dev), lm.to(dev), ranges)).requires_grad_()
        t_logits = sum(backend.do_rnnt_pruning(t_am.to(dev), t_lm.to(dev), ranges))
        loss = distill.band_distill_loss_from_logits(
            s_logits, t_logits, symbols.to(dev), ranges, boundary.to(dev), temperature=2.0
        )
        loss.backward()
        res[dev] = (loss.detach(), s_logits.grad)
    assert res["cpu"][0] > 0
    torch.testing.assert_close(res["cpu"][0], res["cuda"][0].cpu(), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(res["cpu"][1], res["cuda"][1].cpu(), rtol=1e-9, atol=1e-9)


def test_compute_loss_with_teacher_matches_cpu():
    """The whole training loss (simple + pruned + band KD from a teacher) on both devices."""
    torch.manual_seed(0)
    cfg_t = TransducerConfig.from_preset("tiny", 40, dropout=0.0)
    teacher, student = Transducer(cfg_t).eval(), Transducer(cfg_t).eval()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 120, 80, generator=g)
    x_lens = torch.tensor([120, 97])
    y = torch.randint(1, 40, (2, 7), generator=g)
    y_lens = torch.tensor([7, 5])
    cfg, kd = (
        LossSettings(model_warm_step=0),
        DistillSettings(distill_scale=1.0, distill_temperature=2.0),
    )
    totals = {}
    for dev in ("cpu", "cuda"):
        teacher.to(dev), student.to(dev)
        args = [t.to(dev) for t in (x, x_lens, y, y_lens)]
        loss, info = compute_loss(student, KDBatch(*args), cfg, 10, OnlineTeacher(teacher), kd)
        assert info["distill_loss"] > 0
        totals[dev] = (loss.item(), info["distill_loss"], info["pruned_loss"])
    assert totals["cuda"] == pytest.approx(totals["cpu"], rel=2e-4)


def test_train_prune_distill_and_decode_on_cuda(tiny_data, tiny_teacher, tmp_path):
    """--device cuda with bf16 autocast: a 60 %-sparse distilled student, then greedy and
    modified beam search decoding on the GPU give the CPU's hypotheses."""
    exp = tmp_path / "sparse60_kd_cuda"
    train_cli.main(
        train_argv(
            tiny_data,
            exp,
            "--device",
            "cuda",
            "--use-bf16",
            "true",
            *sparse_kd_args(tiny_teacher, distill_scale="1.0"),
        )
    )
    ckpt = ckpt_lib.load_checkpoint(exp / "epoch-2.pt")
    assert ckpt["pruner"]["last_sparsity"] == pytest.approx(0.6)
    model = Transducer(TransducerConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    assert pruning.sparsity_report(model).global_sparsity == pytest.approx(0.6, abs=1e-3)
    kd = logged_distill_losses(exp)
    assert kd and all(v > 0 for v in kd)
    wers = {}
    for dev in ("cpu", "cuda"):
        for method in ("greedy_search", "modified_beam_search"):
            out = tmp_path / f"dec-{dev}-{method}"
            wers[dev, method] = decode_cli.main(
                [
                    "--exp-dir",
                    str(exp),
                    "--epoch",
                    "2",
                    "--avg",
                    "1",
                    "--device",
                    dev,
                    "--method",
                    method,
                    "--beam-size",
                    "4",
                    "--bpe-model",
                    str(tiny_data["bpe_model"]),
                    "--test-cuts",
                    str(tiny_data["dev_cuts"]),
                    "--res-dir",
                    str(out),
                ]
            )
            hyps = sorted(out.glob("recogs-dev-*.txt"))
            assert hyps, f"no recogs file in {out}"
    for method in ("greedy_search", "modified_beam_search"):
        assert wers["cuda", method] == pytest.approx(wers["cpu", method], abs=1e-6)
