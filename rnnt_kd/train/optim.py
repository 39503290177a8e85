"""Optimizer and learning-rate schedule.

We use AdamW (torch) with icefall's *Eden* schedule plus a linear warm-up::

    lr = base_lr * warmup(step) * ((step^2 + lr_batches^2) / lr_batches^2) ** -0.25
                               * ((epoch^2 + lr_epochs^2) / lr_epochs^2) ** -0.25
                               * anneal(epoch progress)

``anneal`` (off unless ``anneal_epochs > 0``) ramps the LR linearly down to ~0 over the last
``anneal_epochs`` of ``num_epochs``: Eden is tuned for runs of 100k+ steps and barely decays in
the few thousand steps a CPU budget allows (factor ~0.55 after 14 short epochs), so a short run
would otherwise end at a high LR, far from the minimum it is circling (budgeted training: Li et
al., ICLR 2020). Progress inside an epoch comes from the length of the first epoch (Lhotse's
dynamic samplers do not know their length in advance); during the first epoch it is taken as
the middle of the epoch.

Eden is written here (20 lines) rather than taken from icefall, which is not a pip-installable
library; its ScaledAdam optimizer is tied to icefall's scaled modules, so plain AdamW is used.
"""

from __future__ import annotations

from typing import Any, Dict

import torch


class Eden:
    """Eden LR schedule with linear warm-up; call :meth:`step_batch` per batch and
    :meth:`step_epoch` at the start of each epoch. ``state_dict`` makes it resumable."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        lr_batches: float = 5000.0,
        lr_epochs: float = 6.0,
        warmup_batches: int = 500,
        anneal_epochs: float = 0.0,
        num_epochs: int = 0,
    ) -> None:
        if anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be >= 0, got {anneal_epochs}")
        if anneal_epochs > 0 and num_epochs < 1:
            raise ValueError("anneal_epochs > 0 needs num_epochs (the length of the run)")
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.lr_batches = lr_batches
        self.lr_epochs = lr_epochs
        self.warmup_batches = warmup_batches
        self.anneal_epochs = float(anneal_epochs)
        self.num_epochs = num_epochs
        self.batch = 0
        self.epoch = 0
        self.epoch_start_batch = 0  # global batch index at the start of the current epoch
        self.batches_per_epoch = 0  # length of the first epoch, once it is known
        self._apply()

    def factor(self) -> float:
        warm = min(1.0, (self.batch + 1) / max(1, self.warmup_batches))
        b = ((self.batch**2 + self.lr_batches**2) / self.lr_batches**2) ** -0.25
        e = ((self.epoch**2 + self.lr_epochs**2) / self.lr_epochs**2) ** -0.25
        return warm * b * e * self.anneal_factor()

    def anneal_factor(self) -> float:
        """1 until the last ``anneal_epochs`` epochs, then linear down to 0.01 at the end."""
        if self.anneal_epochs <= 0:
            return 1.0
        if self.batches_per_epoch > 0:
            frac = min(1.0, (self.batch - self.epoch_start_batch) / self.batches_per_epoch)
        else:
            frac = 0.5
        remaining = self.num_epochs - (self.epoch + frac)
        return min(1.0, max(0.01, remaining / self.anneal_epochs))

    def _apply(self) -> None:
        f = self.factor()
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def step_batch(self, batch: int | None = None) -> None:
        self.batch = self.batch + 1 if batch is None else batch
        self._apply()

    def step_epoch(self, epoch: int) -> None:
        """``epoch`` counts completed epochs (0 during the first)."""
        if epoch != self.epoch:
            if epoch == 1 and self.batches_per_epoch == 0:
                self.batches_per_epoch = self.batch
            self.epoch_start_batch = self.batch
        self.epoch = epoch
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "base_lrs",
                "lr_batches",
                "lr_epochs",
                "warmup_batches",
                "anneal_epochs",
                "num_epochs",
                "batch",
                "epoch",
                "epoch_start_batch",
                "batches_per_epoch",
            )
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._apply()


def make_optimizer(
    model: torch.nn.Module, base_lr: float, weight_decay: float = 1e-3
) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms and embeddings (1-D parameters)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() > 1 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=base_lr, betas=(0.9, 0.98), eps=1e-8)
