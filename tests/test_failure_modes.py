"""Reliability, round two (issue 24): no silent wrong results, no crash on odd inputs, no orphans
or collisions, no late failures.

Each test runs the real entry points on the tiny corpus of conftest; the ones where an exit
status, a working directory or a kill matters run them as subprocesses.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnt_kd.bin import train as train_cli
from rnnt_kd.checkpoint import files as ckpt_lib
from rnnt_kd.data import read_bad_ids
from tests.conftest import SR, harmonic_audio, train_argv, write_librispeech_part
from tests.test_reliability import (
    RESUME_OPTS,
    _by_step,
    _copy_run,
    _fingerprint,
    _in_process,
    _log_text,
    _one_line_error,
    _steps,
)

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
TINY_TRAIN = ("--num-epochs", "1", "--tensorboard", "false")


def _run(module: str, argv, cwd=REPO, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"rnnt_kd.bin.{module}", *map(str, argv)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _rewrite_cuts(src: Path, dst: Path, fn) -> Path:
    """Write ``[fn(cut) for cut in src]`` to ``dst`` (a cut manifest)."""
    from lhotse import CutSet

    CutSet.from_cuts([fn(c) for c in CutSet.from_file(src)]).to_file(dst)
    return dst


def _relative_features(src: Path, dst: Path, root: Path) -> Path:
    """A copy of a cut manifest whose feature paths are relative to ``root``, as a recipe that
    runs ``prepare_data`` from its own directory writes them."""
    from lhotse.utils import fastcopy

    def rel(c):
        path = os.path.relpath(c.features.storage_path, root)
        return fastcopy(c, features=fastcopy(c.features, storage_path=path))

    return _rewrite_cuts(src, dst, rel)


def _features_with_nan(src: Path, dst: Path, bad_ids) -> Path:
    """A copy of a cut manifest where the features of ``bad_ids`` hold NaN and Inf values."""
    from lhotse.features.io import NumpyFilesWriter
    from lhotse.utils import fastcopy

    writer = NumpyFilesWriter(dst.parent / f"{dst.name}.feats")

    def poison(c):
        if c.id not in bad_ids:
            return c
        f = c.load_features()
        f[3:6, :5] = np.nan
        f[7, 2] = np.inf
        key = writer.write(c.id, f)
        feats = fastcopy(
            c.features,
            storage_type=writer.name,
            storage_path=str(writer.storage_path),
            storage_key=key,
            start=c.start,
            duration=c.duration,
            num_frames=f.shape[0],
        )
        return fastcopy(c, features=feats)

    return _rewrite_cuts(src, dst, poison)


def _decode_argv(tiny_data, checkpoint: Path, res: Path, *test_cuts: Path) -> List[str]:
    return [
        "--exp-dir",
        str(checkpoint.parent),
        "--checkpoint",
        str(checkpoint),
        "--bpe-model",
        str(tiny_data["bpe_model"]),
        "--method",
        "greedy_search",
        "--res-dir",
        str(res),
        "--test-cuts",
        *map(str, test_cuts),
    ]


# ----------------------------------------------------------------------------- 1. wrong results
def test_decode_of_unreadable_test_set_fails_naming_the_missing_features(
    tiny_data, tiny_teacher, tmp_path
):
    # the manifest stores feature paths relative to the recipe directory; decode runs elsewhere
    cuts = _relative_features(
        tiny_data["dev_cuts"], tmp_path / "tiny_cuts_dev.jsonl.gz", tiny_data["root"]
    )
    from lhotse import CutSet

    rel = next(iter(CutSet.from_file(cuts))).features.storage_path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = tmp_path / "res"
    r = _run("decode", _decode_argv(tiny_data, tiny_teacher, res, cuts), cwd=elsewhere)
    msg = _one_line_error(r.returncode, r.stderr, "decode")
    assert "features not found" in msg and rel in msg, msg
    assert not list(res.glob("recogs-*")) and not list(res.glob("wers-*"))
    # from the directory the paths are relative to, the same manifest decodes
    r = _run("decode", _decode_argv(tiny_data, tiny_teacher, res, cuts), cwd=tiny_data["root"])
    assert r.returncode == 0, r.stderr[-3000:]


def test_decode_reports_the_cuts_it_could_not_read(tiny_data, tiny_teacher, tmp_path):
    from lhotse import CutSet
    from lhotse.utils import fastcopy

    first = next(iter(CutSet.from_file(tiny_data["dev_cuts"])))
    copy = tmp_path / Path(first.features.storage_path).name
    shutil.copy(first.features.storage_path, copy)
    cuts = _rewrite_cuts(
        tiny_data["dev_cuts"],
        tmp_path / "tiny_cuts_dev.jsonl.gz",
        lambda c: fastcopy(c, features=fastcopy(c.features, storage_path=str(copy))),
    )
    bad = next(iter(CutSet.from_file(cuts)))
    offset, size = (int(x) for x in bad.features.storage_key.split(","))
    with open(copy, "r+b") as f:  # one cut's feature matrix is corrupt
        f.seek(offset)
        f.write(b"\xff" * size)
    # and a test set whose every feature matrix is corrupt (the files exist: found mid-decode)
    wrecked = tmp_path / "wrecked.lca"
    wrecked.write_bytes(b"\xff" * copy.stat().st_size)
    broken = _rewrite_cuts(
        tiny_data["dev_cuts"],
        tmp_path / "tiny_cuts_broken.jsonl.gz",
        lambda c: fastcopy(c, features=fastcopy(c.features, storage_path=str(wrecked))),
    )
    res = tmp_path / "res"
    r = _run("decode", _decode_argv(tiny_data, tiny_teacher, res, cuts, broken))
    msg = _one_line_error(r.returncode, r.stderr, "decode")
    assert msg.startswith("broken: none of the 6 cuts could be read"), msg
    assert not list(res.glob("*-broken-*"))
    suffix = tiny_teacher.stem
    wers = json.loads((res / f"wers-{suffix}.json").read_text())
    assert set(wers["wer"]) == {"dev"}
    assert wers["num_cuts"]["dev"] == 6 and wers["skipped"]["dev"] == 1
    assert "over 5 of 6 cuts (1 could not be read" in r.stderr
    assert set(read_bad_ids(res / f"bad_cuts-dev-{suffix}.txt")) == {bad.id}
    recogs = (res / f"recogs-dev-{suffix}.txt").read_text()
    assert bad.id not in recogs


def test_decode_refuses_to_replace_earlier_results(tiny_data, tiny_teacher, tmp_path, capsys):
    from rnnt_kd.bin import decode

    res = tmp_path / "res"
    argv = _decode_argv(tiny_data, tiny_teacher, res, tiny_data["dev_cuts"])
    decode.main(argv)
    before = _fingerprint(res)
    msg = _in_process(decode.main, argv, capsys, "decode")
    assert msg.startswith(f"{res / ('recogs-dev-' + tiny_teacher.stem + '.txt')} exists")
    assert "--overwrite" in msg
    assert _fingerprint(res) == before
    decode.main([*argv, "--overwrite"])  # the user asks for it
    assert _fingerprint(res) != before
    # another test set under the same suffix is added to wers-SUFFIX.json, not written over it
    train_copy = shutil.copy(tiny_data["train_cuts"], tmp_path / "tiny_cuts_other.jsonl.gz")
    decode.main(_decode_argv(tiny_data, tiny_teacher, res, Path(train_copy)))
    wers = json.loads((res / f"wers-{tiny_teacher.stem}.json").read_text())
    assert set(wers["wer"]) == {"dev", "other"}


def test_nan_features_do_not_poison_the_feature_statistics(tiny_data, tmp_path):
    from lhotse import CutSet

    ids = [c.id for c in CutSet.from_file(tiny_data["train_cuts"])][:2]
    train = _features_with_nan(tiny_data["train_cuts"], tmp_path / "cuts_train.jsonl.gz", ids)
    exp = tmp_path / "exp"
    data = {**tiny_data, "train_cuts": train}
    assert train_cli.cli(train_argv(data, exp, *TINY_TRAIN)) == 0
    ckpt = ckpt_lib.load_checkpoint(exp / "epoch-1.pt")
    assert torch.isfinite(ckpt["model"]["encoder.feature_mean"]).all()
    assert torch.isfinite(ckpt["model"]["encoder.feature_std"]).all()
    assert ckpt["params"]["batch_idx_train"] > 0
    bad = read_bad_ids(exp / "log" / "bad_cuts.txt")
    assert set(bad) == set(ids)
    assert all("non-finite" in why for why in bad.values())
    assert "feature statistics: skipped 2 cuts with unreadable or non-finite features" in (
        _log_text(exp)
    )


def test_training_that_takes_no_step_fails(tiny_data, tmp_path, capsys):
    exp = tmp_path / "exp"
    argv = train_argv(
        tiny_data,
        exp,
        *TINY_TRAIN,
        "--inject-nan-at-step",
        "1",
        "--inject-nan-count",
        "-1",
        "--max-bad-batches",
        "1000",
    )
    msg = _in_process(train_cli.cli, argv, capsys, "train")
    assert msg.startswith("epoch 1 ended without a single training step"), msg
    assert not list(exp.glob("*.pt"))


def test_transcribe_refuses_audio_with_nan_samples(tiny_data, tiny_teacher, tmp_path, capsys):
    from rnnt_kd.bin import transcribe

    wav = tmp_path / "nan.wav"
    x = harmonic_audio(1.0, 0)
    x[100:200] = np.nan
    sf.write(wav, x, SR, subtype="FLOAT")
    argv = ["--checkpoint", str(tiny_teacher), "--bpe-model", str(tiny_data["bpe_model"]), wav]
    msg = _in_process(transcribe.main, list(map(str, argv)), capsys, "transcribe")
    assert msg == f"{wav}: 100 samples are NaN or infinite"


# ----------------------------------------------------------------------------- 2. odd inputs
def test_very_short_utterance_alone_in_a_decode_batch(tiny_data, tiny_teacher, tmp_path):
    from lhotse import CutSet

    first = next(iter(CutSet.from_file(tiny_data["dev_cuts"])))
    from lhotse.utils import fastcopy

    short = first.truncate(duration=0.05, preserve_id=True)  # 5 frames: 0 encoder frames
    short = fastcopy(short, supervisions=[fastcopy(s, duration=0.05) for s in short.supervisions])
    assert short.load_features().shape[0] < 9
    cuts = tmp_path / "tiny_cuts_short.jsonl.gz"
    CutSet.from_cuts([short]).to_file(cuts)
    res = tmp_path / "res"
    for method in ("greedy_search", "modified_beam_search"):
        argv = _decode_argv(tiny_data, tiny_teacher, res, cuts)
        argv[argv.index("--method") + 1] = method
        r = _run("decode", argv)
        assert r.returncode == 0, r.stderr[-3000:]
    # decoded as an empty hypothesis: every reference word is a deletion, nothing is dropped
    wers = json.loads((res / f"wers-{tiny_teacher.stem}.json").read_text())
    assert wers["wer"]["short"] == 100.0 and wers["skipped"]["short"] == 0


def test_transcribe_short_empty_and_stereo_audio(tiny_data, tiny_teacher, tmp_path, capsys):
    pytest.importorskip("kaldifeat")
    from rnnt_kd.bin import transcribe

    short, empty, stereo, stereo2 = (
        tmp_path / n for n in ("short.wav", "empty.wav", "stereo.wav", "stereo2.wav")
    )
    sf.write(short, harmonic_audio(0.03, 0), SR)
    sf.write(empty, np.zeros(0, dtype=np.float32), SR)
    two = np.stack([harmonic_audio(1.0, 1), harmonic_audio(1.0, 2)], axis=1)
    sf.write(stereo, two, SR)
    sf.write(stereo2, two, SR)
    argv = ["--checkpoint", tiny_teacher, "--bpe-model", tiny_data["bpe_model"]]
    for alone in (short, empty):  # alone: no longer file pads the batch
        capsys.readouterr()
        transcribe.main(list(map(str, [*argv, alone])))
        out, err = capsys.readouterr()
        assert out == f"{alone}: \n" and "empty transcript" in err and "Traceback" not in err
    r = _run("transcribe", [*argv, short, empty, stereo, stereo2])
    assert r.returncode == 0, r.stderr[-3000:]
    out = dict(line.split(":", 1) for line in r.stdout.splitlines())
    assert set(out) == {str(short), str(empty), str(stereo), str(stereo2)}
    assert out[str(short)].strip() == "" and out[str(empty)].strip() == ""
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert "Traceback" not in r.stderr
    assert sum("channels" in line for line in err) == 1  # once, not per file
    assert any("2 files have 2 channels" in line and "first channel" in line for line in err), err
    assert any(f"{short}: 0.03 s is too short" in line for line in err), err
    assert any(f"{empty}: no samples" in line for line in err), err


def test_fbank_resamples_an_8khz_file_in_a_16khz_corpus(tmp_path, caplog):
    from lhotse import CutSet

    from rnnt_kd.data import compute_fbank, prepare_manifests

    corpus = tmp_path / "LibriSpeech"
    write_librispeech_part(corpus, "train", [(f"500-1-{i:04d}", "THE CAT", 1.0) for i in range(3)])
    narrow = corpus / "train" / "500" / "1" / "500-1-0001.flac"
    audio, _ = sf.read(narrow, dtype="float32")
    sf.write(narrow, audio[::2], 8000)  # one telephone-band recording
    prepare_manifests(corpus, tmp_path / "man", ["train"], prefix="x")
    with caplog.at_level("INFO"):
        compute_fbank(tmp_path / "man", tmp_path / "fbank", ["train"], prefix="x")
    cuts = {c.id: c for c in CutSet.from_file(tmp_path / "fbank" / "x_cuts_train.jsonl.gz")}
    assert set(cuts) == {"500-1-0000", "500-1-0001", "500-1-0002"}
    assert cuts["500-1-0001"].sampling_rate == 16000
    assert abs(cuts["500-1-0001"].load_features().shape[0] - 100) <= 1
    assert "train: resampled 1 recordings from 8000 Hz to 16000 Hz: 500-1-0001" in caplog.text


# ----------------------------------------------------------------------------- 3. orphans
def _children(pid: int) -> List[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_a_two_rank_training_leaves_no_rank_running(tiny_data, tmp_path):
    exp = tmp_path / "exp"
    argv = train_argv(
        tiny_data, exp, "--num-epochs", "50", "--tensorboard", "false", "--world-size", "2"
    )
    argv[argv.index("--num-threads") + 1] = "2"
    # started as a script starts a job with `&`: with SIGINT ignored, which the ranks inherit (so
    # the SIGINT torch's spawn asks the kernel to send them when their parent dies is lost)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnt_kd.bin.train", *argv, "--device", "cpu"],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    ranks: List[int] = []
    try:
        deadline = time.time() + 120
        # both ranks started training (each writes its own log)
        while len(list((exp / "log").glob("log-train-*-[01]"))) < 2 or not list(
            exp.glob("epoch-*.pt")
        ):
            assert proc.poll() is None, "training ended early"
            assert time.time() < deadline, "no epoch checkpoint after 120 s"
            time.sleep(0.1)
        ranks = _children(proc.pid)
        assert len(ranks) >= 2, ranks
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        while any(_alive(p) for p in ranks) and time.time() < deadline:
            time.sleep(0.1)
        assert not [p for p in ranks if _alive(p)], "rank processes outlived their launcher"
    finally:
        for p in [proc.pid, *ranks]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_an_exp_dir_belongs_to_one_training_at_a_time(tiny_data, tmp_path, capsys):
    exp = tmp_path / "exp"
    argv = train_argv(tiny_data, exp, "--num-epochs", "50", "--tensorboard", "false")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnt_kd.bin.train", *argv],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while not list(exp.glob("epoch-*.pt")):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.1)
        before = _fingerprint(exp)
        second = train_argv(tiny_data, exp, *TINY_TRAIN, "--auto-resume", "true")
        msg = _in_process(train_cli.cli, second, capsys, "train")
        assert msg.startswith(f"{exp} is in use by another training (pid {proc.pid})"), msg
        assert set(_fingerprint(exp)) >= set(before)  # nothing of the running one touched
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the lock dies with its holder: a new run may take the directory over
    assert train_cli.cli(train_argv(tiny_data, exp, *TINY_TRAIN, "--auto-resume", "true")) == 0


@pytest.fixture(scope="module")
def reference(tiny_data, tmp_path_factory):
    """An uninterrupted 3-epoch run (as in test_reliability)."""
    exp = tmp_path_factory.mktemp("reference") / "exp"
    train_cli.main(train_argv(tiny_data, exp, *RESUME_OPTS))
    return exp


def test_mid_epoch_resume_with_another_seed_continues_with_a_warning(
    tiny_data, reference, tmp_path
):
    exp = _copy_run(reference, tmp_path / "exp")
    (exp / "epoch-3.pt").unlink()
    step, _, ckpt = next(c for c in _by_step(exp) if not c[1])  # a mid-epoch checkpoint
    argv = train_argv(tiny_data, exp, *RESUME_OPTS, "--start-batch", str(step), "--seed", "7")
    assert train_cli.cli(argv) == 0
    log = _log_text(exp)
    assert "resuming mid-epoch from a run with --seed 42; this run uses --seed 7" in log
    assert f"resumed from {ckpt}: " in log
    assert _steps(exp / "epoch-3.pt") > step


def test_mid_epoch_resume_with_another_world_size_is_refused(tiny_data, reference):
    from rnnt_kd.data import AsrDataModule, load_cuts
    from rnnt_kd.errors import UserError

    state = next(ckpt_lib.load_checkpoint(p)["sampler"] for s, e, p in _by_step(reference) if not e)
    with pytest.raises(UserError, match="written by a run with --world-size 1; this run has 2"):
        AsrDataModule().train_dataloader(
            load_cuts(tiny_data["train_cuts"]),
            max_duration=8,
            world_size=2,
            rank=0,
            seed=42,
            sampler_state_dict=state,
        )


# ----------------------------------------------------------------------------- 4. late failures
def test_teacher_cache_lacking_cuts_is_found_before_the_first_step(
    tiny_data, tiny_teacher, tmp_path, capsys
):
    from lhotse import CutSet

    from rnnt_kd.bin import cache_teacher

    all_cuts = CutSet.from_file(tiny_data["train_cuts"])
    some = tmp_path / "some_cuts.jsonl.gz"
    all_cuts.subset(first=20).to_file(some)
    cache = tmp_path / "band.pt"
    assert (
        cache_teacher.main(
            [
                "--teacher-checkpoint",
                str(tiny_teacher),
                "--train-cuts",
                str(some),
                "--bpe-model",
                str(tiny_data["bpe_model"]),
                "--out",
                str(cache),
                "--min-utt-duration",
                "0.5",
            ]
        )
        == 0
    )
    exp = tmp_path / "exp"
    argv = train_argv(
        tiny_data,
        exp,
        *TINY_TRAIN,
        "--save-every-n",
        "1",
        "--teacher-checkpoint",
        str(tiny_teacher),
        "--teacher-cache",
        str(cache),
        "--spec-augment",
        "false",
    )
    msg = _in_process(train_cli.cli, argv, capsys, "train")
    missing = [c.id for c in all_cuts][20:]
    assert msg.startswith(f"teacher cache {cache} lacks 4 of 24 training cuts (e.g. {missing[0]}")
    assert not list(exp.glob("*.pt"))


def test_cache_teacher_checks_its_output_before_computing(
    tiny_data, tiny_teacher, tmp_path, capsys, monkeypatch
):
    from rnnt_kd.bin import cache_teacher
    from rnnt_kd.kd import cache as teacher_cache

    def must_not_run(*a, **k):
        raise AssertionError("the cache was computed")

    monkeypatch.setattr(teacher_cache, "build_teacher_cache", must_not_run)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    out = blocker / "band.pt"
    argv = [
        "--teacher-checkpoint",
        str(tiny_teacher),
        "--train-cuts",
        str(tiny_data["train_cuts"]),
        "--bpe-model",
        str(tiny_data["bpe_model"]),
        "--out",
        str(out),
    ]
    msg = _in_process(cache_teacher.main, argv, capsys, "cache_teacher")
    assert msg.startswith(f"cannot write {out}"), msg


def test_failed_checkpoint_save_removes_its_temp_file(tiny_data, tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    real_save = torch.save
    calls = []

    def disk_full_after_first(obj, f, *a, **k):
        calls.append(1)
        if len(calls) > 1:
            f.write(b"half a checkpoint")  # what a full disk leaves: a partial write
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", disk_full_after_first)
    argv = train_argv(tiny_data, exp, *TINY_TRAIN, "--save-every-n", "2")
    msg = _in_process(train_cli.cli, argv, capsys, "train")
    assert msg == (
        f"cannot write checkpoint {exp / 'checkpoint-4.pt'}: [Errno 28] No space left on device"
    ), msg
    assert sorted(p.name for p in exp.glob("*.pt*")) == ["checkpoint-2.pt"]
    ckpt_lib.load_checkpoint(exp / "checkpoint-2.pt")  # the earlier one is intact


# ----------------------------------------------------------------------------- 5. user errors
def test_train_from_another_directory_names_the_missing_features(tiny_data, tmp_path):
    root = tiny_data["root"]
    train = _relative_features(tiny_data["train_cuts"], tmp_path / "train.jsonl.gz", root)
    dev = _relative_features(tiny_data["dev_cuts"], tmp_path / "dev.jsonl.gz", root)
    exp = tmp_path / "exp"
    data: Dict[str, Path] = {**tiny_data, "train_cuts": train, "dev_cuts": dev}
    r = _run("train", train_argv(data, exp, *TINY_TRAIN), cwd=tmp_path)
    msg = _one_line_error(r.returncode, r.stderr, "train")
    assert msg.startswith("features not found: 2 of 2 feature files are missing"), msg
    assert "fbank/tiny_feats_train" in msg and "fbank/tiny_feats_dev" in msg
    assert f"relative to the current directory {tmp_path}" in msg
    assert not list(exp.glob("*.pt"))


def test_unwritable_exp_dir_is_one_line(tiny_data, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x\n")
    msg = _in_process(
        train_cli.cli, train_argv(tiny_data, blocker / "exp", *TINY_TRAIN), capsys, "train"
    )
    assert msg.startswith(f"cannot use {blocker / 'exp'} as the exp dir"), msg
    if os.geteuid() != 0:  # root writes into read-only directories
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        msg = _in_process(train_cli.cli, train_argv(tiny_data, ro, *TINY_TRAIN), capsys, "train")
        assert msg.startswith(f"cannot use {ro} as the exp dir"), msg


def test_read_only_exp_dir_during_training_is_one_line(tiny_data, tmp_path, capsys, monkeypatch):
    exp = tmp_path / "exp"
    real_save = torch.save
    calls = []

    def read_only_after_first(obj, f, *a, **k):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", read_only_after_first)
    argv = train_argv(tiny_data, exp, *TINY_TRAIN, "--save-every-n", "2")
    msg = _in_process(train_cli.cli, argv, capsys, "train")
    assert msg.endswith("Read-only file system"), msg
    assert not list(exp.glob("*.tmp*"))
