#!/usr/bin/env python3
"""Decode test sets with a trained transducer and write icefall-style result files.

  python -m rnnt_kd.bin.decode --exp-dir exp/teacher --epoch 20 --avg 5 \\
      --bpe-model data/lang_bpe_256/bpe.model --method modified_beam_search --beam-size 4 \\
      --test-cuts data/fbank/synthlibri_cuts_test-clean.jsonl.gz ...

For every test set NAME (taken from the cut file name ``<prefix>_cuts_<NAME>.jsonl.gz``) it
writes into ``--res-dir`` (default ``<exp-dir>/<method>``):
``recogs-NAME-SUFFIX.txt``, ``errs-NAME-SUFFIX.txt`` and ``wer-summary-NAME-SUFFIX.txt`` with
SUFFIX = ``epoch-E-avg-A`` (+ ``-beam-B`` for beam search), plus ``wers-SUFFIX.json``.

``--lexicon WORDS`` restricts modified beam search to a closed vocabulary (the words of the
file; see ``rnnt_kd.search.lexicon``), as icefall's LG decoding does with a lexicon; its results
go to ``<exp-dir>/modified_beam_search_lexicon`` with SUFFIX ending in ``-lex``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import torch
from tqdm import tqdm

from rnnt_kd.bin.cli_errors import one_line, run_cli
from rnnt_kd.bin.model_args import add_model_args, check_model_args
from rnnt_kd.utils import str2bool

if TYPE_CHECKING:
    from rnnt_kd.search import WordLexicon

# k2's FSA-based fast_beam_search is not offered: rnnt-kd has no FSA decoding (docs/DESIGN.md)
METHODS = ("greedy_search", "modified_beam_search")
log = logging.getLogger("decode")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="decode", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_args(p, "decode", exp_dir_required=False)
    p.add_argument("--bpe-model", required=True)
    p.add_argument("--method", choices=METHODS, default="modified_beam_search")
    p.add_argument("--beam-size", type=int, default=4)
    p.add_argument(
        "--lexicon",
        default=None,
        help="closed vocabulary for modified_beam_search: a file whose whitespace-separated "
        "words (or the words of a k2 words.txt) are the only words hypotheses may spell, e.g. "
        "data/lang_bpe_128/transcript_words.txt; results go to <exp-dir>/"
        "modified_beam_search_lexicon with the suffix '-lex'",
    )
    p.add_argument("--max-duration", type=float, default=300.0)
    p.add_argument("--test-cuts", nargs="+", required=True, help="lhotse CutSet files")
    p.add_argument(
        "--res-dir",
        default=None,
        help="default: <exp-dir>/<method>[_lexicon with --lexicon] (with --checkpoint and no "
        "--exp-dir: beside the checkpoint)",
    )
    p.add_argument("--suffix", default=None, help="default: epoch-E-avg-A[-beam-B]")
    p.add_argument(
        "--overwrite",
        type=str2bool,
        nargs="?",
        const=True,
        default=False,
        help="replace the results of an earlier decode with the same test set and suffix "
        "(without it, decode refuses to start; or give another --suffix)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--num-threads", type=int, default=2)
    return p


def test_set_name(path: str) -> str:
    name = Path(path).name
    m = re.match(r"^(?:.*_)?cuts_(.+?)\.jsonl(?:\.gz)?$", name)
    return m.group(1) if m else re.sub(r"\.jsonl(\.gz)?$", "", name)


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    check_model_args(args, parser)
    if args.beam_size < 1:
        parser.error("--beam-size must be >= 1")
    if args.lexicon is not None:
        if args.method != "modified_beam_search":
            parser.error("--lexicon constrains --method modified_beam_search only")
        if not Path(args.lexicon).is_file():
            parser.error(f"--lexicon: no such file {args.lexicon}")
    for f in args.test_cuts:
        if not Path(f).is_file():
            parser.error(f"--test-cuts: no such file {f}")


def decode_cuts(
    model,
    tokenizer,
    cuts,
    method: str,
    beam: int,
    max_duration: float,
    device: torch.device,
    desc: str = "",
    lexicon: Optional[WordLexicon] = None,
    skipped: Optional[List[Tuple[str, str]]] = None,
) -> Tuple[List[Tuple[str, List[str], List[str]]], float]:
    """Decode a CutSet; returns ([(cut_id, ref_words, hyp_words)], seconds of audio).

    Cuts whose features cannot be read are left out of the results, logged, and appended to
    ``skipped`` (when given) as ``(cut_id, reason)``."""
    from rnnt_kd.data import AsrDataModule, batch_is_empty, batch_to_tensors
    from rnnt_kd.search import decode_batch

    loader = AsrDataModule().test_dataloader(cuts, max_duration=max_duration)
    results = []
    audio_sec = 0.0
    for batch in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True):
        for cut_id, reason in batch.get("skipped_cuts", []):
            log.warning("%s: cut %s not decoded: %s", desc, cut_id, reason)
            if skipped is not None:
                skipped.append((cut_id, reason))
        if batch_is_empty(batch):
            continue
        feats, feat_lens, _, _, cut_ids, texts = batch_to_tensors(batch, tokenizer, device)
        audio_sec += float(feat_lens.sum()) * 0.01
        hyps = decode_batch(model, feats, feat_lens, method=method, beam=beam, lexicon=lexicon)
        for cid, ref, hyp in zip(cut_ids, texts, hyps):
            results.append((cid, ref.split(), tokenizer.decode(hyp).split()))
    results.sort(key=lambda r: r[0])
    return results, audio_sec


def main(argv: List[str] | None = None) -> Dict[str, float]:
    """Decode; user errors print one ``decode: error:`` line and exit 2 (``SystemExit``)."""
    parser = get_parser()
    args = parser.parse_args(argv)
    check_args(args, parser)
    from rnnt_kd.bin.result_files import (
        bad_cuts_file,
        check_not_replacing,
        merge_wers,
    )
    from rnnt_kd.checkpoint import (
        CheckpointError,
        check_tokenizer,
        load_averaged_model,
        load_model,
    )
    from rnnt_kd.data import Tokenizer
    from rnnt_kd.data.checks import check_feature_files
    from rnnt_kd.data.datamodule import append_bad_ids, read_cut_manifest
    from rnnt_kd.errors import UserError
    from rnnt_kd.utils import pick_device, setup_logger
    from rnnt_kd.wer import store_transcripts, write_error_stats, write_wer_summary

    method_dir = args.method + ("_lexicon" if args.lexicon else "")
    model_dir = Path(args.exp_dir) if args.exp_dir else Path(args.checkpoint).parent
    res_dir = Path(args.res_dir or model_dir / method_dir)
    suffix = args.suffix or (
        f"epoch-{args.epoch}-avg-{args.avg}"
        if args.checkpoint is None
        else Path(args.checkpoint).stem
    )
    if args.method != "greedy_search":
        suffix += f"-beam-{args.beam_size}"
    if args.lexicon is not None:
        suffix += "-lex"
    torch.set_num_threads(args.num_threads)
    device = pick_device(args.device)
    test_sets = [(test_set_name(p), p) for p in args.test_cuts]
    try:
        setup_logger(res_dir / "log" / f"log-decode-{suffix}")
        tokenizer = Tokenizer(args.bpe_model)
        if args.checkpoint:
            model, ckpt = load_model(args.checkpoint)
        else:
            model, ckpt = load_averaged_model(args.exp_dir, args.epoch, args.avg)
        check_tokenizer(model, ckpt, tokenizer, args.bpe_model)
        lexicon = None
        if args.lexicon is not None:
            from rnnt_kd.search import WordLexicon

            lexicon = WordLexicon.from_files(args.bpe_model, args.lexicon)
            log.info("closed vocabulary: %s from %s", lexicon, args.lexicon)
        # every input found and no earlier result in the way, before anything is decoded
        cut_sets = {name: read_cut_manifest(path) for name, path in test_sets}
        for name, cuts in cut_sets.items():
            check_feature_files(cuts, what=f"{name}: features")
        check_not_replacing(res_dir, list(cut_sets), suffix, args.overwrite)
    except (CheckpointError, UserError, OSError, RuntimeError, ValueError) as e:
        print(f"decode: error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    model.to(device).eval()
    wers: Dict[str, float] = {}
    timing: Dict[str, float] = {}
    num_cuts: Dict[str, int] = {}
    num_skipped: Dict[str, int] = {}
    unread: List[str] = []  # test sets none of whose cuts could be read
    for name, cuts in cut_sets.items():
        t0 = time.time()
        skipped: List[Tuple[str, str]] = []
        with torch.no_grad():
            results, audio_sec = decode_cuts(
                model,
                tokenizer,
                cuts,
                args.method,
                args.beam_size,
                args.max_duration,
                device,
                desc=name,
                lexicon=lexicon,
                skipped=skipped,
            )
        elapsed = time.time() - t0
        total = len(results) + len(skipped)
        bad_path = bad_cuts_file(res_dir, name, suffix)
        bad_path.unlink(missing_ok=True)  # a list of an earlier (--overwrite) decode
        if not results:  # a number is never written for data that was not read
            cut_id, reason = skipped[0] if skipped else ("-", "no cuts")
            unread.append(
                f"{name}: none of the {total} cuts could be read (first: {cut_id}: "
                f"{one_line(reason)}); no results written for it"
            )
            log.warning(unread[-1])
            continue
        store_transcripts(res_dir / f"recogs-{name}-{suffix}.txt", results)
        wer = write_error_stats(res_dir / f"errs-{name}-{suffix}.txt", f"{name}-{suffix}", results)
        write_wer_summary(res_dir / f"wer-summary-{name}-{suffix}.txt", {suffix: wer})
        wers[name] = wer
        timing[name] = elapsed / max(audio_sec, 1e-9)
        num_cuts[name], num_skipped[name] = total, len(skipped)
        if skipped:
            append_bad_ids(bad_path, skipped)
            log.warning(
                "%s %s: WER %.2f%% over %d of %d cuts (%d could not be read: listed in %s)",
                name,
                suffix,
                wer,
                len(results),
                total,
                len(skipped),
                bad_path,
            )
        else:
            log.info(
                "%s %s: WER %.2f%% (%d utterances, RTF %.3f)",
                name,
                suffix,
                wer,
                len(results),
                timing[name],
            )
    out = {
        "suffix": suffix,
        "method": args.method,
        "lexicon": args.lexicon,
        "num_threads": args.num_threads,
        "wer": wers,
        "rtf": timing,
        "num_cuts": num_cuts,
        "skipped": num_skipped,
    }
    json_path = res_dir / f"wers-{suffix}.json"
    if wers:
        json_path.write_text(json.dumps(merge_wers(json_path, out), indent=1) + "\n")
    if unread:
        more = f" (and {len(unread) - 1} more test sets)" if len(unread) > 1 else ""
        print(f"decode: error: {unread[0]}{more}", file=sys.stderr)
        sys.exit(2)
    return wers


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.decode``: :func:`main` with every user error as one line."""
    return run_cli("decode", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
