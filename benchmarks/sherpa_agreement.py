"""Why sherpa-onnx's hypotheses differ from ``decode``'s on a few utterances: stored features.

``decode`` reads the recipe's stored fbank features, which lhotse's lilcom compression rounds;
sherpa-onnx computes its fbank from the audio. This script decodes a test set a third way, with
rnnt-kd's own model and search on features computed from the audio (kaldifeat, as
``transcribe`` does), and counts identical hypotheses between the three, plus how far the
stored features lie from the audio's.

Usage (in a recipe directory, after stages 6 and 7; M: the model, S: the test set)::

  python benchmarks/sherpa_agreement.py --checkpoint exp/M/pretrained-epoch-4-avg-2.pt \\
    --bpe-model data/lang_bpe_128/bpe.model --cuts data/fbank/synthlibri_cuts_S.jsonl.gz \\
    --decode-recogs exp/M/modified_beam_search/recogs-S-epoch-4-avg-2-beam-4.txt \\
    --sherpa-recogs exp/M/onnx/modified_beam_search/recogs-S-sherpa-onnx-fp32-beam-4.txt \\
    --method modified_beam_search --beam-size 4 [--json out.json]

``benchmarks/sherpa_agreement.sh`` runs it for every stage-7 model of the default recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rnnt_kd.checkpoint import load_model  # noqa: E402
from rnnt_kd.data import Tokenizer  # noqa: E402
from rnnt_kd.data.features import wav_fbank_kaldifeat  # noqa: E402
from rnnt_kd.deploy.table import hypothesis_agreement  # noqa: E402
from rnnt_kd.search import decode_features  # noqa: E402
from rnnt_kd.wer import read_transcripts  # noqa: E402


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", help="the decoded model (export's .pt)")
    p.add_argument("--bpe-model")
    p.add_argument("--cuts", help="the test set's cuts (stored features, audio)")
    p.add_argument("--decode-recogs", help="decode's recogs file of that set")
    p.add_argument("--sherpa-recogs", help="decode_onnx's recogs file of that set")
    p.add_argument(
        "--summarize", default="", help="instead: print one table of the DIR/<model>.<set>.json"
    )
    p.add_argument("--method", default="modified_beam_search")
    p.add_argument("--beam-size", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--json", default="", help="also write the numbers here")
    return p


def hyps_of(path: str) -> Dict[str, List[str]]:
    """{cut id: hypothesis words} of an icefall ``recogs-*.txt`` file."""
    return {cut_id: hyp for cut_id, _, hyp in read_transcripts(path)}


def same(a: Dict[str, List[str]], b: Dict[str, List[str]]) -> float:
    """Share (%) of the utterances both have whose hypotheses are identical."""
    equal, common = hypothesis_agreement(a, b)
    return 100.0 * equal / max(common, 1)


def summarize(json_dir: str) -> None:
    """Print the markdown table of ``<model>.<set>.json`` files that runs wrote."""
    from pathlib import Path

    print(
        "| model | test set | decode (stored features) = sherpa-onnx fp32 "
        "| rnnt-kd from the audio = sherpa-onnx fp32 | max fbank difference (log-mel) |"
    )
    print("|---|---|---|---|---|")
    for f in sorted(Path(json_dir).glob("*.json"), key=lambda p: p.stat().st_mtime):
        model, test_set = f.stem.split(".", 1)
        d = json.loads(f.read_text())
        pct = list(d["same_hyps_pct"].values())
        print(
            f"| {model} | {test_set} | {pct[0]:.1f} % | {pct[1]:.1f} % "
            f"| {d['stored_vs_audio_fbank_abs_diff']['max']:.4f} |"
        )


def main() -> None:
    from lhotse import load_manifest

    parser = get_parser()
    args = parser.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    missing = [
        a
        for a in ("checkpoint", "bpe_model", "cuts", "decode_recogs", "sherpa_recogs")
        if not getattr(args, a)
    ]
    if missing:
        parser.error("needs --" + ", --".join(m.replace("_", "-") for m in missing))
    torch.set_num_threads(1)
    model, _ = load_model(args.checkpoint)
    model.eval()
    tokenizer = Tokenizer(args.bpe_model)
    cuts = list(load_manifest(args.cuts))
    from_audio: Dict[str, List[str]] = {}
    max_diff, sum_diff, frames = 0.0, 0.0, 0
    batches = range(0, len(cuts), args.batch_size)
    for i in tqdm(batches, desc="decoding from the audio", unit="batch"):
        batch = cuts[i : i + args.batch_size]
        feats = wav_fbank_kaldifeat([torch.from_numpy(c.load_audio()[0]) for c in batch])
        for c, f in zip(batch, feats):  # stored (lilcom) features against the audio's
            stored = torch.from_numpy(c.load_features())
            n = min(len(stored), len(f))
            d = (stored[:n] - f[:n]).abs()
            max_diff = max(max_diff, d.max().item())
            sum_diff, frames = sum_diff + d.sum().item(), frames + n
        hyps = decode_features(model, feats, method=args.method, beam=args.beam_size)
        for c, h in zip(batch, hyps):
            from_audio[c.id] = tokenizer.decode(h).split()
    decoded, sherpa = hyps_of(args.decode_recogs), hyps_of(args.sherpa_recogs)
    out = {
        "utterances": len(cuts),
        "same_hyps_pct": {
            "decode (stored features) vs sherpa-onnx fp32": same(decoded, sherpa),
            "rnnt-kd from the audio vs sherpa-onnx fp32": same(from_audio, sherpa),
            "rnnt-kd from the audio vs decode (stored features)": same(from_audio, decoded),
        },
        "stored_vs_audio_fbank_abs_diff": {
            "max": max_diff,
            "mean": sum_diff / max(frames * 80, 1),
        },
    }
    print(f"{args.cuts}: {len(cuts)} utterances, {args.method}")
    print("| pair | same hypotheses |\n|---|---|")
    for k, v in out["same_hyps_pct"].items():
        print(f"| {k} | {v:.1f} % |")
    d = out["stored_vs_audio_fbank_abs_diff"]
    print(f"stored vs audio fbank |difference| (log-mel): max {d['max']:.4f}, mean {d['mean']:.5f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
