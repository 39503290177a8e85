"""Shared helpers for the benchmarks: timing, memory measurement, machine description.

Memory is measured two ways (both documented in benchmarks/RESULTS.md):

- ``torch_peak_bytes(fn)``: the peak of live bytes allocated by torch's CPU allocator while ``fn``
  runs, above what was live when it started, from the allocation/free records of
  ``torch.profiler.profile(profile_memory=True)``. Deterministic; misses memory that libraries
  allocate outside torch (oneDNN scratch, the interpreter).
- ``RssProbe``: in a fresh process, ``ru_maxrss`` after the measured call minus the resident set
  size just before it (after ``malloc_trim`` returned freed heap to the OS). Counts everything
  the process touched, but only if the call's peak exceeds every earlier peak of the process
  (``RssProbe.valid`` checks that).
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.profiler import ProfilerActivity, profile

MiB = float(1 << 20)


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def time_call(fn: Callable[[], Any]) -> float:
    """Wall-clock seconds of one call of ``fn``."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_call_cpu(fn: Callable[[], Any]) -> Tuple[float, float]:
    """(wall-clock, process CPU) seconds of one call of ``fn``. CPU time (all threads) is far
    less sensitive than wall time to other processes on a shared machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def torch_peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak live torch CPU allocation (bytes) during ``fn()``, relative to its start."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


class RssProbe:
    """``with RssProbe() as p: step()`` -> ``p.delta`` bytes: peak RSS during the block minus RSS
    at its start. ``p.valid`` is False when the process had peaked higher before the block (then
    ``delta`` is only a lower bound)."""

    def __enter__(self) -> RssProbe:
        _malloc_trim()
        self.rss0 = _rss_bytes()
        self.maxrss0 = _maxrss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        self.maxrss1 = _maxrss_bytes()
        self.delta = self.maxrss1 - self.rss0
        self.valid = self.maxrss1 > self.maxrss0


def run_worker(script: str, args: List[str]) -> Dict[str, Any]:
    """Run ``python script --worker ... args`` in a fresh process; its last stdout line is JSON."""
    env = dict(os.environ, OMP_NUM_THREADS="2", OMP_WAIT_POLICY="PASSIVE")
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine_info() -> Dict[str, Any]:
    """CPU, torch version/backend and load average (the machine is shared)."""
    from rnnt_kd import backend

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "torch": torch.__version__,
        "rnnt_backend": backend.NAME,
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_and_save(res: Dict[str, Any], table: str, json_path: Optional[str]) -> None:
    """Print a benchmark's table and machine facts (with the load at the end), and write the raw
    results ``res`` (which has a ``machine`` dict) to ``json_path`` when given."""
    print(table)
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nmachine: {json.dumps(res['machine'])}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(res, f, indent=1)
