"""Error analysis: per-word correctness, seen/unseen word-pair error rates, per-group WER, CLI."""

from __future__ import annotations

import json

import pytest

from rnnt_kd.error_analysis import (
    BOS,
    bigrams,
    context_error_rates,
    group_wers,
    ref_word_correct,
)
from rnnt_kd.wer import store_transcripts


def test_ref_word_correct_flags_each_reference_word():
    assert ref_word_correct("A B C D", "A X C") == [True, False, True, False]
    assert ref_word_correct("A B", "X A B Y") == [True, True]  # insertions belong to no word
    assert ref_word_correct("A B", "") == [False, False]
    assert ref_word_correct([], "A") == []


def test_bigrams_include_sentence_start():
    assert bigrams(["A B", "B C"]) == {(BOS, "A"), ("A", "B"), (BOS, "B"), ("B", "C")}


def test_context_error_rates_split_by_training_pairs():
    seen = bigrams(["THE CAT SAT"])  # (<s>,THE) (THE,CAT) (CAT,SAT)
    results = [
        # THE: seen, right; CAT: seen, wrong; RAN: (CAT,RAN) unseen, wrong
        ("u1", ["THE", "CAT", "RAN"], ["THE", "HAT", "RUN"]),
        # DOG: (<s>,DOG) unseen, right; SAT: (DOG,SAT) unseen, deleted
        ("u2", ["DOG", "SAT"], ["DOG"]),
    ]
    r = context_error_rates(results, seen)
    assert r["seen"] == {"words": 2, "errors": 1, "error_rate": 50.0}
    assert r["unseen"]["words"] == 3 and r["unseen"]["errors"] == 2
    assert r["unseen"]["error_rate"] == pytest.approx(200 / 3)
    empty = context_error_rates([], seen)
    assert empty["seen"]["error_rate"] == 0.0 and empty["unseen"]["words"] == 0


def test_group_wers():
    results = [("1-10-0", "A B", "A B"), ("2-20-0", "A B C D", "A"), ("1-10-1", "C", "D")]
    g = group_wers(results, lambda cut_id: "spk" + cut_id.split("-")[0])
    assert set(g) == {"spk1", "spk2"}
    assert g["spk1"].wer == pytest.approx(100 / 3) and g["spk1"].subs == 1
    assert g["spk2"].wer == 75.0 and g["spk2"].dels == 3


def test_cli_table(tmp_path, capsys):
    from lhotse import CutSet, MonoCut, SupervisionSegment

    from rnnt_kd.bin import error_analysis

    cuts = CutSet.from_cuts(
        MonoCut(
            f"c{i}", 0, 1.0, 0, supervisions=[SupervisionSegment(f"c{i}", f"r{i}", 0, 1.0, text=t)]
        )  # fmt: skip
        for i, t in enumerate(["the cat sat.", "a dog"])
    )
    cuts.to_file(tmp_path / "train_cuts.jsonl.gz")
    store_transcripts(
        tmp_path / "recogs-dev.txt",
        [("7-70-0", ["THE", "CAT", "RAN"], ["THE", "HAT", "RUN"]), ("8-80-0", ["A", "DOG"], ["A"])],
    )
    info = {
        "speakers": [{"speaker_id": 7, "engine": "espeak"}, {"speaker_id": 8, "engine": "flite"}]
    }
    (tmp_path / "corpus_info.json").write_text(json.dumps(info))
    out = tmp_path / "analysis.md"
    error_analysis.main([
        "--recogs", str(tmp_path / "recogs-dev.txt"),
        "--train-cuts", str(tmp_path / "train_cuts.jsonl.gz"),
        "--corpus-info", str(tmp_path / "corpus_info.json"), "--out", str(out),
    ])  # fmt: skip
    table = out.read_text().splitlines()
    assert table[0].endswith("WER espeak % | WER flite % |")
    # 3 errors / 5 words; seen pairs: THE, CAT, A, DOG (CAT and DOG wrong); unseen: RAN (wrong)
    assert table[2] == "| recogs-dev.txt | 60.00 | 4, 50.0 | 1, 100.0 | 66.7 | 50.0 |"
    assert table[2] in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no such recogs"):
        error_analysis.main(["--recogs", str(tmp_path / "nope.txt"), "--train-cuts", "x"])
