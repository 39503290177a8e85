"""Every command-line tool answers a bad invocation with ONE ``PROG: error: ...`` line (the last
line on stderr, no traceback) and a non-zero exit.

Per tool, the first bad invocation runs as a real subprocess (``python -m rnnt_kd.bin.PROG``); the
others run in this process through the tool's ``cli(argv)`` (or ``main(argv)`` for tools without
one), which is what ``python -m`` calls, to keep the test fast.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.test_reliability import _one_line_error

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
PROGS = [
    "train",
    "decode",
    "transcribe",
    "export",
    "cache_teacher",
    "error_analysis",
    "sweep_table",
    "decode_plan",
    "export_onnx",
    "decode_onnx",
    "make_report",
    "prepare_data",
]
EXPERIMENTS = REPO / "egs" / "synthlibri" / "ASR" / "conf" / "experiments.txt"
Case = Tuple[List[str], str]  # argv, a substring the error line must hold


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Dict[str, Path]:
    d = tmp_path_factory.mktemp("cli_errors")
    text = d / "notes.txt"
    text.write_text("this is not a model, a checkpoint or a manifest\n")
    blocker = d / "a-file"
    blocker.write_text("a file where a directory is expected\n")
    fake_cuts = d / "fake_cuts_dev.jsonl.gz"
    fake_cuts.write_bytes(b"not gzip at all")
    fake_recogs = d / "recogs-dev-x.txt"
    fake_recogs.write_text("no tab-separated ref= and hyp= lines here\n")
    return {"text": text, "blocker": blocker, "fake_cuts": fake_cuts, "recogs": fake_recogs}


def _cases(prog: str, data, teacher: Path, f: Dict[str, Path]) -> List[Case]:
    bpe, train, dev = str(data["bpe_model"]), str(data["train_cuts"]), str(data["dev_cuts"])
    missing = str(f["blocker"].parent / "missing")
    unwritable = str(f["blocker"] / "out")  # a path below a regular file
    text, tch = str(f["text"]), str(teacher)
    if prog == "train":
        base = ["--train-cuts", train, "--valid-cuts", dev, "--model-preset", "tiny"]
        base += ["--num-epochs", "1", "--tensorboard", "false", "--progress", "false"]
        exp = ["--exp-dir", str(f["blocker"].parent / "exp")]
        return [
            ([*base, *exp, "--bpe-model", text], "is not a sentencepiece model"),
            ([], "the following arguments are required"),
            ([*base, *exp, "--bpe-model", bpe, "--train-cuts", missing], "No such cut manifest"),
            ([*base, "--bpe-model", bpe, "--exp-dir", unwritable], "as the exp dir"),
            ([*base, *exp, "--bpe-model", bpe, "--teacher-checkpoint", text], text),
            ([*base, *exp, "--bpe-model", bpe, "--valid-cuts", str(f["fake_cuts"])], "fake_cuts"),
        ]
    if prog == "decode":
        base = ["--exp-dir", str(teacher.parent), "--method", "greedy_search", "--test-cuts", dev]
        base += ["--res-dir"]
        res = [*base, str(f["blocker"].parent / "res")]
        return [
            ([*res, "--checkpoint", tch, "--bpe-model", text], "is not a sentencepiece model"),
            ([], "the following arguments are required"),
            ([*res, "--checkpoint", missing, "--bpe-model", bpe], "checkpoint not found"),
            ([*res, "--checkpoint", text, "--bpe-model", bpe], text),
            ([*base, unwritable, "--checkpoint", tch, "--bpe-model", bpe], unwritable),
            (
                [*res, "--checkpoint", tch, "--bpe-model", bpe, "--test-cuts", str(f["fake_cuts"])],
                "fake_cuts",
            ),
        ]
    if prog == "transcribe":
        wav = str(data["root"] / "wav" / "a.wav")
        return [
            (["--checkpoint", tch, "--bpe-model", text, wav], "is not a sentencepiece model"),
            ([], "the following arguments are required"),
            (["--checkpoint", text, "--bpe-model", bpe, wav], text),
            (["--checkpoint", tch, "--bpe-model", bpe, missing], "no such file"),
            (["--checkpoint", tch, "--bpe-model", bpe, text], "Cannot read audio file"),
        ]
    if prog == "export":
        exp = str(teacher.parent)
        return [
            (["--checkpoint", missing], "checkpoint not found"),
            ([], "give --epoch"),
            (["--exp-dir", exp, "--epoch", "3", "--avg", "2"], "missing"),
            (["--checkpoint", text], text),
            (["--checkpoint", tch, "--out", unwritable], unwritable),
        ]
    if prog == "cache_teacher":
        base = ["--teacher-checkpoint", tch, "--train-cuts", train, "--bpe-model", bpe]
        out = ["--out", str(f["blocker"].parent / "band.pt")]
        bad_bpe = [*base, *out]
        bad_bpe[bad_bpe.index("--bpe-model") + 1] = text
        return [
            (bad_bpe, "is not a sentencepiece model"),
            ([], "the following arguments are required"),
            ([*base, "--out", unwritable], unwritable),
            ([*base, *out, "--teacher-checkpoint", missing], "checkpoint not found"),
            ([*base, *out, "--train-cuts", missing], "No such cut manifest"),
            ([*base, *out, "--distill-temperature", "0"], "--distill-temperature"),
        ]
    if prog == "error_analysis":
        recogs = str(f["recogs"])
        return [
            (["--recogs", missing, "--train-cuts", train], "no such recogs file"),
            ([], "the following arguments are required"),
            (["--recogs", recogs, "--train-cuts", missing], missing),
            (["--recogs", recogs, "--train-cuts", train], recogs),
            (["--recogs", recogs, "--train-cuts", train, "--corpus-info", text], text),
        ]
    if prog == "sweep_table":
        out = str(f["blocker"].parent / "sweep.md")
        return [
            (["--exp-dirs", missing, "--out", out], "no greedy_search results"),
            ([], "the following arguments are required"),
            (["--exp-dirs", str(teacher.parent), "--out", out], "no greedy_search results"),
        ]
    if prog == "decode_plan":
        return [
            (["--exp-root", missing, "--exp-dirs", missing], "no trained model"),
            ([], "the following arguments are required"),
            (["--exp-root", missing, "--experiments", missing], missing),
        ]
    if prog == "export_onnx":
        out = ["--out-dir", str(f["blocker"].parent / "onnx")]
        return [
            (["--checkpoint", missing, "--bpe-model", bpe, *out], missing),
            ([], "the following arguments are required"),
            (["--checkpoint", text, "--bpe-model", bpe, *out], text),
            (["--checkpoint", tch, "--bpe-model", text, *out], text),
            (["--checkpoint", tch, "--bpe-model", bpe, "--out-dir", unwritable], unwritable),
        ]
    if prog == "decode_onnx":
        return [
            (["--onnx-dir", missing, "--test-cuts", dev], missing),
            ([], "the following arguments are required"),
            (["--onnx-dir", str(f["blocker"].parent), "--test-cuts", dev], "onnx"),
        ]
    if prog == "make_report":
        matrix = ["--experiments", str(EXPERIMENTS)]
        out = ["--out-dir", str(f["blocker"].parent / "r")]
        return [
            (["--exp-root", missing, *out, "--experiments", missing], missing),
            ([], "the following arguments are required"),
            ([*matrix, "--exp-root", missing, *out], missing),
            ([*matrix, "--exp-root", str(teacher.parent), "--out-dir", unwritable], unwritable),
            ([*matrix, "--exp-root", str(teacher.parent), *out, "--preamble", missing], missing),
        ]
    if prog == "prepare_data":
        return [
            (
                ["manifests", "--corpus-dir", missing, "--output-dir", unwritable, "--parts", "x"],
                missing,
            ),
            ([], "the following arguments are required"),
            (
                ["fbank", "--manifest-dir", missing, "--output-dir", missing, "--parts", "x"],
                missing,
            ),
            (["bpe", "--cuts", missing, "--lang-dir", missing, "--vocab-size", "30"], missing),
            (
                ["teacher-inputs", "--copies", missing, "--sources", missing]
                + ["--source-map", missing, "--out", missing],
                missing,
            ),
        ]
    raise AssertionError(prog)


def _subprocess(prog: str, argv: List[str]) -> Tuple[object, str]:
    r = subprocess.run(
        [sys.executable, "-m", f"rnnt_kd.bin.{prog}", *argv],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return r.returncode, r.stderr


def _in_process(prog: str, argv: List[str], capsys) -> Tuple[object, str]:
    """What ``python -m rnnt_kd.bin.PROG ARGV`` would print on stderr and exit with."""
    module = importlib.import_module(f"rnnt_kd.bin.{prog}")
    logging.getLogger().handlers.clear()  # handlers of earlier calls write to closed streams
    capsys.readouterr()
    try:
        if hasattr(module, "cli"):
            code = module.cli(argv)
        else:
            ret = module.main(argv)
            code = ret if isinstance(ret, int) else 0
    except SystemExit as e:
        code = e.code
        if isinstance(code, str):  # what the interpreter does with sys.exit("message")
            print(code, file=sys.stderr)
            code = 1
    except Exception:  # noqa: BLE001 - an escaping exception is the interpreter's traceback
        traceback.print_exc()
        code = 1
    return code, capsys.readouterr().err


@pytest.mark.parametrize("prog", PROGS)
def test_bad_invocations_give_one_error_line(prog, tiny_data, tiny_teacher, files, capsys):
    wav_dir = tiny_data["root"] / "wav"
    wav_dir.mkdir(exist_ok=True)
    if not (wav_dir / "a.wav").exists():
        import soundfile as sf

        from tests.conftest import SR, harmonic_audio

        sf.write(wav_dir / "a.wav", harmonic_audio(1.0, 0), SR)
    failures = []
    for i, (argv, expected) in enumerate(_cases(prog, tiny_data, tiny_teacher, files)):
        code, err = (_subprocess if i == 0 else lambda p, a: _in_process(p, a, capsys))(prog, argv)
        try:
            # prepare_data's sub-commands name themselves: "prepare_data fbank: error: ..."
            sub = f" {argv[0]}" if prog == "prepare_data" and argv else ""
            msg = _one_line_error(code, err, prog + sub)
            assert expected in msg, f"{expected!r} not in {msg!r}"
        except AssertionError as e:
            failures.append(f"{prog} {' '.join(argv)}\n  -> exit {code}: {str(e)[-1500:]}")
    assert not failures, "\n\n".join(failures)
