"""Gradual magnitude pruning (Zhu & Gupta 2017) with ``torch.nn.utils.prune`` masks.

- :func:`sparsity_at_step`: the cubic schedule.
- :func:`prunable_parameters`: which weights are pruned (Linear / Conv1d / Conv2d weights).
- :class:`GradualPruner`: grows magnitude masks on the schedule (global or per-layer ranking).
- :func:`masks_from_model`, :func:`apply_masks`, :func:`plain_state_dict`,
  :func:`make_pruning_permanent`: masks through checkpoints, averaging and export.
- :func:`sparsity_report`: true sparsity of the effective weights.

Masks use ``torch.nn.utils.prune`` reparametrisation: a pruned module holds ``weight_orig``
(a Parameter) and ``weight_mask`` (a buffer) and ``weight = weight_orig * weight_mask`` is
recomputed before every forward, so masked weights stay exactly zero whatever the optimiser
(AdamW weight decay included) does to ``weight_orig``. Averaging checkpoints or a running model
average destroys sparsity: average :func:`plain_state_dict` weights, then re-apply the latest
masks with :func:`apply_masks` before export or reporting.

What is pruned: every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` weight in the model
(encoder, decoder, joiner). Not pruned: embeddings (each row of the decoder embedding is a token;
zeroing rows removes tokens, and the table is tiny), biases and norm parameters (few and
sensitive), and by default the simple-loss projections ``simple_am_proj`` / ``simple_lm_proj``:
they only feed the pruned-RNN-T "simple" loss that picks the band during training, are never used
at inference, and so count neither for the deployed model's size nor its speed.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

__all__ = [
    "DEFAULT_EXCLUDE",
    "PRUNABLE_TYPES",
    "sparsity_at_step",
    "prunable_modules",
    "prunable_parameters",
    "GradualPruner",
    "masks_from_model",
    "apply_masks",
    "make_pruning_permanent",
    "plain_state_dict",
    "LayerSparsity",
    "SparsityReport",
    "sparsity_report",
]

DEFAULT_EXCLUDE: Tuple[str, ...] = ("simple_am_proj", "simple_lm_proj", "ctc_output")
PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)
_SCOPES = ("global", "layer")


def sparsity_at_step(
    step: int,
    initial_sparsity: float,
    final_sparsity: float,
    start_step: int,
    end_step: int,
) -> float:
    """Zhu & Gupta's cubic schedule.

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0))**3`` for ``t0 <= t <= t1``,
    ``s_i`` before ``t0`` (the pruner sets no mask before ``t0``) and ``s_f`` after ``t1``.
    """
    if end_step < start_step:
        raise ValueError(f"end_step {end_step} < start_step {start_step}")
    if step < start_step:
        return float(initial_sparsity)
    if step >= end_step:
        return float(final_sparsity)
    frac = 1.0 - (step - start_step) / (end_step - start_step)
    return float(final_sparsity + (initial_sparsity - final_sparsity) * frac**3)


def prunable_modules(
    model: nn.Module, exclude: Sequence[str] = DEFAULT_EXCLUDE
) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of the Linear / Conv1d / Conv2d modules whose name has no ``exclude``
    substring, in ``named_modules`` order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, PRUNABLE_TYPES) and not any(e in name for e in exclude)
    ]


def prunable_parameters(
    model: nn.Module, exclude: Sequence[str] = DEFAULT_EXCLUDE
) -> List[Tuple[nn.Module, str]]:
    """``(module, "weight")`` pairs to prune, the form ``torch.nn.utils.prune`` takes."""
    return [(m, "weight") for _, m in prunable_modules(model, exclude)]


# ----------------------------------------------------------------------------------------------
# mask plumbing


def _is_pruned(module: nn.Module, name: str = "weight") -> bool:
    return hasattr(module, f"{name}_orig") and hasattr(module, f"{name}_mask")


def _effective(module: nn.Module, name: str = "weight") -> Tensor:
    """The weight the forward uses (``orig * mask`` when pruned), detached."""
    with torch.no_grad():
        if _is_pruned(module, name):
            return getattr(module, f"{name}_orig") * getattr(module, f"{name}_mask")
        return getattr(module, name).detach()


def _set_mask(module: nn.Module, mask: Tensor, name: str = "weight") -> None:
    """Make ``mask`` (bool, True = keep) the module's mask and zero the stored weights under it."""
    with torch.no_grad():
        if _is_pruned(module, name):
            getattr(module, f"{name}_mask").copy_(mask)
        else:
            prune.custom_from_mask(module, name, mask)
        orig = getattr(module, f"{name}_orig")
        orig.mul_(getattr(module, f"{name}_mask"))
        setattr(module, name, orig * getattr(module, f"{name}_mask"))


def _pruned_tensors(model: nn.Module) -> Iterator[Tuple[str, nn.Module, str]]:
    """``(module_name, module, param_name)`` for every reparametrised (pruned) parameter."""
    for mname, m in model.named_modules():
        for pname, _ in m.named_parameters(recurse=False):
            if pname.endswith("_orig") and _is_pruned(m, pname[: -len("_orig")]):
                yield mname, m, pname[: -len("_orig")]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def masks_from_model(model: nn.Module) -> Dict[str, Tensor]:
    """Masks of the pruned parameters: ``{"<module>.weight": bool tensor (True = kept)}``."""
    return {
        _join(mname, p): getattr(m, f"{p}_mask").detach().bool().clone()
        for mname, m, p in _pruned_tensors(model)
    }


def apply_masks(model: nn.Module, masks: Dict[str, Tensor], reparametrize: bool = True) -> None:
    """Re-apply ``masks`` (from :func:`masks_from_model`) to ``model``.

    With ``reparametrize`` (default) each named weight becomes a ``torch.nn.utils.prune``
    reparametrisation with that mask (training goes on with the masks enforced); with
    ``reparametrize=False`` the weights of a plain model are just zeroed in place (an averaged
    model for export). Already pruned parameters get the mask either way. The stored weights are
    zeroed under the mask in all cases.
    """
    for key, mask in masks.items():
        mname, _, pname = key.rpartition(".")
        try:
            module = model.get_submodule(mname)
        except AttributeError as e:
            raise ValueError(f"mask {key!r}: no module {mname!r} in the model") from e
        target = getattr(module, f"{pname}_orig" if _is_pruned(module, pname) else pname, None)
        if target is None:
            raise ValueError(f"mask {key!r}: module {mname!r} has no parameter {pname!r}")
        if tuple(mask.shape) != tuple(target.shape):
            raise ValueError(
                f"mask {key!r} has shape {tuple(mask.shape)}, parameter has {tuple(target.shape)}"
            )
        mask = mask.to(device=target.device, dtype=torch.bool)
        if reparametrize or _is_pruned(module, pname):
            _set_mask(module, mask, pname)
        else:
            with torch.no_grad():
                target.mul_(mask)


def make_pruning_permanent(model: nn.Module) -> nn.Module:
    """``prune.remove`` on every pruned parameter: plain weights holding exact zeros (export)."""
    for _, m, p in list(_pruned_tensors(model)):
        prune.remove(m, p)
    return model


def plain_state_dict(model: nn.Module) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """``(state_dict, masks)``: the state dict with each ``<p>_orig`` / ``<p>_mask`` pair replaced
    by the masked weight under the plain name ``<p>`` (loads into an unpruned model with
    ``strict=True``), and the masks of :func:`masks_from_model` to re-apply after loading."""
    pruned = {_join(mname, p): (m, p) for mname, m, p in _pruned_tensors(model)}
    out: Dict[str, Tensor] = OrderedDict()
    for key, value in model.state_dict().items():
        if key.endswith("_orig") and key[: -len("_orig")] in pruned:
            m, p = pruned[key[: -len("_orig")]]
            out[key[: -len("_orig")]] = _effective(m, p).clone()
        elif key.endswith("_mask") and key[: -len("_mask")] in pruned:
            continue
        else:
            out[key] = value
    return out, masks_from_model(model)


# ----------------------------------------------------------------------------------------------
# magnitude ranking


def _prune_mask(scores: Tensor, k: int) -> Tensor:
    """Bool keep-mask of ``scores`` (1-D) with exactly the ``k`` smallest entries set False."""
    n = scores.numel()
    keep = torch.ones(n, dtype=torch.bool, device=scores.device)
    if k <= 0:
        return keep
    if k >= n:
        return ~keep
    thr = torch.kthvalue(scores, k).values
    drop = scores < thr
    ties = torch.nonzero(scores == thr).squeeze(1)[: k - int(drop.sum())]
    drop[ties] = True
    return ~drop


def _scores(module: nn.Module) -> Tensor:
    """|effective weight| flattened (float32), with already pruned entries at -1 (ranked first)."""
    w = _effective(module).float().abs()
    if _is_pruned(module):
        w = w.masked_fill(~module.weight_mask.bool(), -1.0)
    return w.flatten()


def _num_pruned(module: nn.Module) -> int:
    return int((~module.weight_mask.bool()).sum()) if _is_pruned(module) else 0


class GradualPruner:
    """Grows L1 (magnitude) masks on Zhu & Gupta's schedule.

    Args:
      model: the model to prune in place (its prunable weights get ``prune`` masks).
      target_sparsity: final fraction of zero prunable weights, in [0, 1).
      start_step, end_step: the schedule's t0 and t1 (global training steps); no masks before t0.
      prune_every: masks are updated every this many steps from t0 (and once at/after t1).
      initial_sparsity: s_i, the sparsity at t0.
      scope: ``"global"`` ranks all prunable weights together to reach the target overall;
        ``"layer"`` prunes each weight tensor to the target.
      exclude: module-name substrings never pruned (see :func:`prunable_modules`).

    Masks only grow: the ranking uses the current effective weights with already pruned entries
    ranked first, so a pruned weight never comes back. Call :meth:`step` after each optimiser
    step; it returns the new target sparsity when it updated the masks, else None.
    """

    def __init__(
        self,
        model: nn.Module,
        target_sparsity: float,
        start_step: int,
        end_step: int,
        prune_every: int = 100,
        initial_sparsity: float = 0.0,
        scope: str = "global",
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
    ) -> None:
        if not 0.0 <= initial_sparsity <= target_sparsity < 1.0:
            raise ValueError(
                f"need 0 <= initial_sparsity ({initial_sparsity}) <= target_sparsity "
                f"({target_sparsity}) < 1"
            )
        if end_step < start_step or start_step < 0:
            raise ValueError(f"need 0 <= start_step ({start_step}) <= end_step ({end_step})")
        if prune_every < 1:
            raise ValueError(f"prune_every must be >= 1, got {prune_every}")
        if scope not in _SCOPES:
            raise ValueError(f"scope must be one of {_SCOPES}, got {scope!r}")
        self.model = model
        self.target_sparsity = float(target_sparsity)
        self.initial_sparsity = float(initial_sparsity)
        self.start_step = int(start_step)
        self.end_step = int(end_step)
        self.prune_every = int(prune_every)
        self.scope = scope
        self.exclude = tuple(exclude)
        self.modules = prunable_modules(model, self.exclude)
        if not self.modules:
            raise ValueError("the model has no prunable (Linear/Conv1d/Conv2d) weights")
        self.last_step = -1
        self.last_sparsity = 0.0

    def sparsity_at(self, step: int) -> float:
        """The schedule's target at ``step``."""
        return sparsity_at_step(
            step, self.initial_sparsity, self.target_sparsity, self.start_step, self.end_step
        )

    def is_due(self, step: int) -> bool:
        """True when :meth:`step` would update the masks at ``step``."""
        if step < self.start_step or self.sparsity_at(step) <= self.last_sparsity:
            return False
        return (step - self.start_step) % self.prune_every == 0 or step >= self.end_step

    def step(self, global_step: int) -> Optional[float]:
        """Update the masks if due; returns the sparsity pruned to, or None."""
        if not self.is_due(global_step):
            return None
        sparsity = self.sparsity_at(global_step)
        self.prune_to(sparsity)
        self.last_step, self.last_sparsity = int(global_step), sparsity
        logging.getLogger(__name__).info(
            "step %d: pruned to %.4f (%s), measured %.4f",
            global_step,
            sparsity,
            self.scope,
            self.current_sparsity(),
        )
        return sparsity

    def prune_to(self, sparsity: float) -> None:
        """Grow the masks so that a ``sparsity`` fraction of the prunable weights is zero."""
        mods = [m for _, m in self.modules]
        if self.scope == "layer":
            for m in mods:
                k = max(round(sparsity * m.weight.numel()), _num_pruned(m))
                _set_mask(m, _prune_mask(_scores(m), k).view_as(m.weight))
            return
        scores = torch.cat([_scores(m).to(mods[0].weight.device) for m in mods])
        k = max(round(sparsity * scores.numel()), sum(_num_pruned(m) for m in mods))
        keep = _prune_mask(scores, k)
        offset = 0
        for m in mods:
            n = m.weight.numel()
            _set_mask(m, keep[offset : offset + n].view_as(m.weight).to(m.weight.device))
            offset += n

    def apply_masks(self) -> None:
        """Re-zero the stored weights under the masks (``weight_orig *= mask``), e.g. before
        taking a plain copy; the forward already uses masked weights."""
        for _, m in self.modules:
            if _is_pruned(m):
                _set_mask(m, m.weight_mask.bool())

    def current_sparsity(self) -> float:
        """Measured fraction of zero effective weights among the prunable weights."""
        zeros = sum(int((_effective(m) == 0).sum()) for _, m in self.modules)
        return zeros / sum(m.weight.numel() for _, m in self.modules)

    def state_dict(self) -> Dict[str, object]:
        """Config and schedule position (the masks live in the model's state dict)."""
        return {
            "target_sparsity": self.target_sparsity,
            "initial_sparsity": self.initial_sparsity,
            "start_step": self.start_step,
            "end_step": self.end_step,
            "prune_every": self.prune_every,
            "scope": self.scope,
            "exclude": list(self.exclude),
            "last_step": self.last_step,
            "last_sparsity": self.last_sparsity,
        }

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore config and schedule position saved by :meth:`state_dict`."""
        self.target_sparsity = float(state["target_sparsity"])  # type: ignore[arg-type]
        self.initial_sparsity = float(state["initial_sparsity"])  # type: ignore[arg-type]
        self.start_step = int(state["start_step"])  # type: ignore[arg-type]
        self.end_step = int(state["end_step"])  # type: ignore[arg-type]
        self.prune_every = int(state["prune_every"])  # type: ignore[arg-type]
        self.scope = str(state["scope"])
        self.exclude = tuple(state.get("exclude", self.exclude))  # type: ignore[arg-type]
        self.modules = prunable_modules(self.model, self.exclude)
        self.last_step = int(state["last_step"])  # type: ignore[arg-type]
        self.last_sparsity = float(state["last_sparsity"])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# report


@dataclass
class LayerSparsity:
    """One prunable weight: its name, size and nonzero count."""

    name: str
    params: int
    nonzero: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.params if self.params else 0.0


@dataclass
class SparsityReport:
    """Per-layer sparsity of the prunable weights plus whole-model counts (effective weights)."""

    layers: List[LayerSparsity] = field(default_factory=list)
    total_params: int = 0
    nonzero_params: int = 0

    @property
    def prunable_params(self) -> int:
        return sum(x.params for x in self.layers)

    @property
    def prunable_nonzero(self) -> int:
        return sum(x.nonzero for x in self.layers)

    @property
    def global_sparsity(self) -> float:
        """Zero fraction over the prunable weights only."""
        n = self.prunable_params
        return 1.0 - self.prunable_nonzero / n if n else 0.0

    @property
    def total_sparsity(self) -> float:
        """Zero fraction over every parameter of the model."""
        return 1.0 - self.nonzero_params / self.total_params if self.total_params else 0.0

    def format(self) -> str:
        """A printable table: one row per prunable weight, then the totals."""
        width = max([len("layer")] + [len(x.name) for x in self.layers])
        lines = [f"{'layer':<{width}}  {'params':>10}  {'nonzero':>10}  {'sparsity':>8}"]
        for x in self.layers:
            lines.append(f"{x.name:<{width}}  {x.params:>10}  {x.nonzero:>10}  {x.sparsity:>8.4f}")
        lines.append(
            f"{'prunable (global)':<{width}}  {self.prunable_params:>10}  "
            f"{self.prunable_nonzero:>10}  {self.global_sparsity:>8.4f}"
        )
        lines.append(
            f"{'whole model':<{width}}  {self.total_params:>10}  "
            f"{self.nonzero_params:>10}  {self.total_sparsity:>8.4f}"
        )
        return "\n".join(lines)


def sparsity_report(model: nn.Module, exclude: Sequence[str] = DEFAULT_EXCLUDE) -> SparsityReport:
    """Measure zeros in the effective weights (works for pruned and plain models alike)."""
    layers = []
    for name, m in prunable_modules(model, exclude):
        w = _effective(m)
        layers.append(LayerSparsity(_join(name, "weight"), w.numel(), int((w != 0).sum())))
    total = nonzero = 0
    for _, m in model.named_modules():
        for pname, p in m.named_parameters(recurse=False):
            if pname.endswith("_orig") and _is_pruned(m, pname[: -len("_orig")]):
                p = _effective(m, pname[: -len("_orig")])
            total += p.numel()
            nonzero += int((p != 0).sum())
    return SparsityReport(layers=layers, total_params=total, nonzero_params=nonzero)
