"""A model file is data, never code: every entry point that reads one refuses pickled objects.

A crafted ``.pt`` whose pickle calls ``os.system`` when unpickled (the classic ``__reduce__``
payload) is handed to each command that reads a model or checkpoint file. Each must refuse it
with one error line and a non-zero exit, and the payload must never run (its marker file is
never created). Files written by rnnt-kd itself still load (the other tests), and an old file
holding Python objects can be converted, knowingly, with ``local/convert_checkpoint.py``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import train_argv

REPO = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this runs ``touch <marker>`` (what an attacker's file would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_file(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": _Payload(marker), "model_config": {"vocab_size": 30}, "params": {}}, path)
    return path


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", f"rnnt_kd.bin.{module}", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=REPO,
    )


def _assert_refused(r: subprocess.CompletedProcess, marker: Path) -> None:
    assert not marker.exists(), "the payload ran"
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, r.stderr[-2000:]
    assert "pickled Python objects" in errors[0], errors[0]


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "PWNED"
    return _evil_file(tmp_path / "evil" / "epoch-1.pt", marker), marker


def test_payload_runs_under_full_pickle(evil):
    """The test file is a real attack: full unpickling runs it (so its absence below means the
    loaders refused it, not that the payload is broken)."""
    path, marker = evil
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_train_refuses_a_malicious_init_teacher_and_resume_file(evil, tiny_data, tmp_path):
    path, marker = evil
    bpe = str(tiny_data["bpe_model"])
    base = [str(a) for a in train_argv(tiny_data, tmp_path / "exp_init", "--num-epochs", "1")]
    _assert_refused(_run("train", *base, "--init-from", str(path)), marker)
    base = [str(a) for a in train_argv(tiny_data, tmp_path / "exp_teacher", "--num-epochs", "1")]
    _assert_refused(_run("train", *base, "--teacher-checkpoint", str(path)), marker)
    # resume: the experiment directory holds the malicious epoch-1.pt
    exp = path.parent
    resume = [str(a) for a in train_argv(tiny_data, exp, "--num-epochs", "2")]
    _assert_refused(_run("train", *resume, "--start-epoch", "2"), marker)
    assert bpe  # the data fixture is real


def test_auto_resume_skips_a_malicious_checkpoint(evil, tiny_data, tmp_path):
    """--auto-resume looks at every checkpoint in the directory: the crafted one is skipped with
    a warning naming it, never unpickled; training starts afresh."""
    path, marker = evil
    (path.parent / "checkpoint-5.pt").write_bytes(path.read_bytes())
    argv = [
        str(a)
        for a in train_argv(
            tiny_data, path.parent, "--num-epochs", "1", "--max-steps", "1", "--auto-resume", "true"
        )
    ]
    r = _run("train", *argv)
    assert not marker.exists()
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipping bad checkpoint" in r.stderr and "pickled Python objects" in r.stderr


def test_decode_transcribe_export_onnx_cache_refuse_a_malicious_file(evil, tiny_data, tmp_path):
    path, marker = evil
    bpe, dev = str(tiny_data["bpe_model"]), str(tiny_data["dev_cuts"])
    wav = next(Path(tiny_data["root"]).rglob("*.flac"))
    res = str(tmp_path / "res")
    _assert_refused(
        _run("decode", "--checkpoint", str(path), "--bpe-model", bpe, "--test-cuts", dev,
             "--res-dir", res),
        marker,
    )  # fmt: skip
    _assert_refused(
        _run("decode", "--exp-dir", str(path.parent), "--epoch", "1", "--avg", "1",
             "--bpe-model", bpe, "--test-cuts", dev, "--res-dir", res),
        marker,
    )  # fmt: skip
    _assert_refused(
        _run("transcribe", "--checkpoint", str(path), "--bpe-model", bpe, str(wav)), marker
    )
    _assert_refused(_run("export", "--checkpoint", str(path), "--out", res + "/x.pt"), marker)
    _assert_refused(
        _run("export", "--exp-dir", str(path.parent), "--epoch", "1", "--avg", "1",
             "--out", res + "/y.pt"),
        marker,
    )  # fmt: skip
    _assert_refused(
        _run("export_onnx", "--checkpoint", str(path), "--bpe-model", bpe,
             "--out-dir", res + "/onnx"),
        marker,
    )  # fmt: skip
    _assert_refused(
        _run("cache_teacher", "--teacher-checkpoint", str(path), "--train-cuts",
             str(tiny_data["train_cuts"]), "--bpe-model", bpe, "--out", res + "/band.pt"),
        marker,
    )  # fmt: skip


def test_train_refuses_a_malicious_teacher_cache(evil, tiny_data, tiny_teacher, tmp_path):
    path, marker = evil
    argv = [
        str(a)
        for a in train_argv(
            tiny_data, tmp_path / "exp", "--num-epochs", "1", "--spec-augment", "false"
        )
    ]
    r = _run(
        "train", *argv, "--teacher-checkpoint", str(tiny_teacher), "--teacher-cache", str(path)
    )
    _assert_refused(r, marker)


def test_old_object_checkpoint_is_refused_then_converted_knowingly(tiny_teacher, tmp_path):
    """A checkpoint that also holds an argparse Namespace (as older files did) is refused with
    the conversion command; converted with --trust it loads safely and gives the same weights."""
    from rnnt_kd.checkpoint import CheckpointError, load_checkpoint

    good = load_checkpoint(tiny_teacher)
    old = tmp_path / "old.pt"
    torch.save({**good, "args": argparse.Namespace(seed=1, exp_dir=Path("exp"))}, old)
    with pytest.raises(CheckpointError, match="local/convert_checkpoint.py --trust"):
        load_checkpoint(old)
    new = tmp_path / "new.pt"
    script = str(REPO / "local" / "convert_checkpoint.py")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, script, str(old), str(new)], capture_output=True,
                       text=True, env=env)  # fmt: skip
    assert r.returncode == 2 and "--trust" in r.stderr and not new.exists()
    r = subprocess.run([sys.executable, script, "--trust", str(old), str(new)],
                       capture_output=True, text=True, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    plain = load_checkpoint(new)
    assert plain["args"] == {"seed": 1, "exp_dir": "exp"}
    for k, v in good["model"].items():
        assert torch.equal(plain["model"][k], v), k


def test_library_never_unpickles_in_full():
    """No module of the library loads a file with weights_only=False."""
    hits = [
        f"{p.relative_to(REPO)}"
        for p in (REPO / "rnnt_kd").rglob("*.py")
        if "weights_only=False" in p.read_text()
    ]
    assert hits == []
