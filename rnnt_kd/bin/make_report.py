#!/usr/bin/env python3
"""Collect a recipe's experiments into RESULTS.md, results.json and a WER-vs-sparsity plot.

  python -m rnnt_kd.bin.make_report --exp-root exp --out-dir . --stage-times exp/stage_times.tsv

Each experiment directory ``<exp-root>/<name>`` holds ``command.txt`` (the exact training
command, written by the recipe) and decoding results ``<method>/wers-<suffix>.json`` (written by
``rnnt_kd.bin.decode``). Parameter counts and sparsity are measured on the decoded model
(checkpoints averaged, pruning masks re-applied).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from rnnt_kd.utils import str2bool

EXPERIMENTS = [  # name, group, kd, baseline (the same model without KD)
    ("teacher", "dense", False, None),
    ("sparse60", "sparse 60%", False, None),
    ("sparse60_kd", "sparse 60%", True, "sparse60"),
    ("sparse90", "sparse 90%", False, None),
    ("sparse90_kd", "sparse 90%", True, "sparse90"),
    ("small", "small Conformer", False, None),
    ("small_kd", "small Conformer", True, "small"),
]
# result directories, in table order; "_lexicon": modified beam search with decode --lexicon
METHODS = ("modified_beam_search_lexicon", "modified_beam_search", "greedy_search")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="make_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--exp-root", required=True)
    p.add_argument("--out-dir", required=True, help="RESULTS.md, results.json, wer_vs_sparsity.png")
    p.add_argument("--stage-times", default=None, help="TSV: stage, name, seconds")
    p.add_argument("--preset", default="")
    p.add_argument("--recipe", default="run.sh", help="recipe path shown in the commands")
    p.add_argument("--corpus-info", default=None, help="corpus_info.json of the generated corpus")
    p.add_argument(
        "--preamble",
        default=None,
        help="markdown file inserted after the title (e.g. reference numbers)",
    )
    p.add_argument(
        "--plot",
        type=str2bool,
        default=True,
        help="write wer_vs_sparsity.png and link it (false: no sparse models)",
    )
    return p


def latest_wers(exp_dir: Path, method: str) -> Optional[Dict[str, Any]]:
    files = sorted((exp_dir / method).glob("wers-*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()) if files else None


def model_stats(exp_dir: Path, suffix: str) -> Dict[str, Any]:
    """Params / non-zero params / sparsity of the decoded (averaged, masked) model."""
    from rnnt_kd import pruning
    from rnnt_kd.checkpoint.loading import load_averaged_model

    m = re.match(r"epoch-(\d+)-avg-(\d+)", suffix)
    if not m:
        return {}
    model, _ = load_averaged_model(exp_dir, int(m.group(1)), int(m.group(2)))
    rep = pruning.sparsity_report(model)
    return {
        "params": rep.total_params,
        "nonzero_params": rep.nonzero_params,
        "sparsity": rep.global_sparsity,
    }


def collect(exp_root: Path) -> List[Dict[str, Any]]:
    rows = []
    for name, group, kd, base in EXPERIMENTS:
        d = exp_root / name
        if not d.is_dir():
            continue
        row: Dict[str, Any] = {
            "name": name,
            "group": group,
            "kd": kd,
            "baseline": base,
            "command": (d / "command.txt").read_text().strip()
            if (d / "command.txt").is_file()
            else None,
            "wer": {},
        }
        for method in METHODS:
            if (d / method / "command.txt").is_file():  # recipes that record decode commands
                row.setdefault("decode_commands", {})[method] = (
                    (d / method / "command.txt").read_text().strip()
                )
            w = latest_wers(d, method)
            if w:
                row["wer"][method] = w["wer"]
                row.setdefault("decode_suffix", {})[method] = w["suffix"]  # recogs-<set>-<it>
                row.setdefault("suffix", w["suffix"].split("-beam")[0])
        if "suffix" in row:
            row.update(model_stats(d, row["suffix"]))
            exported = d / f"pretrained-{row['suffix']}.json"  # written by rnnt_kd.bin.export
            if exported.is_file():
                row["export"] = json.loads(exported.read_text())
        rows.append(row)
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        b = by_name.get(r["baseline"] or "")
        if not b:
            continue
        r["rel_change"] = {}
        r["rel_change_ci"] = kd_intervals(exp_root, r, b)
        for method, wers in r["wer"].items():
            bw = b["wer"].get(method, {})
            r["rel_change"][method] = {
                s: 100.0 * (w - bw[s]) / bw[s] for s, w in wers.items() if bw.get(s)
            }
    return rows


def kd_intervals(exp_root: Path, row: Dict[str, Any], base: Dict[str, Any]) -> Dict[str, Any]:
    """{method: {set: paired-bootstrap interval of the KD relative change}} from the two
    models' ``recogs-<set>-<suffix>.txt`` files (``rnnt_kd.significance``)."""
    from dataclasses import asdict

    from rnnt_kd.significance import compare_recogs

    out: Dict[str, Any] = {}
    for method, suffix in row.get("decode_suffix", {}).items():
        base_suffix = base.get("decode_suffix", {}).get(method)
        if not base_suffix:
            continue
        for s in row["wer"].get(method, {}):
            f_kd = exp_root / row["name"] / method / f"recogs-{s}-{suffix}.txt"
            f_base = exp_root / base["name"] / method / f"recogs-{s}-{base_suffix}.txt"
            if f_kd.is_file() and f_base.is_file() and base["wer"][method].get(s):
                out.setdefault(method, {})[s] = asdict(compare_recogs(f_base, f_kd))
    return out


def interval_table(rows: List[Dict[str, Any]]) -> List[str]:
    """Markdown lines: KD relative change with its bootstrap interval, first method decoded."""
    rows = [r for r in rows if r.get("rel_change_ci")]
    if not rows:
        return []
    method = next(m for m in METHODS if any(m in r["rel_change_ci"] for r in rows))
    sets: List[str] = []
    for r in rows:
        for s in r["rel_change_ci"].get(method, {}):
            if s not in sets:
                sets.append(s)
    first = next(r["rel_change_ci"][method] for r in rows if method in r["rel_change_ci"])
    num_samples = next(iter(first.values()))["num_samples"]
    lines = [
        f"## How sure is the KD effect? ({method})",
        "",
        f"KD relative WER change with its 95 % interval and the share of resamplings in which "
        f"KD has fewer errors (paired bootstrap over the test utterances, "
        f"{num_samples} resamplings, `rnnt_kd.significance`). This is the test sets' "
        "sampling noise only; a second training run adds its own (NOTES.md).",
        "",
        "| model | " + " | ".join(sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for r in rows:
        cells = []
        for s in sets:
            ci = r["rel_change_ci"].get(method, {}).get(s)
            cells.append(
                f"{ci['rel_change']:+.1f}% [{ci['low']:+.1f}, {ci['high']:+.1f}], "
                f"P={ci['p_better']:.2f}"
                if ci
                else ""
            )
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return lines + [""]


def plot(rows: List[Dict[str, Any]], path: Path, method: Optional[str] = None) -> bool:
    """WER against sparsity, with and without KD, one panel per test set. ``method``: default
    the first of METHODS the teacher was decoded with."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    teacher = next((r for r in rows if r["name"] == "teacher"), None)
    if method is None and teacher is not None:
        method = next((m for m in METHODS if m in teacher["wer"]), None)
    by = {r["name"]: r for r in rows if method in r["wer"]}
    if "teacher" not in by:
        return False
    sets = list(by["teacher"]["wer"][method].keys())
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.2), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for kd, style, label in ((False, "o--", "no KD"), (True, "s-", "y/blank KD")):
            xs, ys = [0.0], [by["teacher"]["wer"][method][s]]
            for sp in ("60", "90"):
                r = by.get(f"sparse{sp}{'_kd' if kd else ''}")
                if r and s in r["wer"][method]:
                    xs.append(r.get("sparsity", int(sp) / 100))
                    ys.append(r["wer"][method][s])
            ax.plot([100 * x for x in xs], ys, style, label=label)
        ax.set_title(s)
        ax.set_xlabel("sparsity (%)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"WER (%), {method}")
    axes[0][-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fmt_pct(x: Optional[float], signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.1f}%" if signed else f"{x:.2f}"


def export_table(rows: List[Dict[str, Any]]) -> List[str]:
    """Markdown lines: the exported inference file of each model (``rnnt_kd.bin.export``)."""
    rows = [r for r in rows if r.get("export")]
    if not rows:
        return []
    lines = [
        "## Exported models (`python -m rnnt_kd.bin.export`)",
        "",
        "Sparse weights stored as a bitmask plus their non-zero values, float32.",
        "",
        "| model | params | non-zero | file MB | of the dense float32 weights |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        e = r["export"]
        lines.append(
            f"| {r['name']} | {e['params'] / 1e6:.2f}M | {e['nonzero_params'] / 1e6:.2f}M "
            f"| {e['file_mb']:.2f} | {100 * e['file_vs_dense']:.0f}% |"
        )
    return lines + [""]


def write_markdown(
    rows,
    out: Path,
    stage_times,
    preset: str,
    recipe: str,
    corpus_info,
    preamble: str = "",
    with_plot: bool = True,
) -> None:
    lines = [f"# Results: {recipe} (preset `{preset}`)", ""]
    if preamble:
        lines += [preamble.rstrip("\n"), ""]
    lines += [
        "Produced by `./run.sh --stage 0 --stop-stage 6"
        + (f" --preset {preset}" if preset and preset != "default" else "")
        + "` (this file, `results.json`"
        + (" and the plot" if with_plot else "")
        + " are written by stage 6).",
        "",
    ]
    if corpus_info:
        lines += [
            "Corpus: "
            + ", ".join(
                f"{k} {v}" for k, v in corpus_info.items() if not isinstance(v, (dict, list))
            ),
            "",
        ]
        parts = corpus_info.get("parts") or {}
        if parts:
            lines += ["| part | utterances | hours | speakers |", "|---|---|---|---|"]
            for name, st in parts.items():
                lines.append(
                    f"| {name} | {st.get('utterances', '')} | {st.get('hours', '')} "
                    f"| {st.get('speakers', '')} |"
                )
            lines.append("")
    for method in METHODS:
        sets: List[str] = []
        for r in rows:
            for s in r["wer"].get(method, {}):
                if s not in sets:
                    sets.append(s)
        if not sets:
            continue
        title = method
        if method.endswith("_lexicon"):
            title = f"{method[: -len('_lexicon')]}, closed vocabulary (decode --lexicon)"
        lines += [f"## WER (%), {title}", ""]
        head = ["model", "KD", "params", "non-zero", "sparsity"] + sets
        head += [f"KD rel. {s}" for s in sets]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            w = r["wer"].get(method, {})
            rel = r.get("rel_change", {}).get(method, {})
            cells = [
                r["name"],
                "yes" if r["kd"] else "no",
                f"{r.get('params', 0) / 1e6:.2f}M",
                f"{r.get('nonzero_params', 0) / 1e6:.2f}M",
                f"{100 * r.get('sparsity', 0):.1f}%",
            ]
            cells += [fmt_pct(w.get(s)) for s in sets]
            cells += [fmt_pct(rel.get(s), signed=True) if rel else "" for s in sets]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "KD rel. = (WER with KD - WER without) / WER without, same architecture and "
        "sparsity; negative is better.",
        "",
        "Sparsity is measured on the decoded model (averaged checkpoints with the pruning "
        "masks re-applied) over the prunable weights; non-zero counts the whole model.",
        "",
    ]
    lines += interval_table(rows)
    if with_plot:
        lines += ["![WER vs sparsity](wer_vs_sparsity.png)", ""]
    lines += export_table(rows)
    lines += ["## Commands", ""]
    for r in rows:
        if r.get("command"):
            lines += [f"- **{r['name']}** (train): `{r['command']}`"]
        for method, cmd in r.get("decode_commands", {}).items():
            lines += [f"- **{r['name']}** (decode, {method}): `{cmd}`"]
    lines += [""]
    if not any(r.get("decode_commands") for r in rows):
        lines += [
            "Decoding (every model, every method): `python -m rnnt_kd.bin.decode --exp-dir "
            "exp/<name> --epoch E --avg A --method {greedy_search,modified_beam_search} "
            "--beam-size 4 --bpe-model ... --test-cuts ...`; the closed-vocabulary table adds "
            "`--lexicon <word list>` to modified_beam_search (see stage 6 of run.sh).",
            "",
        ]
    if stage_times:
        lines += ["## Wall time per stage (this run)", "", "| stage | seconds |", "|---|---|"]
        main_stages = [t for t in stage_times if int(t[0]) <= 6]
        lines += [f"| {n} {name} | {sec} |" for n, name, sec in main_stages]
        total = sum(int(sec) for _, _, sec in main_stages)
        lines += [f"| total, stages 0-{main_stages[-1][0]} | {total} ({total / 60:.1f} min) |"]
        lines += [
            f"| {n} {name} (optional, not in the total) | {sec} |"
            for n, name, sec in stage_times
            if int(n) > 6
        ]
        lines += [""]
    out.write_text("\n".join(lines) + "\n")


def main(argv: List[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = collect(Path(args.exp_root))
    stage_times = []
    if args.stage_times and Path(args.stage_times).is_file():
        stage_times = [
            ln.split("\t") for ln in Path(args.stage_times).read_text().splitlines() if ln.strip()
        ]
    corpus_info = None
    if args.corpus_info and Path(args.corpus_info).is_file():
        corpus_info = json.loads(Path(args.corpus_info).read_text())
    if args.plot:
        plot(rows, out / "wer_vs_sparsity.png")
    preamble = Path(args.preamble).read_text() if args.preamble else ""
    write_markdown(
        rows,
        out / "RESULTS.md",
        stage_times,
        args.preset,
        args.recipe,
        corpus_info,
        preamble,
        with_plot=args.plot,
    )
    (out / "results.json").write_text(
        json.dumps(
            {
                "preset": args.preset,
                "experiments": rows,
                "stage_times": stage_times,
                # the corpus settings and per-part counts; the speaker list (~800 entries) stays
                # in corpus_info.json beside the corpus
                "corpus": {k: v for k, v in (corpus_info or {}).items() if k != "speakers"},
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out / 'RESULTS.md'}, {out / 'results.json'}")


if __name__ == "__main__":
    main()
