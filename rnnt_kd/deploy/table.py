"""The deployment table of a report: per model, WER with rnnt-kd and with sherpa-onnx (float32,
int8), how often sherpa-onnx's hypotheses equal rnnt-kd's, file sizes and real-time factors.

Inputs are the files the CLIs write (no torch needed):

- ``export_onnx.json`` (``export_onnx``): sizes, sparsity;
- ``wers-<suffix>.json`` of ``decode_onnx`` (float32 and int8) and of ``decode`` (rnnt-kd), each
  beside its ``recogs-<set>-<suffix>.txt`` files.

Example::

    rows = deploy_rows("teacher", "exp/teacher/onnx/export_onnx.json",
                       "exp/teacher/onnx/mbs/wers-sherpa-onnx-fp32-beam-4.json",
                       "exp/teacher/onnx/mbs/wers-sherpa-onnx-int8-beam-4.json",
                       "exp/teacher/modified_beam_search/wers-epoch-20-avg-5-beam-4.json")
    print(deploy_table(rows))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

Pathlike = Union[str, Path]


@dataclass
class DeployRow:
    """One model on one test set. Sizes in MB (1e6 bytes); ``same_*``: share of utterances whose
    sherpa-onnx hypothesis equals rnnt-kd's; ``*_threads``: threads the RTF was measured with."""

    model: str
    test_set: str
    sparsity: Optional[float] = None
    wer_rnnt_kd: Optional[float] = None
    wer_fp32: Optional[float] = None
    wer_int8: Optional[float] = None
    same_fp32: Optional[float] = None
    same_int8: Optional[float] = None
    utterances: Optional[int] = None
    mb_fp32: Optional[float] = None
    mb_int8: Optional[float] = None
    tar_mb_fp32: Optional[float] = None
    tar_mb_int8: Optional[float] = None
    rtf_rnnt_kd: Optional[float] = None
    rtf_fp32: Optional[float] = None
    rtf_int8: Optional[float] = None
    threads_rnnt_kd: Optional[int] = None
    threads_onnx: Optional[int] = None


def _load(path: Optional[Pathlike]) -> Optional[Dict[str, Any]]:
    return None if path is None else json.loads(Path(path).read_text())


def _hyps(wers_json: Pathlike, data: Dict[str, Any], test_set: str) -> Optional[Dict[str, list]]:
    from rnnt_kd.wer import read_transcripts

    path = Path(wers_json).parent / f"recogs-{test_set}-{data['suffix']}.txt"
    if not path.is_file():
        return None
    return {cut: hyp for cut, _, hyp in read_transcripts(path)}


def hypothesis_agreement(a: Dict[str, list], b: Dict[str, list]) -> Tuple[int, int]:
    """(utterances with equal hypotheses, utterances in both)."""
    common = set(a) & set(b)
    return sum(a[k] == b[k] for k in common), len(common)


def deploy_rows(
    model: str,
    export_json: Optional[Pathlike],
    fp32_json: Pathlike,
    int8_json: Optional[Pathlike] = None,
    rnnt_kd_json: Optional[Pathlike] = None,
) -> List[DeployRow]:
    """One :class:`DeployRow` per test set of ``fp32_json`` (``decode_onnx``'s float32 run)."""
    exp, fp32, int8, ref = (_load(p) for p in (export_json, fp32_json, int8_json, rnnt_kd_json))
    rows = []
    for name in fp32["wer"]:
        row = DeployRow(model=model, test_set=name, threads_onnx=fp32.get("num_threads"))
        row.wer_fp32, row.rtf_fp32 = fp32["wer"][name], fp32["rtf"].get(name)
        row.utterances = fp32.get("utterances", {}).get(name)
        if exp is not None:
            row.sparsity = exp.get("sparsity")
            mb = {k: v / 1e6 for k, v in exp.get("onnx_bytes", {}).items()}
            tar = {k: v / 1e6 for k, v in exp.get("tar_bz2_bytes", {}).items()}
            row.mb_fp32, row.mb_int8 = mb.get("fp32"), mb.get("int8")
            row.tar_mb_fp32, row.tar_mb_int8 = tar.get("fp32"), tar.get("int8")
        if int8 is not None and name in int8["wer"]:
            row.wer_int8, row.rtf_int8 = int8["wer"][name], int8["rtf"].get(name)
        if ref is not None and name in ref["wer"]:
            row.wer_rnnt_kd = ref["wer"][name]
            row.rtf_rnnt_kd = ref.get("rtf", {}).get(name)
            row.threads_rnnt_kd = ref.get("num_threads")
            ref_hyps = _hyps(rnnt_kd_json, ref, name)
            for other, path, attr in (
                (fp32, fp32_json, "same_fp32"),
                (int8, int8_json, "same_int8"),
            ):
                hyps = None if other is None or ref_hyps is None else _hyps(path, other, name)
                if hyps:
                    same, total = hypothesis_agreement(ref_hyps, hyps)
                    setattr(row, attr, same / total if total else None)
        rows.append(row)
    return rows


def _f(x: Optional[float], fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def _rtf(x: Optional[float], threads: Optional[int]) -> str:
    if x is None:
        return "–"
    return f"{x:.4f}" + ("" if threads in (None, 1) else f" ({threads} thr)")


def deploy_table(rows: Sequence[DeployRow]) -> str:
    """Markdown: model | test set | sparsity | WER % rnnt-kd / sherpa-onnx fp32 / int8 | int8
    change | same hypotheses fp32 / int8 | size MB fp32 / int8 | .tar.bz2 MB fp32 / int8 |
    RTF rnnt-kd / sherpa-onnx fp32 / int8 (1 thread unless marked)."""
    header = [
        "model",
        "test set",
        "sparsity",
        "WER % rnnt-kd / sherpa-onnx fp32 / int8",
        "int8 − fp32 (points)",
        "same hyps fp32 / int8",
        "ONNX MB fp32 / int8",
        ".tar.bz2 MB fp32 / int8",
        "RTF rnnt-kd / sherpa-onnx fp32 / int8",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        delta = None if r.wer_int8 is None or r.wer_fp32 is None else r.wer_int8 - r.wer_fp32
        same = [None if s is None else 100 * s for s in (r.same_fp32, r.same_int8)]
        cells = [
            r.model,
            r.test_set,
            "–" if r.sparsity is None else f"{100 * r.sparsity:.0f} %",
            " / ".join(_f(w, ".2f") for w in (r.wer_rnnt_kd, r.wer_fp32, r.wer_int8)),
            "–" if delta is None else f"{delta:+.2f}",
            " / ".join(_f(s, ".1f") + ("" if s is None else " %") for s in same),
            f"{_f(r.mb_fp32, '.2f')} / {_f(r.mb_int8, '.2f')}",
            f"{_f(r.tar_mb_fp32, '.2f')} / {_f(r.tar_mb_int8, '.2f')}",
            " / ".join(
                (
                    _rtf(r.rtf_rnnt_kd, r.threads_rnnt_kd),
                    _rtf(r.rtf_fp32, r.threads_onnx),
                    _rtf(r.rtf_int8, r.threads_onnx),
                )
            ),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
