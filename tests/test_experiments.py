"""rnnt_kd.experiments (a recipe's experiment matrix, its runs) and the decode_plan CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnt_kd.bin import decode_plan
from rnnt_kd.experiments import epochs_to_average, read_experiments, seed_runs

REPO = Path(__file__).resolve().parents[1]
MATRIX = """# name | group | baseline | kd | seeds | options
teacher  | dense      |        | no  |       | --num-epochs 3
pruned   | sparse 90% |        | no  | 7 8   | $(prune 0.9 4)   # a comment
pruned_kd| sparse 90% | pruned | yes | 7 8   | $(prune 0.9 4)
"""


def _run(d: Path, epochs: int, seed: int, sparsity: float = 0.0, done: bool = True) -> Path:
    d.mkdir(parents=True)
    cfg = {
        "run": {"num_epochs": epochs, "seed": seed},
        "pruning": {"target_sparsity": sparsity, "prune_end_fraction": 2 / 3 if sparsity else None},
    }
    (d / "train_config.json").write_text(json.dumps(cfg))
    if done:
        (d / f"epoch-{epochs}.pt").write_bytes(b"")
    return d


def test_every_recipe_matrix_reads():
    for path in REPO.glob("egs/*/ASR/conf/experiments.txt"):
        rows = read_experiments(path)
        assert rows[0].name == "teacher", path
        assert all(r.baseline for r in rows if r.kd), path


def test_read_experiments(tmp_path):
    f = tmp_path / "experiments.txt"
    f.write_text(MATRIX)
    rows = read_experiments(f)
    assert [(r.name, r.group, r.baseline, r.kd, r.seeds) for r in rows] == [
        ("teacher", "dense", None, False, ""),
        ("pruned", "sparse 90%", None, False, "7 8"),
        ("pruned_kd", "sparse 90%", "pruned", True, "7 8"),
    ]
    assert rows[1].options == "$(prune 0.9 4)"
    for bad, message in (
        ("a | b | c\n", "need 6"),
        ("a | g | | maybe | | x\n", "kd must be yes or no"),
        ("a | g | | no | | x\na | g | | no | | x\n", "repeated"),
        ("a | g | zz | yes | | x\n", "baseline 'zz'"),
    ):
        f.write_text(bad)
        with pytest.raises(ValueError, match=message):
            read_experiments(f)


def test_seed_runs_and_averaging(tmp_path):
    _run(tmp_path / "pruned", 4, 7, 0.9)
    _run(tmp_path / "pruned_seed10", 4, 10, 0.9)
    _run(tmp_path / "pruned_seed8", 4, 8, 0.9)
    (tmp_path / "pruned_kd").mkdir()
    assert {s: d.name for s, d in seed_runs(tmp_path, "pruned").items()} == {
        7: "pruned",
        8: "pruned_seed8",
        10: "pruned_seed10",
    }
    assert list(seed_runs(tmp_path, "pruned")) == [7, 8, 10]
    # the last 1/3 of a pruned run is after pruning ended (the old shell arithmetic E - 2E/3)
    for epochs in range(1, 30):
        cfg = {"num_epochs": epochs, "target_sparsity": 0.5, "prune_end_fraction": 2 / 3}
        assert epochs_to_average(cfg, 99) == max(1, epochs - epochs * 2 // 3)
    assert epochs_to_average({"num_epochs": 14, "target_sparsity": 0.0}, 2) == 2
    assert epochs_to_average({"num_epochs": 1, "target_sparsity": 0.0}, 5) == 1


def test_decode_plan(tmp_path, capsys):
    f = tmp_path / "experiments.txt"
    f.write_text(MATRIX)
    exp = tmp_path / "exp"
    exp.mkdir()
    args = ["--experiments", str(f), "--exp-root", str(exp), "--max-avg", "2"]
    assert decode_plan.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("decode_plan: error: no trained model under")
    _run(exp / "teacher", 3, 42)
    _run(exp / "pruned", 4, 7, 0.9)
    _run(exp / "pruned_seed8", 4, 8, 0.9)
    _run(exp / "pruned_kd", 4, 7, 0.9, done=False)  # still training
    assert decode_plan.main(args) == 0
    out, err = capsys.readouterr()
    assert out.split("\n")[:-1] == [
        f"{exp / 'teacher'} 3 2",
        f"{exp / 'pruned'} 4 2",
        f"{exp / 'pruned_seed8'} 4 2",
    ]
    assert "pruned_kd has no final checkpoint" in err
