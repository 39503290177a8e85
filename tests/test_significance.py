"""Bootstrap intervals of a relative WER change: over test utterances, and over training seeds
and test utterances together."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnnt_kd.significance import (
    compare_recogs,
    compare_recogs_over_seeds,
    paired_bootstrap_rel_change,
    seed_utterance_bootstrap_rel_change,
)
from rnnt_kd.wer import store_transcripts


def test_identical_systems_have_a_zero_interval():
    ci = paired_bootstrap_rel_change([3, 0, 5, 2], [3, 0, 5, 2], [9, 4, 11, 6])
    assert (ci.rel_change, ci.low, ci.high, ci.p_better) == (0.0, 0.0, 0.0, 0.0)


def test_better_on_every_utterance_is_certain():
    ci = paired_bootstrap_rel_change([4, 3, 5, 6, 2], [3, 2, 4, 5, 1], [10] * 5)
    assert ci.rel_change == pytest.approx(100 * (15 - 20) / 20)
    assert ci.p_better == 1.0 and ci.high < 0 and ci.low <= ci.rel_change <= ci.high


def test_bootstrap_matches_exact_enumeration():
    """P(B better) and the mean relative change against all N^N equally likely resamplings."""
    a, b = np.array([2, 0, 3]), np.array([1, 2, 2])
    rels, better = [], []
    for idx in itertools.product(range(3), repeat=3):
        ea, eb = a[list(idx)].sum(), b[list(idx)].sum()
        if ea > 0:
            rels.append(100 * (eb - ea) / ea)
        better.append(eb < ea)
    ci = paired_bootstrap_rel_change(a, b, [5, 5, 5], num_samples=40000, seed=1)
    assert ci.p_better == pytest.approx(np.mean(better), abs=0.01)
    rels = np.array(rels)  # the interval ends are the 2.5 % / 97.5 % quantiles of this law
    assert np.mean(rels <= ci.low) >= 0.02 and np.mean(rels < ci.low) <= 0.03
    assert np.mean(rels >= ci.high) >= 0.02 and np.mean(rels > ci.high) <= 0.03


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="same, non-zero"):
        paired_bootstrap_rel_change([1, 2], [1], [3, 3])
    with pytest.raises(ValueError, match="no errors"):
        paired_bootstrap_rel_change([0, 0], [1, 0], [3, 3])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap_rel_change([1], [1], [3], confidence=1.0)


def test_compare_recogs_reads_icefall_files(tmp_path):
    refs = {"u1": "A B C", "u2": "D E", "u3": "F G H I"}
    base = [("u1", refs["u1"], "A X C"), ("u2", refs["u2"], "D"), ("u3", refs["u3"], "F G H I")]
    kd = [("u1", refs["u1"], "A B C"), ("u2", refs["u2"], "D"), ("u3", refs["u3"], "F G H I")]
    store_transcripts(tmp_path / "base.txt", base)
    store_transcripts(tmp_path / "kd.txt", kd)
    ci = compare_recogs(tmp_path / "base.txt", tmp_path / "kd.txt")
    assert ci.rel_change == pytest.approx(-50.0) and ci.num_utts == 3
    store_transcripts(tmp_path / "other.txt", kd[:2])
    with pytest.raises(ValueError, match="different utterances"):
        compare_recogs(tmp_path / "base.txt", tmp_path / "other.txt")


# ----------------------------------------------------------------------------------------------
# several training seeds


def test_one_seed_is_the_paired_bootstrap():
    """S = 1: the same draws and numbers as the one-run paired bootstrap."""
    a, b, refs = [4, 0, 3, 5, 2, 7], [3, 1, 3, 2, 2, 6], [9, 4, 8, 11, 5, 12]
    one = paired_bootstrap_rel_change(a, b, refs, num_samples=3000, seed=5)
    two = seed_utterance_bootstrap_rel_change([a], [b], refs, num_samples=3000, seed=5)
    for field in ("rel_change", "low", "high", "p_better", "num_utts", "num_samples"):
        assert getattr(two, field) == getattr(one, field), field
    assert two.num_seeds == 1 and two.per_seed == pytest.approx((one.rel_change,))
    # seeds that agree exactly add no variation: the same interval again
    same = seed_utterance_bootstrap_rel_change([a] * 3, [b] * 3, refs, num_samples=3000, seed=5)
    assert (same.rel_change, same.low, same.high) == pytest.approx(
        (one.rel_change, one.low, one.high)
    )


def _exact_law(a, b, pair_seeds):
    """All equally likely (seed draws, utterance draw) outcomes of the two-level resampling."""
    a, b = np.asarray(a), np.asarray(b)
    s, n = a.shape
    rels, better = [], []
    seed_draws = list(itertools.product(range(s), repeat=s))
    pairs = (
        [(d, d) for d in seed_draws]
        if pair_seeds
        else list(itertools.product(seed_draws, repeat=2))
    )
    for utts in itertools.product(range(n), repeat=n):
        for da, db in pairs:
            ea = a[list(da)][:, list(utts)].sum() / s
            eb = b[list(db)][:, list(utts)].sum() / s
            if ea > 0:
                rels.append(100 * (eb - ea) / ea)
            better.append(eb < ea)
    return np.array(rels), float(np.mean(better))


@pytest.mark.parametrize("pair_seeds", [True, False])
def test_seed_utterance_bootstrap_matches_exact_enumeration(pair_seeds):
    """2 seeds x 3 utterances: p_better and the interval ends against all S^S (x S^S) x N^N
    equally likely resamplings."""
    a = [[2, 0, 3], [4, 1, 2]]
    b = [[1, 2, 2], [2, 1, 1]]
    ci = seed_utterance_bootstrap_rel_change(
        a, b, [5, 5, 5], num_samples=40000, seed=1, pair_seeds=pair_seeds
    )
    assert ci.rel_change == pytest.approx(100 * (9 - 12) / 12)
    want = (0.0, 100 * (4 - 7) / 7) if pair_seeds else ()
    assert ci.per_seed == pytest.approx(want)
    rels, p_better = _exact_law(a, b, pair_seeds)
    assert ci.p_better == pytest.approx(p_better, abs=0.01)
    assert np.mean(rels <= ci.low) >= 0.02 and np.mean(rels < ci.low) <= 0.03
    assert np.mean(rels >= ci.high) >= 0.02 and np.mean(rels > ci.high) <= 0.03


def test_seed_variation_widens_the_interval():
    """Two seeds whose KD changes disagree (-40 % and +20 %): wider than either seed's
    utterance-only interval, and around their pooled change."""
    g = np.random.default_rng(0)
    refs = g.integers(5, 15, size=200)
    base = [g.binomial(refs, 0.3), g.binomial(refs, 0.3)]
    kd = [g.binomial(refs, 0.18), g.binomial(refs, 0.36)]
    ci = seed_utterance_bootstrap_rel_change(base, kd, refs, num_samples=4000)
    singles = [paired_bootstrap_rel_change(x, y, refs, num_samples=4000) for x, y in zip(base, kd)]
    assert all(ci.high - ci.low > s.high - s.low for s in singles)
    assert ci.low < ci.rel_change < ci.high
    assert min(ci.per_seed) < -25 and max(ci.per_seed) > 5


def test_seed_bootstrap_refuses_bad_input():
    with pytest.raises(ValueError, match="seeds, utterances"):
        seed_utterance_bootstrap_rel_change([1, 2], [[1, 2]], [3, 3])
    with pytest.raises(ValueError, match="same number of utterances"):
        seed_utterance_bootstrap_rel_change([[1, 2]], [[1, 2, 3]], [3, 3])
    with pytest.raises(ValueError, match="pair_seeds"):
        seed_utterance_bootstrap_rel_change([[1, 2]], [[1, 2], [2, 2]], [3, 3])
    with pytest.raises(ValueError, match="differ between seeds"):
        seed_utterance_bootstrap_rel_change([[1, 2]] * 2, [[1, 2]] * 2, [[3, 3], [3, 4]])
    with pytest.raises(ValueError, match="no errors"):
        seed_utterance_bootstrap_rel_change([[0, 0]], [[1, 0]], [3, 3])
    # unpaired seeds may differ in number
    ci = seed_utterance_bootstrap_rel_change([[1, 2]], [[1, 2], [2, 2]], [3, 3], pair_seeds=False)
    assert ci.rel_change == pytest.approx(100 * (3.5 - 3) / 3) and ci.per_seed == ()


def test_compare_recogs_over_seeds(tmp_path):
    refs = {"u1": "A B C", "u2": "D E", "u3": "F G H I"}
    hyps = {
        "base1": ["A X C", "D", "F G H I"],
        "base2": ["A X Y", "D E", "F G H I"],
        "kd1": ["A B C", "D", "F G H I"],
        "kd2": ["A X C", "D E", "F G H I"],
    }
    for name, hs in hyps.items():
        store_transcripts(tmp_path / f"{name}.txt", [(u, refs[u], h) for u, h in zip(refs, hs)])
    files = {k: tmp_path / f"{k}.txt" for k in hyps}
    ci = compare_recogs_over_seeds([files["base1"], files["base2"]], [files["kd1"], files["kd2"]])
    assert ci.rel_change == pytest.approx(100 * (2 - 4) / 4) and ci.num_seeds == 2
    assert ci.per_seed == (pytest.approx(-50.0), pytest.approx(-50.0))
    store_transcripts(tmp_path / "other.txt", [("u1", refs["u1"], "A B C")])
    with pytest.raises(ValueError, match="different utterances"):
        compare_recogs_over_seeds([files["base1"]], [tmp_path / "other.txt"])


def test_singleton_clusters_are_the_plain_bootstrap():
    a, b, refs = [4, 0, 3, 5, 1], [2, 1, 3, 4, 0], [9, 5, 8, 9, 4]
    plain = paired_bootstrap_rel_change(a, b, refs, seed=3)
    single = paired_bootstrap_rel_change(a, b, refs, seed=3, clusters=list("abcde"))
    assert (single.low, single.high, single.p_better) == (plain.low, plain.high, plain.p_better)
    assert single.num_clusters == 5 and plain.num_clusters == 0


def test_cluster_bootstrap_matches_exact_enumeration_over_clusters():
    """Utterances 0+1 and 2+3 are two sentences: the resampling units are the 2 sentences."""
    a, b = np.array([2, 1, 0, 3]), np.array([1, 1, 2, 2])
    clusters = ["s1", "s1", "s2", "s2"]
    sums_a, sums_b = np.array([3, 3]), np.array([2, 4])
    rels = [
        100 * (sums_b[list(i)].sum() - sums_a[list(i)].sum()) / sums_a[list(i)].sum()
        for i in itertools.product(range(2), repeat=2)
    ]
    ci = seed_utterance_bootstrap_rel_change(
        [a], [b], [5] * 4, num_samples=20000, seed=2, clusters=clusters
    )
    assert ci.num_clusters == 2 and ci.num_utts == 4
    assert ci.rel_change == pytest.approx(0.0)
    assert (ci.low, ci.high) == (pytest.approx(min(rels)), pytest.approx(max(rels)))


def test_correlated_utterances_widen_the_interval_when_clustered():
    """Ten voices read each of 20 sentences; KD helps on some sentences and hurts on others:
    the sentence bootstrap must be wider than the one that treats the 200 readings as
    independent."""
    rng = np.random.default_rng(0)
    effect = rng.choice([-2, 2], size=20)  # per sentence
    a = rng.integers(2, 5, size=(20, 10))
    b = np.clip(a + effect[:, None], 0, None)
    clusters = np.repeat(np.arange(20), 10)
    kwargs = dict(num_samples=4000, seed=0)
    plain = paired_bootstrap_rel_change(a.ravel(), b.ravel(), [10] * 200, **kwargs)
    grouped = paired_bootstrap_rel_change(
        a.ravel(), b.ravel(), [10] * 200, clusters=list(clusters), **kwargs
    )
    assert grouped.rel_change == plain.rel_change
    assert grouped.high - grouped.low > 2 * (plain.high - plain.low)


def test_compare_recogs_clusters_by_reference(tmp_path):
    refs = ["A B C", "A B C", "D E", "D E", "F"]
    base = [("u1", refs[0], "A B"), ("u2", refs[1], "A C"), ("u3", refs[2], "D E"),
            ("u4", refs[3], "X E"), ("u5", refs[4], "F")]  # fmt: skip
    kd = [("u1", refs[0], "A B C"), ("u2", refs[1], "A C"), ("u3", refs[2], "D"),
          ("u4", refs[3], "D E"), ("u5", refs[4], "G")]  # fmt: skip
    for name, rows in (("base", base), ("kd", kd)):
        store_transcripts(tmp_path / f"{name}.txt", [(i, r.split(), h.split()) for i, r, h in rows])
    ci = compare_recogs(tmp_path / "base.txt", tmp_path / "kd.txt", cluster_by_reference=True)
    assert ci.num_clusters == 3 and ci.num_utts == 5
    over_seeds = compare_recogs_over_seeds(
        [tmp_path / "base.txt"], [tmp_path / "kd.txt"], cluster_by_reference=True
    )
    assert (over_seeds.low, over_seeds.high) == (ci.low, ci.high)
