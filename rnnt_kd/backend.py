"""The one place that imports k2 or fast_rnnt: k2's pruned RNN-T loss functions.

k2 is used when it is importable (users with k2 wheels, e.g. on GPU); otherwise ``fast_rnnt``,
the same code packaged standalone by k2's authors (identical numbers, same API). Nothing else in
rnnt-kd imports either package: use ``from rnnt_kd import backend`` and ``backend.<function>``.

Exposed functions (k2 semantics, see k2/python/k2/rnnt_loss.py):

- ``rnnt_loss_smoothed(lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale,
  boundary, rnnt_type, delay_penalty, reduction, return_grad)``: the "simple" loss with an
  additive joiner; ``lm`` (B, S+1, C), ``am`` (B, T, C), ``symbols`` (B, S).
- ``get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range) -> ranges`` (B, T, s_range).
- ``do_rnnt_pruning(am, lm, ranges) -> (am_pruned, lm_pruned)`` each (B, T, s_range, C).
- ``get_rnnt_logprobs_pruned(logits, symbols, ranges, termination_symbol, boundary, rnnt_type)
  -> (px, py)``: px (B, S, T+1) = log P(y_{s+1} | t, s), py (B, S+1, T) = log P(blank | t, s),
  -inf outside the band.
- ``rnnt_loss_pruned(logits, symbols, ranges, termination_symbol, boundary, ...)``.
- ``get_rnnt_logprobs(lm, am, symbols, termination_symbol, boundary)`` (additive joiner) and
  ``rnnt_loss(logits, symbols, termination_symbol, boundary)`` on the full lattice
  (logits (B, T, S+1, C)).
- ``mutual_information_recursion(px, py, boundary) -> (B,)`` total log-probability;
  ``-mutual_information_recursion(*get_rnnt_logprobs_pruned(...))`` is the pruned loss, which
  lets one set of band log-probs feed both the loss and the distillation term.
"""

from __future__ import annotations

import logging
from types import ModuleType

_FUNCTIONS = (
    "rnnt_loss_smoothed",
    "get_rnnt_prune_ranges",
    "do_rnnt_pruning",
    "rnnt_loss_pruned",
    "get_rnnt_logprobs_pruned",
    "get_rnnt_logprobs",
    "rnnt_loss",
    "rnnt_loss_simple",
    "mutual_information_recursion",
)


def _load() -> tuple[str, ModuleType]:
    try:
        import k2  # type: ignore

        if all(hasattr(k2, f) for f in _FUNCTIONS):
            return "k2", k2
    except Exception:  # noqa: BLE001 - any import failure means "no usable k2"
        pass
    try:
        import fast_rnnt  # type: ignore
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(
            "rnnt-kd needs k2's pruned RNN-T loss: neither `k2` nor `fast_rnnt` is importable. "
            "Run `local/setup.sh` (builds fast_rnnt==1.3 from PyPI) or install k2."
        ) from e
    return "fast_rnnt", fast_rnnt


NAME, _MODULE = _load()
logging.getLogger(__name__).info("pruned RNN-T loss backend: %s", NAME)

rnnt_loss_smoothed = _MODULE.rnnt_loss_smoothed
get_rnnt_prune_ranges = _MODULE.get_rnnt_prune_ranges
do_rnnt_pruning = _MODULE.do_rnnt_pruning
rnnt_loss_pruned = _MODULE.rnnt_loss_pruned
get_rnnt_logprobs_pruned = _MODULE.get_rnnt_logprobs_pruned
get_rnnt_logprobs = _MODULE.get_rnnt_logprobs
rnnt_loss = _MODULE.rnnt_loss
rnnt_loss_simple = _MODULE.rnnt_loss_simple
mutual_information_recursion = _MODULE.mutual_information_recursion


def check_device(device: torch.device) -> None:  # noqa: F821
    """Raise a clear error when the backend cannot run on ``device`` (a CPU-only fast_rnnt build
    given CUDA tensors would otherwise fail deep inside its C++ code)."""
    if getattr(device, "type", str(device)) != "cuda":
        return
    with_cuda = getattr(_MODULE, "with_cuda", None)
    if callable(with_cuda) and not with_cuda():
        raise RuntimeError(
            f"the pruned RNN-T backend ({describe()}) was built without CUDA; install k2 with "
            "CUDA, or rebuild fast_rnnt with CUDA: `RNNT_KD_CUDA=1 local/setup.sh` "
            "(needs nvcc and a CUDA build of torch)"
        )


def has_k2() -> bool:
    """True when the real k2 (with FSA decoding, e.g. ``fast_beam_search``) is the backend."""
    return NAME == "k2"


def describe() -> str:
    """One line naming the backend and its version, for logs."""
    return f"{NAME} {getattr(_MODULE, '__version__', '')}".strip()
