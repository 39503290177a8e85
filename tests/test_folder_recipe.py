"""egs/folder/ASR: a recipe made from the shared template (shared/asr_template.sh) for a corpus
kept as one folder, end to end at toy size (``--preset tiny``).

The corpus is built here: espeak-ng reads a few sentences in four voices into one folder of wav
files with a ``transcripts.txt``; stage 0 splits it by speaker (``prepare_data split``, speakers
from the file names), stages 1-6 train a teacher, a pruned and a small student (two seeds)
without and with KD, and write RESULTS.md.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "folder" / "ASR"
WORDS = "THE CAT DOG SAT ON A MAT RED BLUE BIRD FLEW OVER HOUSE TREE".split()
MODELS = ["teacher", "sparse80", "sparse80_kd", "small", "small_kd"]
# every trained run but the last (small_kd, seed 43)
SEED_DIRS = [*MODELS, "small_seed43"]

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng missing: local/install_corpus_tools.sh"
)


def run_recipe(tmp: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = dict(os.environ, RNNT_KD_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    cmd = ["bash", str(RECIPE / "run.sh"), "--preset", "tiny", "--corpus", str(tmp / "corpus")]
    for opt in ("dl-dir", "data-dir", "exp-root", "results-dir"):
        cmd += [f"--{opt}", str(tmp / opt)]
    return subprocess.run(
        [*cmd, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp
    )


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("folder")
    corpus = tmp / "corpus"
    corpus.mkdir()
    rng, lines = random.Random(0), []
    for voice in ("m1", "f2", "m3", "f4"):
        for i in range(5):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4)))
            uid = f"{voice}_{i:04d}"
            subprocess.run(
                ["espeak-ng", "-v", f"en+{voice}", "-w", str(corpus / f"{uid}.wav"), text],
                check=True,
            )
            lines.append(f"{uid} {text.lower()}")
    (corpus / "transcripts.txt").write_text("\n".join(lines) + "\n")
    # stage 6 before any training: one clear line, non-zero exit
    early = run_recipe(tmp, "--stage", "6", "--stop-stage", "6", timeout=120)
    shutil.rmtree(tmp / "exp-root")
    r = run_recipe(tmp, "--stage", "0", "--stop-stage", "6", "--speaker-regex", "([^_]+)_")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return tmp, r, early


def test_own_shell_is_short():
    def lines(p):
        return len(p.read_text().splitlines())

    assert lines(RECIPE / "run.sh") <= 40
    assert lines(REPO / "egs" / "synthlibri" / "ASR" / "run.sh") <= 150
    assert lines(REPO / "egs" / "librispeech" / "ASR" / "run.sh") <= 80
    for recipe in ("folder", "synthlibri", "librispeech"):
        text = (REPO / "egs" / recipe / "ASR" / "run.sh").read_text()
        assert "python -c" not in text and " -c '" not in text and 'PY -c "' not in text
        assert "command.txt" not in text  # no sed/grep of recorded commands


def test_stage6_before_training_is_one_line(folder_run):
    _, _, early = folder_run
    assert early.returncode != 0
    errors = [ln for ln in early.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "no trained model" in errors[0], early.stderr
    assert "Traceback" not in early.stderr


def test_split_by_speaker(folder_run):
    tmp, _, _ = folder_run
    split = tmp / "dl-dir" / "LibriSpeech"
    rows = [ln.split("\t") for ln in (split / "split.tsv").read_text().splitlines()]
    part_of = {}
    for _, part, _, speaker in rows:
        assert part_of.setdefault(speaker, part) == part
    assert sorted(part_of.values()) == ["dev", "test", "train", "train"]


def test_results(folder_run):
    tmp, _, _ = folder_run
    res = json.loads((tmp / "results-dir" / "results.json").read_text())
    rows = {r["name"]: r for r in res["experiments"]}
    assert list(rows) == MODELS
    for name in MODELS:
        assert sorted(rows[name]["wer"]["greedy_search"]) == ["dev", "test"]
    assert rows["sparse80"]["sparsity"] == pytest.approx(0.8, abs=0.01)
    assert rows["sparse80_kd"]["baseline"] == "sparse80" and rows["sparse80_kd"]["kd"]
    # two seeds of the small students: <name> and <name>_seed43, paired for the KD change
    assert rows["small_kd"]["run_dirs"] == {"42": "small_kd", "43": "small_kd_seed43"}
    assert set(rows["small"]["wer_by_seed"]) == {"42", "43"}
    cell = rows["small_kd"]["rel_change_seeds"]["greedy_search"]["test"]
    assert cell["mean"] == pytest.approx(sum(cell["per_seed"].values()) / 2)
    # the WER tables show the seed average, and KD rel. is the change of the averages
    by_seed = rows["small_kd"]["wer_by_seed"]
    mean_kd = rows["small_kd"]["wer_seed_mean"]["greedy_search"]["test"]
    assert mean_kd == pytest.approx(
        (by_seed["42"]["greedy_search"]["test"] + by_seed["43"]["greedy_search"]["test"]) / 2
    )
    mean_base = rows["small"]["wer_seed_mean"]["greedy_search"]["test"]
    assert rows["small_kd"]["rel_change_seed_mean"]["greedy_search"]["test"] == pytest.approx(
        100 * (mean_kd - mean_base) / mean_base
    )
    assert "wer_seed_mean" not in rows["sparse80"]  # one seed: its own run's WER
    # resampled by sentence (utterances of one reference together), and by utterance
    ci = cell["interval"]
    assert 0 < ci["num_clusters"] <= ci["num_utts"] and len(ci["utterance_interval"]) == 2
    assert "--seed 43" in (tmp / "exp-root" / "small_kd_seed43" / "command.txt").read_text()
    md = (tmp / "results-dir" / "RESULTS.md").read_text()
    assert "## KD relative change over training seeds (greedy_search)" in md
    assert f"| small_kd | test | {mean_base:.2f} -> {mean_kd:.2f} |" in md
    greedy = md.split("## WER (%), greedy_search")[1]
    assert re.search(rf"^\| small_kd \| yes \|(?:[^|]*\|){{4}} {mean_kd:.2f} \|", greedy, re.M)
    # every pruned model's per-tensor sparsity: a table row and the heat map
    assert re.search(r"^\| sparse80_kd \| 8\d\.\d% \| \d+ \|", md, re.M)
    assert "0" == re.search(r"^\| sparse80 \|(?:[^|]*\|){5} (\d+) \|", md, re.M).group(1)
    assert (tmp / "results-dir" / "layer_sparsity.png").is_file()
    # the commands that ran, every stage's time, only files that exist
    assert re.search(
        r"^Produced by `\./run\.sh --preset tiny .*` \(stages 0, 1, 2, 3, 4, 5, 6\)", md, re.M
    )
    for n, name in enumerate(
        ["corpus", "manifests", "fbank", "bpe", "teacher", "students", "decode"]
    ):
        assert re.search(rf"^\| {n} {name} \| \d+ \|$", md, re.M), name
    assert "NOTES.md" not in md
    for link in re.findall(r"\]\(([^)]+)\)", md):
        assert (tmp / "results-dir" / link).exists(), link
    assert (tmp / "results-dir" / "wer_vs_sparsity.png").is_file()
    for name in MODELS:
        assert f"- **{name}** (decode, greedy_search): `" in md


def test_rerun_skips_finished_stages(folder_run):
    tmp, _, _ = folder_run
    r = run_recipe(tmp, "--stage", "0", "--stop-stage", "6", "--speaker-regex", "([^_]+)_")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("done before, skipping") == 7
    # a finished stage 6 leaves its stage marker only: the per-model markers that let an
    # interrupted stage 6 resume are gone, so a redone stage 6 decodes every model again
    done = tmp / "exp-root" / ".done"
    assert (done / "6.decode").is_file() and not list(done.glob("6.decode.*"))


def test_interrupted_stage6_resumes_at_the_first_model_not_done(folder_run):
    tmp, _, _ = folder_run
    exp, done = tmp / "exp-root", tmp / "exp-root" / ".done"
    (done / "6.decode").unlink()
    blocker = exp / "small_kd_seed43" / "greedy_search"
    shutil.rmtree(blocker)
    blocker.write_text("")  # its decoding cannot make this directory: stage 6 fails on it
    r = run_recipe(tmp, "--stage", "6", "--stop-stage", "6")
    assert r.returncode != 0 and not (done / "6.decode").exists()
    assert sorted(p.name for p in done.glob("6.decode.*")) == sorted(
        f"6.decode.{d}" for d in SEED_DIRS
    )
    blocker.unlink()
    r = run_recipe(tmp, "--stage", "6", "--stop-stage", "6")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("done before (an interrupted stage 6 resumes)") == len(SEED_DIRS)
    decoded = [ln for ln in r.stdout.splitlines() if "decoding " in ln and "(log: " in ln]
    assert len(decoded) == 1 and "small_kd_seed43" in decoded[0], r.stdout
    assert (done / "6.decode").is_file() and not list(done.glob("6.decode.*"))
