#!/usr/bin/env python3
"""Tabulate a distillation sweep: dev WER per (distill scale, temperature) beside the no-KD run.

  python -m rnnt_kd.bin.sweep_table --exp-dirs exp/sweep/* --baseline exp/student \\
      --method greedy_search --test-set dev --out sweep_kd.md

Each directory holds ``train_config.json`` (the run's settings, written by ``rnnt_kd.bin.train``:
whether it distils, its scale and temperature), ``command.txt`` (the training command, shown)
and ``<results-subdir>/wers-*.json`` (``rnnt_kd.bin.decode``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List

from rnnt_kd.bin.cli_errors import run_cli
from rnnt_kd.bin.make_report import latest_wers
from rnnt_kd.errors import UserError
from rnnt_kd.experiments import train_config


def main(argv: List[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="sweep_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--exp-dirs", nargs="+", required=True)
    p.add_argument("--baseline", default=None, help="the same student trained without KD")
    p.add_argument("--method", default="greedy_search")
    p.add_argument(
        "--results-subdir",
        default=None,
        help="where the runs' dev results are (default: the method's name)",
    )
    p.add_argument("--test-set", default="dev-clean")
    p.add_argument("--out", required=True, help="markdown file")
    p.add_argument("--title", default="Distillation sweep")
    args = p.parse_args(argv)

    rows = []
    for d in [Path(x) for x in ([args.baseline] if args.baseline else []) + args.exp_dirs]:
        w = latest_wers(d, args.results_subdir or args.method)
        cmd = (d / "command.txt").read_text().strip() if (d / "command.txt").is_file() else ""
        cfg = train_config(d)
        if w is None or args.test_set not in w["wer"] or cfg is None:
            continue
        kd = bool(cfg.get("teacher_checkpoint"))
        rows.append(
            {
                "name": d.name,
                "kd": kd,
                "scale": cfg.get("distill_scale") if kd else "-",
                "temperature": cfg.get("distill_temperature") if kd else "-",
                "wer": w["wer"][args.test_set],
                "command": cmd,
            }
        )
    if not rows:
        raise UserError(f"no {args.method} results for {args.test_set} found in --exp-dirs")
    base = next((r for r in rows if not r["kd"]), None)
    lines = [
        f"# {args.title}",
        "",
        f"WER (%) on {args.test_set}, {args.method}. Lower is better; the chosen setting "
        "is the best KD row.",
        "",
        "| run | KD scale | temperature | WER | rel. vs no KD |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["kd"], r["wer"])):
        rel = f"{100 * (r['wer'] - base['wer']) / base['wer']:+.1f}%" if base and r["kd"] else ""
        lines.append(
            f"| {r['name']} | {r['scale']} | {r['temperature']} | {r['wer']:.2f} | {rel} |"
        )
    lines += ["", "Commands:", ""] + [f"- {r['name']}: `{r['command']}`" for r in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines[: len(rows) + 6]))


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.sweep_table``: :func:`main`, user errors as one line."""
    return run_cli("sweep_table", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
