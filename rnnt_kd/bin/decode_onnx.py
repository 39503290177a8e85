#!/usr/bin/env python3
"""Decode test sets with sherpa-onnx from the audio, and write icefall-style result files.

  python -m rnnt_kd.bin.decode_onnx --onnx-dir exp/teacher/onnx [--int8] \\
      --test-cuts data/fbank/synthlibri_cuts_test-clean.jsonl.gz ... \\
      --method modified_beam_search --beam-size 4 --res-dir exp/teacher/onnx/modified_beam_search \\
      --num-threads 1

The model is the directory written by ``export_onnx`` (``--int8``: its ``*.int8.onnx`` files).
Each cut's audio is read with lhotse and handed to sherpa-onnx, which computes its own fbank,
runs onnxruntime and searches; so this measures the deployed pipeline, front-end included.

For every test set NAME (from ``<prefix>_cuts_<NAME>.jsonl.gz``) it writes into ``--res-dir``
(default ``<onnx-dir>/<method>``) ``recogs-NAME-SUFFIX.txt``, ``errs-NAME-SUFFIX.txt`` and
``wer-summary-NAME-SUFFIX.txt`` with SUFFIX ``sherpa-onnx-fp32`` or ``sherpa-onnx-int8``
(+ ``-beam-B`` for beam search), and ``wers-SUFFIX.json``: WER, real-time factor (decoding
time over audio duration with ``--num-threads`` onnxruntime threads; audio reading excluded),
audio seconds and utterance counts per set.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

log = logging.getLogger("decode_onnx")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="decode_onnx",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--onnx-dir", required=True, help="directory written by export_onnx")
    p.add_argument("--int8", action="store_true", help="use the int8 files")
    p.add_argument("--test-cuts", nargs="+", required=True, help="lhotse CutSet files")
    p.add_argument(
        "--method",
        choices=["greedy_search", "modified_beam_search"],
        default="modified_beam_search",
    )
    p.add_argument("--beam-size", type=int, default=4)
    p.add_argument("--res-dir", default=None, help="default: <onnx-dir>/<method>")
    p.add_argument("--suffix", default=None, help="default: sherpa-onnx-{fp32,int8}[-beam-B]")
    p.add_argument("--num-threads", type=int, default=1, help="onnxruntime threads")
    p.add_argument("--batch-size", type=int, default=16, help="utterances decoded together")
    p.add_argument(
        "--hotwords-file",
        default=None,
        help="words/phrases to boost, one per line (modified_beam_search)",
    )
    p.add_argument("--hotwords-score", type=float, default=1.5)
    return p


def fail(message: str) -> None:
    """One line on stderr, exit status 2."""
    print(f"decode_onnx: error: {message}", file=sys.stderr)
    sys.exit(2)


def decode_cuts(
    recognizer, cuts, batch_size: int
) -> Tuple[List[Tuple[str, List[str], List[str]]], float, float]:
    """([(cut_id, ref_words, hyp_words)] sorted by id, seconds of audio, seconds decoding)."""
    from rnnt_kd.deploy.sherpa import recognize

    results = []
    audio_sec = decode_sec = 0.0
    batch: List[Any] = []

    def flush() -> None:
        nonlocal decode_sec
        waves = [(c.load_audio()[0], c.sampling_rate) for c in batch]
        t0 = time.perf_counter()
        hyps = recognize(recognizer, waves, batch_size=len(waves))
        decode_sec += time.perf_counter() - t0
        for c, hyp in zip(batch, hyps):
            ref = " ".join(s.text for s in c.supervisions)
            results.append((c.id, ref.split(), hyp.split()))
        batch.clear()

    for cut in cuts:
        batch.append(cut)
        audio_sec += cut.duration
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    results.sort(key=lambda r: r[0])
    return results, audio_sec, decode_sec


def main(argv: List[str] | None = None) -> Dict[str, Any]:
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.beam_size < 1:
        parser.error("--beam-size must be >= 1")
    if args.num_threads < 1 or args.batch_size < 1:
        parser.error("--num-threads and --batch-size must be >= 1")
    for f in args.test_cuts:
        if not Path(f).is_file():
            parser.error(f"--test-cuts: no such file {f}")
    from rnnt_kd.bin.decode import test_set_name
    from rnnt_kd.deploy.sherpa import make_recognizer
    from rnnt_kd.utils import setup_logger
    from rnnt_kd.wer import store_transcripts, write_error_stats, write_wer_summary

    res_dir = Path(args.res_dir or Path(args.onnx_dir) / args.method)
    suffix = args.suffix or "sherpa-onnx-" + ("int8" if args.int8 else "fp32")
    if args.suffix is None and args.method != "greedy_search":
        suffix += f"-beam-{args.beam_size}"
    try:
        recognizer = make_recognizer(
            args.onnx_dir,
            int8=args.int8,
            method=args.method,
            beam=args.beam_size,
            num_threads=args.num_threads,
            hotwords_file=args.hotwords_file,
            hotwords_score=args.hotwords_score,
        )
    except (OSError, ValueError, RuntimeError) as e:
        fail(str(e))
    except ImportError:
        fail("sherpa-onnx is not installed (local/setup.sh, or pip install sherpa-onnx)")
    setup_logger(res_dir / "log" / f"log-decode-{suffix}")
    import sherpa_onnx
    from lhotse import CutSet

    out: Dict[str, Any] = {
        "suffix": suffix,
        "method": args.method,
        "beam_size": args.beam_size if args.method != "greedy_search" else None,
        "int8": args.int8,
        "onnx_dir": str(args.onnx_dir),
        "num_threads": args.num_threads,
        "runtime": f"sherpa-onnx {getattr(sherpa_onnx, '__version__', '?')}",
        "wer": {},
        "rtf": {},
        "audio_seconds": {},
        "decode_seconds": {},
        "utterances": {},
    }
    for path in args.test_cuts:
        name = test_set_name(path)
        try:
            results, audio_sec, decode_sec = decode_cuts(
                recognizer, CutSet.from_file(path), args.batch_size
            )
        except (OSError, ValueError, RuntimeError) as e:
            fail(f"{path}: {e}")
        store_transcripts(res_dir / f"recogs-{name}-{suffix}.txt", results)
        wer = write_error_stats(res_dir / f"errs-{name}-{suffix}.txt", f"{name}-{suffix}", results)
        write_wer_summary(res_dir / f"wer-summary-{name}-{suffix}.txt", {suffix: wer})
        out["wer"][name] = wer
        out["rtf"][name] = decode_sec / max(audio_sec, 1e-9)
        out["audio_seconds"][name] = audio_sec
        out["decode_seconds"][name] = decode_sec
        out["utterances"][name] = len(results)
        log.info(
            "%s %s: WER %.2f%% (%d utterances, RTF %.4f with %d thread(s))",
            name,
            suffix,
            wer,
            len(results),
            out["rtf"][name],
            args.num_threads,
        )
    (res_dir / f"wers-{suffix}.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.decode_onnx``: :func:`main`, every user error as one line."""
    from rnnt_kd.bin.cli_errors import run_cli

    return run_cli("decode_onnx", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
