#!/usr/bin/env python3
"""Data preparation stages shared by every LibriSpeech-layout recipe.

  python -m rnnt_kd.bin.prepare_data split --corpus-dir my_recordings \\
      --out-dir download/LibriSpeech --dev-fraction 0.1 --test-fraction 0.1 --seed 42
  python -m rnnt_kd.bin.prepare_data manifests --corpus-dir download/LibriSpeech \\
      --output-dir data/manifests --prefix librispeech --parts train-clean-100 dev-clean
  python -m rnnt_kd.bin.prepare_data fbank --manifest-dir data/manifests \\
      --output-dir data/fbank --prefix librispeech --parts train-clean-100 [--speed-perturb true]
  python -m rnnt_kd.bin.prepare_data bpe \\
      --cuts data/fbank/librispeech_cuts_train-clean-100.jsonl.gz \\
      --lang-dir data/lang_bpe_500 --vocab-size 500
  python -m rnnt_kd.bin.prepare_data teacher-inputs \\
      --copies data/fbank/synthlibri_cuts_train-farfield.jsonl.gz \\
      --sources data/fbank/synthlibri_cuts_train-clean-synth.jsonl.gz \\
      --source-map download/LibriSpeech/train-farfield/farfield_params.jsonl \\
      --out data/fbank/synthlibri_cuts_train-farfield-teacher.jsonl.gz

``split`` turns a corpus kept as one folder (audio files + ``transcripts.txt`` lines ``<id>
TEXT``, or ``<id>.txt`` beside each file) into train / dev / test parts in LibriSpeech layout:
seeded, whole speakers per part when speakers are known (``--speakers utt2spk`` or
``--speaker-regex``), audio resampled to 16 kHz FLAC. Bad entries (missing/unreadable audio,
empty transcripts) are skipped, counted in the log and listed in ``bad_cuts_<part>.txt`` next to
the outputs. User errors (a missing folder or file, a vocabulary too large for the text) are one
``prepare_data: error: ...`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import List

from rnnt_kd.utils import str2bool


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="prepare_data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser(
        "split",
        help="a one-folder corpus -> train/dev/test parts in LibriSpeech layout",
        description="Split a corpus kept as one folder of audio files (with transcripts.txt "
        "lines '<id> TEXT', or <id>.txt beside each file; <id> = the file name without suffix) "
        "into train / dev / test parts in LibriSpeech layout under --out-dir (stage 1's "
        "--corpus-dir). Seeded; whole speakers per part when speakers are known.",
    )
    s.add_argument("--corpus-dir", required=True, help="the folder of audio files")
    s.add_argument("--out-dir", required=True, help="LibriSpeech-layout root to write")
    s.add_argument("--transcripts", default=None, help="default: <corpus-dir>/transcripts.txt")
    s.add_argument("--speakers", default=None, help="'<id> <speaker>' lines (default: utt2spk)")
    s.add_argument(
        "--speaker-regex", default=None, help="speaker = group 1 of this regex on the id"
    )
    s.add_argument("--dev-fraction", type=float, default=0.1)
    s.add_argument("--test-fraction", type=float, default=0.1)
    s.add_argument("--parts", nargs=3, default=["train", "dev", "test"], metavar="NAME")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--sample-rate", type=int, default=16000)
    s.add_argument("--num-jobs", type=int, default=2)
    m = sub.add_parser("manifests", help="lhotse recordings + supervisions per part")
    m.add_argument("--corpus-dir", required=True, help="the folder holding the part folders")
    m.add_argument("--output-dir", required=True)
    m.add_argument("--prefix", default="librispeech")
    m.add_argument("--parts", nargs="+", required=True)
    m.add_argument("--num-jobs", type=int, default=2)
    f = sub.add_parser("fbank", help="80-dim lhotse Fbank features and cut sets")
    f.add_argument("--manifest-dir", required=True)
    f.add_argument("--output-dir", required=True)
    f.add_argument("--prefix", default="librispeech")
    f.add_argument("--parts", nargs="+", required=True)
    f.add_argument("--num-jobs", type=int, default=2)
    f.add_argument("--speed-perturb", type=str2bool, default=False)
    b = sub.add_parser("bpe", help="sentencepiece model on the training transcripts")
    b.add_argument("--cuts", nargs="+", required=True, help="cut sets whose texts train the BPE")
    b.add_argument("--lang-dir", required=True)
    b.add_argument("--vocab-size", type=int, required=True)
    b.add_argument("--model-type", default="unigram", choices=["unigram", "bpe"])
    t = sub.add_parser(
        "teacher-inputs",
        help="clean sources of multi-condition copies, under the copies' ids (train "
        "--teacher-input-cuts: the teacher hears the clean original)",
    )
    t.add_argument("--copies", required=True, help="cut set of the copies (train-farfield)")
    t.add_argument("--sources", required=True, help="cut set of the clean originals")
    t.add_argument(
        "--source-map",
        required=True,
        help="JSON lines with 'id' (copy) and 'source_id' (synthlibri: farfield_params.jsonl)",
    )
    t.add_argument("--out", required=True, help="output cut set (.jsonl.gz)")
    return p


def _check_files(*paths: str) -> None:
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"No such file: {path}")


def _user_error(e: BaseException) -> str | None:
    """The one-line message of an error caused by the input or the options, else None."""
    if isinstance(e, (FileNotFoundError, NotADirectoryError, ValueError)):
        return " ".join(str(e).split())
    # sentencepiece: "... Vocabulary size too high (70). Please set it to a value <= 55."
    m = re.search(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)", str(e))
    if isinstance(e, RuntimeError) and m:
        return (
            f"--vocab-size {m.group(1)} is too large for these transcripts: sentencepiece "
            f"allows at most {m.group(2)}"
        )
    return None


def main(argv: List[str] | None = None) -> int:
    """Run one subcommand; a user error is one ``prepare_data: error:`` line and exit code 2."""
    args = get_parser().parse_args(argv)
    from rnnt_kd.utils import setup_logger

    setup_logger(None)  # a fresh stderr handler, also when called in-process
    try:
        run(args)
    except Exception as e:  # noqa: BLE001 - anything else is re-raised below
        message = _user_error(e)
        if message is None:
            raise
        print(f"prepare_data {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> None:
    import torch

    # one thread per process: lhotse parallelises over --num-jobs processes, and several torch
    # threads per process spin against each other (measured: 25x vs 180x real time per process)
    torch.set_num_threads(1)
    if args.command == "split":
        from rnnt_kd.data.prepare import split_folder_corpus

        split_folder_corpus(
            args.corpus_dir,
            args.out_dir,
            dev_fraction=args.dev_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
            parts=args.parts,
            transcripts=args.transcripts,
            speakers=args.speakers,
            speaker_regex=args.speaker_regex,
            sample_rate=args.sample_rate,
            num_jobs=args.num_jobs,
        )
    elif args.command == "manifests":
        from rnnt_kd.data.prepare import prepare_manifests

        prepare_manifests(
            args.corpus_dir, args.output_dir, args.parts, prefix=args.prefix, num_jobs=args.num_jobs
        )
    elif args.command == "fbank":
        from rnnt_kd.data.prepare import compute_fbank

        compute_fbank(
            args.manifest_dir,
            args.output_dir,
            args.parts,
            prefix=args.prefix,
            num_jobs=args.num_jobs,
            speed_perturb=args.speed_perturb,
        )
    elif args.command == "teacher-inputs":
        from lhotse import CutSet

        from rnnt_kd.kd.inputs import parallel_source_cuts, read_source_map

        _check_files(args.copies, args.sources, args.source_map)
        copies = CutSet.from_file(args.copies)
        out = parallel_source_cuts(
            copies, CutSet.from_file(args.sources), read_source_map(args.source_map)
        )
        out.to_file(args.out)
        logging.info("%d of %d copies have a clean source: %s", len(out), len(copies), args.out)
    else:
        from itertools import chain

        from lhotse import CutSet

        from rnnt_kd.data.bpe import train_bpe
        from rnnt_kd.data.prepare import write_transcripts

        _check_files(*args.cuts)
        cuts = chain.from_iterable(CutSet.from_file(p) for p in args.cuts)
        text_file = write_transcripts(cuts, f"{args.lang_dir}/transcript_words.txt")
        train_bpe(text_file, args.lang_dir, args.vocab_size, model_type=args.model_type)


if __name__ == "__main__":
    sys.exit(main())
