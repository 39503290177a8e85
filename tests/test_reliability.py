"""Reliability: kills, truncated checkpoints, bad data, non-finite batches, stage markers.

Every test runs the real entry points (``rnnt_kd.bin.train`` / ``prepare_data``, as a
subprocess where a kill or the process' exit status matters) on the tiny corpus of conftest.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.multiprocessing as mp

from rnnt_kd.bin import prepare_data
from rnnt_kd.bin import train as train_cli
from rnnt_kd.checkpoint import files as ckpt_lib
from rnnt_kd.data import read_bad_ids
from tests.conftest import SR, harmonic_audio, train_argv, write_librispeech_part

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
# deterministic training (no dropout, no SpecAugment) with periodic checkpoints and pruning, so a
# resumed run must reproduce the uninterrupted one exactly: weights, masks, optimizer, schedules
RESUME_OPTS = (
    "--num-epochs",
    "3",
    "--save-every-n",
    "2",
    "--keep-last-k",
    "2",
    "--dropout",
    "0",
    "--spec-augment",
    "false",
    "--tensorboard",
    "false",
    "--target-sparsity",
    "0.5",
    "--prune-start-step",
    "1",
    "--prune-end-step",
    "9",
    "--prune-every",
    "1",
)


def _train_subprocess(argv, **kw):
    return subprocess.run(
        [sys.executable, "-m", "rnnt_kd.bin.train", *argv],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def _log_text(exp: Path) -> str:
    return "\n".join(p.read_text() for p in sorted((exp / "log").glob("log-train-*")))


def _steps(path: Path) -> int:
    return int(ckpt_lib.load_checkpoint(path)["params"]["batch_idx_train"])


def _by_step(exp: Path):
    """[(step, is_epoch, path)] of the checkpoints in ``exp``, oldest first."""
    return sorted((_steps(p), kind == "epoch", p) for kind, _, p in ckpt_lib.list_checkpoints(exp))


def _assert_same_run(exp: Path, ref: Path, epoch: int) -> None:
    """The final checkpoints of two runs are identical (weights, masks, optimizer, schedules)."""
    a = ckpt_lib.load_checkpoint(exp / f"epoch-{epoch}.pt")
    b = ckpt_lib.load_checkpoint(ref / f"epoch-{epoch}.pt")
    assert a["params"]["batch_idx_train"] == b["params"]["batch_idx_train"]
    assert a["model"].keys() == b["model"].keys()
    for k, v in b["model"].items():
        assert torch.equal(a["model"][k], v), k
    assert a["masks"].keys() == b["masks"].keys() and a["masks"]
    for k, v in b["masks"].items():
        assert torch.equal(a["masks"][k], v), k
    assert a["pruner"] == b["pruner"]
    assert a["scheduler"] == b["scheduler"]
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for i in sb:
        for k, v in sb[i].items():
            assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(v)), (i, k)


@pytest.fixture(scope="module")
def reference(tiny_data, tmp_path_factory):
    """An uninterrupted 3-epoch run."""
    exp = tmp_path_factory.mktemp("reference") / "exp"
    train_cli.main(train_argv(tiny_data, exp, *RESUME_OPTS))
    return exp


def _copy_run(ref: Path, dst: Path) -> Path:
    shutil.copytree(ref, dst, ignore=shutil.ignore_patterns("log", "tensorboard"))
    return dst


# ----------------------------------------------------------------------------- 1. crash safety
def test_kill_9_then_auto_resume_reproduces_the_uninterrupted_run(tiny_data, reference, tmp_path):
    exp = tmp_path / "exp"
    argv = train_argv(tiny_data, exp, *RESUME_OPTS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnt_kd.bin.train", *argv],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while not list(exp.glob("checkpoint-*.pt")):
        assert proc.poll() is None, "training ended before its first periodic checkpoint"
        assert time.time() < deadline, "no periodic checkpoint after 180 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (exp / "epoch-3.pt").exists(), "killed before the end"
    # every checkpoint file on disk is complete (temp file + rename): all of them load
    step, _, newest = _by_step(exp)[-1]
    assert step > 0
    # a temp file of a save interrupted by the kill is cleaned up on restart
    stale = exp / "epoch-2.pt.tmp12345"
    stale.write_bytes(b"half a checkpoint")

    r = _train_subprocess([*argv, "--auto-resume", "true"])
    assert r.returncode == 0, r.stderr[-3000:]
    m = re.search(r"resumed from (\S+): epoch (\d+), step (\d+)", r.stderr)
    assert m, r.stderr[-3000:]
    assert Path(m.group(1)) == newest and int(m.group(3)) == step
    assert f"removed {stale}" in r.stderr and not stale.exists()
    _assert_same_run(exp, reference, epoch=3)


def test_truncated_newest_checkpoint_is_skipped_with_a_warning(tiny_data, reference, tmp_path):
    exp = _copy_run(reference, tmp_path / "exp")
    ckpts = _by_step(exp)
    top = ckpts[-1][0]
    newest = [p for s, _, p in ckpts if s == top]  # epoch-3.pt (and a batch checkpoint)
    fallback_step, _, fallback = ckpts[-1 - len(newest)]
    for p in newest:  # what a full disk or a non-atomic copy leaves behind
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    train_cli.main(train_argv(tiny_data, exp, *RESUME_OPTS, "--auto-resume", "true"))
    log = _log_text(exp)
    for p in newest:
        assert f"skipping bad checkpoint: cannot load checkpoint {p} (truncated or corrupt?)" in log
    assert f"resumed from {fallback}: " in log and f"step {fallback_step}" in log
    _assert_same_run(exp, reference, epoch=3)


@pytest.mark.parametrize("how", ["--start-epoch", "--start-batch"])
def test_start_epoch_and_start_batch_resume_exactly(tiny_data, reference, tmp_path, how):
    exp = _copy_run(reference, tmp_path / "exp")
    (exp / "epoch-3.pt").unlink()
    if how == "--start-epoch":
        value, expected = "3", exp / "epoch-2.pt"
    else:  # the oldest kept batch checkpoint (mid-epoch)
        step, _, expected = next(c for c in _by_step(exp) if not c[1])
        value = str(step)
    train_cli.main(train_argv(tiny_data, exp, *RESUME_OPTS, how, value))
    assert f"resumed from {expected}: " in _log_text(exp)
    _assert_same_run(exp, reference, epoch=3)


# ----------------------------------------------------------------------------- 2. bad data
MISSING, CORRUPT, EMPTY = "300-5-0100", "300-5-0101", "300-5-0102"
UNK, SHORT, LONG, BADFEAT = "300-5-0103", "300-5-0104", "300-5-0105", "300-5-0003"


def test_bad_data_is_listed_with_reasons_and_training_finishes(tiny_data, tmp_path):
    corpus = tmp_path / "LibriSpeech"
    good = [(f"300-5-{i:04d}", "THE CAT SAT ON A MAT", 1.0 + 0.05 * (i % 5)) for i in range(16)]
    bad = [
        (MISSING, "THE DOG", 1.0),
        (CORRUPT, "THE BIRD", 1.0),
        (EMPTY, "", 1.0),
        (UNK, "THE ZEBRA QUIZ", 1.0),  # Z and Q are not in the BPE model
        (SHORT, " ".join(["BLUE HOUSE"] * 6), 0.6),  # T' = 13 frames < U tokens
        (LONG, "THE TREE", 4.0),
    ]  # longer than --max-utt-duration 3
    write_librispeech_part(corpus, "train", good + bad)
    write_librispeech_part(corpus, "dev", [(f"400-5-{i:04d}", "A RED BIRD", 1.2) for i in range(4)])
    chapter = corpus / "train" / "300" / "5"
    (chapter / f"{MISSING}.flac").unlink()
    (chapter / f"{CORRUPT}.flac").write_bytes(np.random.default_rng(0).bytes(5000))

    man, fbank = tmp_path / "manifests", tmp_path / "fbank"
    prepare_data.main(
        [
            "manifests",
            "--corpus-dir",
            str(corpus),
            "--output-dir",
            str(man),
            "--prefix",
            "bad",
            "--parts",
            "train",
            "dev",
            "--num-jobs",
            "1",
        ]
    )
    prepare_data.main(
        [
            "fbank",
            "--manifest-dir",
            str(man),
            "--output-dir",
            str(fbank),
            "--prefix",
            "bad",
            "--parts",
            "train",
            "dev",
            "--num-jobs",
            "1",
        ]
    )
    stage_bad = read_bad_ids(fbank / "bad_cuts_train.txt")
    assert set(stage_bad) == {MISSING, CORRUPT, EMPTY}
    assert stage_bad[MISSING].startswith("missing audio file")
    assert stage_bad[CORRUPT].startswith("unreadable audio")
    assert stage_bad[EMPTY] == "empty transcript"

    # a feature matrix that is corrupt on disk when training reads it
    from lhotse import CutSet

    cut = next(c for c in CutSet.from_file(fbank / "bad_cuts_train.jsonl.gz") if c.id == BADFEAT)
    offset, size = (int(x) for x in cut.features.storage_key.split(","))
    with open(cut.features.storage_path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)

    exp = tmp_path / "exp"
    data = {
        "train_cuts": fbank / "bad_cuts_train.jsonl.gz",
        "dev_cuts": fbank / "bad_cuts_dev.jsonl.gz",
        "bpe_model": tiny_data["bpe_model"],
    }
    rc = train_cli.cli(
        train_argv(
            data, exp, "--num-epochs", "1", "--max-utt-duration", "3", "--tensorboard", "false"
        )
    )
    assert rc == 0
    train_bad = read_bad_ids(exp / "log" / "bad_cuts.txt")
    assert set(train_bad) == {UNK, SHORT, LONG, BADFEAT}
    assert train_bad[UNK] == "text has <unk>"
    assert re.fullmatch(r"T'=13 < U=\d+", train_bad[SHORT])
    assert train_bad[LONG].startswith("duration 4.00s outside")
    assert train_bad[BADFEAT].startswith("unreadable features: ValueError")
    log = _log_text(exp)
    assert "filter_cuts: removed 3 of 19 cuts" in log
    assert "skipped 1 cuts with unreadable features (1 in total)" in log
    ckpt = ckpt_lib.load_checkpoint(exp / "epoch-1.pt")
    assert ckpt["params"]["batch_idx_train"] > 0


# ----------------------------------------------------------------------------- 3. numerical faults
@pytest.mark.parametrize("kind,why", [("loss", "non-finite loss"), ("grad", "non-finite gradient")])
def test_one_non_finite_batch_is_skipped(tiny_data, tiny_teacher, tmp_path, kind, why):
    exp = tmp_path / "exp"
    rc = train_cli.cli(
        train_argv(
            tiny_data,
            exp,
            "--num-epochs",
            "1",
            "--tensorboard",
            "false",
            "--inject-nan-at-step",
            "2",
            "--inject-nan-kind",
            kind,
            "--max-bad-batches",
            "2",
        )
    )
    assert rc == 0
    ckpt = ckpt_lib.load_checkpoint(exp / "epoch-1.pt")
    # the clean run of the same data (tiny_teacher) took one step per batch; here one is skipped
    assert ckpt["params"]["batch_idx_train"] == _steps(tiny_teacher) - 1
    assert ckpt["params"]["bad_batches_total"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert f"skipping batch at step 1: {why} (1 in a row, 1 in total)" in _log_text(exp)


def test_persistent_nan_aborts_with_one_line_error(tiny_data, tmp_path, capsys):
    exp = tmp_path / "exp"
    argv = train_argv(
        tiny_data,
        exp,
        "--num-epochs",
        "1",
        "--tensorboard",
        "false",
        "--inject-nan-at-step",
        "1",
        "--inject-nan-count",
        "-1",
        "--max-bad-batches",
        "3",
    )
    assert train_cli.cli(argv) == 1
    msg = _one_line_error(1, capsys.readouterr().err, "train")
    assert msg.startswith("3 batches in a row had a non-finite loss; stopping.")
    assert not list(exp.glob("*.pt"))
    assert f"train: error: {msg}" in _log_text(exp)


def _ddp_nan_worker(rank: int, world_size: int, argv, port: int, out_dir: str) -> None:
    from datetime import timedelta

    import torch.distributed as dist

    from rnnt_kd.data import AsrDataModule, filter_cuts, load_cuts
    from rnnt_kd.train.trainer import Trainer

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    from rnnt_kd.settings import parse_train_settings

    args = parse_train_settings(argv, train_cli.get_parser())
    if rank == 1:  # only one replica sees the NaN
        args.run.inject_nan_at_step = 2
    dist.init_process_group(
        "gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=60)
    )  # a hang fails instead of blocking
    torch.set_num_threads(1)
    try:
        trainer = Trainer(args, rank, world_size)
        cuts = filter_cuts(load_cuts(args.data.train_cuts), trainer.tokenizer, min_duration=0.5)
        dev = filter_cuts(load_cuts(args.data.valid_cuts), trainer.tokenizer, min_duration=0.5)
        trainer.train(AsrDataModule(), cuts, dev)
        torch.save(
            {
                "state": trainer.model.state_dict(),
                "steps": trainer.batch_idx_train,
                "bad": trainer.bad_total,
            },
            Path(out_dir) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def test_nan_on_one_ddp_rank_is_skipped_by_all_ranks(tiny_data, tmp_path):
    from rnnt_kd.train.distributed import free_port

    argv = train_argv(tiny_data, tmp_path / "exp", "--num-epochs", "1", "--tensorboard", "false")
    mp.spawn(
        functools.partial(_ddp_nan_worker, argv=argv, port=free_port(), out_dir=str(tmp_path)),
        args=(2,),
        nprocs=2,
        join=True,
    )
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert r0["bad"] == r1["bad"] == 1
    assert r0["steps"] == r1["steps"] > 0
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k


# ----------------------------------------------------------------------------- 4. wrong usage
def _one_line_error(code, stderr: str, prog: str) -> str:
    """Checks a user error: non-zero exit, no traceback, exactly one ``PROG: error:`` line, last."""
    assert code not in (0, None), stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"{prog}: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr[-2000:]
    return errors[0][len(f"{prog}: error: ") :]


def _in_process(fn, argv, capsys, prog: str) -> str:
    capsys.readouterr()
    try:
        code = fn(argv)
    except SystemExit as e:  # argparse and the decode/transcribe CLIs exit
        code = e.code
    return _one_line_error(code, capsys.readouterr().err, prog)


def _fingerprint(d: Path):
    """Bytes and mtime of every file under ``d`` except logs."""
    return {
        p: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(d.rglob("*"))
        if p.is_file() and "log" not in p.relative_to(d).parts
    }


@pytest.fixture(scope="module")
def other_bpe(tmp_path_factory) -> Path:
    """A BPE model with the same vocabulary size (30) as tiny_data's but other pieces."""
    from rnnt_kd.data import train_bpe

    words = "RED GREEN BLUE MAT CAT HAT SAT FAT BAT RAT THE A ON".split()
    texts = [" ".join(words[(i * 7 + j) % len(words)] for j in range(5)) for i in range(300)]
    return train_bpe(texts, tmp_path_factory.mktemp("bpe_other"), vocab_size=30)


def test_train_usage_errors_are_one_line_and_touch_nothing(
    tiny_data, tiny_teacher, other_bpe, tmp_path, capsys
):
    from rnnt_kd.data import train_bpe
    from tests.conftest import WORDS

    exp = tmp_path / "exp"
    exp.mkdir()
    shutil.copy2(tiny_teacher, exp / "epoch-1.pt")
    before = _fingerprint(exp)
    argv = train_argv(tiny_data, exp, "--num-epochs", "2", "--tensorboard", "false")

    r = _train_subprocess([*argv, "--no-such-flag", "1"])
    assert "unrecognized arguments: --no-such-flag" in _one_line_error(
        r.returncode, r.stderr, "train"
    )
    assert "choose one of" in _in_process(
        train_cli.cli, [*argv, "--use-fp16", "true", "--use-bf16", "true"], capsys, "train"
    )
    msg = _in_process(train_cli.cli, [*argv, "--start-batch", "7"], capsys, "train")
    assert msg == f"checkpoint not found: {exp / 'checkpoint-7.pt'}"
    # resuming with a BPE model other than the checkpoint's
    bad_bpe = [*argv, "--auto-resume", "true"]
    bad_bpe[bad_bpe.index("--bpe-model") + 1] = str(other_bpe)
    msg = _in_process(train_cli.cli, bad_bpe, capsys, "train")
    assert msg == f"{exp / 'epoch-1.pt'} was trained with another BPE model than {other_bpe}"
    # a teacher whose vocabulary differs from the student's (subprocess: stderr of a real run)
    small = train_bpe(
        [" ".join(WORDS[i % len(WORDS)] for i in range(j, j + 5)) for j in range(200)],
        tmp_path / "bpe25",
        vocab_size=25,
    )
    teach = [*argv, "--teacher-checkpoint", str(tiny_teacher)]
    teach[teach.index("--bpe-model") + 1] = str(small)
    r = _train_subprocess(teach)
    msg = _one_line_error(r.returncode, r.stderr, "train")
    assert "vocab_size=30, blank_id=0; the student has vocab_size=25" in msg
    assert _fingerprint(exp) == before  # the checkpoint was neither rewritten nor touched


def test_decode_and_transcribe_usage_errors(tiny_data, tiny_teacher, other_bpe, tmp_path, capsys):
    from rnnt_kd.bin import decode, transcribe

    exp = tiny_teacher.parent
    res = tmp_path / "res"
    res.mkdir()
    for suffix in ("epoch-5-avg-2-beam-4", "epoch-1-beam-4"):  # results of an earlier decode
        (res / f"recogs-dev-{suffix}.txt").write_text("old results\n")
        (res / f"wers-{suffix}.json").write_text("{}\n")
    before = _fingerprint(res)
    common = [
        "--exp-dir",
        str(exp),
        "--bpe-model",
        str(tiny_data["bpe_model"]),
        "--test-cuts",
        str(tiny_data["dev_cuts"]),
        "--res-dir",
        str(res),
    ]
    r = subprocess.run(
        [sys.executable, "-m", "rnnt_kd.bin.decode", *common, "--epoch", "5", "--avg", "2"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    msg = _one_line_error(r.returncode, r.stderr, "decode")
    assert msg.startswith("--epoch 5 --avg 2 needs 2 checkpoints; missing: ")
    assert str(exp / "epoch-4.pt") in msg and str(exp / "epoch-5.pt") in msg

    other = [*common, "--checkpoint", str(tiny_teacher)]
    other[other.index("--bpe-model") + 1] = str(other_bpe)
    msg = _in_process(decode.main, other, capsys, "decode")
    assert "is not the BPE model this checkpoint was trained with" in msg
    msg = _in_process(
        decode.main, [*common, "--epoch", "1", "--method", "fast_beam_search"], capsys, "decode"
    )
    assert "fast_beam_search" in msg
    msg = _in_process(
        decode.main, [*common, "--epoch", "1", "--checkpoint", str(tiny_teacher)], capsys, "decode"
    )
    assert msg == "give either --checkpoint or --epoch/--avg, not both"
    assert _fingerprint(res) == before

    wav = tmp_path / "a.wav"
    sf.write(wav, harmonic_audio(1.0, 0), SR)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file")
    t_args = ["--checkpoint", str(tiny_teacher), "--bpe-model", str(other_bpe), str(wav)]
    msg = _in_process(transcribe.main, t_args, capsys, "transcribe")
    assert (
        msg == f"{other_bpe} is not the BPE model this checkpoint was trained with (sha256 differs)"
    )
    t_args = ["--checkpoint", str(tiny_teacher), "--bpe-model", str(tiny_data["bpe_model"])]
    msg = _in_process(transcribe.main, [*t_args, str(broken)], capsys, "transcribe")
    assert msg.startswith(f"Cannot read audio file {broken}")
    msg = _in_process(transcribe.main, [*t_args, str(tmp_path / "nope.wav")], capsys, "transcribe")
    assert msg == f"no such file: {tmp_path / 'nope.wav'}"


# ----------------------------------------------------------------------------- 5. recipe stages
RECIPE = """#!/usr/bin/env bash
set -euo pipefail
stage=1
stop_stage=2
out=out
fail_in_two=false
block_in_two=false
. {repo}/shared/parse_options.sh
done_dir=$out/.done
times=$out/stage_times.tsv
mkdir -p "$done_dir"
. {repo}/shared/recipe_lib.sh
one() {{ echo one > "$out/one.txt"; }}
two() {{
  echo partial > "$out/two.txt"
  if [ "$fail_in_two" = true ]; then false; fi
  if [ "$block_in_two" = true ]; then touch "$out/two.blocking"; sleep 60; fi
  echo two > "$out/two.txt"
}}
run_stage 1 one one "$out/one.txt"
run_stage 2 two two "$out/two.txt"
echo finished
"""


def _recipe(tmp_path: Path) -> Path:
    script = tmp_path / "run.sh"
    script.write_text(RECIPE.format(repo=REPO))
    return script


def _run_recipe(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(script), "--out", str(script.parent / "out"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_failed_stage_leaves_no_marker_and_rerun_skips_finished_stages(tmp_path):
    script = _recipe(tmp_path)
    out = tmp_path / "out"
    r = _run_recipe(script, "--fail-in-two", "true")
    assert r.returncode != 0 and "finished" not in r.stdout
    assert (out / ".done" / "1.one").is_file() and not (out / ".done" / "2.two").exists()
    (out / "one.txt").write_text("kept\n")  # a rerun must not redo stage 1
    r = _run_recipe(script)
    assert r.returncode == 0, r.stderr
    assert "Stage 1 (one): done before, skipping" in r.stdout and "Stage 2: two" in r.stdout
    assert (out / "one.txt").read_text() == "kept\n" and (out / "two.txt").read_text() == "two\n"
    assert (out / ".done" / "2.two").is_file()


def test_killed_stage_leaves_no_marker(tmp_path):
    script = _recipe(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        ["bash", str(script), "--out", str(out), "--block-in-two", "true"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while not (out / "two.blocking").exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / ".done" / "1.one").is_file() and not (out / ".done" / "2.two").exists()
    assert (out / "two.txt").read_text() == "partial\n"
    r = _run_recipe(script)
    assert r.returncode == 0 and (out / "two.txt").read_text() == "two\n"


def test_stage_whose_output_is_missing_is_redone(tmp_path):
    script = _recipe(tmp_path)
    out = tmp_path / "out"
    assert _run_recipe(script).returncode == 0
    (out / "one.txt").unlink()
    r = _run_recipe(script)
    assert r.returncode == 0 and (out / "one.txt").read_text() == "one\n"
