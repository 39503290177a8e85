"""What a KD student's epoch costs with the teacher run at every step vs read from a cache.

Three one-epoch trainings of the default recipe's 90 %-sparse student on the same cuts, one
thread each (as stage 5 runs them), run one after another in rounds (ABC, then CBA, ...):

- ``plain``: no distillation;
- ``online``: ``--teacher-checkpoint`` (the teacher's forward pass on every batch);
- ``cached``: the same plus ``--teacher-cache`` (built once by ``rnnt_kd.bin.cache_teacher``,
  timed separately with 2 threads).

Reported: the epoch time the trainer logs (training only, no validation), median over rounds,
and the final epoch-average KD loss of ``online`` and ``cached`` (they must agree).

Usage (from ``egs/synthlibri/ASR`` after stage 4)::

    ../../../.venv/bin/python ../../../benchmarks/teacher_cache.py \\
        --teacher exp/teacher/epoch-14.pt --num-cuts 1000 --rounds 2 \\
        --json ../../../benchmarks/teacher_cache.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_utils import machine_info, markdown_table, median  # noqa: E402

DEFAULT_CUTS = [
    "data/fbank/synthlibri_cuts_train-clean-synth.jsonl.gz",
    "data/fbank/synthlibri_cuts_train-farfield.jsonl.gz",
]


def _train(out: Path, argv: List[str]) -> Dict[str, float]:
    subprocess.run(
        [sys.executable, "-m", "rnnt_kd.bin.train", *argv, "--exp-dir", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"),
    )
    log = "\n".join(p.read_text() for p in (out / "log").glob("log-train*"))
    m = re.search(r"epoch 1 done in ([0-9.]+)s: .*distill_loss=([0-9.e+-]+)", log)
    if m is None:
        raise RuntimeError(f"no 'epoch 1 done' line in {out}/log")
    return {"epoch_s": float(m.group(1)), "distill_loss": float(m.group(2))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", required=True, help="teacher checkpoint (and pruning start)")
    p.add_argument("--train-cuts", nargs="+", default=DEFAULT_CUTS)
    p.add_argument("--valid-cuts", default="data/fbank/synthlibri_cuts_dev-clean.jsonl.gz")
    p.add_argument("--bpe-model", default="data/lang_bpe_128/bpe.model")
    p.add_argument("--num-cuts", type=int, default=1000, help="first N training cuts (shuffled)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--temperature", default="2.0")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    from lhotse import CutSet, combine

    tmp = Path(tempfile.mkdtemp(prefix="bench_tcache_"))
    cuts = combine(*[CutSet.from_file(c) for c in args.train_cuts]).to_eager()
    cuts = cuts.shuffle(rng=random.Random(0)).subset(first=args.num_cuts)
    cut_file = tmp / "cuts.jsonl.gz"
    cuts.to_file(cut_file)

    cache = tmp / "band.pt"
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rnnt_kd.bin.cache_teacher", "--teacher-checkpoint", args.teacher,
         "--train-cuts", str(cut_file), "--bpe-model", args.bpe_model, "--distill-temperature",
         args.temperature, "--max-duration", "40", "--num-threads", "2", "--out", str(cache)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cache_s = time.perf_counter() - t0

    # the default preset's 90 %-sparse student (run.sh sparse_args, one epoch)
    common = ["--train-cuts", str(cut_file), "--valid-cuts", args.valid_cuts, "--bpe-model",
              args.bpe_model, "--max-duration", "40", "--seed", "42", "--num-threads", "1",
              "--spec-augment", "false", "--model-preset", "small", "--subsampling", "conv1d",
              "--layer-scale", "0.1", "--use-ctc", "true", "--tensorboard", "false",
              "--progress", "false", "--init-from", args.teacher, "--base-lr", "1e-3",
              "--warmup-batches", "1", "--model-warm-step", "0", "--prune-start-step", "0",
              "--prune-end-step", "40", "--prune-every", "2", "--target-sparsity", "0.9",
              "--num-epochs", "1"]  # fmt: skip
    kd = ["--teacher-checkpoint", args.teacher, "--distill-scale", "1.0",
          "--distill-temperature", args.temperature]  # fmt: skip
    configs = {"plain": common, "online": common + kd,
               "cached": common + kd + ["--teacher-cache", str(cache)]}  # fmt: skip
    order = list(configs)
    runs: Dict[str, List[Dict[str, float]]] = {k: [] for k in configs}
    for r in range(args.rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            runs[name].append(_train(tmp / f"{name}-{r}", configs[name]))
            print(f"round {r} {name}: {runs[name][-1]}", flush=True)

    base = median([x["epoch_s"] for x in runs["plain"]])
    rows = []
    for name in order:
        t = median([x["epoch_s"] for x in runs[name]])
        kd_loss = runs[name][-1]["distill_loss"]
        rows.append([name, f"{t:.1f}", f"{(t / base - 1) * 100:+.1f}%",
                     f"{kd_loss:.4g}" if name != "plain" else "-"])  # fmt: skip
    hours = sum(c.duration for c in cuts) / 3600
    mb = cache.stat().st_size / 1e6
    print(f"\n{len(cuts)} cuts, {hours:.2f} h; cache built in {cache_s:.1f} s, {mb:.1f} MB")
    print(markdown_table(["config", "epoch s (median)", "vs plain", "epoch KD loss"], rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine_info(),
                    "num_cuts": len(cuts),
                    "cache_seconds": cache_s,
                    "cache_mb": cache.stat().st_size / 1e6,
                    "runs": runs,
                },
                indent=1,
            )  # fmt: skip
            + "\n"
        )


if __name__ == "__main__":
    main()
