#!/usr/bin/env python3
"""What it costs that a KD student's RNN-T loss stays on its own band (issue 22).

Before: a KD student computed its pruned RNN-T loss on the teacher's band (one joiner pass),
so "KD vs no KD" changed the band of the RNN-T loss as well as adding the KD term. Now the
student's RNN-T loss is on its own band, as without KD, and the KD term scores the student on
the teacher's band: a second joiner pass on a band (``Transducer.forward(kd_ranges=...)``).
This times one training step (forward + backward) of a student with a cached teacher band both
ways, at the default recipe's shapes, and prints a table.

  python benchmarks/kd_band_cost.py --threads 1 --repeats 20 --json benchmarks/kd_band_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnt_kd.kd.cache import TeacherBand, teacher_band  # noqa: E402
from rnnt_kd.kd.term import kd_term_from_band  # noqa: E402
from rnnt_kd.model import Transducer, TransducerConfig  # noqa: E402
from rnnt_kd.model.conformer import min_input_frames  # noqa: E402

CPU_ARCH = dict(subsampling="conv1d", layer_scale=0.1, use_ctc=True)


def models(vocab: int):
    torch.manual_seed(0)
    teacher = Transducer(TransducerConfig.from_preset("small", vocab, **CPU_ARCH)).eval()
    torch.manual_seed(1)
    student = Transducer(TransducerConfig.from_preset("small", vocab, **CPU_ARCH)).train()
    return teacher, student


def step(student, x, xl, y, yl, band: TeacherBand, own_band: bool) -> None:
    kw = {"kd_ranges": band.ranges} if own_band else {"ranges": band.ranges}
    out = student(x, xl, y, yl, prune_range=5, **kw)
    kd = kd_term_from_band(student, out, band, y, temperature=2.0)
    (out.simple_loss * 0.5 + out.pruned_loss + kd).backward()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batch", type=int, default=12, help="utterances (default preset: ~40 s)")
    p.add_argument("--frames", type=int, default=75, help="encoder frames T' (3 s)")
    p.add_argument("--tokens", type=int, default=24, help="BPE tokens U")
    p.add_argument("--vocab", type=int, default=128, help="the default preset's BPE size")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    teacher, student = models(a.vocab)
    g = torch.Generator().manual_seed(2)
    t_in = min_input_frames(a.frames)
    x = torch.randn(a.batch, t_in, 80, generator=g)
    xl = torch.full((a.batch,), t_in)
    y = torch.randint(1, a.vocab, (a.batch, a.tokens), generator=g)
    yl = torch.full((a.batch,), a.tokens)
    ranges, log_probs, lens = teacher_band(teacher, x, xl, y, yl, 5, 0.0, 0.25, 2.0)
    band = TeacherBand(ranges, log_probs, lens)
    variants = (("teacher band (before)", False), ("own band + KD band (now)", True))
    samples = {name: [] for name, _ in variants}
    for _name, own in variants:
        step(student, x, xl, y, yl, band, own)  # warm-up
    for _ in range(a.repeats):  # interleaved: a busy machine slows both alike
        for name, own in variants:
            student.zero_grad()
            t0 = time.perf_counter()
            step(student, x, xl, y, yl, band, own)
            samples[name].append(time.perf_counter() - t0)
    times = {name: statistics.median(ts) for name, ts in samples.items()}
    base = times["teacher band (before)"]
    print(f"KD student step, cached teacher band; B={a.batch} T'={a.frames} U={a.tokens} "
          f"V={a.vocab}, small preset, {a.threads} thread(s), median of {a.repeats}")  # fmt: skip
    print(f"| {'RNN-T loss on':28s} | step (ms) | vs before |")
    print(f"|{'-' * 30}|-----------|-----------|")
    for name, t in times.items():
        print(f"| {name:28s} | {1000 * t:9.1f} | {100 * (t / base - 1):+8.1f} % |")
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "median_s": times}, indent=1) + "\n")


if __name__ == "__main__":
    main()
