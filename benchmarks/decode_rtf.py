"""Decoding real-time factor on CPU: greedy search and modified beam search, batched vs one
utterance at a time, plus the encoder alone.

Model: the CPU recipe's teacher size (``medium`` preset, vocab 256) with RANDOM weights (speed
only). A random joiner almost never prefers blank, which would make greedy search emit a symbol
on every frame; the blank logit's bias is therefore raised (``--emit-rate``, found by bisection)
so that greedy search emits about as many tokens per encoder frame as a trained model on read
speech (~0.2 at 25 frames/s with a 256-token BPE). The measured rate is reported.

Data: ``--num-utts`` utterances of random 80-dim features with durations drawn uniformly from
2-6 s (100 frames/s). RTF = processing time / audio duration, median over ``--repeats`` runs
after a warm-up, 2 threads, ``torch.no_grad``, eval mode. "batched": all utterances in one batch
(padded, the search batched across utterances); "one at a time": a loop over utterances.

Usage: ``python benchmarks/decode_rtf.py [--num-utts 32] [--repeats 3] [--json FILE]``
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Dict, List

# Spinning OpenMP threads make 2-thread torch several times slower when the other core is busy
# (a shared machine); sleeping waits cost nothing measurable when it is idle. Set before torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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

from rnnt_kd.model import Transducer, TransducerConfig  # noqa: E402
from rnnt_kd.search import greedy_search, modified_beam_search  # noqa: E402

FRAME_RATE = 100.0  # fbank frames per second


def make_data(num_utts: int, seed: int = 0) -> List[torch.Tensor]:
    """``num_utts`` random (T, 80) feature matrices, T uniform in [200, 600] frames (2-6 s)."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(200, 601, (num_utts,), generator=g).tolist()
    return [torch.randn(n, 80, generator=g) for n in lens]


def pad(feats: List[torch.Tensor]) -> tuple:
    lens = torch.tensor([f.size(0) for f in feats], dtype=torch.int64)
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    return x, lens


@torch.no_grad()
def calibrate_blank_bias(model: Transducer, feats: List[torch.Tensor], rate: float) -> float:
    """Raise the blank logit's bias until greedy search emits ~``rate`` tokens/encoder frame."""
    x, lens = pad(feats)
    enc, enc_lens = model.encode(x, lens)
    bias = model.joiner.output_linear.bias
    base = float(bias[model.blank_id])
    lo, hi = 0.0, 50.0
    for _ in range(12):
        mid = (lo + hi) / 2
        bias[model.blank_id] = base + mid
        n = sum(len(h) for h in greedy_search(model, enc, enc_lens))
        if n / float(enc_lens.sum()) > rate:
            lo = mid
        else:
            hi = mid
    bias[model.blank_id] = base + (lo + hi) / 2
    return (lo + hi) / 2


def run(args: argparse.Namespace) -> Dict[str, Any]:
    torch.set_num_threads(2)
    load_start = [round(x, 2) for x in os.getloadavg()]
    torch.manual_seed(0)
    model = Transducer(TransducerConfig.from_preset("medium", args.vocab_size)).eval()
    feats = make_data(args.num_utts)
    audio_s = sum(f.size(0) for f in feats) / FRAME_RATE
    shift = calibrate_blank_bias(model, feats, args.emit_rate)
    x, lens = pad(feats)

    @torch.no_grad()
    def batched(search: Callable | None) -> Callable[[], List]:
        def fn() -> List:
            enc, enc_lens = model.encode(x, lens)
            return search(enc, enc_lens) if search else []

        return fn

    @torch.no_grad()
    def one_by_one(search: Callable | None) -> Callable[[], List]:
        def fn() -> List:
            out = []
            for f in feats:
                enc, enc_lens = model.encode(f[None], torch.tensor([f.size(0)]))
                out += search(enc, enc_lens) if search else []
            return out

        return fn

    def greedy(e, el):
        return greedy_search(model, e, el)

    def beam(e, el):
        return modified_beam_search(model, e, el, beam=args.beam)

    cases = {
        ("encoder only", "batched"): batched(None),
        ("encoder only", "one at a time"): one_by_one(None),
        ("greedy_search", "batched"): batched(greedy),
        ("greedy_search", "one at a time"): one_by_one(greedy),
        (f"modified_beam_search (beam {args.beam})", "batched"): batched(beam),
        (f"modified_beam_search (beam {args.beam})", "one at a time"): one_by_one(beam),
    }
    with torch.no_grad():
        enc, enc_lens = model.encode(x, lens)
        frames = float(enc_lens.sum())
        tokens = {
            "greedy_search": sum(len(h) for h in greedy(enc, enc_lens)) / frames,
            "modified_beam_search": sum(len(h) for h in beam(enc, enc_lens)) / frames,
        }
    times: Dict[str, List[float]] = {f"{k[0]}|{k[1]}": [] for k in cases}
    cpu: Dict[str, List[float]] = {f"{k[0]}|{k[1]}": [] for k in cases}
    for r in range(args.repeats + 1):  # round 0: warm-up; cases interleaved within a round
        for k, fn in cases.items():
            dt, dc = time_call_cpu(fn)
            if r > 0:
                times[f"{k[0]}|{k[1]}"].append(dt)
                cpu[f"{k[0]}|{k[1]}"].append(dc)
    return {
        "machine": dict(machine_info(), loadavg_start=load_start),
        "num_utts": args.num_utts,
        "audio_seconds": audio_s,
        "encoder_frames": frames,
        "blank_bias_shift": shift,
        "tokens_per_frame": tokens,
        "repeats": args.repeats,
        "times": times,
        "cpu_times": cpu,
    }


def report(res: Dict[str, Any]) -> str:
    audio = res["audio_seconds"]
    rows = []
    for key, ts in res["times"].items():
        method, mode = key.split("|")
        t, c = median(ts), median(res["cpu_times"][key])
        rows.append(
            [method, mode, f"{t:.2f}", f"{t / audio:.4f}", f"{audio / t:.0f}x", f"{c / audio:.4f}"]
        )
    head = (
        f"{res['num_utts']} utterances, {audio:.1f} s of audio "
        f"({res['encoder_frames']:.0f} encoder frames); tokens per encoder frame: greedy "
        f"{res['tokens_per_frame']['greedy_search']:.3f}, beam "
        f"{res['tokens_per_frame']['modified_beam_search']:.3f} (blank bias +"
        f"{res['blank_bias_shift']:.2f})\n"
    )
    return (
        head
        + "\n"
        + markdown_table(
            ["method", "mode", "time s", "RTF", "faster than real time", "CPU-time RTF"], rows
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-utts", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--vocab-size", type=int, default=256)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument(
        "--emit-rate",
        type=float,
        default=0.2,
        help="target greedy tokens per encoder frame (sets the blank bias)",
    )
    p.add_argument("--json", default=None)
    args = p.parse_args()
    res = run(args)
    print_and_save(res, report(res), args.json)


if __name__ == "__main__":
    main()
