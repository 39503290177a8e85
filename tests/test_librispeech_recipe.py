"""egs/librispeech/ASR: stage 0 (existing data / no network) and stages 1-6 end to end on a tiny
corpus in LibriSpeech's layout (``<part>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac`` and
``<spk>-<chapter>.trans.txt``), with the recipe's ``--preset tiny``.

Every recipe run gets an unreachable proxy, so any download attempt fails instead of using the
network.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import kaldialign
import pytest
from conftest import WORDS, write_librispeech_part

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "librispeech" / "ASR"
PARTS = {"train-clean-100": 30, "dev-clean": 4, "test-clean": 5, "test-other": 5}
PART_ARGS = [
    "--train-parts",
    "train-clean-100",
    "--dev-parts",
    "dev-clean",
    "--test-parts",
    "test-clean test-other",
]
OFFLINE = {
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
}


def run_recipe(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    env.update(OFFLINE, RNNT_KD_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    return subprocess.run(
        ["bash", str(RECIPE / "run.sh"), *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def load_download_module():
    spec = importlib.util.spec_from_file_location("ls_download", RECIPE / "local" / "download.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Dict[str, object]:
    """``<root>/LibriSpeech/<part>`` for PARTS (harmonic audio) and the transcripts written."""
    root = tmp_path_factory.mktemp("ls_download")
    rng = random.Random(1)
    texts: Dict[str, List[str]] = {}
    for k, (part, n) in enumerate(PARTS.items()):
        utts = [
            (
                f"{100 * (k + 1) + i % 3}-{20 + k}-{i:04d}",
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))),
                1.0 + 0.1 * (i % 5),
            )
            for i in range(n)
        ]
        write_librispeech_part(root / "LibriSpeech", part, utts)
        texts[part] = [t for _, t, _ in utts]
    return {"root": root, "texts": texts}


def test_layout_is_librispeech(corpus):
    part = corpus["root"] / "LibriSpeech" / "test-other"
    trans = sorted(part.rglob("*.trans.txt"))
    assert [t.name for t in trans] == ["400-23.trans.txt", "401-23.trans.txt", "402-23.trans.txt"]
    first = trans[0].read_text().splitlines()[0].split(maxsplit=1)
    assert first[0] == "400-23-0000" and (trans[0].parent / "400-23-0000.flac").is_file()
    assert trans[0].parent == part / "400" / "23"


def test_download_fetches_only_missing_parts(tmp_path):
    dl = load_download_module()
    (tmp_path / "LibriSpeech" / "test-clean" / "1").mkdir(parents=True)
    (tmp_path / "LibriSpeech" / "dev-clean").mkdir(parents=True)  # empty: counts as missing
    calls = []

    def fake_fetch(target, dataset_parts, base_url):
        calls.append((Path(target), list(dataset_parts), base_url))
        (Path(target) / "LibriSpeech" / dataset_parts[0] / "x").mkdir(parents=True)

    got = dl.download_librispeech_parts(
        tmp_path, ["test-clean", "dev-clean", "test-other"], "http://mirror/res", fetch=fake_fetch
    )
    assert got == ["dev-clean", "test-other"]
    assert calls == [
        (tmp_path, ["dev-clean"], "http://mirror/res"),
        (tmp_path, ["test-other"], "http://mirror/res"),
    ]
    assert dl.missing_parts(tmp_path, ["test-clean", "dev-clean", "test-other"]) == []


def test_stage0_existing_copy_is_not_downloaded(corpus, tmp_path):
    before = sorted(p.name for p in Path(corpus["root"]).iterdir())
    r = run_recipe(
        "--stage",
        "0",
        "--stop-stage",
        "0",
        "--dl-dir",
        str(corpus["root"]),
        "--exp-root",
        str(tmp_path / "exp"),
        *PART_ARGS,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for part in PARTS:
        assert f"LibriSpeech {part}: found" in r.stderr
    assert ": downloading" not in r.stderr
    assert sorted(p.name for p in Path(corpus["root"]).iterdir()) == before  # no archives
    assert [p.name for p in (tmp_path / "exp" / ".done").iterdir()] == ["0.corpus"]


def test_stage0_without_network_fails_clearly(corpus, tmp_path):
    # test-clean is there, test-other is not: the error names test-other's URL only
    (tmp_path / "dl" / "LibriSpeech").mkdir(parents=True)
    os.symlink(
        Path(corpus["root"]) / "LibriSpeech" / "test-clean",
        tmp_path / "dl" / "LibriSpeech" / "test-clean",
    )
    r = run_recipe(
        "--stage",
        "0",
        "--stop-stage",
        "0",
        "--dl-dir",
        str(tmp_path / "dl"),
        "--exp-root",
        str(tmp_path / "exp"),
        "--train-parts",
        "test-clean",
        "--dev-parts",
        "test-clean",
        "--test-parts",
        "test-other",
        timeout=120,
    )
    assert r.returncode == 1
    assert "http://www.openslr.org/resources/12/test-other.tar.gz" in r.stderr
    assert "test-clean.tar.gz" not in r.stderr
    assert f"lhotse download librispeech --full {tmp_path / 'dl'}" in r.stderr
    assert "Traceback" not in r.stderr
    assert not list((tmp_path / "dl").glob("*.tar.gz"))  # the empty partial archive is removed
    assert not list((tmp_path / "exp" / ".done").glob("0.*"))


def table(md: str) -> Dict[str, Dict[str, str]]:
    """RESULTS.md's modified_beam_search table: {model: {column: cell}}."""
    sec = md.split("## WER (%), modified_beam_search", 1)[1].split("\n\n", 2)[1]
    lines = [ln.strip().strip("|").split("|") for ln in sec.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0]]
    return {row[0].strip(): dict(zip(head, (c.strip() for c in row))) for row in lines[2:]}


@pytest.mark.slow
def test_stages_1_to_6_tiny(corpus, tmp_path):
    from rnnt_kd.model import Transducer, TransducerConfig
    from rnnt_kd.wer import read_transcripts

    committed = (RECIPE / "RESULTS.md").read_bytes()
    exp, data, res = tmp_path / "exp", tmp_path / "data", tmp_path / "res"
    args = [
        "--preset",
        "tiny",
        "--dl-dir",
        str(corpus["root"]),
        "--data-dir",
        str(data),
        "--exp-root",
        str(exp),
        "--results-dir",
        str(res),
        *PART_ARGS,
    ]
    r = run_recipe("--stage", "1", "--stop-stage", "6", *args, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (RECIPE / "RESULTS.md").read_bytes() == committed  # tests never touch it

    # stage 2: speed perturbation (x0.9, x1.1) on the training part only
    from lhotse import CutSet

    train = CutSet.from_file(data / "fbank" / "librispeech_cuts_train-clean-100.jsonl.gz")
    assert len(train) == 3 * PARTS["train-clean-100"]
    assert sum(c.id.endswith("_sp0.9") for c in train) == PARTS["train-clean-100"]
    test = CutSet.from_file(data / "fbank" / "librispeech_cuts_test-other.jsonl.gz")
    assert len(test) == PARTS["test-other"] and test[0].num_features == 80
    assert (data / "lang_bpe_30" / "bpe.model").is_file()

    # stages 4-5: checkpoints, the exact commands, KD only in small_kd
    for name, epochs in (("teacher", 2), ("small", 1), ("small_kd", 1)):
        assert (exp / name / f"epoch-{epochs}.pt").is_file()
    kd_cmd = (exp / "small_kd" / "command.txt").read_text()
    assert f"--teacher-checkpoint {exp}/teacher/epoch-2.pt --distill-scale 0.01" in kd_cmd
    assert "--teacher-checkpoint" not in (exp / "small" / "command.txt").read_text()
    assert "--model-preset tiny --encoder-dim 48" in kd_cmd

    # stage 6: errs-* %WER == WER recomputed from recogs-* with kaldialign == RESULTS.md cell
    md = (res / "RESULTS.md").read_text()
    rows = table(md)
    assert list(rows) == ["teacher", "small", "small_kd"]
    for name in rows:
        for part in ("test-clean", "test-other"):
            d = exp / name / "modified_beam_search"
            suffix = f"epoch-{2 if name == 'teacher' else 1}-avg-1-beam-4"
            printed = float(
                re.search(r"%WER = ([\d.]+)", (d / f"errs-{part}-{suffix}.txt").read_text()).group(
                    1
                )
            )
            recogs = read_transcripts(d / f"recogs-{part}-{suffix}.txt")
            assert sorted(" ".join(ref) for _, ref, _ in recogs) == sorted(corpus["texts"][part])
            errs = sum(kaldialign.edit_distance(ref, hyp)["total"] for _, ref, hyp in recogs)
            words = sum(len(t.split()) for t in corpus["texts"][part])
            assert printed == pytest.approx(100 * errs / words, abs=0.005)
            assert float(rows[name][part]) == pytest.approx(printed, abs=0.005)
    base, kd = rows["small"], rows["small_kd"]
    for part in ("test-clean", "test-other"):
        rel = 100 * (float(kd[part]) - float(base[part])) / float(base[part])
        assert float(kd[f"KD rel. {part}"].rstrip("%")) == pytest.approx(rel, abs=0.06)
    student = Transducer(
        TransducerConfig.from_preset(
            "tiny",
            30,
            encoder_dim=48,
            num_encoder_layers=1,
            num_heads=2,
            feedforward_dim=96,
            decoder_dim=48,
            joiner_dim=48,
        )
    )
    n = sum(p.numel() for p in student.parameters())
    assert kd["params"] == base["params"] == f"{n / 1e6:.2f}M"
    assert rows["teacher"]["params"] != base["params"]
    assert "4.8% relative WER reduction on LibriSpeech test-other" in md
    for name in rows:  # the exact commands: training and decoding
        assert f"- **{name}** (train): `" in md
        assert f"- **{name}** (decode, modified_beam_search): `" in md
    decodes = re.findall(r"^- \*\*\w+\*\* \(decode, modified_beam_search\): `(.*)`$", md, re.M)
    assert len(decodes) == 3 and all("--beam-size 4" in c for c in decodes)
    assert all(c.endswith("--method modified_beam_search") for c in decodes)
    assert "wer_vs_sparsity.png" not in md and not (res / "wer_vs_sparsity.png").exists()

    # a rerun skips every finished stage
    r2 = run_recipe("--stage", "1", "--stop-stage", "6", *args, timeout=120)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.count("done before, skipping") == 6
