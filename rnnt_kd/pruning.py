"""Gradual magnitude pruning (Zhu & Gupta 2017) with ``torch.nn.utils.prune`` masks.

- :func:`sparsity_at_step`: the cubic schedule.
- :func:`prunable_parameters`: which weights are pruned (Linear / Conv1d / Conv2d weights).
- :class:`GradualPruner`: grows magnitude masks on the schedule (per-layer or capped global
  ranking).
- :func:`masks_from_model`, :func:`apply_masks`, :func:`plain_state_dict`,
  :func:`make_pruning_permanent`: masks through checkpoints, averaging and export.
- :func:`sparsity_report`, :func:`layer_sparsity`: true sparsity of the effective weights.

Masks use ``torch.nn.utils.prune`` reparametrisation: a pruned module holds ``weight_orig``
(a Parameter) and ``weight_mask`` (a buffer) and ``weight = weight_orig * weight_mask`` is
recomputed before every forward, so masked weights stay exactly zero whatever the optimiser
(AdamW weight decay included) does to ``weight_orig``. Averaging checkpoints or a running model
average destroys sparsity: average :func:`plain_state_dict` weights, then re-apply the latest
masks with :func:`apply_masks` before export or reporting.

What is pruned: every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` weight in the model. In the
Conformer transducer that is the Conv2d subsampling front-end (``encoder.encoder_embed.conv.0/2/4``
and its output Linear ``encoder_embed.out``), in every encoder layer the two feed-forward modules
(``ff_macaron.net.0/3``, ``feed_forward.net.0/3``), the attention projections (``in_proj``,
``out_proj``, ``linear_pos``) and the convolution module (``pointwise_conv1``, ``depthwise_conv``,
``pointwise_conv2``), the decoder's context Conv1d (``decoder.conv``) and the joiner
(``encoder_proj``, ``decoder_proj``, ``output_linear``). Not pruned: embeddings (each row of the
decoder embedding is a token; zeroing rows removes tokens, and the table is small), biases, norm
parameters, the attention position biases and the layer-scale gains (few and sensitive), and by
default (:data:`DEFAULT_EXCLUDE`) the simple-loss projections ``simple_am_proj`` /
``simple_lm_proj`` and the auxiliary ``ctc_output``: they only feed training losses (the simple
loss picks the band), are never used at inference, and so count neither for the deployed model's
size nor its speed.

No tensor is ever pruned to all zeros, in either scope: a fully pruned front-end convolution or
encoder output projection makes the encoder's output independent of its input (a model that
cannot hear), and plain global magnitude ranking does exactly that at initialisation, where the
weights' scale is ``1 / sqrt(fan_in)`` (the 90 % ``small`` preset lost 12 whole tensors, among
them ``encoder_embed.conv.4`` and ``encoder_embed.out``). ``scope="layer"`` (Zhu & Gupta) prunes
each tensor to the schedule's sparsity, keeping at least one weight; ``scope="global"`` ranks all
weights together but caps each tensor: it keeps at least ``keep_ratio`` times the share of
weights per-layer pruning would leave it (see :class:`GradualPruner`).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_KEEP_RATIO",
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
    "layer_sparsity",
    "tensor_prune_counts",
]

DEFAULT_EXCLUDE: Tuple[str, ...] = ("simple_am_proj", "simple_lm_proj", "ctc_output")
PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)
_SCOPES = ("global", "layer")
# global ranking: each tensor keeps at least this share of what per-layer pruning would leave it
DEFAULT_KEEP_RATIO = 0.5


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


def tensor_prune_counts(
    scores: Sequence[Tensor],
    already: Sequence[int],
    sparsity: float,
    keep_ratio: Optional[float],
) -> List[int]:
    """How many weights of each tensor to prune so that a ``sparsity`` share of all is zero.

    Args:
      scores: per tensor, its 1-D magnitudes (already pruned entries at -1, ranked first).
      already: per tensor, how many of its weights are pruned already (never un-pruned).
      sparsity: the overall target.
      keep_ratio: ``None``: per-layer pruning, each tensor to ``sparsity``. A float in [0, 1]:
        global ranking where tensor i keeps at least ``max(1, ceil(keep_ratio * (1 -
        sparsity) * n_i))`` weights, i.e. is at most ``1 - keep_ratio * (1 - sparsity)`` sparse
        (0.95 at 90 % with 0.5); 0 is plain global ranking, 1 is per-layer pruning again.
    Returns:
      Per tensor, the number of its weights to prune (>= ``already``; every tensor keeps at
      least one weight unless it had lost all of them before). Global ranking prunes the
      smallest weights overall subject to the caps (water-filling: tensors that would exceed
      their cap at the common threshold are held at it and the rest re-ranked; the threshold
      only rises, so the result is the optimum of that constrained problem).
    """
    sizes = [int(x.numel()) for x in scores]
    if keep_ratio is None:
        return [max(min(round(sparsity * n), n - 1), a) for n, a in zip(sizes, already)]
    caps = [
        max(n - max(1, math.ceil(keep_ratio * (1.0 - sparsity) * n - 1e-9)), a)
        for n, a in zip(sizes, already)
    ]
    total = max(round(sparsity * sum(sizes)), sum(already))
    total = min(total, sum(caps))  # ceil rounding of the floors (keep_ratio 1) can bind
    counts: List[Optional[int]] = [None] * len(sizes)  # None: still ranked globally
    while True:
        free = [i for i, c in enumerate(counts) if c is None]
        if not free:
            break
        k = total - sum(c for c in counts if c is not None)
        pooled = torch.cat([scores[i] for i in free])
        keep = _prune_mask(pooled, k)
        pruned = torch.stack([(~part).sum() for part in keep.split([sizes[i] for i in free])])
        over = [i for i, d in zip(free, pruned.tolist()) if d > caps[i]]
        if not over:
            for i, d in zip(free, pruned.tolist()):
                counts[i] = int(d)
            break
        for i in over:
            counts[i] = caps[i]
    return [int(c) for c in counts]  # type: ignore[arg-type]


class GradualPruner:
    """Grows L1 (magnitude) masks on Zhu & Gupta's schedule.

    Args:
      model: the model to prune in place (its prunable weights get ``prune`` masks).
      target_sparsity: final fraction of zero prunable weights, in [0, 1).
      start_step, end_step: the schedule's t0 and t1 (global training steps); no masks before t0.
      prune_every: masks are updated every this many steps from t0 (and once at/after t1).
      initial_sparsity: s_i, the sparsity at t0.
      scope: ``"global"`` ranks all prunable weights together to reach the target overall,
        with a cap per tensor (``keep_ratio``); ``"layer"`` prunes each weight tensor to the
        target (Zhu & Gupta).
      exclude: module-name substrings never pruned (see :func:`prunable_modules`).
      keep_ratio: global scope only: at schedule sparsity s every tensor keeps at least
        ``keep_ratio * (1 - s)`` of its weights (at least one), i.e. no tensor is sparser than
        ``1 - keep_ratio * (1 - s)``: 95 % at s = 90 % with the default 0.5, 80 % at 60 %.
        In (0, 1]; 1 is per-layer pruning again. Not 0: sparing one weight per tensor is not
        enough, the 90 % ``small`` preset then still cannot hear (``tests/test_pruning.py``).

    Masks only grow: the ranking uses the current effective weights with already pruned entries
    ranked first, so a pruned weight never comes back. No tensor is pruned to all zeros (see
    :func:`tensor_prune_counts`). Call :meth:`step` after each optimiser step; it returns the
    new target sparsity when it updated the masks, else None.
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
        keep_ratio: float = DEFAULT_KEEP_RATIO,
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
        if not 0.0 < keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}")
        self.model = model
        self.target_sparsity = float(target_sparsity)
        self.initial_sparsity = float(initial_sparsity)
        self.start_step = int(start_step)
        self.end_step = int(end_step)
        self.prune_every = int(prune_every)
        self.scope = scope
        self.exclude = tuple(exclude)
        self.keep_ratio = float(keep_ratio)
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
        """Grow the masks so that a ``sparsity`` fraction of the prunable weights is zero
        (per tensor in ``"layer"`` scope, overall under the per-tensor caps in ``"global"``)."""
        mods = [m for _, m in self.modules]
        device = mods[0].weight.device
        scores = [_scores(m).to(device) for m in mods]
        ratio = None if self.scope == "layer" else self.keep_ratio
        counts = tensor_prune_counts(scores, [_num_pruned(m) for m in mods], sparsity, ratio)
        for m, sc, k in zip(mods, scores, counts):
            _set_mask(m, _prune_mask(sc, k).view_as(m.weight).to(m.weight.device))

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
            "keep_ratio": self.keep_ratio,
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
        self.keep_ratio = float(state.get("keep_ratio", self.keep_ratio))  # type: ignore[arg-type]
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


def _state_prunable(state: Mapping[str, Tensor], exclude: Sequence[str]) -> Dict[str, Tensor]:
    """The prunable weights of a state dict, effective (``orig * mask`` for pruned ones).

    A weight is prunable when it is named ``<module>.weight`` (or ``.weight_orig`` with its
    ``.weight_mask``), has 2 to 4 dimensions (Linear, Conv1d, Conv2d) and its module name holds
    no ``exclude`` substring and is not an embedding (its last part contains "embedding").
    """
    out: Dict[str, Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_orig") and key[: -len("_orig")] + "_mask" in state:
            name = key[: -len("_orig")]
            value = value * state[name + "_mask"].to(value.dtype)
        elif key.endswith(".weight"):
            name = key
        else:
            continue
        module = name[: -len(".weight")]
        if (
            not 2 <= value.dim() <= 4
            or any(e in module for e in exclude)
            or "embedding" in module.rpartition(".")[2]
        ):
            continue
        out[name] = value
    return out


def layer_sparsity(
    model_or_state: Union[nn.Module, Mapping[str, Tensor]],
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
) -> Dict[str, float]:
    """``{"<module>.weight": fraction of zeros}`` of each prunable weight, in model order.

    Takes a model (pruned or plain: the effective weights are measured) or a state dict (plain
    weights, or ``weight_orig`` / ``weight_mask`` pairs of a pruned model's ``state_dict()``;
    Linear / Conv weights are recognised by name and shape, see :func:`_state_prunable`).
    Example: ``layer_sparsity(model)["encoder.encoder_embed.conv.0.weight"] -> 0.9``.
    """
    if isinstance(model_or_state, nn.Module):
        layers = sparsity_report(model_or_state, exclude).layers
        return {x.name: (x.params - x.nonzero) / x.params if x.params else 0.0 for x in layers}
    return {
        name: float((w == 0).sum()) / w.numel() if w.numel() else 0.0
        for name, w in _state_prunable(model_or_state, exclude).items()
    }
