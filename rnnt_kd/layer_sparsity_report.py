"""Per-tensor sparsity of the pruned models of a report: a Markdown summary table and a heat map.

Input: the report rows of ``rnnt_kd.bin.make_report`` whose ``layer_sparsity`` holds
``{tensor name: fraction of zeros}`` (from ``rnnt_kd.bin.export --json``, i.e.
``pruning.layer_sparsity`` of the decoded model). The table says how evenly a model's sparsity is
spread (min / max over tensors, tensors at >= 95 % or all zeros, the front-end's convolutions);
the plot shows every tensor of every pruned model.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Dict, List, Sequence

FRONT_END = "encoder_embed"  # the convolutional front-end's module name (rnnt_kd.model)
NEARLY_EMPTY = 0.95


def pruned_rows(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The rows with a per-tensor sparsity and some tensor at least 1 % sparse."""
    return [r for r in rows if r.get("layer_sparsity") and max(r["layer_sparsity"].values()) > 0.01]


def summary(layers: Dict[str, float]) -> Dict[str, Any]:
    """``{tensors, mean, min, max, min_tensor, max_tensor, at_least_95, all_zero, front_end}``
    of one model's ``{tensor: fraction of zeros}`` (mean: unweighted over tensors;
    ``front_end``: the front-end tensors' fractions, in model order)."""
    names = list(layers)
    lo = min(names, key=layers.__getitem__)
    hi = max(names, key=layers.__getitem__)
    return {
        "tensors": len(names),
        "mean": statistics.fmean(layers.values()),
        "min": layers[lo],
        "min_tensor": lo,
        "max": layers[hi],
        "max_tensor": hi,
        "at_least_95": sum(v >= NEARLY_EMPTY for v in layers.values()),
        "all_zero": sum(v >= 1.0 for v in layers.values()),
        "front_end": [v for k, v in layers.items() if FRONT_END in k],
    }


def table(rows: Sequence[Dict[str, Any]], plot_file: str = "") -> List[str]:
    """Markdown lines: one row per pruned model (its first seed's decoded model)."""
    rows = pruned_rows(rows)
    if not rows:
        return []
    lines = [
        "## Per-tensor sparsity of the pruned models",
        "",
        "Fraction of zeros of every prunable weight of the decoded model (first seed); "
        "`layer_sparsity` in results.json has each tensor"
        + (f", [{plot_file}]({plot_file}) shows them all." if plot_file else "."),
        "",
        "| model | overall | tensors | least sparse | most sparse | >= 95 % | all zeros "
        "| front-end convs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = summary(r["layer_sparsity"])
        front = " / ".join(f"{100 * v:.1f}" for v in s["front_end"]) or "-"
        lines.append(
            f"| {r['name']} | {100 * r.get('sparsity', 0):.1f}% | {s['tensors']} "
            f"| {100 * s['min']:.1f}% `{s['min_tensor']}` "
            f"| {100 * s['max']:.1f}% `{s['max_tensor']}` "
            f"| {s['at_least_95']} | {s['all_zero']} | {front} |"
        )
    return lines + [""]


def plot(rows: Sequence[Dict[str, Any]], path: Path) -> bool:
    """A heat map, tensors down, pruned models across, colour = fraction of zeros. False (no
    file) when no row has a per-tensor sparsity."""
    rows = pruned_rows(rows)
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names: List[str] = []
    for r in rows:
        names += [n for n in r["layer_sparsity"] if n not in names]
    grid = np.array(
        [[r["layer_sparsity"].get(n, np.nan) for r in rows] for n in names], dtype=float
    )
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * len(rows), 1.2 + 0.13 * len(names)))
    image = ax.imshow(100 * grid, aspect="auto", cmap="viridis", vmin=0, vmax=100)
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=30, ha="right")
    short = [n.removeprefix("encoder.").removesuffix(".weight") for n in names]
    ax.set_yticks(range(len(names)), short, fontsize=5)
    fig.colorbar(image, ax=ax, label="zeros (%)", fraction=0.08)
    ax.set_title("per-tensor sparsity", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
