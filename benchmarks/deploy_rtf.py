"""Deployment cost on one CPU thread: rnnt-kd (PyTorch) vs sherpa-onnx float32 and int8, plus
file sizes of a dense and a pruned model (float32, int8, and ``.tar.bz2`` as shipped).

Model: ``--checkpoint F --bpe-model B`` (a trained model), else a RANDOM model of ``--preset``
with vocabulary ``--vocab-size`` whose blank bias is raised until greedy search emits about
``--emit-rate`` tokens per encoder frame (as ``decode_rtf.py`` does; a random joiner would emit on
every frame). For sizes the same model is also magnitude-pruned to ``--sparsity`` (globally,
``rnnt_kd.pruning``) and exported: sparse weights are stored as zeros in ONNX, so only the
archive shrinks. Speed does not depend on sparsity (onnxruntime multiplies dense matrices).

Data: ``--num-utts`` synthetic utterances (harmonics of a random pitch plus noise), 2-6 s.
Each pipeline runs from the waveform, one utterance at a time, 1 thread: rnnt-kd computes
kaldifeat fbank (as ``transcribe`` does) then encodes and searches with torch; sherpa-onnx does
its own fbank, onnxruntime and search. RTF = time / audio duration, median of ``--repeats``
rounds after a warm-up round; process CPU time too (less sensitive to a busy machine).

Usage: ``python benchmarks/deploy_rtf.py [--preset small] [--num-utts 8] [--json FILE]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_utils import (  # noqa: E402
    machine_info,
    markdown_table,
    median,
    print_and_save,
    time_call_cpu,
)

from rnnt_kd import pruning  # noqa: E402
from rnnt_kd.data.features import wav_fbank_kaldifeat  # noqa: E402
from rnnt_kd.deploy.model_source import load_transducer  # noqa: E402
from rnnt_kd.deploy.onnx_export import export_transducer  # noqa: E402
from rnnt_kd.deploy.sherpa import make_recognizer, recognize  # noqa: E402
from rnnt_kd.deploy.sizes import size_summary  # noqa: E402
from rnnt_kd.model import Transducer, TransducerConfig  # noqa: E402
from rnnt_kd.search import decode_batch, greedy_search  # noqa: E402

SR = 16000
METHODS = ("greedy_search", "modified_beam_search")


def make_audio(num_utts: int, seed: int = 0) -> List[np.ndarray]:
    """Voiced-like synthetic utterances, durations uniform in [2, 6] s."""
    g = np.random.default_rng(seed)
    out = []
    for _ in range(num_utts):
        t = np.arange(int(g.uniform(2, 6) * SR)) / SR
        f0 = g.uniform(100, 250)
        x = sum(np.sin(2 * np.pi * f0 * k * t + g.uniform(0, 6)) / k for k in range(1, 6)) * 0.1
        out.append((x + 0.01 * g.standard_normal(t.size)).astype(np.float32))
    return out


@torch.no_grad()
def calibrate_blank_bias(model: Transducer, feats: List[torch.Tensor], rate: float) -> float:
    """Raise the blank logit's bias until greedy search emits ~``rate`` tokens/encoder frame."""
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    enc, enc_lens = model.encode(x, torch.tensor([f.size(0) for f in feats]))
    bias = model.joiner.output_linear.bias
    base, lo, hi = float(bias[model.blank_id]), 0.0, 50.0
    for _ in range(12):
        bias[model.blank_id] = base + (lo + hi) / 2
        n = sum(len(h) for h in greedy_search(model, enc, enc_lens))
        lo, hi = ((lo + hi) / 2, hi) if n / float(enc_lens.sum()) > rate else (lo, (lo + hi) / 2)
    bias[model.blank_id] = base + (lo + hi) / 2
    return (lo + hi) / 2


def toy_bpe(out_dir: Path, vocab_size: int) -> Path:
    """A BPE model of ``vocab_size`` pieces (for tokens.txt) trained on generated words."""
    from rnnt_kd.data import train_bpe

    g = np.random.default_rng(0)
    letters = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")
    words = ["".join(g.choice(letters, g.integers(2, 9))) for _ in range(3000)]
    lines = [" ".join(g.choice(words, 12)) for _ in range(2000)]
    return train_bpe(lines, out_dir, vocab_size=vocab_size)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    torch.set_num_threads(1)
    load_start = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="deploy_rtf_"))
    audio = make_audio(args.num_utts)
    audio_s = sum(a.size for a in audio) / SR
    shift = None
    if args.checkpoint:
        model, _ = load_transducer(checkpoint=args.checkpoint, bpe_model=args.bpe_model)
        bpe = Path(args.bpe_model)
        name = Path(args.checkpoint).stem
    else:
        bpe = toy_bpe(work / "lang", args.vocab_size)
        torch.manual_seed(0)
        model = Transducer(TransducerConfig.from_preset(args.preset, args.vocab_size)).eval()
        shift = calibrate_blank_bias(model, wav_fbank_kaldifeat(audio), args.emit_rate)
        name = f"random {args.preset}"
    sizes = {}
    export_transducer(model, bpe, work / "dense")
    sizes["dense"] = size_summary(work / "dense")
    if args.sparsity > 0:
        sparse = Transducer(model.config)
        sparse.load_state_dict(model.state_dict())
        pruner = pruning.GradualPruner(
            sparse, target_sparsity=args.sparsity, start_step=0, end_step=1, prune_every=1
        )
        pruner.prune_to(args.sparsity)
        sparse_state, _ = pruning.plain_state_dict(sparse)
        plain = Transducer(model.config).eval()
        plain.load_state_dict(sparse_state)
        export_transducer(plain, bpe, work / "sparse")
        sizes[f"{100 * args.sparsity:.0f} % sparse"] = size_summary(work / "sparse")
    state_mb = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e6

    def rnnt_kd_fn(method: str) -> Callable[[], List[List[int]]]:
        @torch.no_grad()
        def fn() -> List[List[int]]:
            out = []
            for a in audio:
                (f,) = wav_fbank_kaldifeat([a])
                out += decode_batch(model, f[None], torch.tensor([f.size(0)]), method, beam=4)
            return out

        return fn

    def sherpa_fn(method: str, int8: bool) -> Callable[[], List[str]]:
        rec = make_recognizer(work / "dense", int8=int8, method=method, beam=4, num_threads=1)
        return lambda: recognize(rec, [(a, SR) for a in audio], batch_size=1)

    cases: Dict[str, Callable[[], Any]] = {}
    for m in METHODS:
        cases[f"{m}|rnnt-kd (PyTorch)"] = rnnt_kd_fn(m)
        cases[f"{m}|sherpa-onnx fp32"] = sherpa_fn(m, False)
        cases[f"{m}|sherpa-onnx int8"] = sherpa_fn(m, True)
    times: Dict[str, List[float]] = {k: [] for k in cases}
    cpu: Dict[str, List[float]] = {k: [] for k in cases}
    outputs: Dict[str, Any] = {}
    for r in range(args.repeats + 1):  # round 0: warm-up
        for k, fn in cases.items():
            dt, dc = time_call_cpu(lambda fn=fn, k=k: outputs.__setitem__(k, fn()))
            if r > 0:
                times[k].append(dt)
                cpu[k].append(dc)
    tok = None
    from rnnt_kd.data import Tokenizer

    tok = Tokenizer(bpe)
    same = {}
    for m in METHODS:
        ours = [" ".join(tok.decode(h).split()) for h in outputs[f"{m}|rnnt-kd (PyTorch)"]]
        for tag in ("fp32", "int8"):
            theirs = [" ".join(t.split()) for t in outputs[f"{m}|sherpa-onnx {tag}"]]
            same[f"{m}|{tag}"] = sum(a == b for a, b in zip(ours, theirs)) / len(ours)
    tokens = sum(len(h) for h in outputs["greedy_search|rnnt-kd (PyTorch)"])
    return {
        "machine": dict(machine_info(), loadavg_start=load_start),
        "model": name,
        "params": sum(p.numel() for p in model.parameters()),
        "state_dict_mb": state_mb,
        "num_utts": args.num_utts,
        "audio_seconds": audio_s,
        "blank_bias_shift": shift,
        "greedy_tokens_per_second": tokens / audio_s,
        "repeats": args.repeats,
        "times": times,
        "cpu_times": cpu,
        "same_hypotheses": same,
        "sizes": sizes,
    }


def report(res: Dict[str, Any]) -> str:
    audio = res["audio_seconds"]
    rows = []
    for key, ts in res["times"].items():
        method, system = key.split("|")
        tag = system.split()[-1]
        agree = res["same_hypotheses"].get(f"{method}|{tag}")
        rows.append(
            [
                method,
                system,
                f"{median(ts) / audio:.4f}",
                f"{median(res['cpu_times'][key]) / audio:.4f}",
                "–" if agree is None else f"{100 * agree:.0f} %",
            ]
        )
    speed = markdown_table(
        [
            "method",
            "pipeline (1 thread, from the waveform)",
            "RTF",
            "CPU-time RTF",
            "same hyps as rnnt-kd",
        ],
        rows,
    )
    size_rows = []
    for label, s in res["sizes"].items():
        mb = {k: v / 1e6 for k, v in s["onnx_bytes"].items()}
        tar = {k: v / 1e6 for k, v in s["tar_bz2_bytes"].items()}
        size_rows.append(
            [
                label,
                f"{mb['fp32']:.2f}",
                f"{tar['fp32']:.2f}",
                f"{mb['int8']:.2f}",
                f"{tar['int8']:.2f}",
            ]
        )
    sizes = markdown_table(
        ["model", "ONNX fp32 MB", ".tar.bz2 MB", "ONNX int8 MB", ".tar.bz2 MB"], size_rows
    )
    head = (
        f"{res['model']} ({res['params'] / 1e6:.2f} M parameters, float32 state dict "
        f"{res['state_dict_mb']:.2f} MB); {res['num_utts']} utterances, {audio:.1f} s of audio; "
        f"greedy emits {res['greedy_tokens_per_second']:.1f} tokens/s\n"
    )
    return head + "\n" + speed + "\n\n" + sizes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default=None, help="a trained model (else a random one)")
    p.add_argument("--bpe-model", default=None, help="its BPE model (with --checkpoint)")
    p.add_argument("--preset", default="small", help="random model's size preset")
    p.add_argument("--vocab-size", type=int, default=256)
    p.add_argument("--emit-rate", type=float, default=0.2, help="greedy tokens per encoder frame")
    p.add_argument("--sparsity", type=float, default=0.9, help="pruned copy for sizes (0: none)")
    p.add_argument("--num-utts", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if args.checkpoint and not args.bpe_model:
        p.error("--checkpoint needs --bpe-model")
    res = run(args)
    print_and_save(res, report(res), args.json)


if __name__ == "__main__":
    main()
