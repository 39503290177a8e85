"""Cost of lattice distillation per training step on a GPU: time and peak GPU memory.

The GPU counterpart of ``distill_cost.py`` (same rows, same models and ``Setup``), for the
paper's claim that y/blank KD costs O(T·U) memory where full-vocabulary KD costs O(T·U·V):

- ``pruned``: pruned RNN-T alone (simple + pruned loss), no teacher;
- ``ybr-band``: + 3-class (y/blank/rest) KD on the pruned band (the recipe's);
- ``ybr-full``: + 3-class KD on the full lattice;
- ``fullvocab-full``: + full-vocabulary KD on the full lattice;
- ``fullvocab-band``: + full-vocabulary KD on the pruned band.

Per shape (B, T' encoder frames, U tokens, V vocabulary): the student step (``compute_loss`` +
backward, the teacher's ``forward()`` precomputed and excluded, as in ``distill_cost.py``; the
full-lattice rows include the teacher's full-lattice joiner) and the KD function alone (+ its
backward). Time: CUDA events, median of ``--repeats`` after ``--warmup`` calls. Memory: peak of
``torch.cuda.max_memory_allocated`` during the call minus what was allocated before it (exact:
the caching allocator's live bytes, not nvidia-smi's reserved pool). fp32, no autocast.

Usage: ``python benchmarks/distill_cost_gpu.py [--repeats 10] [--json FILE]`` (needs CUDA and a
backend with CUDA kernels: ``RNNT_KD_CUDA=1 local/setup.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_utils import MiB, markdown_table, median  # noqa: E402
from distill_cost import CONFIGS, TEACHER, CachedTeacher, Setup  # noqa: E402

from rnnt_kd import backend  # noqa: E402

# (name, B, T', U, V): the CPU benchmark's shape, the same with a 8x larger vocabulary, and a
# LibriSpeech-like batch (16 s utterances at 40 ms per encoder frame, 120 BPE tokens)
SHAPES: Tuple[Tuple[str, int, int, int, int], ...] = (
    ("cpu-table", 8, 250, 60, 500),
    ("vocab-4000", 8, 250, 60, 4000),
    ("libri-batch", 32, 400, 120, 500),
)


def gpu_call(fn: Callable[[], None], warmup: int, repeats: int) -> Tuple[List[float], int]:
    """Seconds per call (CUDA events) and the peak bytes allocated above the start."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return times, peak


def measure(student: str, shape: Tuple[str, int, int, int, int], warmup: int, repeats: int):
    name, b, t, u, v = shape
    s = Setup(student, "cuda", b, t, u, v)
    t_out = s.teacher_forward()
    cached = CachedTeacher(s.teacher, t_out)
    rows: Dict[str, Dict[str, Any]] = {}
    times, peak = gpu_call(s.teacher_forward, warmup, repeats)
    rows["teacher:forward"] = {"times": times, "peak": peak}
    for cfg in CONFIGS:
        step = s.step_fn(cfg, cached if CONFIGS[cfg] else None)

        def fn(step=step) -> None:
            s.student.zero_grad(set_to_none=True)
            cached.prime()
            step()

        times, peak = gpu_call(fn, warmup, repeats)
        rows[f"step:{cfg}"] = {"times": times, "peak": peak}
    for cfg, fn in s.kd_alone_fns(t_out).items():
        times, peak = gpu_call(fn, warmup, repeats)
        rows[f"kd:{cfg}"] = {"times": times, "peak": peak}
    return {"shape": dict(zip("name B T_out U V".split(), shape)), "rows": rows}


def report(res: Dict[str, Any]) -> str:
    out = [f"GPU: {res['gpu']}, torch {res['torch']}, backend {res['backend']}", ""]
    for entry in res["runs"]:
        sh, rows = entry["shape"], entry["rows"]
        out.append(
            f"Student `{entry['student']}` (teacher `{TEACHER}`), shape {sh['name']}: "
            f"B={sh['B']}, T'={sh['T_out']}, U={sh['U']}, V={sh['V']}; teacher forward "
            f"{1e3 * median(rows['teacher:forward']['times']):.1f} ms"
        )
        out.append("")
        base_t = median(rows["step:pruned"]["times"])
        base_m = rows["step:pruned"]["peak"]
        table = []
        for cfg in CONFIGS:
            st = rows[f"step:{cfg}"]
            kd = rows.get(f"kd:{cfg}")
            table.append(
                [
                    cfg,
                    f"{1e3 * median(st['times']):.1f}",
                    f"{100 * (median(st['times']) / base_t - 1):+.1f}%",
                    f"{st['peak'] / MiB:.0f}",
                    f"{100 * (st['peak'] / base_m - 1):+.1f}%",
                    f"{1e3 * median(kd['times']):.2f}" if kd else "-",
                    f"{kd['peak'] / MiB:.1f}" if kd else "-",
                ]
            )
        header = ["config", "step ms", "vs pruned", "step peak MiB", "vs pruned"]
        header += ["KD alone ms", "KD alone peak MiB"]
        out.append(markdown_table(header, table))
        out.append("")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--students", default="medium,small")
    p.add_argument("--shapes", default=",".join(s[0] for s in SHAPES))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json", default=None, help="write all raw numbers here")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("distill_cost_gpu: no CUDA device (the CPU benchmark is distill_cost.py)")
    backend.check_device(torch.device("cuda"))
    wanted = args.shapes.split(",")
    res: Dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "backend": backend.describe(),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "runs": [],
    }
    for shape in (s for s in SHAPES if s[0] in wanted):
        for student in args.students.split(","):
            entry = measure(student, shape, args.warmup, args.repeats)
            torch.cuda.empty_cache()  # the models and batch of `measure` are gone
            entry["student"] = student
            res["runs"].append(entry)
            print(f"done: {student} {shape}", file=sys.stderr, flush=True)
    text = report(res)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
