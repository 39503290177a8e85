"""Cost of lattice distillation per CPU training step: time and peak memory.

Rows (all at B=8, T'=250 encoder frames, i.e. ``min_input_frames(250)`` = 1005 fbank frames,
U=60 tokens, V=500; teacher = ``medium`` preset; student = ``medium`` (the recipe's sparse
students before pruning) and ``small`` (the recipe's small student)):

- ``pruned``: pruned RNN-T alone (simple + pruned loss), no teacher;
- ``ybr-band``: + 3-class (y/blank/rest) KD on the pruned band (teacher's band, from px/py);
- ``ybr-full``: + 3-class KD on the full lattice;
- ``fullvocab-full``: + full-vocabulary KD on the full lattice;
- ``fullvocab-band``: + full-vocabulary KD on the pruned band.

For each row: the whole student step (``train.losses.compute_loss`` + backward, with the teacher's
``forward()`` precomputed and excluded: every KD row needs it), and the KD function alone (called
on tensors prepared beforehand, + its backward). The teacher's forward is reported on its own.
Time: median over ``--repeats`` rounds after a warm-up round, configurations interleaved within
each round (the machine is shared: interleaving spreads load changes over all rows), 2 threads.
Memory: see ``bench_utils`` (torch allocator peak from the profiler, and peak-RSS delta of the
first step in a fresh process).

Usage: ``python benchmarks/distill_cost.py [--repeats 7] [--full-repeats 2] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional

# Spinning OpenMP threads make 2-thread torch several times slower when the other core is busy
# (a shared machine); sleeping waits cost nothing measurable when it is idle. Set before torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_utils import (  # noqa: E402
    MiB,
    RssProbe,
    machine_info,
    markdown_table,
    median,
    run_worker,
    time_call_cpu,
    torch_peak_bytes,
)

from rnnt_kd.kd import losses as distill  # noqa: E402
from rnnt_kd.kd.teacher import KDBatch, OnlineTeacher  # noqa: E402
from rnnt_kd.model import Transducer, TransducerConfig, TransducerOutput  # noqa: E402
from rnnt_kd.model.conformer import min_input_frames  # noqa: E402
from rnnt_kd.settings import DistillSettings, LossSettings  # noqa: E402
from rnnt_kd.train.losses import compute_loss  # noqa: E402

B, T_OUT, U, V = 8, 250, 60, 500
TEACHER = "medium"
STUDENTS = ("medium", "small")
DISTILL_SCALE = 0.05  # the recipe's
STEP = 10**6  # past the simple->pruned warm-up

BASE = LossSettings(prune_range=5, model_warm_step=2000)
KD = DistillSettings(distill_scale=DISTILL_SCALE)
CONFIGS: Dict[str, Optional[DistillSettings]] = {
    "pruned": None,
    "ybr-band": replace(KD, distill_type="ybr", distill_lattice="pruned"),
    "ybr-full": replace(KD, distill_type="ybr", distill_lattice="full"),
    "fullvocab-full": replace(KD, distill_type="full-vocab", distill_lattice="full"),
    "fullvocab-band": replace(KD, distill_type="full-vocab", distill_lattice="pruned"),
}


class CachedTeacher:
    """Stands in for the teacher in ``compute_loss`` so the step excludes the teacher's forward.

    ``__call__`` hands out a copy of a precomputed output that nothing else references, so it
    lives exactly as long as the real teacher's output would (until ``compute_loss`` returns).
    The copy is made by ``prime()`` before the step (timing: the step pays nothing for it) or,
    if not primed, inside the call (memory: the copy is allocated, and freed, within the measured
    window, as the real output would be). ``full_logits`` runs the real teacher: the full-lattice
    rows pay for the teacher's full-lattice joiner inside the step.
    """

    def __init__(self, teacher: Transducer, out: TransducerOutput) -> None:
        self.teacher, self.out = teacher, out
        self._next: Optional[TransducerOutput] = None

    def _copy(self) -> TransducerOutput:
        return TransducerOutput(
            **{k: v.clone() if v is not None else None for k, v in vars(self.out).items()}
        )

    def prime(self) -> None:
        self._next = self._copy()

    def __call__(self, *args: Any, **kwargs: Any) -> TransducerOutput:
        if kwargs.get("ranges") is not None:
            raise RuntimeError("CachedTeacher only serves the teacher-band configuration")
        out, self._next = (self._next or self._copy()), None
        return out

    def full_logits(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.teacher.full_logits(*args, **kwargs)


class Setup:
    """Models and a random batch (fixed seeds); shape (B, T', U, V) as given, on ``device``."""

    def __init__(
        self,
        student_preset: str,
        device: str = "cpu",
        b: int = B,
        t_out: int = T_OUT,
        u: int = U,
        v: int = V,
    ) -> None:
        torch.set_num_threads(2)
        torch.manual_seed(0)
        self.teacher = Transducer(TransducerConfig.from_preset(TEACHER, v)).eval().to(device)
        torch.manual_seed(1)
        self.student = (
            Transducer(TransducerConfig.from_preset(student_preset, v)).train().to(device)
        )
        g = torch.Generator().manual_seed(2)
        t_in = min_input_frames(t_out)
        self.x = torch.randn(b, t_in, 80, generator=g).to(device)
        self.x_lens = torch.full((b,), t_in, dtype=torch.int64, device=device)
        self.y = torch.randint(1, v, (b, u), generator=g).to(device)
        self.y_lens = torch.full((b,), u, dtype=torch.int64, device=device)

    def teacher_forward(self) -> TransducerOutput:
        """Exactly the call compute_loss makes for the teacher."""
        with torch.no_grad():
            return self.teacher(
                self.x,
                self.x_lens,
                self.y,
                self.y_lens,
                prune_range=BASE.prune_range,
                am_scale=BASE.am_scale,
                lm_scale=BASE.lm_scale,
            )

    def step_fn(self, name: str, cached: Optional[CachedTeacher]) -> Callable[[], None]:
        cfg = CONFIGS[name]

        def step() -> None:
            loss, _ = compute_loss(
                self.student,
                KDBatch(self.x, self.x_lens, self.y, self.y_lens),
                BASE,
                STEP,
                OnlineTeacher(cached) if cfg else None,  # type: ignore[arg-type]
                cfg,
            )
            loss.backward()

        return step

    def kd_alone_fns(self, t_out: TransducerOutput) -> Dict[str, Callable[[], None]]:
        """The KD function + its backward on prepared leaf tensors (student on the teacher band)."""
        with torch.no_grad():
            s_out = self.student(
                self.x,
                self.x_lens,
                self.y,
                self.y_lens,
                prune_range=BASE.prune_range,
                ranges=t_out.ranges,
            )
            s_full = self.student.full_logits(s_out.encoder_out, self.y)
            t_full = self.teacher.full_logits(t_out.encoder_out, self.y)
        s_px = s_out.px.clone().requires_grad_()
        s_py = s_out.py.clone().requires_grad_()
        s_band = s_out.logits.clone().requires_grad_()
        s_full.requires_grad_()
        lens = s_out.encoder_out_lens
        band_mask = distill.band_node_mask(t_out.ranges, t_out.boundary)
        full_mask = distill.lattice_node_mask(lens, self.y_lens, s_full.size(1), s_full.size(2))

        def run(loss_fn: Callable[[], torch.Tensor], leaves: List[torch.Tensor]) -> Callable:
            def fn() -> None:
                for leaf in leaves:
                    leaf.grad = None
                loss_fn().backward()

            return fn

        return {
            "ybr-band": run(
                lambda: distill.band_distill_loss(
                    s_px, s_py, t_out.px, t_out.py, t_out.ranges, t_out.boundary
                ),
                [s_px, s_py],
            ),
            "ybr-full": run(
                lambda: distill.lattice_distill_loss(s_full, t_full, self.y, lens, self.y_lens),
                [s_full],
            ),
            "fullvocab-full": run(
                lambda: distill.full_vocab_distill_loss(s_full, t_full, full_mask), [s_full]
            ),
            "fullvocab-band": run(
                lambda: distill.full_vocab_distill_loss(s_band, t_out.logits, band_mask), [s_band]
            ),
        }


def output_bytes(out: TransducerOutput) -> int:
    """Bytes held by a TransducerOutput's tensors (what the teacher keeps alive during a step)."""
    seen, total = set(), 0
    for v in vars(out).values():
        if isinstance(v, torch.Tensor) and v.untyped_storage().data_ptr() not in seen:
            seen.add(v.untyped_storage().data_ptr())
            total += v.untyped_storage().nbytes()
    return total


# ----------------------------------------------------------------------------------------------
# Workers (each runs in its own process and prints one JSON line)


def worker_step_memory(student: str, name: str) -> Dict[str, Any]:
    """Fresh process: RSS delta of the FIRST step, then the torch-allocator peak of a second one.

    The teacher's output is copied inside the measured window (``CachedTeacher``), so it counts
    for as long as a real teacher output lives; its bytes are in ``teacher_output``.
    """
    s = Setup(student)
    cached, t_bytes = None, 0
    if CONFIGS[name] is not None:
        t_out = s.teacher_forward()
        cached, t_bytes = CachedTeacher(s.teacher, t_out), output_bytes(t_out)
    step = s.step_fn(name, cached)
    with RssProbe() as probe:
        step()
    s.student.zero_grad(set_to_none=True)
    torch_peak = torch_peak_bytes(step)
    return {
        "rss_delta": probe.delta,
        "rss_valid": probe.valid,
        "torch_peak": torch_peak,
        "teacher_output": t_bytes,
    }


def worker_teacher_memory() -> Dict[str, Any]:
    s = Setup("small")
    with RssProbe() as probe:
        t_out = s.teacher_forward()
    retained = output_bytes(t_out)
    del t_out
    return {
        "rss_delta": probe.delta,
        "rss_valid": probe.valid,
        "torch_peak": torch_peak_bytes(s.teacher_forward),
        "retained": retained,
    }


def worker_time(student: str, repeats: int, full_repeats: int) -> Dict[str, Any]:
    """Interleaved timing of every step, the teacher, and the KD functions alone (rows touching
    the full lattice, several times slower, get ``full_repeats`` rounds instead of ``repeats``).
    """
    s = Setup(student)
    t_out = s.teacher_forward()
    cached = CachedTeacher(s.teacher, t_out)
    fns: Dict[str, Callable[[], None]] = {
        f"step:{n}": s.step_fn(n, cached if CONFIGS[n] else None) for n in CONFIGS
    }
    kd = s.kd_alone_fns(t_out)
    fns.update({f"kd:{n}": f for n, f in kd.items()})
    if student == TEACHER:  # the teacher rows do not depend on the student
        fns["teacher:forward"] = s.teacher_forward

        def teacher_full() -> None:
            with torch.no_grad():
                s.teacher.full_logits(t_out.encoder_out, s.y)

        fns["teacher:full_logits"] = teacher_full
    kd_mem = {n: torch_peak_bytes(f) for n, f in kd.items()}
    if student == TEACHER:
        kd_mem["teacher:full_logits"] = torch_peak_bytes(fns["teacher:full_logits"])
    times: Dict[str, List[float]] = {n: [] for n in fns}
    cpu: Dict[str, List[float]] = {n: [] for n in fns}
    for r in range(max(repeats, full_repeats) + 1):  # round 0 is the warm-up
        for n, f in fns.items():
            is_full = n.endswith("-full") or n == "teacher:full_logits"
            if r > (full_repeats if is_full else repeats):
                continue
            s.student.zero_grad(set_to_none=True)  # as the optimizer does, outside the timing
            cached.prime()
            dt, dc = time_call_cpu(f)
            if r > 0:
                times[n].append(dt)
                cpu[n].append(dc)
    return {
        "times": times,
        "cpu_times": cpu,
        "kd_torch_peak": kd_mem,
        "loadavg": list(os.getloadavg()),
    }


# ----------------------------------------------------------------------------------------------
# Driver


def _ms(x: float) -> str:
    return f"{1e3 * x:.1f}" if x < 1 else f"{1e3 * x:.0f}"


def _mib(x: float) -> str:
    return f"{x / MiB:.1f}"


def collect(repeats: int, full_repeats: int, students: List[str]) -> Dict[str, Any]:
    script = os.path.abspath(__file__)
    info = machine_info()
    res: Dict[str, Any] = {
        "machine": info,
        "shape": {"B": B, "T_out": T_OUT, "T_in": min_input_frames(T_OUT), "U": U, "V": V},
        "teacher": TEACHER,
        "repeats": repeats,
        "full_repeats": full_repeats,
        "students": {},
    }
    res["teacher_memory"] = run_worker(script, ["--worker", "teacher-mem"])
    for st in students:
        entry: Dict[str, Any] = {"memory": {}}
        for name in CONFIGS:
            print(f"[distill_cost] memory {st} {name}", file=sys.stderr, flush=True)
            entry["memory"][name] = run_worker(
                script, ["--worker", "step-mem", "--student", st, "--config", name]
            )
        print(f"[distill_cost] timing {st}", file=sys.stderr, flush=True)
        entry["time"] = run_worker(
            script,
            [
                "--worker",
                "time",
                "--student",
                st,
                "--repeats",
                str(repeats),
                "--full-repeats",
                str(full_repeats),
            ],
        )
        res["students"][st] = entry
    res["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return res


def _paired(ts: List[float], base: List[float]) -> List[float]:
    """Ratios of timings taken in the same round (back to back, under the same load)."""
    return [a / b for a, b in zip(ts, base)]


def report(res: Dict[str, Any]) -> str:
    out = []
    tm = res["teacher_memory"]
    tt = res["students"].get(TEACHER, {}).get("time", {}).get("times", {})
    rows = []
    if "teacher:forward" in tt:
        rows.append(
            [
                "forward (encoder + band), no_grad",
                _ms(median(tt["teacher:forward"])),
                _mib(tm["torch_peak"]),
                _mib(tm["rss_delta"]) + ("" if tm["rss_valid"] else " (lower bound)"),
                _mib(tm["retained"]),
            ]
        )
        kdm = res["students"][TEACHER]["time"]["kd_torch_peak"]
        rows.append(
            [
                "full-lattice joiner (full rows only), no_grad",
                _ms(median(tt["teacher:full_logits"])),
                _mib(kdm["teacher:full_logits"]),
                "-",
                _mib(4 * B * T_OUT * (U + 1) * V),
            ]
        )
    out.append(f"Teacher ({TEACHER}), excluded from the student steps below:\n")
    out.append(
        markdown_table(
            ["teacher call", "time ms", "torch peak MiB", "RSS delta MiB", "output kept MiB"], rows
        )
    )
    for st, entry in res["students"].items():
        times, cpu = entry["time"]["times"], entry["time"]["cpu_times"]
        base_t = median(times["step:pruned"])
        base_c = median(cpu["step:pruned"])
        mem = entry["memory"]
        base_m = mem["pruned"]["torch_peak"]
        base_r = mem["pruned"]["rss_delta"]
        rows = []
        for name in CONFIGS:
            t = median(times[f"step:{name}"])
            m = mem[name]
            peak, rss = m["torch_peak"], m["rss_delta"]
            kd_t = times.get(f"kd:{name}")
            kd_m = entry["time"]["kd_torch_peak"].get(name)
            ts = times[f"step:{name}"]
            rows.append(
                [
                    name,
                    f"{_ms(t)} ({_ms(min(ts))}-{_ms(max(ts))}, n={len(ts)})",
                    f"{100 * (t / base_t - 1):+.1f}%",
                    f"{100 * (median(_paired(ts, times['step:pruned'])) - 1):+.1f}%",
                    f"{_ms(median(cpu[f'step:{name}']))} "
                    f"({100 * (median(cpu[f'step:{name}']) / base_c - 1):+.1f}%)",
                    _mib(peak),
                    f"{100 * (peak / base_m - 1):+.1f}%",
                    _mib(rss) + ("" if m["rss_valid"] else "*"),
                    f"{100 * (rss / base_r - 1):+.1f}%",
                    _ms(median(kd_t)) if kd_t else "-",
                    f"{100 * median(kd_t) / base_t:.2f}%" if kd_t else "-",
                    _mib(kd_m) if kd_m is not None else "-",
                    f"{100 * kd_m / base_m:.2f}%" if kd_m is not None else "-",
                ]
            )
        out.append(
            f"\nStudent `{st}` (teacher `{TEACHER}`), load average during timing "
            f"{[round(x, 2) for x in entry['time']['loadavg']]}:\n"
        )
        out.append(
            markdown_table(
                [
                    "config",
                    "step ms (min-max, n)",
                    "vs pruned",
                    "paired vs pruned",
                    "step CPU ms (vs pruned)",
                    "step torch peak MiB",
                    "vs pruned",
                    "step RSS peak MiB",
                    "vs pruned",
                    "KD alone ms",
                    "/ pruned step",
                    "KD alone torch peak MiB",
                    "/ pruned peak",
                ],
                rows,
            )
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=["step-mem", "teacher-mem", "time"])
    p.add_argument("--student", default="medium")
    p.add_argument("--config", default="pruned", choices=list(CONFIGS))
    p.add_argument("--repeats", type=int, default=7, help="timed rounds (band rows, teacher)")
    p.add_argument("--full-repeats", type=int, default=2, help="timed rounds (full-lattice rows)")
    p.add_argument("--students", default=",".join(STUDENTS))
    p.add_argument("--json", default=None, help="write all raw numbers here")
    args = p.parse_args()
    if args.worker == "step-mem":
        print(json.dumps(worker_step_memory(args.student, args.config)))
    elif args.worker == "teacher-mem":
        print(json.dumps(worker_teacher_memory()))
    elif args.worker == "time":
        print(json.dumps(worker_time(args.student, args.repeats, args.full_repeats)))
    else:
        res = collect(args.repeats, args.full_repeats, args.students.split(","))
        text = report(res)
        print(text)
        print(
            f"\nmachine: {json.dumps(res['machine'])}, load average at the end {res['loadavg_end']}"
        )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
