#!/usr/bin/env python3
"""Tabulate a distillation sweep: dev WER per (distill scale, temperature) beside the no-KD run.

  python -m rnnt_kd.bin.sweep_table --exp-dirs exp/sweep/* --baseline exp/sparse90 \\
      --method greedy_search --test-set dev-clean --out sweep_kd.md

Each directory holds ``command.txt`` (the training command) and ``<method>/wers-*.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import List, Optional

from rnnt_kd.bin.cli_errors import run_cli
from rnnt_kd.bin.make_report import latest_wers
from rnnt_kd.errors import UserError


def _flag(command: str, flag: str) -> Optional[str]:
    m = re.search(rf"{re.escape(flag)}\s+(\S+)", command)
    return m.group(1) if m else None


def main(argv: List[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="sweep_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--exp-dirs", nargs="+", required=True)
    p.add_argument("--baseline", default=None, help="the same student trained without KD")
    p.add_argument("--method", default="greedy_search")
    p.add_argument("--test-set", default="dev-clean")
    p.add_argument("--out", required=True, help="markdown file")
    p.add_argument("--title", default="Distillation sweep")
    args = p.parse_args(argv)

    rows = []
    for d in [Path(x) for x in ([args.baseline] if args.baseline else []) + args.exp_dirs]:
        w = latest_wers(d, args.method)
        cmd = (d / "command.txt").read_text().strip() if (d / "command.txt").is_file() else ""
        if w is None or args.test_set not in w["wer"]:
            continue
        kd = "--teacher-checkpoint" in cmd
        rows.append(
            {
                "name": d.name,
                "kd": kd,
                "scale": _flag(cmd, "--distill-scale") if kd else "-",
                "temperature": _flag(cmd, "--distill-temperature") or "1.0" if kd else "-",
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
