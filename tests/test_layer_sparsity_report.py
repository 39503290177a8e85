"""The per-tensor sparsity summary of a report (rnnt_kd.layer_sparsity_report)."""

from __future__ import annotations

import pytest

from rnnt_kd import layer_sparsity_report as lsr

ROWS = [
    {"name": "teacher", "layer_sparsity": {"encoder.encoder_embed.conv.0.weight": 0.0}},
    {
        "name": "sparse90",
        "sparsity": 0.9,
        "layer_sparsity": {
            "encoder.encoder_embed.conv.0.weight": 0.96,
            "encoder.encoder_embed.conv.2.weight": 1.0,
            "encoder.layers.0.feed_forward.net.0.weight": 0.88,
            "joiner.output_linear.weight": 0.5,
        },
    },
    {"name": "small"},
]


def test_summary_values():
    s = lsr.summary(ROWS[1]["layer_sparsity"])
    assert s["tensors"] == 4 and s["mean"] == pytest.approx((0.96 + 1.0 + 0.88 + 0.5) / 4)
    assert (s["min"], s["min_tensor"]) == (0.5, "joiner.output_linear.weight")
    assert (s["max"], s["max_tensor"]) == (1.0, "encoder.encoder_embed.conv.2.weight")
    assert (s["at_least_95"], s["all_zero"], s["front_end"]) == (2, 1, [0.96, 1.0])


def test_table_lists_only_pruned_models(tmp_path):
    lines = lsr.table(ROWS, "layer_sparsity.png")
    body = [ln for ln in lines if ln.startswith("| sparse90 ")]
    assert len(body) == 1 and not any(ln.startswith("| teacher ") for ln in lines)
    cells = [c.strip() for c in body[0].strip("|").split("|")]
    assert cells[:3] == ["sparse90", "90.0%", "4"]
    assert cells[5:] == ["2", "1", "96.0 / 100.0"]
    assert "[layer_sparsity.png](layer_sparsity.png)" in "\n".join(lines)
    assert lsr.table(ROWS[:1]) == []


def test_plot_writes_a_png_only_for_pruned_models(tmp_path):
    assert lsr.plot(ROWS, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert not lsr.plot(ROWS[:1], tmp_path / "b.png") and not (tmp_path / "b.png").exists()
