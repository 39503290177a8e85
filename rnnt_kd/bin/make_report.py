#!/usr/bin/env python3
"""Collect a recipe's experiments into RESULTS.md, results.json and a WER-vs-sparsity plot.

  python -m rnnt_kd.bin.make_report --experiments conf/experiments.txt --exp-root exp \\
      --out-dir . --stage-times exp/stage_times.tsv

The experiments, their groups and KD baselines come from the recipe's experiment matrix
(``rnnt_kd.experiments``). Each run directory ``<exp-root>/<name>[_seed<S>]`` holds
``command.txt`` (the exact training command, written by the recipe), ``train_config.json`` (the
run's resolved settings, written by ``rnnt_kd.bin.train``), decoding results
``<method>/wers-<suffix>.json`` with ``<method>/command.txt`` (``rnnt_kd.bin.decode``) and the
export summary ``pretrained-<suffix>.json`` (``rnnt_kd.bin.export --json``). Parameter counts
and sparsity are measured on the decoded model (checkpoints averaged, pruning masks
re-applied). The first seed's run fills the tables; every seed's WERs go to ``wer_by_seed`` in
results.json, and a KD row with several seeds gets the mean relative change over seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from rnnt_kd import layer_sparsity_report
from rnnt_kd.experiments import Experiment, read_experiments, seed_runs, train_config
from rnnt_kd.utils import str2bool

# result directories, in table order; "_lexicon": modified beam search with decode --lexicon
METHODS = ("modified_beam_search_lexicon", "modified_beam_search", "greedy_search")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="make_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--experiments", required=True, help="the recipe's experiment matrix")
    p.add_argument("--exp-root", required=True)
    p.add_argument("--out-dir", required=True, help="RESULTS.md, results.json and the plots")
    p.add_argument(
        "--stage-times",
        default=None,
        help="TSV: stage, name, seconds[, the run.sh command that ran it]; a stage listed twice "
        "counts once, with its last time",
    )
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
        help="write wer_vs_sparsity.png and layer_sparsity.png (per-tensor sparsity) and link "
        "them when there are pruned models",
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


def run_results(d: Path) -> Dict[str, Any]:
    """WERs (``{method: {set: WER}}``), decode suffixes and commands of one run directory."""
    out: Dict[str, Any] = {"wer": {}}
    for method in METHODS:
        if (d / method / "command.txt").is_file():  # the template records decode commands
            out.setdefault("decode_commands", {})[method] = (
                (d / method / "command.txt").read_text().strip()
            )
        w = latest_wers(d, method)
        if w:
            out["wer"][method] = w["wer"]
            out.setdefault("decode_suffix", {})[method] = w["suffix"]  # recogs-<set>-<it>
            out.setdefault("suffix", w["suffix"].split("-beam")[0])
    return out


def collect(exp_root: Path, experiments: Sequence[Experiment]) -> List[Dict[str, Any]]:
    """One row per experiment of the matrix that has a run: the first seed's results, plus
    ``wer_by_seed`` and ``run_dirs`` for every seed and, with several seeds, ``wer_seed_mean``
    and (KD rows) ``rel_change_seed_mean``, which the tables show."""
    rows = []
    for e in experiments:
        runs = seed_runs(exp_root, e.name)
        if not runs:
            continue
        d = next(iter(runs.values()))
        row: Dict[str, Any] = {
            "name": e.name,
            "group": e.group,
            "kd": e.kd,
            "baseline": e.baseline,
            "run_dirs": {str(seed): p.name for seed, p in runs.items()},
            "command": (d / "command.txt").read_text().strip()
            if (d / "command.txt").is_file()
            else None,
        }
        row.update(run_results(d))
        row["wer_by_seed"] = {str(seed): run_results(p)["wer"] for seed, p in runs.items()}
        if len(runs) > 1:
            row["wer_seed_mean"] = seed_mean_wers(row["wer_by_seed"])
        cfg = train_config(d)
        if cfg is not None:
            row["train_config"] = cfg
        if "suffix" in row:
            row.update(model_stats(d, row["suffix"]))
            exported = d / f"pretrained-{row['suffix']}.json"  # written by rnnt_kd.bin.export
            if exported.is_file():
                row["export"] = json.loads(exported.read_text())
                if "layer_sparsity" in row["export"]:  # {tensor name: fraction of zeros}
                    row["layer_sparsity"] = row["export"]["layer_sparsity"]
        rows.append(row)
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        b = by_name.get(r["baseline"] or "")
        if not b:
            continue
        r["rel_change_ci"] = kd_intervals(exp_root, r, b)
        r["rel_change"] = {m: rel_changes(b["wer"].get(m, {}), w) for m, w in r["wer"].items()}
        if "wer_seed_mean" in r and "wer_seed_mean" in b:
            r["rel_change_seed_mean"] = {
                m: rel_changes(b["wer_seed_mean"].get(m, {}), w)
                for m, w in r["wer_seed_mean"].items()
            }
        seeds = [s for s in r["wer_by_seed"] if s in b["wer_by_seed"]]
        if len(seeds) > 1:
            r["rel_change_seeds"] = seed_rel_change(exp_root, r, b, seeds)
    return rows


def seed_mean_wers(wer_by_seed: Dict[str, Dict[str, Dict[str, float]]]) -> Dict[str, Any]:
    """``{method: {set: WER averaged over the seeds}}`` for the (method, set) every seed has."""
    seeds = list(wer_by_seed.values())
    out: Dict[str, Dict[str, float]] = {}
    for method, wers in seeds[0].items():
        for test_set in wers:
            values = [w.get(method, {}).get(test_set) for w in seeds]
            if all(v is not None for v in values):
                out.setdefault(method, {})[test_set] = statistics.fmean(values)
    return out


def table_wers(row: Dict[str, Any]) -> Dict[str, Dict[str, float]]:
    """The WERs the report tables and plots: the mean over seeds where a row has several, else
    its one run's."""
    return row.get("wer_seed_mean") or row["wer"]


def rel_changes(base: Dict[str, float], kd: Dict[str, float]) -> Dict[str, float]:
    """``{set: 100 (kd - base) / base}`` over the sets both have (and base > 0)."""
    return {s: 100.0 * (w - base[s]) / base[s] for s, w in kd.items() if base.get(s)}


def seed_rel_change(
    exp_root: Path, row: Dict[str, Any], base: Dict[str, Any], seeds: Sequence[str]
) -> Dict[str, Any]:
    """``{method: {set: {"mean", "per_seed", ["interval"]}}}``: the KD relative change of each
    seed (KD run against the baseline run of the same seed), their mean, and where
    ``rnnt_kd.significance`` has it, the change of the seed-averaged WER with an interval over
    seeds and test utterances (``interval``: rel_change, low, high, p_better, ...)."""
    out: Dict[str, Any] = {}
    for method in row["wer"]:
        per_seed = [
            rel_changes(
                base["wer_by_seed"][s].get(method, {}), row["wer_by_seed"][s].get(method, {})
            )
            for s in seeds
        ]
        for test_set in per_seed[0]:
            values = [p[test_set] for p in per_seed if test_set in p]
            if len(values) < len(seeds):
                continue
            cell: Dict[str, Any] = {
                "mean": statistics.fmean(values),
                "per_seed": dict(zip(seeds, values)),
            }
            interval = seed_interval(exp_root, row, base, seeds, method, test_set)
            if interval:
                cell["interval"] = interval
            out.setdefault(method, {})[test_set] = cell
    return out


def seed_interval(exp_root, row, base, seeds, method, test_set) -> Dict[str, Any]:
    """The bootstrap interval over seeds and test sentences of the KD relative change of the
    seed-averaged WER (``rnnt_kd.significance.compare_recogs_over_seeds``, utterances with the
    same reference resampled together: a synthetic test set reads each sentence in several
    voices), from each seed's pair of ``recogs`` files; ``utterance_interval`` holds the
    interval that resamples utterances one by one. Empty when a file is missing."""
    from dataclasses import asdict

    from rnnt_kd.significance import align_recogs, seed_utterance_bootstrap_rel_change

    files: Dict[str, List[Path]] = {"base": [], "kd": []}
    for s in seeds:
        for key, r in (("base", base), ("kd", row)):
            d = exp_root / r["run_dirs"][s] / method
            found = sorted(d.glob(f"recogs-{test_set}-*.txt"), key=lambda p: p.stat().st_mtime)
            if not found:
                return {}
            files[key].append(found[-1])
    recogs = align_recogs(files["base"], files["kd"])
    if not any(sum(e) for e in recogs.errors_a):
        return {}  # no baseline errors: a relative change is undefined
    args = (recogs.errors_a, recogs.errors_b, recogs.ref_words)
    out = asdict(seed_utterance_bootstrap_rel_change(*args, clusters=recogs.references))
    plain = seed_utterance_bootstrap_rel_change(*args)
    out["utterance_interval"] = [plain.low, plain.high]
    return out


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
                out.setdefault(method, {})[s] = asdict(
                    compare_recogs(f_base, f_kd, cluster_by_reference=True)
                )
    return out


def interval_table(rows: List[Dict[str, Any]], notes: bool = False) -> List[str]:
    """Markdown lines: KD relative change with its bootstrap interval, first method decoded.
    ``notes``: the recipe has a NOTES.md beside RESULTS.md (it compares repeated runs)."""
    # (rows with several seeds have their intervals over seeds and sentences in seeds_table)
    rows = [r for r in rows if r.get("rel_change_ci") and not r.get("rel_change_seeds")]
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
        f"KD has fewer errors (paired bootstrap over the test sentences: the utterances of one "
        f"reference text are resampled together; {num_samples} resamplings, "
        "`rnnt_kd.significance`). This is the test sets' sampling noise only; a second "
        "training run adds its own"
        + (" (NOTES.md)." if notes else " (train several seeds: conf/experiments.txt)."),
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


def is_pruned(row: Dict[str, Any]) -> bool:
    """A row of a pruned model (its run's ``target_sparsity`` > 0, or measured sparsity)."""
    cfg = row.get("train_config") or {}
    return float(cfg.get("target_sparsity") or 0) > 0 or row.get("sparsity", 0) > 0.01


def plot(rows: List[Dict[str, Any]], path: Path, method: Optional[str] = None) -> bool:
    """WER against sparsity, with and without KD, one panel per test set: the pruned models
    beside the ``teacher`` (sparsity 0). ``method``: default the first of METHODS the teacher
    was decoded with. Returns False (no file) without a teacher or pruned models."""
    teacher = next((r for r in rows if r["name"] == "teacher"), None)
    pruned = [r for r in rows if is_pruned(r)]
    if teacher is None or not pruned:
        return False
    if method is None:
        method = next((m for m in METHODS if m in teacher["wer"]), None)
    if method is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(teacher["wer"][method].keys())
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.2), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for kd, style, label in ((False, "o--", "no KD"), (True, "s-", "y/blank KD")):
            points = [(0.0, table_wers(teacher)[method][s])] + sorted(
                (r.get("sparsity", 0.0), table_wers(r)[method][s])
                for r in pruned
                if r["kd"] == kd and s in table_wers(r).get(method, {})
            )
            ax.plot([100 * x for x, _ in points], [y for _, y in points], style, label=label)
        ax.set_title(s)
        ax.set_xlabel("sparsity (%)")
        ax.grid(alpha=0.3)
    seeds = max(len(r.get("wer_by_seed", {})) for r in pruned)
    mean_of = f", mean of {seeds} seeds" if any("wer_seed_mean" in r for r in pruned) else ""
    axes[0][0].set_ylabel("WER (%)")
    fig.suptitle(f"{method}{mean_of}", fontsize=10)
    axes[0][-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def deploy_section(exp_root: Path, rows: List[Dict[str, Any]]) -> List[str]:
    """Markdown lines: sherpa-onnx against rnnt-kd for the models stage 7 exported
    (``<run>/onnx/``: ``export_onnx.json``, ``<method>/wers-sherpa-onnx-{fp32,int8}*.json``;
    ``rnnt_kd.deploy.table``); nothing when there are none."""
    try:
        from rnnt_kd.deploy.table import deploy_rows, deploy_table
    except ImportError:
        return []

    def newest(d: Path, pattern: str) -> Optional[Path]:
        found = sorted(d.glob(pattern), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    out = []
    for r in rows:
        d = exp_root / next(iter(r["run_dirs"].values()))
        export_json = d / "onnx" / "export_onnx.json"
        for method in METHODS:
            fp32 = newest(d / "onnx" / method, "wers-sherpa-onnx-fp32*.json")
            if fp32 is None:
                continue
            out += deploy_rows(
                f"{r['name']} ({method})",
                export_json if export_json.is_file() else None,
                fp32,
                newest(d / "onnx" / method, "wers-sherpa-onnx-int8*.json"),
                newest(d / method, "wers-*.json"),
            )
    if not out:
        return []
    notes = (
        "sparsity: zeros among all the exported weights (embeddings, biases and norms are not "
        "pruned). same hyps: utterances whose sherpa-onnx hypothesis equals rnnt-kd's `decode`, "
        "which reads the stored, lilcom-rounded features while sherpa-onnx computes them from "
        "the audio (`benchmarks/sherpa_agreement.py` decodes with rnnt-kd from the audio too). "
        ".tar.bz2: the files as shipped. RTF: decoding time / audio duration with one thread "
        "unless marked (the recipe may run other decodings beside it: `num_jobs`)."
    )
    return [
        "## Deployment: sherpa-onnx (stage 7, docs/DEPLOY.md)",
        "",
        deploy_table(out),
        "",
        notes,
        "",
    ]


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


def seeds_table(rows: List[Dict[str, Any]]) -> List[str]:
    """Markdown lines: the KD relative change over seeds (rows trained with several seeds)."""
    by_name = {r["name"]: r for r in rows}
    rows = [r for r in rows if r.get("rel_change_seeds")]
    if not rows:
        return []
    method = next(m for m in METHODS if any(m in r["rel_change_seeds"] for r in rows))
    lines = [
        f"## KD relative change over training seeds ({method})",
        "",
        "The WER without and with KD averaged over the seeds, each seed's KD run against the "
        "baseline run of the same seed, the mean of those "
        "changes, and the change of the seed-averaged WER with its 95 % interval over seeds "
        "and test sentences (the utterances of one reference text resampled together: a "
        "sentence is read by several voices) and the share of resamplings in which KD has "
        "fewer errors; the last column resamples utterances one by one instead "
        "(`rnnt_kd.significance.compare_recogs_over_seeds`).",
        "",
        "| model | set | WER no KD -> KD | per seed | mean | seed-averaged WER change "
        "[95 %], P | [95 %] over utterances |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base_wers = by_name[r["baseline"]]["wer_seed_mean"][method]
        for test_set, c in r["rel_change_seeds"].get(method, {}).items():
            per_seed = ", ".join(f"{k}: {v:+.1f}%" for k, v in c["per_seed"].items())
            ci = c.get("interval")
            cell = (
                f"{ci['rel_change']:+.1f}% [{ci['low']:+.1f}, {ci['high']:+.1f}], "
                f"P={ci['p_better']:.2f}"
                if ci
                else ""
            )
            utt = (ci or {}).get("utterance_interval")
            utt_cell = f"[{utt[0]:+.1f}, {utt[1]:+.1f}]" if utt else ""
            wers = f"{base_wers[test_set]:.2f} -> {r['wer_seed_mean'][method][test_set]:.2f}"
            lines.append(
                f"| {r['name']} | {test_set} | {wers} | {per_seed} | {c['mean']:+.1f}% | {cell} "
                f"| {utt_cell} |"
            )
    return lines + [""]


def last_stage_times(stage_times: List[List[str]]) -> List[List[str]]:
    """Each stage once, with its last time (a stage rerun replaces the earlier one), in stage
    order; rows are ``[stage, name, seconds, command]`` (command "" when not recorded)."""
    last: Dict[str, List[str]] = {}
    for t in stage_times:
        last[t[0]] = (list(t) + [""])[:4]
    return [last[k] for k in sorted(last, key=int)]


def write_markdown(
    rows,
    out: Path,
    stage_times,
    preset: str,
    recipe: str,
    corpus_info,
    preamble: str = "",
    with_plot: bool = True,
    exp_root: Optional[Path] = None,
    sparsity_plot: str = "",
) -> None:
    """RESULTS.md; ``exp_root``: where to find stage 7's sherpa-onnx results, if any;
    ``sparsity_plot``: the per-tensor sparsity plot's file name beside it, if one was made."""
    lines = [f"# Results: {recipe} (preset `{preset}`)", ""]
    if preamble:
        lines += [preamble.rstrip("\n"), ""]
    times = last_stage_times(stage_times)
    commands = list(dict.fromkeys(t[3] for t in times if t[3]))
    produced = [
        f"`{c}` (stage{'s' if len(ns) > 1 else ''} {', '.join(ns)})"
        for c in commands
        for ns in [[t[0] for t in times if t[3] == c]]
    ]
    lines += [
        "Produced by "
        + ("; ".join(produced) if produced else f"`{recipe}`")
        + f", in `{recipe.rsplit('/', 1)[0]}`. Stage 6 writes this file, `results.json`"
        + (" and the plot" if with_plot else "")
        + ".",
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
            for s in table_wers(r).get(method, {}):
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
            w = table_wers(r).get(method, {})
            rel = r.get("rel_change_seed_mean", r.get("rel_change", {})).get(method, {})
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
    seeded = sorted({len(r["wer_by_seed"]) for r in rows if "wer_seed_mean" in r})
    lines += [
        "KD rel. = (WER with KD - WER without) / WER without, same architecture and "
        "sparsity; negative is better.",
        "",
    ]
    if seeded:
        lines += [
            f"Models trained with {' or '.join(map(str, seeded))} seeds show the WER averaged "
            "over their seeds (each seed's: `wer_by_seed` in results.json), and KD rel. is the "
            "change of those averages; the intervals are in the seed table below.",
            "",
        ]
    lines += [
        "Sparsity is measured on the decoded model (averaged checkpoints with the pruning "
        "masks re-applied) over the prunable weights; non-zero counts the whole model.",
        "",
    ]
    lines += interval_table(rows, notes=(out.parent / "NOTES.md").is_file())
    lines += seeds_table(rows)
    if with_plot:
        lines += ["![WER vs sparsity](wer_vs_sparsity.png)", ""]
    lines += export_table(rows)
    lines += layer_sparsity_report.table(rows, sparsity_plot)
    lines += deploy_section(exp_root, rows) if exp_root is not None else []
    lines += ["## Commands", ""]
    for r in rows:
        if r.get("command"):
            lines += [f"- **{r['name']}** (train): `{r['command']}`"]
        for method, cmd in r.get("decode_commands", {}).items():
            lines += [f"- **{r['name']}** (decode, {method}): `{cmd}`"]
    lines += [""]
    if any(len(r.get("run_dirs", {})) > 1 for r in rows):
        lines += [
            "Other seeds train with the same command plus `--seed S` into `<name>_seed<S>` "
            "(their WERs: `wer_by_seed` in results.json).",
            "",
        ]
    if times:
        lines += ["## Wall time per stage (this run)", "", "| stage | seconds |", "|---|---|"]
        main_stages = [t for t in times if int(t[0]) <= 6]
        lines += [f"| {n} {name} | {sec} |" for n, name, sec, _ in main_stages]
        if main_stages:
            total = sum(int(t[2]) for t in main_stages)
            lines += [
                f"| total, stages {main_stages[0][0]}-{main_stages[-1][0]} | {total} "
                f"({total / 60:.1f} min) |"
            ]
        lines += [
            f"| {n} {name} (optional, not in the total) | {sec} |"
            for n, name, sec, _ in times
            if int(n) > 6
        ]
        lines += [""]
    out.write_text("\n".join(lines) + "\n")


def main(argv: List[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        experiments = read_experiments(args.experiments)
    except (FileNotFoundError, ValueError) as e:
        print(f"make_report: error: {e}", file=sys.stderr)
        return 2
    for flag, path in (("--exp-root", args.exp_root), ("--preamble", args.preamble)):
        if path is not None and not Path(path).exists():  # a report of nothing is no report
            print(f"make_report: error: {flag}: no such file or directory {path}", file=sys.stderr)
            return 2
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = collect(Path(args.exp_root), experiments)
    stage_times = []
    if args.stage_times and Path(args.stage_times).is_file():
        stage_times = [
            ln.split("\t") for ln in Path(args.stage_times).read_text().splitlines() if ln.strip()
        ]
    stage_times = last_stage_times(stage_times)
    corpus_info = None
    if args.corpus_info and Path(args.corpus_info).is_file():
        corpus_info = json.loads(Path(args.corpus_info).read_text())
    with_plot = args.plot and plot(rows, out / "wer_vs_sparsity.png")
    sparsity_plot = "layer_sparsity.png"
    if not (args.plot and layer_sparsity_report.plot(rows, out / sparsity_plot)):
        sparsity_plot = ""
    preamble = Path(args.preamble).read_text() if args.preamble else ""
    write_markdown(
        rows,
        out / "RESULTS.md",
        stage_times,
        args.preset,
        args.recipe,
        corpus_info,
        preamble,
        with_plot=with_plot,
        exp_root=Path(args.exp_root),
        sparsity_plot=sparsity_plot,
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
    return 0


def cli(argv: List[str] | None = None) -> int:
    """``python -m rnnt_kd.bin.make_report``: :func:`main`, every user error as one line."""
    from rnnt_kd.bin.cli_errors import run_cli

    return run_cli("make_report", main, argv)


if __name__ == "__main__":
    sys.exit(cli())
