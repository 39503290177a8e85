#!/usr/bin/env python3
"""Build a CUDA wheel of fast_rnnt (k2's pruned RNN-T loss) with torch's own extension builder.

    usage: python local/build_fast_rnnt_cuda.py --sdist fast_rnnt-1.3.tar.gz --wheel-dir DIR
           [--arch-list "9.0"] [--cpu-only]

Why not fast_rnnt's own CMake build: fast_rnnt 1.3 hard-codes the GPU architectures it compiles
for (compute 35, 50, 60, 61, 70, 75, 80, 86) whenever the detected GPU is not in that list, and
CUDA 12 rejects 35, CUDA 13 everything below 75; Hopper (9.0) is never targeted. torch's
``CUDAExtension`` compiles the same four source files for the architectures in
``TORCH_CUDA_ARCH_LIST`` (default here: the visible GPUs'), with the compiler flags and
libraries (libtorch_cuda, c10_cuda) of the installed torch, so it follows torch and CUDA upgrades.

The wheel holds the unchanged ``fast_rnnt`` Python package and the ``_fast_rnnt`` extension, i.e.
the same modules as the PyPI build (``fast_rnnt.with_cuda()`` is True). ``--cpu-only`` builds the
same sources as a ``CppExtension`` (used to test this script on machines without CUDA).
Called by ``RNNT_KD_CUDA=1 local/setup.sh``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SOURCES = (
    "fast_rnnt/csrc/mutual_information_cpu.cu",
    "fast_rnnt/csrc/mutual_information_cuda.cu",
    "fast_rnnt/python/csrc/mutual_information.cu",
    "fast_rnnt/python/csrc/fast_rnnt.cu",
)

SETUP_PY = """\
# written by rnnt-kd's local/build_fast_rnnt_cuda.py
import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, {ext_class}

# fast_rnnt/__init__.py imports _fast_rnnt before torch: find libc10/libtorch through the RPATH,
# as fast_rnnt's CMake build does
TORCH_LIB = os.path.join(os.path.dirname(torch.__file__), "lib")

setup(
    name="fast_rnnt",
    version="{version}",
    packages=["fast_rnnt"],
    package_dir={{"fast_rnnt": "fast_rnnt/python/fast_rnnt"}},
    ext_modules=[
        {ext_class}(
            "_fast_rnnt",
            sources={sources!r},
            include_dirs=[{root!r}],
            define_macros={macros!r},
            extra_compile_args={{"cxx": ["-O3"], "nvcc": ["-O3", "--expt-extended-lambda"]}},
            extra_link_args=["-Wl,-rpath," + TORCH_LIB],
        )
    ],
    cmdclass={{"build_ext": BuildExtension.with_options(use_ninja=True)}},
)
"""


def visible_arch_list() -> str:
    """'8.0;9.0'-style list of the visible GPUs' compute capabilities."""
    import torch

    if not torch.cuda.is_available():
        raise SystemExit(
            "build_fast_rnnt_cuda: no GPU is visible; pass --arch-list (e.g. '8.0;9.0') or set "
            "TORCH_CUDA_ARCH_LIST to build for GPUs of another machine"
        )
    caps = {torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
    return ";".join(f"{a}.{b}" for a, b in sorted(caps))


def unpack(sdist: Path, into: Path) -> Path:
    """Unpack the sdist and return its top folder (fast_rnnt-<version>)."""
    with tarfile.open(sdist) as tar:
        # filter="data" (refuse links/paths outside `into`) exists from Python 3.11.4 / 3.10.12
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, **kwargs)
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def write_setup(src: Path, version: str, cpu_only: bool) -> None:
    """Replace the sdist's CMake-driven setup.py by a torch-extension one."""
    sources = []
    for rel in SOURCES:
        if cpu_only and rel.endswith("_cuda.cu"):
            continue
        path = src / rel
        if not path.is_file():
            raise SystemExit(f"build_fast_rnnt_cuda: {path} missing: not a fast_rnnt 1.x sdist?")
        if cpu_only:  # the .cu files are plain C++ without FT_WITH_CUDA; g++ wants .cc
            cc = path.with_suffix(".cc")
            shutil.copyfile(path, cc)
            path = cc
        sources.append(str(path.relative_to(src)))
    for name in ("pyproject.toml", "setup.cfg"):
        (src / name).unlink(missing_ok=True)
    (src / "setup.py").write_text(
        SETUP_PY.format(
            ext_class="CppExtension" if cpu_only else "CUDAExtension",
            version=version,
            sources=sources,
            root=str(src),
            macros=[] if cpu_only else [("FT_WITH_CUDA", None)],
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sdist", type=Path, required=True, help="fast_rnnt-<version>.tar.gz")
    p.add_argument("--wheel-dir", type=Path, required=True, help="where the wheel goes")
    p.add_argument(
        "--arch-list",
        default=os.environ.get("TORCH_CUDA_ARCH_LIST"),
        help="compute capabilities, e.g. '8.0;9.0' (default: $TORCH_CUDA_ARCH_LIST, else the "
        "visible GPUs')",
    )
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compile jobs")
    p.add_argument("--cpu-only", action="store_true", help="no CUDA kernels (tests this script)")
    args = p.parse_args()
    if not args.sdist.is_file():
        raise SystemExit(f"build_fast_rnnt_cuda: no such sdist: {args.sdist}")
    version = args.sdist.name.removeprefix("fast_rnnt-").removesuffix(".tar.gz")
    env = dict(os.environ, MAX_JOBS=str(args.jobs))
    if not args.cpu_only:
        env["TORCH_CUDA_ARCH_LIST"] = args.arch_list or visible_arch_list()
        print(
            f"build_fast_rnnt_cuda: fast_rnnt {version} for compute {env['TORCH_CUDA_ARCH_LIST']}"
        )
    args.wheel_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fast_rnnt-build-") as tmp:
        src = unpack(args.sdist, Path(tmp))
        write_setup(src, version, args.cpu_only)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        cmd += ["--no-cache-dir", str(src), "-w", str(args.wheel_dir.resolve())]
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
