#!/usr/bin/env python3
"""Where the word errors of decoded test sets are: by word context and by speaker group.

  python -m rnnt_kd.bin.error_analysis \\
      --recogs exp/teacher/modified_beam_search/recogs-dev-clean-epoch-14-avg-2-beam-4.txt \\
      --train-cuts data/fbank/synthlibri_cuts_train-clean-synth.jsonl.gz \\
      [--corpus-info download/corpus_info.json] [--out exp/teacher/error_analysis.md]

For each ``recogs-*.txt`` (written by ``decode``) it prints a markdown table: WER, the error
rate of reference words whose word pair (previous word, word) occurs in the training
transcripts (``--train-cuts``) and of words in pairs never seen there, and with
``--corpus-info`` (synthlibri's corpus description) the WER per speech engine. A large gap
between seen and unseen pairs means the model leans on word context learnt from the training
text instead of the audio (see egs/synthlibri/ASR/NOTES.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from rnnt_kd.bin.cli_errors import run_cli
from rnnt_kd.data.datamodule import load_cuts
from rnnt_kd.data.prepare import normalize_text
from rnnt_kd.error_analysis import bigrams, context_error_rates, group_wers
from rnnt_kd.errors import UserError
from rnnt_kd.wer import compute_wer, read_transcripts


def engine_of_speaker(corpus_info_path: Path) -> Callable[[str], str]:
    """Cut id -> speech engine of its speaker (LibriSpeech ids: ``<speaker>-...``)."""
    try:
        info = json.loads(corpus_info_path.read_text())
        engine: Dict[str, str] = {str(s["speaker_id"]): s["engine"] for s in info["speakers"]}
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(
            f"{corpus_info_path} is not a corpus_info.json with speakers and engines ({e})"
        ) from e

    def group_of(cut_id: str) -> str:
        return engine.get(cut_id.split("-")[0], "unknown")

    return group_of


def training_texts(cut_paths: List[str]) -> List[str]:
    texts = []
    for cut in load_cuts(cut_paths):
        texts += [normalize_text(s.text) for s in cut.supervisions if s.text]
    return texts


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        prog="error_analysis",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--recogs", nargs="+", required=True, help="recogs-*.txt files of decode")
    p.add_argument(
        "--train-cuts", nargs="+", required=True, help="cut sets whose transcripts the model "
        "was trained on (speed-perturbed copies may be included: pairs are counted once)",
    )  # fmt: skip
    p.add_argument(
        "--corpus-info", default=None, help="synthlibri corpus_info.json: WER per engine"
    )
    p.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = p.parse_args(argv)

    for r in args.recogs:
        if not Path(r).is_file():
            raise SystemExit(f"error_analysis: error: no such recogs file: {r}")
    seen = bigrams(training_texts(args.train_cuts))
    group_of = engine_of_speaker(Path(args.corpus_info)) if args.corpus_info else None
    rows = []
    groups: List[str] = []
    for r in args.recogs:
        results = read_transcripts(r)
        ctx = context_error_rates(results, seen)
        row = {
            "file": Path(r).name,
            "wer": compute_wer([x[1] for x in results], [x[2] for x in results]).wer,
            "seen": ctx["seen"],
            "unseen": ctx["unseen"],
        }
        if group_of is not None:
            row["groups"] = {g: s.wer for g, s in group_wers(results, group_of).items()}
            groups += [g for g in row["groups"] if g not in groups]
        rows.append(row)
    head = "| recogs | WER % | words in seen pairs: n, error % | in unseen pairs: n, error % |"
    sep = "|---|---|---|---|"
    if groups:
        head += "".join(f" WER {g} % |" for g in groups)
        sep += "---|" * len(groups)
    lines = [head, sep]
    for row in rows:
        s, u = row["seen"], row["unseen"]
        line = (
            f"| {row['file']} | {row['wer']:.2f} | {s['words']}, {s['error_rate']:.1f} "
            f"| {u['words']}, {u['error_rate']:.1f} |"
        )
        if groups:
            line += "".join(
                f" {row['groups'][g]:.1f} |" if g in row["groups"] else " - |" for g in groups
            )
        lines.append(line)
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table + "\n")


def cli(argv: Optional[List[str]] = None) -> int:
    """``python -m rnnt_kd.bin.error_analysis``: :func:`main`, user errors as one line."""
    return run_cli("error_analysis", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
