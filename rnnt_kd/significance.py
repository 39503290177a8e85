"""How sure is a WER difference? Paired bootstrap over test utterances (Bisani & Ney, 2004),
and over training seeds too.

Two systems decoded the same test set; resampling its utterances with replacement (the same
draw for both systems) gives the distribution of the relative WER change that another test set
of the same size and kind could have shown (:func:`paired_bootstrap_rel_change`). That is the
test set's sampling noise only, not the training run's: a second training of the same recipe
gives other models. :func:`seed_utterance_bootstrap_rel_change` takes both systems trained with
several seeds and resamples seeds and utterances together, so its interval covers both.

Both take ``clusters``: utterances that share a cluster (e.g. the same sentence read by several
voices, as in a test set drawn from a small sentence pool) are resampled together, so the
interval also covers the choice of sentences (a cluster bootstrap; with every utterance its own
cluster it is the plain one, draw for draw).

    >>> ci = paired_bootstrap_rel_change([3, 2, 4], [2, 2, 3], [10, 8, 12])
    >>> round(ci.rel_change, 1)
    -22.2
    >>> ci = seed_utterance_bootstrap_rel_change([[3, 2, 4], [4, 1, 4]], [[2, 2, 3], [3, 2, 3]],
    ...                                          [10, 8, 12])
    >>> round(ci.rel_change, 1), ci.num_seeds
    (-16.7, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Hashable, List, Optional, Sequence, Tuple, Union

import numpy as np

from rnnt_kd.wer import compute_wer, read_transcripts


@dataclass(frozen=True)
class RelChangeInterval:
    """Relative WER change of system B vs A in percent, with a bootstrap interval.

    ``p_better``: share of bootstrap samples in which B has fewer errors than A.
    ``num_seeds``: training seeds per system (1: one run each, utterances resampled only);
    ``per_seed``: with several seeds, the relative change of each seed's pair (A run, B run).
    ``num_clusters``: the resampled units when utterances were resampled in clusters (0: none).
    """

    rel_change: float
    low: float
    high: float
    p_better: float
    num_utts: int
    num_samples: int
    num_seeds: int = 1
    per_seed: Tuple[float, ...] = ()
    num_clusters: int = 0


def paired_bootstrap_rel_change(
    errors_a: Sequence[int],
    errors_b: Sequence[int],
    ref_words: Sequence[int],
    num_samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: Optional[Sequence[Hashable]] = None,
) -> RelChangeInterval:
    """Relative change ``100 (E_b - E_a) / E_a`` of the corpus error counts, and its interval.

    ``errors_a``, ``errors_b``, ``ref_words``: per utterance, same order (N,); the references
    are only checked for length (both systems share them, so the change of the error counts is
    the change of the WER). Each of ``num_samples`` draws takes N utterances with replacement,
    the same ones for A and B; with ``clusters`` (N,) labels, C clusters instead.
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
    (units_a,), num_clusters = _cluster_sums(a[None], clusters)
    (units_b,), _ = _cluster_sums(b[None], clusters)
    m = len(units_a)
    idx = np.random.default_rng(seed).integers(0, m, size=(num_samples, m))
    ea, eb = units_a[idx].sum(axis=1), units_b[idx].sum(axis=1)
    valid = ea > 0
    rel = 100.0 * (eb[valid] - ea[valid]) / ea[valid]
    low, high = _interval(rel, confidence)
    return RelChangeInterval(
        rel_change=float(100.0 * (b.sum() - a.sum()) / a.sum()),
        low=low,
        high=high,
        p_better=float(np.mean(eb < ea)),
        num_utts=n,
        num_samples=num_samples,
        num_clusters=num_clusters,
    )


def _cluster_sums(
    errors: np.ndarray, clusters: Optional[Sequence[Hashable]]
) -> Tuple[np.ndarray, int]:
    """(S, N) per-utterance errors -> (S, C) per-cluster sums (clusters in first-seen order),
    and C (0 when ``clusters`` is None: the utterances are returned as they are)."""
    if clusters is None:
        return errors, 0
    if len(clusters) != errors.shape[1]:
        raise ValueError(f"clusters: {len(clusters)} labels for {errors.shape[1]} utterances")
    index: Dict[Hashable, int] = {}
    inverse = np.array([index.setdefault(c, len(index)) for c in clusters], dtype=np.int64)
    sums = np.stack([np.bincount(inverse, weights=row, minlength=len(index)) for row in errors])
    return sums.astype(np.int64), len(index)


def _interval(rel: np.ndarray, confidence: float) -> Tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(rel, [tail, 100.0 - tail])
    return float(low), float(high)


def _per_seed_matrix(errors: Sequence[Sequence[int]], what: str) -> np.ndarray:
    a = np.asarray(errors, dtype=np.int64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{what} must be (seeds, utterances) error counts, got shape {a.shape}")
    return a


def seed_utterance_bootstrap_rel_change(
    errors_a: Sequence[Sequence[int]],
    errors_b: Sequence[Sequence[int]],
    ref_words: Union[Sequence[int], Sequence[Sequence[int]]],
    num_samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    pair_seeds: bool = True,
    clusters: Optional[Sequence[Hashable]] = None,
) -> RelChangeInterval:
    """Relative change of the seed-averaged WER of B vs A, with an interval that covers both
    training-seed and test-utterance variation.

    Args:
      errors_a: (S_a, N) word errors of system A (the baseline): one row per training seed, one
        column per test utterance, the same utterance order in every row.
      errors_b: (S_b, N) the same for system B (e.g. with KD). With ``pair_seeds`` (default)
        S_a == S_b and row s of A and row s of B are the two runs trained with seed s.
      ref_words: (N,) reference words per utterance, or (S, N) rows that must all be equal
        (both systems and all seeds decoded the same test set).
      num_samples, confidence, seed: as in :func:`paired_bootstrap_rel_change`.
      pair_seeds: resample (A run, B run) pairs of the same seed together (True), or the seeds
        of A and of B independently (False, for runs whose seeds do not correspond).
      clusters: (N,) labels; utterances of one label are resampled together (see the module).
    Returns:
      ``rel_change = 100 (mean_s E_b,s - mean_s E_a,s) / mean_s E_a,s`` with ``E_x,s`` the
      corpus error count of seed s (the relative change of the mean WER over seeds, the number
      the seed-averaged WER table gives), its bootstrap interval, ``p_better`` (share of
      samples in which B's mean errors are below A's), ``num_seeds`` (S_a) and ``per_seed``
      (each pair's own relative change; pairs only).

    Each bootstrap sample draws one new test set (N utterances with replacement) shared by every
    run, as all runs are scored on the same test set, and S seeds with replacement (pairs, or A's
    and B's separately), and computes the change on that seed x utterance grid. Resampling the
    two crossed factors independently (Owen's "pigeonhole" bootstrap, 2007) is, if anything,
    slightly conservative: the seed x utterance interaction is counted more than once.

    Why pairs: the recipe trains a pair's two runs with the same seed (same initial weights and
    data order), so the pair is the unit of the experiment and what they share cancels in their
    difference; resampling pairs keeps that. If same-seed runs are no more alike than any two
    runs, pairing does no harm: the point estimate is the same and the interval is still that of
    the observed design.

    With one seed (S = 1) this is :func:`paired_bootstrap_rel_change`: the same draws, the same
    numbers.
    """
    a = _per_seed_matrix(errors_a, "errors_a")
    b = _per_seed_matrix(errors_b, "errors_b")
    refs = np.asarray(ref_words, dtype=np.int64)
    if refs.ndim == 2:
        if not (refs == refs[:1]).all():
            raise ValueError("ref_words differ between seeds: the runs decoded other test sets")
        refs = refs[0]
    n = a.shape[1]
    if not (n == b.shape[1] == len(refs)):
        raise ValueError(
            f"need the same number of utterances: errors_a {a.shape[1]}, errors_b {b.shape[1]}, "
            f"ref_words {len(refs)}"
        )
    if pair_seeds and a.shape[0] != b.shape[0]:
        raise ValueError(
            f"pair_seeds needs as many B runs as A runs, got {a.shape[0]} and {b.shape[0]}"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if a.sum() == 0:
        raise ValueError("system A makes no errors: a relative change is undefined")
    units_a, num_clusters = _cluster_sums(a, clusters)
    units_b, _ = _cluster_sums(b, clusters)
    m = units_a.shape[1]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, m, size=(num_samples, m))  # as paired_bootstrap_rel_change draws
    # corpus errors of each run on each resampled test set: (num_samples, S)
    ta = np.stack([row[idx].sum(axis=1) for row in units_a], axis=1)
    tb = np.stack([row[idx].sum(axis=1) for row in units_b], axis=1)
    pick_a = rng.integers(0, a.shape[0], size=(num_samples, a.shape[0]))
    pick_b = pick_a if pair_seeds else rng.integers(0, b.shape[0], size=(num_samples, b.shape[0]))
    rows = np.arange(num_samples)[:, None]
    ea = ta[rows, pick_a].mean(axis=1)
    eb = tb[rows, pick_b].mean(axis=1)
    valid = ea > 0
    low, high = _interval(100.0 * (eb[valid] - ea[valid]) / ea[valid], confidence)
    mean_a, mean_b = a.sum(axis=1).mean(), b.sum(axis=1).mean()
    per_seed: Tuple[float, ...] = ()
    if pair_seeds:
        sa, sb = a.sum(axis=1), b.sum(axis=1)
        per_seed = tuple(
            float(100.0 * (y - x) / x) if x > 0 else float("nan") for x, y in zip(sa, sb)
        )
    return RelChangeInterval(
        rel_change=float(100.0 * (mean_b - mean_a) / mean_a),
        low=low,
        high=high,
        p_better=float(np.mean(eb < ea)),
        num_utts=n,
        num_samples=num_samples,
        num_seeds=a.shape[0],
        per_seed=per_seed,
        num_clusters=num_clusters,
    )


@dataclass(frozen=True)
class AlignedRecogs:
    """``recogs-*.txt`` files of one test set, read once and aligned by cut id (sorted).

    ``errors_a`` (S_a, N) and ``errors_b`` (S_b, N): word errors per file and utterance;
    ``ref_words`` (N,): reference words; ``references`` (N,): reference texts (the clusters of
    ``cluster_by_reference``)."""

    errors_a: List[List[int]]
    errors_b: List[List[int]]
    ref_words: List[int]
    references: List[str]


def align_recogs(
    baselines: Sequence[Union[str, Path]], systems: Sequence[Union[str, Path]]
) -> AlignedRecogs:
    """Read every file once; raises if they hold other utterances or references."""
    if not baselines or not systems:
        raise ValueError("need at least one recogs file per system")
    files = [*baselines, *systems]
    tables = []
    for f in files:
        table = {}
        for cut_id, ref, hyp in read_transcripts(f):
            stats = compute_wer([ref], [hyp])
            table[cut_id] = (stats.errors, stats.ref_words, " ".join(ref))
        tables.append(table)
    ids = sorted(tables[0])
    for f, t in zip(files, tables):
        if t.keys() != tables[0].keys():
            raise ValueError(f"{f} and {files[0]} hold different utterances")
        if any(t[i][2] != tables[0][i][2] for i in ids):
            raise ValueError(f"{f} and {files[0]} have different references")
    rows = [[t[i][0] for i in ids] for t in tables]
    k = len(baselines)
    return AlignedRecogs(
        errors_a=rows[:k],
        errors_b=rows[k:],
        ref_words=[tables[0][i][1] for i in ids],
        references=[tables[0][i][2] for i in ids],
    )


def compare_recogs(
    baseline: Union[str, Path],
    system: Union[str, Path],
    cluster_by_reference: bool = False,
    **kwargs,
) -> RelChangeInterval:
    """:func:`paired_bootstrap_rel_change` of two ``recogs-*.txt`` files of the same test set
    (``system`` relative to ``baseline``); raises if their utterances or references differ.
    ``cluster_by_reference``: resample sentences (utterances with the same reference text
    together) instead of utterances."""
    r = align_recogs([baseline], [system])
    return paired_bootstrap_rel_change(
        r.errors_a[0],
        r.errors_b[0],
        r.ref_words,
        clusters=r.references if cluster_by_reference else None,
        **kwargs,
    )


def compare_recogs_over_seeds(
    baselines: Sequence[Union[str, Path]],
    systems: Sequence[Union[str, Path]],
    pair_seeds: bool = True,
    cluster_by_reference: bool = False,
    **kwargs,
) -> RelChangeInterval:
    """:func:`seed_utterance_bootstrap_rel_change` of ``recogs-*.txt`` files of one test set:
    ``baselines[s]`` and ``systems[s]`` decoded by the two runs of seed s (same order). Raises if
    the files hold other utterances or references. ``cluster_by_reference``: resample sentences
    (utterances with the same reference text together) instead of utterances."""
    r = align_recogs(baselines, systems)
    return seed_utterance_bootstrap_rel_change(
        r.errors_a,
        r.errors_b,
        r.ref_words,
        pair_seeds=pair_seeds,
        clusters=r.references if cluster_by_reference else None,
        **kwargs,
    )
