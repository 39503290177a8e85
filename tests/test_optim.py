"""The learning-rate schedule: Eden with warm-up and the optional final linear anneal."""

from __future__ import annotations

import pytest
import torch

from rnnt_kd.train.optim import Eden


def _run(sched: Eden, epochs: int, batches_per_epoch: int, start_epoch: int = 1) -> list:
    """Drive the schedule as the trainer does; return the LR seen by every batch."""
    lrs = []
    for epoch in range(start_epoch, epochs + 1):
        sched.step_epoch(epoch - 1)
        for _ in range(batches_per_epoch):
            lrs.append(sched.get_last_lr()[0])
            sched.step_batch()
    return lrs


def _sched(anneal: float, num_epochs: int = 4) -> Eden:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    # lr_batches / lr_epochs huge: Eden's own decay ~1, so the anneal factor is what is seen
    return Eden(
        opt,
        lr_batches=1e12,
        lr_epochs=1e12,
        warmup_batches=1,
        anneal_epochs=anneal,
        num_epochs=num_epochs,
    )


def test_anneal_is_linear_over_the_last_epochs():
    lrs = _run(_sched(anneal=2.0), epochs=4, batches_per_epoch=10)
    assert lrs[:10] == pytest.approx([1.0] * 10)  # epoch 1 (length not known yet)
    assert lrs[10:20] == pytest.approx([1.0] * 10)  # epoch 2: before the anneal
    # epochs 3-4: remaining / 2 with remaining = 2 - k/10 for batch k of the last 20
    expected = [max(0.01, (2.0 - k / 10) / 2.0) for k in range(20)]
    assert lrs[20:] == pytest.approx(expected)
    assert lrs[-1] == pytest.approx(0.05)


def test_anneal_off_keeps_eden():
    assert _run(_sched(anneal=0.0), epochs=4, batches_per_epoch=5) == pytest.approx([1.0] * 20)


def test_anneal_over_the_whole_run_uses_mid_epoch_in_epoch_one():
    lrs = _run(_sched(anneal=2.0, num_epochs=2), epochs=2, batches_per_epoch=4)
    assert lrs[:4] == pytest.approx([0.75] * 4)  # epoch 1: length unknown, taken as half done
    assert lrs[4:] == pytest.approx([0.5, 0.375, 0.25, 0.125])


def test_anneal_resumes_exactly_from_state_dict():
    ref = _run(_sched(anneal=3.0), epochs=4, batches_per_epoch=7)
    first = _sched(anneal=3.0)
    _run(first, epochs=2, batches_per_epoch=7)
    second = _sched(anneal=3.0)
    second.load_state_dict(first.state_dict())
    assert _run(second, epochs=4, batches_per_epoch=7, start_epoch=3) == pytest.approx(ref[14:])


def test_anneal_rejects_bad_settings():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="anneal_epochs"):
        Eden(opt, anneal_epochs=-1.0, num_epochs=3)
    with pytest.raises(ValueError, match="num_epochs"):
        Eden(opt, anneal_epochs=1.0)
