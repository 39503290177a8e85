"""End to end: the embedded default recipe (egs/synthlibri/ASR/run.sh) at toy size (--preset smoke).

Generates a TTS corpus, trains a teacher, 60%/90%-sparse and small students with and without KD,
decodes everything and writes RESULTS.md / results.json / the plot. Asserts on the values.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "synthlibri" / "ASR"
SETS = ["dev-clean", "test-clean", "test-other", "test-farfield"]
MODELS = ["teacher", "sparse60", "sparse60_kd", "sparse90", "sparse90_kd", "small", "small_kd"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("espeak-ng") is None or shutil.which("flite") is None,
        reason="speech synthesizers missing: run local/install_corpus_tools.sh",
    ),
]


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RNNT_KD_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    cmd = [
        "bash",
        str(RECIPE / "run.sh"),
        "--preset",
        "smoke",
        "--dl-dir",
        str(tmp / "download"),
        "--data-dir",
        str(tmp / "data"),
        "--exp-root",
        str(tmp / "exp"),
        "--results-dir",
        str(tmp / "results"),
        *args,
    ]
    return subprocess.run(cmd, cwd=RECIPE, env=env, capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smoke")
    r = _run(tmp, "--stage", "0", "--stop-stage", "6")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return tmp, r


def test_corpus_has_every_part_with_farfield_parameters(smoke_run):
    tmp, _ = smoke_run
    corpus = tmp / "download" / "LibriSpeech"
    for part in ["train-clean-synth"] + SETS:
        assert list((corpus / part).rglob("*.flac")), part
    params = (corpus / "test-farfield" / "farfield_params.jsonl").read_text().splitlines()
    assert len(params) == len(list((corpus / "test-farfield").rglob("*.flac")))
    p = json.loads(params[0])
    assert 10.0 <= p["snr_db"] <= 20.0


def test_results_table_and_json(smoke_run):
    tmp, _ = smoke_run
    res = json.loads((tmp / "results" / "results.json").read_text())
    rows = {r["name"]: r for r in res["experiments"]}
    assert sorted(rows) == sorted(MODELS)
    md = (tmp / "results" / "RESULTS.md").read_text()
    for name in MODELS:
        r = rows[name]
        for method in ("modified_beam_search_lexicon", "modified_beam_search", "greedy_search"):
            assert sorted(r["wer"][method]) == sorted(SETS)
        assert r["command"] and "rnnt_kd.bin.train" in r["command"]
        assert re.search(rf"^\| {name} \| (yes|no) \|", md, re.M), name
    # true sparsity of the decoded (averaged + masked) models
    assert rows["teacher"]["sparsity"] == pytest.approx(0.0, abs=1e-6)
    for name, target in (
        ("sparse60", 0.6),
        ("sparse60_kd", 0.6),
        ("sparse90", 0.9),
        ("sparse90_kd", 0.9),
    ):
        assert rows[name]["sparsity"] == pytest.approx(target, abs=0.01), name
        assert rows[name]["params"] == rows["teacher"]["params"]
        assert rows[name]["nonzero_params"] < rows["teacher"]["nonzero_params"]
    assert rows["small"]["params"] < rows["teacher"]["params"]
    # stage 6 exports every decoded model; sparse weights packed: the files shrink with sparsity
    sizes = {name: rows[name]["export"]["file_vs_dense"] for name in MODELS}
    assert sizes["sparse90"] < 0.3 < sizes["sparse60"] < 0.6 < sizes["teacher"] < 1.1  # + pickle
    assert rows["sparse90"]["export"]["nonzero_params"] == rows["sparse90"]["nonzero_params"]
    assert re.search(r"^\| sparse90_kd \| [0-9.]+M \| [0-9.]+M \| [0-9.]+ \| [12]\d% \|$", md, re.M)
    # KD flags only where they belong; relative change computed from the two rows
    assert "--teacher-checkpoint" in rows["sparse90_kd"]["command"]
    assert "--teacher-checkpoint" not in rows["sparse90"]["command"]
    assert "--target-sparsity 0.9" in rows["sparse90_kd"]["command"]
    # pruning over the first 2/3 of the run, every 1/20 of that: fractions the trainer resolves
    assert "--prune-end-fraction 2/3" in rows["sparse90_kd"]["command"]
    assert rows["sparse90_kd"]["train_config"]["target_sparsity"] == 0.9
    m = "modified_beam_search"
    base, kd = rows["sparse90"]["wer"][m], rows["sparse90_kd"]["wer"][m]
    for s in SETS:
        if base[s] > 0:
            assert rows["sparse90_kd"]["rel_change"][m][s] == pytest.approx(
                100 * (kd[s] - base[s]) / base[s]
            )
    # bootstrap intervals of the KD change, from the recogs files of both models
    assert "## How sure is the KD effect? (modified_beam_search_lexicon)" in md
    lex = "modified_beam_search_lexicon"
    for s, ci in rows["sparse90_kd"]["rel_change_ci"][lex].items():
        assert ci["low"] <= ci["rel_change"] <= ci["high"] and 0 <= ci["p_better"] <= 1
        assert ci["rel_change"] == pytest.approx(rows["sparse90_kd"]["rel_change"][lex][s], abs=0.1)
    png = (tmp / "results" / "wer_vs_sparsity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Wall time per stage" in md
    # the commands that ran, and only links to files that exist
    assert re.search(
        r"^Produced by `\./run\.sh --preset smoke .*` \(stages 0, 1, 2, 3, 4, 5, 6\)", md, re.M
    )
    assert "NOTES.md" not in md
    for link in re.findall(r"\]\(([^)]+)\)", md):
        assert (tmp / "results" / link).exists(), link
    for name in MODELS:
        for method in ("greedy_search", "modified_beam_search", "modified_beam_search_lexicon"):
            assert f"- **{name}** (decode, {method}): `" in md
    for n, name in enumerate(["corpus", "manifests", "fbank", "bpe", "teacher", "students"]):
        assert re.search(rf"^\| {n} {name} \| \d+ \|$", md, re.M), name
    assert re.search(r"^\| 6 decode \| \d+ \|$", md, re.M)  # the report times its own stage
    total = int(re.search(r"^\| total, stages 0-6 \| (\d+) ", md, re.M).group(1))
    assert total == sum(int(t[2]) for t in res["stage_times"])


def test_icefall_result_files_agree_with_the_table(smoke_run):
    tmp, _ = smoke_run
    res = json.loads((tmp / "results" / "results.json").read_text())
    rows = {r["name"]: r for r in res["experiments"]}
    for name in ("teacher", "sparse90_kd"):
        d = tmp / "exp" / name / "modified_beam_search"
        for s in SETS:
            errs = list(d.glob(f"errs-{s}-*.txt"))
            assert len(errs) == 1 and list(d.glob(f"recogs-{s}-*.txt"))
            first = errs[0].read_text().splitlines()[0]
            wer = float(re.match(r"%WER = ([0-9.]+)", first).group(1))
            assert wer == pytest.approx(rows[name]["wer"]["modified_beam_search"][s], abs=0.01)


def test_lexicon_decoding_spells_only_training_words(smoke_run):
    tmp, _ = smoke_run
    words = set((tmp / "data" / "lang_bpe_64" / "transcript_words.txt").read_text().split())
    recogs = list(
        (tmp / "exp" / "teacher" / "modified_beam_search_lexicon").glob("recogs-*-lex.txt")
    )
    assert len(recogs) == len(SETS)
    hyp_words = []
    for f in recogs:
        for line in f.read_text().splitlines():
            if "hyp=" in line:
                hyp_words += ast.literal_eval(line.split("hyp=", 1)[1])
    assert hyp_words and set(hyp_words) <= words


def test_kd_students_read_one_teacher_cache(smoke_run):
    """Stage 5 computes the teacher's band once; every KD student reads it, the others not."""
    tmp, _ = smoke_run
    import torch

    caches = list((tmp / "exp" / "teacher").glob("band-epoch-*-T*.pt"))
    assert len(caches) == 1
    num_cuts = torch.load(caches[0], weights_only=False)["meta"]["num_cuts"]
    assert num_cuts >= 40  # the 40 training utterances (+ their far-field copies)
    for name in ("sparse60", "sparse90", "small"):
        for kd in (False, True):
            exp = tmp / "exp" / (name + ("_kd" if kd else ""))
            command = (exp / "command.txt").read_text()
            assert ("--teacher-cache" in command) == kd, name
            log = "\n".join(p.read_text() for p in (exp / "log").glob("log-train*"))
            assert (f"teacher band of {num_cuts} training cuts" in log) == kd, name


def test_rerun_skips_finished_stages(smoke_run):
    tmp, _ = smoke_run
    r = _run(tmp, "--stage", "0", "--stop-stage", "6")
    assert r.returncode == 0, r.stderr[-2000:]
    for n, name in enumerate(
        ["corpus", "manifests", "fbank", "bpe", "teacher", "students", "decode"]
    ):
        assert f"Stage {n} ({name}): done before, skipping" in r.stdout
