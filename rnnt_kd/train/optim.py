"""Optimizer and learning-rate schedule.

We use AdamW (torch) with icefall's *Eden* schedule plus a linear warm-up::

    lr = base_lr * warmup(step) * ((step^2 + lr_batches^2) / lr_batches^2) ** -0.25
                               * ((epoch^2 + lr_epochs^2) / lr_epochs^2) ** -0.25

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
    ) -> None:
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.lr_batches = lr_batches
        self.lr_epochs = lr_epochs
        self.warmup_batches = warmup_batches
        self.batch = 0
        self.epoch = 0
        self._apply()

    def factor(self) -> float:
        warm = min(1.0, (self.batch + 1) / max(1, self.warmup_batches))
        b = ((self.batch**2 + self.lr_batches**2) / self.lr_batches**2) ** -0.25
        e = ((self.epoch**2 + self.lr_epochs**2) / self.lr_epochs**2) ** -0.25
        return warm * b * e

    def _apply(self) -> None:
        f = self.factor()
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def step_batch(self, batch: int | None = None) -> None:
        self.batch = self.batch + 1 if batch is None else batch
        self._apply()

    def step_epoch(self, epoch: int) -> None:
        """``epoch`` counts completed epochs (0 during the first)."""
        self.epoch = epoch
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("base_lrs", "lr_batches", "lr_epochs", "warmup_batches", "batch", "epoch")
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
