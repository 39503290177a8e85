"""Shared fixtures: a tiny LibriSpeech-layout corpus with features, cut sets and a BPE model."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import soundfile as sf

SR = 16000
WORDS = "THE CAT DOG SAT ON A MAT RED BLUE BIRD FLEW OVER HOUSE TREE".split()


def harmonic_audio(seconds: float, seed: int) -> np.ndarray:
    """A voiced-like signal: a few harmonics of a random f0 plus noise, (N,) float32."""
    g = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = g.uniform(100, 250)
    x = sum(np.sin(2 * np.pi * f0 * k * t + g.uniform(0, 6)) / k for k in range(1, 6)) * 0.1
    return (x + 0.01 * g.standard_normal(t.size)).astype(np.float32)


def write_librispeech_part(root: Path, part: str, utts) -> None:
    """utts: iterable of (``spk-chapter-nnnn`` id, transcript, seconds)."""
    trans: Dict[Path, list] = {}
    for i, (utt_id, text, secs) in enumerate(utts):
        spk, chap, _ = utt_id.split("-")
        d = root / part / spk / chap
        d.mkdir(parents=True, exist_ok=True)
        trans.setdefault(d / f"{spk}-{chap}.trans.txt", []).append(f"{utt_id} {text}")
        sf.write(d / f"{utt_id}.flac", harmonic_audio(secs, i), SR)
    for path, lines in trans.items():
        path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Dict[str, Path]:
    """Train (24 utts) and dev (6 utts) cut sets with fbank features, and a 30-token BPE model."""
    from rnnt_kd.data import compute_fbank, prepare_manifests, train_bpe

    root = tmp_path_factory.mktemp("tiny_data")
    rng = random.Random(0)

    def utts(spk_base: int, n: int):
        return [
            (
                f"{spk_base + i % 3}-7-{i:04d}",
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))),
                1.0 + 0.05 * (i % 7),
            )
            for i in range(n)
        ]

    corpus = root / "LibriSpeech"
    write_librispeech_part(corpus, "train", utts(100, 24))
    write_librispeech_part(corpus, "dev", utts(200, 6))
    prepare_manifests(corpus, root / "manifests", ["train", "dev"], prefix="tiny")
    compute_fbank(root / "manifests", root / "fbank", ["train", "dev"], prefix="tiny")
    texts = [" ".join(rng.choice(WORDS) for _ in range(4)) for _ in range(200)]
    train_bpe(texts, root / "lang_bpe", vocab_size=30)
    return {
        "root": root,
        "train_cuts": root / "fbank" / "tiny_cuts_train.jsonl.gz",
        "dev_cuts": root / "fbank" / "tiny_cuts_dev.jsonl.gz",
        "bpe_model": root / "lang_bpe" / "bpe.model",
    }


def train_argv(data: Dict[str, Path], exp_dir: Path, *extra: str) -> list:
    """Command-line arguments of ``rnnt_kd.bin.train`` for a tiny, fast run."""
    return [
        "--train-cuts",
        str(data["train_cuts"]),
        "--valid-cuts",
        str(data["dev_cuts"]),
        "--bpe-model",
        str(data["bpe_model"]),
        "--exp-dir",
        str(exp_dir),
        "--model-preset",
        "tiny",
        "--encoder-dim",
        "32",
        "--num-heads",
        "2",
        "--feedforward-dim",
        "64",
        "--decoder-dim",
        "32",
        "--joiner-dim",
        "32",
        "--num-encoder-layers",
        "1",
        "--max-duration",
        "8",
        "--num-threads",
        "1",
        "--warmup-batches",
        "2",
        "--model-warm-step",
        "4",
        "--log-interval",
        "2",
        "--progress",
        "false",
        "--min-utt-duration",
        "0.5",
        *extra,
    ]


def sparse_kd_args(teacher: Path, distill_scale: str = "0.5") -> list:
    """Extra ``train`` arguments: a 60 %-sparse student pruned from ``teacher`` within 4 steps,
    distilled from the same checkpoint, 2 epochs."""
    return [
        "--num-epochs",
        "2",
        "--init-from",
        str(teacher),
        "--target-sparsity",
        "0.6",
        "--prune-start-step",
        "0",
        "--prune-end-step",
        "4",
        "--prune-every",
        "1",
        "--teacher-checkpoint",
        str(teacher),
        "--distill-scale",
        distill_scale,
    ]


def logged_distill_losses(exp_dir: Path) -> list:
    """The per-batch ``distill_loss`` values of a training run's logs."""
    text = "\n".join(p.read_text() for p in (exp_dir / "log").glob("log-train-*"))
    return [float(x) for x in re.findall(r"batch: [^|]*distill_loss=([0-9.e+-]+)", text)]


@pytest.fixture(scope="session")
def tiny_teacher(tiny_data, tmp_path_factory) -> Path:
    """A tiny dense model trained for one epoch: ``epoch-1.pt`` (teacher / pruning start)."""
    from rnnt_kd.bin import train as train_cli

    exp = tmp_path_factory.mktemp("teacher")
    train_cli.main(train_argv(tiny_data, exp, "--num-epochs", "1", "--tensorboard", "false"))
    return exp / "epoch-1.pt"
