"""Sizes of an exported model: the files, and compressed as they would be shipped (``.tar.bz2``).

A sparse model's ONNX file is as large as the dense one (zeros are stored), but its zeros
compress: the archive size is what a download or an app bundle pays.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

Pathlike = Union[str, Path]
PARTS = ("encoder", "decoder", "joiner")


def shipped_files(onnx_dir: Pathlike, int8: bool = False) -> Dict[str, Path]:
    """The files of one deployable set: encoder, decoder, joiner (float32 or int8), tokens.txt."""
    d = Path(onnx_dir)
    tag = ".int8" if int8 else ""
    files = {f"{p}{tag}.onnx": d / f"{p}{tag}.onnx" for p in PARTS}
    files["tokens.txt"] = d / "tokens.txt"
    return files


def tar_bz2(files: Sequence[Path], out: Optional[Pathlike] = None, arcdir: str = "") -> int:
    """Size in bytes of a ``.tar.bz2`` of ``files`` (written to ``out`` if given, else in
    memory), each stored as ``<arcdir>/<name>``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tar:
        for f in files:
            name = Path(f).name
            tar.add(str(f), arcname=f"{arcdir}/{name}" if arcdir else name)
    data = buf.getvalue()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(data)
    return len(data)


def size_summary(onnx_dir: Pathlike, archive_dir: Optional[Pathlike] = None) -> Dict[str, object]:
    """Sizes (bytes) of the float32 and the int8 sets of ``onnx_dir``.

    Returns {"files": {name: bytes}, "onnx_bytes": {"fp32": sum of the three .onnx files,
    "int8": ...}, "tar_bz2_bytes": {"fp32": archive of the set with tokens.txt, "int8": ...}}.
    A set whose files are missing is left out. With ``archive_dir`` the archives are written
    there as ``model-fp32.tar.bz2`` / ``model-int8.tar.bz2``.
    """
    out: Dict[str, Dict[str, int]] = {"files": {}, "onnx_bytes": {}, "tar_bz2_bytes": {}}
    for tag, int8 in (("fp32", False), ("int8", True)):
        files = shipped_files(onnx_dir, int8)
        if not all(p.is_file() for p in files.values()):
            continue
        for name, p in files.items():
            out["files"][name] = p.stat().st_size
        out["onnx_bytes"][tag] = sum(
            p.stat().st_size for n, p in files.items() if n != "tokens.txt"
        )
        archive = None if archive_dir is None else Path(archive_dir) / f"model-{tag}.tar.bz2"
        out["tar_bz2_bytes"][tag] = tar_bz2(list(files.values()), archive, arcdir=f"model-{tag}")
    return out
