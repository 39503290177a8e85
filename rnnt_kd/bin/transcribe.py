#!/usr/bin/env python3
"""Transcribe 16 kHz audio files with a trained checkpoint (icefall's ``pretrained.py``).

  python -m rnnt_kd.bin.transcribe --checkpoint exp/teacher/epoch-20.pt \\
      --bpe-model data/lang_bpe_256/bpe.model --method greedy_search a.flac b.wav

Features are computed with kaldifeat using exactly the options of the training features
(lhotse Fbank, see ``rnnt_kd.data.features``). Prints ``<file>: <transcript>`` per file.

Of a file with several channels the first is transcribed (as icefall's ``pretrained.py`` does;
one warning names them); a file too short for the encoder (under 9 feature frames, ~0.09 s, or
empty) gets an empty transcript and a warning; a file that cannot be read or holds NaN/Inf
samples stops with one error line.

With ``--onnx-dir DIR`` (written by ``rnnt_kd.bin.export_onnx``) it runs sherpa-onnx instead,
without PyTorch (add ``--int8`` for the int8 files):

  python -m rnnt_kd.bin.transcribe --onnx-dir exp/teacher/onnx a.wav b.wav
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

from rnnt_kd.bin.cli_errors import one_line, run_cli

if TYPE_CHECKING:
    import torch


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transcribe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", default=None, help="epoch-N.pt or an exported model")
    p.add_argument("--bpe-model", default=None, help="the BPE model (with --checkpoint)")
    p.add_argument(
        "--onnx-dir",
        default=None,
        help="run sherpa-onnx on this export_onnx directory instead of --checkpoint (no torch)",
    )
    p.add_argument("--int8", action="store_true", help="with --onnx-dir: the int8 files")
    p.add_argument("--num-threads", type=int, default=1, help="with --onnx-dir: threads")
    p.add_argument(
        "--method", choices=["greedy_search", "modified_beam_search"], default="greedy_search"
    )
    p.add_argument("--beam-size", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("sound_files", nargs="+", help="16 kHz audio files (wav, flac, ...)")
    return p


def _warn(message: str) -> None:
    print(f"transcribe: warning: {message}", file=sys.stderr, flush=True)


def transcribe(
    model,
    tokenizer,
    sound_files: List[str],
    method: str = "greedy_search",
    beam: int = 4,
    device: torch.device | str = "cpu",
    warn: Optional[Callable[[str], None]] = None,
) -> Dict[str, str]:
    """{file: transcript} for a list of audio files.

    ``warn`` (default: print ``transcribe: warning: ...`` on stderr) receives a one-line message
    about files with several channels (one message for all) and about each file too short to
    transcribe (its transcript is empty)."""
    import torch

    from rnnt_kd.data.features import SAMPLE_RATE, channels_warning, load_audio
    from rnnt_kd.data.features import wav_fbank_kaldifeat as fbank
    from rnnt_kd.search import decode_features

    warn = warn or _warn
    waves, multi = {}, []
    for f in sound_files:
        waves[f], channels = load_audio(f)
        if channels > 1:
            multi.append((f, channels))
    if multi:
        warn(channels_warning(multi))
    min_frames = model.min_frames_for(1)  # fewer frames give no encoder output
    hop = SAMPLE_RATE // 100
    usable = []
    for f, w in waves.items():
        if w.numel() == 0:
            warn(f"{f}: no samples: empty transcript")
        elif (w.numel() + hop // 2) // hop < min_frames:
            warn(
                f"{f}: {w.numel() / SAMPLE_RATE:.2f} s is too short to transcribe (needs "
                f"{(min_frames - 0.5) * hop / SAMPLE_RATE:.3f} s): empty transcript"
            )
        else:
            usable.append(f)
    out = {f: "" for f in sound_files}
    if not usable:
        return out
    with torch.no_grad():
        feats = fbank([waves[f] for f in usable], device=device)
        hyps = decode_features(model, feats, method=method, beam=beam)
    out.update({f: tokenizer.decode(h) for f, h in zip(usable, hyps)})
    return out


def main(argv: List[str] | None = None) -> None:
    parser = get_parser()
    args = parser.parse_args(argv)
    from pathlib import Path

    if (args.checkpoint is None) == (args.onnx_dir is None):
        parser.error("give --checkpoint (with --bpe-model) or --onnx-dir")
    if args.checkpoint is not None and args.bpe_model is None:
        parser.error("--checkpoint needs --bpe-model")
    for f in [args.checkpoint, args.bpe_model, args.onnx_dir, *args.sound_files]:
        if f is not None and not Path(f).exists():
            parser.error(f"no such file: {f}")
    if args.onnx_dir is not None:
        return transcribe_onnx(args)
    from rnnt_kd.checkpoint import CheckpointError, check_tokenizer, load_model
    from rnnt_kd.data import Tokenizer
    from rnnt_kd.errors import UserError
    from rnnt_kd.utils import pick_device

    device = pick_device(args.device)
    try:
        model, ckpt = load_model(args.checkpoint)
        tokenizer = Tokenizer(args.bpe_model)
        check_tokenizer(model, ckpt, tokenizer, args.bpe_model)
        out = transcribe(
            model.to(device), tokenizer, args.sound_files, args.method, args.beam_size, device
        )
    except (CheckpointError, UserError, OSError, ValueError) as e:
        print(f"transcribe: error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    for f, text in out.items():
        print(f"{f}: {text}")


def transcribe_onnx(args: argparse.Namespace) -> None:
    """The ``--onnx-dir`` branch: sherpa-onnx, no torch import."""
    from rnnt_kd.deploy.sherpa import make_recognizer, recognize_files

    try:
        recognizer = make_recognizer(
            args.onnx_dir, args.int8, args.method, args.beam_size, args.num_threads
        )
        out = recognize_files(recognizer, args.sound_files)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"transcribe: error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    except ImportError:
        print(
            "transcribe: error: sherpa-onnx is not installed (pip install sherpa-onnx)",
            file=sys.stderr,
        )
        sys.exit(2)
    for f, text in out.items():
        print(f"{f}: {text}")


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.transcribe``: :func:`main` with every user error as one line."""
    return run_cli("transcribe", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
