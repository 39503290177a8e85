#!/usr/bin/env python3
"""Data preparation stages shared by every LibriSpeech-layout recipe.

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

Bad entries (missing/unreadable audio, empty transcripts) are skipped, counted in the log and
listed in ``bad_cuts_<part>.txt`` next to the outputs.
"""

from __future__ import annotations

import argparse
import logging
from typing import List

from rnnt_kd.utils import str2bool


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="prepare_data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
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


def main(argv: List[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    import torch

    # one thread per process: lhotse parallelises over --num-jobs processes, and several torch
    # threads per process spin against each other (measured: 25x vs 180x real time per process)
    torch.set_num_threads(1)
    if args.command == "manifests":
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

        cuts = chain.from_iterable(CutSet.from_file(p) for p in args.cuts)
        text_file = write_transcripts(cuts, f"{args.lang_dir}/transcript_words.txt")
        train_bpe(text_file, args.lang_dir, args.vocab_size, model_type=args.model_type)


if __name__ == "__main__":
    main()
