"""rnnt_kd.deploy's torch-free parts: sizes of a set, the deployment table from result files."""

from __future__ import annotations

import json
import tarfile

import numpy as np

from rnnt_kd.deploy.sizes import shipped_files, size_summary, tar_bz2
from rnnt_kd.deploy.table import DeployRow, deploy_rows, deploy_table
from rnnt_kd.wer import store_transcripts


def _fake_onnx_dir(d, zeros: float):
    """Files named like an export; float32 noise with a share ``zeros`` of exact zeros."""
    g = np.random.default_rng(0)
    for tag in ("", ".int8"):
        for part in ("encoder", "decoder", "joiner"):
            w = g.standard_normal(20000).astype(np.float32 if not tag else np.int8)
            w[g.random(w.size) < zeros] = 0
            (d / f"{part}{tag}.onnx").write_bytes(w.tobytes())
    (d / "tokens.txt").write_text("<blk> 0\n▁A 1\n")


def test_sizes_and_archives(tmp_path):
    dense, sparse = tmp_path / "dense", tmp_path / "sparse"
    for d, z in ((dense, 0.0), (sparse, 0.9)):
        d.mkdir()
        _fake_onnx_dir(d, z)
    s_dense = size_summary(dense)
    s_sparse = size_summary(sparse, archive_dir=tmp_path / "arch")
    assert s_dense["onnx_bytes"] == {"fp32": 3 * 80000, "int8": 3 * 20000}
    assert s_sparse["onnx_bytes"] == s_dense["onnx_bytes"]  # zeros are stored ...
    # ... but compress: 90 % zeros -> far smaller archive
    assert s_sparse["tar_bz2_bytes"]["fp32"] < 0.4 * s_dense["tar_bz2_bytes"]["fp32"]
    archive = tmp_path / "arch" / "model-fp32.tar.bz2"
    assert archive.stat().st_size == s_sparse["tar_bz2_bytes"]["fp32"]
    with tarfile.open(archive) as t:
        assert sorted(t.getnames()) == sorted(
            f"model-fp32/{n}" for n in shipped_files(sparse, int8=False)
        )
    assert tar_bz2([dense / "tokens.txt"]) > 0
    (dense / "joiner.int8.onnx").unlink()
    assert "int8" not in size_summary(dense)["onnx_bytes"]  # an incomplete set is left out


REFS = {"u1": ["A", "B"], "u2": ["C"], "u3": ["D", "E"], "u4": ["F"]}
TORCH_HYPS = {"u1": ["A", "B"], "u2": ["X"], "u3": ["D", "E"], "u4": ["F"]}


def _write_results(res, suffix, hyps, wer, rtf, threads, **extra):
    """A decoding's recogs file and wers json for the test set "test"."""
    res.mkdir(parents=True, exist_ok=True)
    store_transcripts(res / f"recogs-test-{suffix}.txt", [(k, REFS[k], hyps[k]) for k in REFS])
    data = {"suffix": suffix, "wer": {"test": wer}, "rtf": {"test": rtf}}
    data.update(num_threads=threads, **extra)
    path = res / f"wers-{suffix}.json"
    path.write_text(json.dumps(data))
    return path


def _write_model(torch_dir, onnx_dir, export_json):
    """rnnt-kd's decoding in torch_dir, sherpa-onnx's fp32 and int8 in onnx_dir, the export's
    json: the files a recipe's stages 6 and 7 leave for one model."""
    ref = _write_results(torch_dir, "epoch-3-avg-1", TORCH_HYPS, 16.67, 0.02, 2)
    fp32 = _write_results(
        onnx_dir, "sherpa-onnx-fp32", TORCH_HYPS, 16.67, 0.006, 1, utterances={"test": 4}
    )
    int8 = _write_results(onnx_dir, "sherpa-onnx-int8", dict(TORCH_HYPS, u4=["G"]), 33.33, 0.004, 1)
    export_json.write_text(
        json.dumps(
            {
                "sparsity": 0.9,
                "onnx_bytes": {"fp32": 5.05e6, "int8": 1.75e6},
                "tar_bz2_bytes": {"fp32": 0.64e6, "int8": 0.5e6},
            }
        )
    )
    return ref, fp32, int8


def test_deploy_table_from_result_files(tmp_path):
    exp = tmp_path / "export_onnx.json"
    ref, fp32, int8 = _write_model(tmp_path / "torch", tmp_path / "onnx", exp)
    (row,) = deploy_rows("sparse90_kd", exp, fp32, int8, ref)
    assert row == DeployRow(
        model="sparse90_kd",
        test_set="test",
        sparsity=0.9,
        wer_rnnt_kd=16.67,
        wer_fp32=16.67,
        wer_int8=33.33,
        same_fp32=1.0,
        same_int8=0.75,
        utterances=4,
        mb_fp32=5.05,
        mb_int8=1.75,
        tar_mb_fp32=0.64,
        tar_mb_int8=0.5,
        rtf_rnnt_kd=0.02,
        rtf_fp32=0.006,
        rtf_int8=0.004,
        threads_rnnt_kd=2,
        threads_onnx=1,
    )
    table = deploy_table([row, DeployRow(model="teacher", test_set="test")]).splitlines()
    assert len(table) == 4 and table[0].startswith("| model | test set |")
    assert table[2] == (
        "| sparse90_kd | test | 90 % | 16.67 / 16.67 / 33.33 | +16.66 | 100.0 % / 75.0 % "
        "| 5.05 / 1.75 | 0.64 / 0.50 | 0.0200 (2 thr) / 0.0060 / 0.0040 |"
    )
    assert table[3].count("–") >= 10  # missing inputs are dashes, not errors


def test_report_deploy_section_reads_a_recipe_run(tmp_path):
    """make_report finds stage 6 and 7's files of a model's first seed and explains the table."""
    from rnnt_kd.bin.make_report import deploy_section

    run = tmp_path / "exp" / "sparse90_kd"
    (run / "onnx").mkdir(parents=True)
    method = "modified_beam_search"
    _write_model(run / method, run / "onnx" / method, run / "onnx" / "export_onnx.json")
    rows = [
        {"name": "sparse90_kd", "run_dirs": {"42": "sparse90_kd", "43": "sparse90_kd_seed43"}},
        {"name": "teacher", "run_dirs": {"42": "teacher"}},  # no stage 7: no row
    ]
    lines = deploy_section(tmp_path / "exp", rows)
    assert lines[0] == "## Deployment: sherpa-onnx (stage 7, docs/DEPLOY.md)"
    table = lines[2].splitlines()
    assert len(table) == 3
    assert table[2].startswith(
        "| sparse90_kd (modified_beam_search) | test | 90 % | 16.67 / 16.67 / 33.33 | +16.66 "
        "| 100.0 % / 75.0 % |"
    )
    assert lines[4].startswith("sparsity: zeros among all the exported weights")
    assert deploy_section(tmp_path / "exp", rows[1:]) == []
