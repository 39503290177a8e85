"""How sure is a WER difference? Paired bootstrap over test utterances (Bisani & Ney, 2004).

Two systems decoded the same test set; resampling its utterances with replacement (the same
draw for both systems) gives the distribution of the relative WER change that another test set
of the same size and kind could have shown. It measures the test set's sampling noise only,
not the training run's (a second training gives other models: see the recipe's NOTES).

    >>> ci = paired_bootstrap_rel_change([3, 2, 4], [2, 2, 3], [10, 8, 12])
    >>> round(ci.rel_change, 1)
    -22.2
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Sequence, Tuple, Union

import numpy as np

from rnnt_kd.wer import compute_wer, read_transcripts


@dataclass(frozen=True)
class RelChangeInterval:
    """Relative WER change of system B vs A in percent, with a bootstrap interval.

    ``p_better``: share of bootstrap samples in which B has fewer errors than A.
    """

    rel_change: float
    low: float
    high: float
    p_better: float
    num_utts: int
    num_samples: int


def per_utterance_errors(path: Union[str, Path]) -> Dict[str, Tuple[int, int]]:
    """{cut_id: (word errors, reference words)} of a ``recogs-*.txt`` file."""
    out = {}
    for cut_id, ref, hyp in read_transcripts(path):
        stats = compute_wer([ref], [hyp])
        out[cut_id] = (stats.errors, stats.ref_words)
    return out


def paired_bootstrap_rel_change(
    errors_a: Sequence[int],
    errors_b: Sequence[int],
    ref_words: Sequence[int],
    num_samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RelChangeInterval:
    """Relative change ``100 (E_b - E_a) / E_a`` of the corpus error counts, and its interval.

    ``errors_a``, ``errors_b``, ``ref_words``: per utterance, same order (N,); the references
    are only checked for length (both systems share them, so the change of the error counts is
    the change of the WER). Each of ``num_samples`` draws takes N utterances with replacement,
    the same ones for A and B.
    """
    a = np.asarray(errors_a, dtype=np.int64)
    b = np.asarray(errors_b, dtype=np.int64)
    n = len(a)
    if not (n == len(b) == len(ref_words)) or n == 0:
        raise ValueError(f"need the same, non-zero number of utterances: {n}, {len(b)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if a.sum() == 0:
        raise ValueError("system A makes no errors: a relative change is undefined")
    idx = np.random.default_rng(seed).integers(0, n, size=(num_samples, n))
    ea, eb = a[idx].sum(axis=1), b[idx].sum(axis=1)
    valid = ea > 0
    rel = 100.0 * (eb[valid] - ea[valid]) / ea[valid]
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(rel, [tail, 100.0 - tail])
    return RelChangeInterval(
        rel_change=float(100.0 * (b.sum() - a.sum()) / a.sum()),
        low=float(low),
        high=float(high),
        p_better=float(np.mean(eb < ea)),
        num_utts=n,
        num_samples=num_samples,
    )


def compare_recogs(
    baseline: Union[str, Path], system: Union[str, Path], **kwargs
) -> RelChangeInterval:
    """:func:`paired_bootstrap_rel_change` of two ``recogs-*.txt`` files of the same test set
    (``system`` relative to ``baseline``); raises if their utterances or references differ."""
    base, sys_ = per_utterance_errors(baseline), per_utterance_errors(system)
    if base.keys() != sys_.keys():
        raise ValueError(f"{baseline} and {system} hold different utterances")
    ids = sorted(base)
    if any(base[i][1] != sys_[i][1] for i in ids):
        raise ValueError(f"{baseline} and {system} have different references")
    return paired_bootstrap_rel_change(
        [base[i][0] for i in ids], [sys_[i][0] for i in ids], [base[i][1] for i in ids], **kwargs
    )
