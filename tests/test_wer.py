"""WER counts against hand-computed alignments, and the icefall result files parsed back."""

import math
import re

import pytest

from rnnt_kd.wer import (
    WerStats,
    compute_wer,
    read_transcripts,
    store_transcripts,
    write_error_stats,
    write_wer_summary,
)


def test_sub_and_del():
    # A B C D vs A X C: B->X substitution, D deleted -> 2 / 4
    s = compute_wer(["A B C D"], ["A X C"])
    assert s == WerStats(errors=2, ref_words=4, ins=0, dels=1, subs=1, wer=50.0)


def test_empty_hyp_and_insertions_and_lists():
    assert compute_wer(["A B C"], [""]) == WerStats(3, 3, 0, 3, 0, 100.0)
    # two insertions over 2 reference words: 100 %, WER can exceed 100
    assert compute_wer([["A", "B"]], [["X", "A", "B", "Y"]]) == WerStats(2, 2, 2, 0, 0, 100.0)
    s = compute_wer(["A"], ["A B C D"])
    assert (s.ins, s.wer) == (3, 300.0)
    # corpus level: errors and reference words are summed, not the per-utterance rates
    s = compute_wer(["A B C D", "E"], ["A B C D", "F"])
    assert (s.errors, s.ref_words, s.subs) == (1, 5, 1)
    assert math.isclose(s.wer, 20.0)
    assert compute_wer([""], [""]).wer == 0.0
    with pytest.raises(ValueError):
        compute_wer(["A"], [])


def _section(lines, header):
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header)) + 1
    out = []
    for ln in lines[start:]:
        if not ln:
            break
        out.append(ln)
    return out


def test_write_error_stats_file(tmp_path):
    results = [
        ("utt-b", "A B C D".split(), "A X C".split()),  # 1 sub, 1 del
        ("utt-a", "THE CAT SAT".split(), "THE CAT SAT ON".split()),  # 1 ins
        ("utt-c", "A B".split(), "A B".split()),
    ]
    path = tmp_path / "errs-test-greedy.txt"
    wer = write_error_stats(path, "test", results)
    # 3 errors over 9 reference words
    assert wer == pytest.approx(33.33)
    lines = path.read_text().splitlines()
    assert lines[0] == "%WER = 33.33"
    m = re.fullmatch(
        r"Errors: (\d+) insertions, (\d+) deletions, (\d+) substitutions, "
        r"over (\d+) reference words \((\d+) correct\)",
        lines[1],
    )
    assert m and tuple(map(int, m.groups())) == (1, 1, 1, 9, 7)
    per_utt = _section(lines, "PER-UTT DETAILS:")
    assert per_utt == [
        "utt-a:\tTHE CAT SAT (*->ON)",
        "utt-b:\tA (B->X) C (D->*)",
        "utt-c:\tA B",
    ]
    assert _section(lines, "SUBSTITUTIONS:") == ["1   B -> X"]
    assert _section(lines, "DELETIONS:") == ["1   D"]
    assert _section(lines, "INSERTIONS:") == ["1   ON"]
    stats = {ln.split()[0]: tuple(map(int, ln.split()[1:])) for ln in _section(lines, "PER-WORD")}
    # word: corr tot_errs count_in_ref count_in_hyp
    assert stats["A"] == (2, 0, 2, 2)
    assert stats["B"] == (1, 1, 2, 1)
    assert stats["X"] == (0, 1, 0, 1)
    assert stats["D"] == (0, 1, 1, 0)
    assert stats["ON"] == (0, 1, 0, 1)


def test_adjacent_errors_are_combined(tmp_path):
    path = tmp_path / "errs.txt"
    write_error_stats(path, "t", [("u", "A B C D".split(), "A X Y D".split())])
    assert _section(path.read_text().splitlines(), "PER-UTT DETAILS:") == ["u:\tA (B C->X Y) D"]


def test_transcripts_round_trip_and_summary(tmp_path):
    results = [("b", ["HELLO", "WORLD"], ["HELLO"]), ("a", ["IT'S"], [])]
    path = tmp_path / "recogs-test.txt"
    store_transcripts(path, results)
    text = path.read_text().splitlines()
    assert text[0] == 'a:\tref=["IT\'S"]'
    assert text[1] == "a:\thyp=[]"
    assert text[2] == "b:\tref=['HELLO', 'WORLD']"
    assert read_transcripts(path) == sorted(results)

    summary = tmp_path / "wer-summary.txt"
    write_wer_summary(summary, {"beam_4": 12.5, "greedy": 13.1, "beam_8": 12.25})
    assert summary.read_text().splitlines() == [
        "settings\tWER",
        "beam_8\t12.25",
        "beam_4\t12.5",
        "greedy\t13.1",
    ]
