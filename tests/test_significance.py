"""Paired bootstrap intervals of a relative WER change."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnnt_kd.significance import compare_recogs, paired_bootstrap_rel_change
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
