#!/usr/bin/env bash
# Install rnnt-kd and everything it needs into a virtual environment, from package registries only.
#
#   usage: local/setup.sh [--venv DIR] [--quiet]
#
# Idempotent: every step is skipped when its result already imports. Steps:
#   1. venv (+ pip, setuptools, wheel)            4. lhotse, sentencepiece, tensorboard, kaldialign, ...
#   2. torch: kept if >= 2.1 is already there,    5. k2's pruned RNN-T loss: k2 if importable, else
#      else torch==2.13.0 (CPU build)                fast_rnnt 1.3 built from its PyPI source package
#   3. build tools (cmake, pybind11)              6. kaldifeat 1.24 from its PyPI source package
#   4b. deployment: sherpa-onnx, onnxruntime,     7. rnnt-kd itself (editable)
#       onnx, onnxscript, kaldi-native-fbank (pinned, binary wheels)
# Wheels built in 5-6 are cached in $RNNT_KD_WHEELHOUSE (default ~/.cache/rnnt-kd/wheels/<torch>),
# keyed by the torch version (pip's own cache ignores it and the CMake flags).
# Environment: RNNT_KD_VENV (venv dir, default <repo>/.venv), PYTHON (interpreter for a new venv),
#              RNNT_KD_TORCH (torch spec when none is installed, default torch==2.13.0), JOBS,
#              RNNT_KD_CUDA=1 (build fast_rnnt with CUDA kernels; GPU users without k2).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${RNNT_KD_VENV:-$REPO/.venv}
QUIET=0
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV=$2; shift 2 ;;
    --quiet) QUIET=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
TORCH_SPEC=${RNNT_KD_TORCH:-torch==2.13.0}
JOBS=${JOBS:-$(nproc)}
FAST_RNNT_VER=1.3
KALDIFEAT_VER=1.24

say() { [ "$QUIET" = 1 ] || echo "$@"; }
need_tool() {  # need_tool CMD "how to install"
  command -v "$1" >/dev/null 2>&1 || { echo "setup.sh: missing system tool '$1'. Install it with: $2" >&2; exit 3; }
}
need_tool "$PY" "apt-get install python3 python3-venv (Python >= 3.9)"

T_ALL=$(date +%s)
TIMES=()
step() {  # step NAME CHECK_CMD RUN_FUNC
  local name=$1 check=$2 fn=$3 t0
  if ( eval "$check" ) >/dev/null 2>&1; then
    say "== [skip] $name (already done)"; TIMES+=("$(printf '%-40s skipped' "$name")"); return 0
  fi
  echo "== [run ] $name"; t0=$(date +%s)
  $fn
  TIMES+=("$(printf '%-40s %4ds' "$name" $(( $(date +%s) - t0 )))")
  echo "== [done] $name in $(( $(date +%s) - t0 ))s"
}
P() { "$VENV/bin/python" "$@"; }
# pip's config on some machines names local index folders that may be absent: hide that noise
PIP() { "$VENV/bin/python" -m pip -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

# a torch >= 2.1 that the base interpreter already has (e.g. a CUDA build) is used, not replaced:
# the venv then sees the base interpreter's site-packages
TORCH_OK="import torch,sys; v=tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v<(2,1))"
mk_venv() {
  local sys_site=()
  if "$PY" -c "$TORCH_OK" >/dev/null 2>&1; then
    sys_site=(--system-site-packages)
  fi
  "$PY" -m venv "${sys_site[@]}" "$VENV" || { echo "setup.sh: '$PY -m venv' failed; install python3-venv" >&2; exit 3; }
  if [ ${#sys_site[@]} -gt 0 ] && P -c "$TORCH_OK" >/dev/null 2>&1; then
    echo "   the venv uses the torch of $PY ($(P -c 'import torch; print(torch.__version__)'))"
  elif [ ${#sys_site[@]} -gt 0 ]; then
    # a venv made from another venv/conda env sees the base interpreter, not that env
    echo "   note: $PY is itself a virtual environment; to keep its torch, install into it:" \
      "RNNT_KD_VENV=$("$PY" -c 'import sys; print(sys.prefix)') local/setup.sh"
  fi
  PIP install -U pip setuptools wheel
}
step "venv at $VENV" "P -c 'import setuptools, wheel'" mk_venv

# torch: accept the user's torch >= 2.1, never force-reinstall it
torch_inst() { PIP install "$TORCH_SPEC" numpy; }
step "torch ($TORCH_SPEC unless >= 2.1 present)" "P -c \"$TORCH_OK\"" torch_inst
TORCH_VER=$(P -c 'import torch; print(torch.__version__)')

rest() {
  # urllib3: lhotse imports it without declaring it; scipy: resampling; soundfile: audio I/O
  PIP install lhotse urllib3 lilcom soundfile scipy sentencepiece tensorboard kaldialign tqdm \
    matplotlib pytest ruff numpy
}
step "lhotse, sentencepiece, tensorboard, ..." \
  "P -c 'import lhotse, lilcom, soundfile, scipy, sentencepiece, tensorboard, kaldialign, tqdm, matplotlib, pytest'" rest

# deployment (rnnt_kd.deploy, export_onnx, decode_onnx): the ONNX exporter (onnx, onnxscript),
# onnxruntime (checks, int8 quantisation), sherpa-onnx (the runtime) and kaldi-native-fbank (the
# fbank library sherpa-onnx 2.0.1 compiles in, version 1.22.3: tests compare its features)
DEPLOY_PKGS="sherpa-onnx==2.0.1 onnxruntime==1.32.0 onnx==1.23.2 onnxscript==0.7.2 kaldi-native-fbank==1.22.3"
deploy_inst() { PIP install $DEPLOY_PKGS; }
step "sherpa-onnx, onnxruntime, onnx (deployment)" \
  "P -c 'import sherpa_onnx, onnxruntime, onnx, onnxscript, kaldi_native_fbank'" deploy_inst

# ---- C++ extensions (k2's pruned loss and kaldifeat), built against the installed torch
HAVE_K2=0
P -c 'import k2; k2.get_rnnt_prune_ranges' >/dev/null 2>&1 && HAVE_K2=1
FT_CHECK="P -c 'import torch, fast_rnnt; fast_rnnt.rnnt_loss_simple(lm=torch.zeros(1,2,3), am=torch.zeros(1,4,3), symbols=torch.ones(1,1,dtype=torch.int64), termination_symbol=0)'"
[ "${RNNT_KD_CUDA:-0}" = 1 ] && FT_CHECK="$FT_CHECK && P -c 'import fast_rnnt, sys; sys.exit(not fast_rnnt.with_cuda())'"
KF_CHECK="P -c 'import torch, kaldifeat; kaldifeat.Fbank(kaldifeat.FbankOptions())(torch.rand(16000))'"
if [ "$HAVE_K2" = 1 ] && ( eval "$KF_CHECK" ) >/dev/null 2>&1; then
  NEED_BUILD=0
elif [ "$HAVE_K2" = 0 ] && ( eval "$FT_CHECK" ) >/dev/null 2>&1 && ( eval "$KF_CHECK" ) >/dev/null 2>&1; then
  NEED_BUILD=0
else
  NEED_BUILD=1
fi
if [ "$NEED_BUILD" = 1 ]; then
  need_tool g++ "apt-get install g++ (a C++17 compiler)"
  need_tool make "apt-get install make"
  tools() { PIP install cmake pybind11; }
  step "build tools (cmake, pybind11)" "P -c 'import pybind11, cmake'" tools
  SUPPORT="$VENV/.build-support"
  mkdir -p "$SUPPORT/cmake" "$SUPPORT/torch_cpu"
  # Both projects include(pybind11), which would download pybind11 from GitHub: use pip's.
  echo 'find_package(pybind11 CONFIG REQUIRED)' > "$SUPPORT/cmake/pybind11.cmake"
  # A CUDA build of torch ships a TorchConfig.cmake that demands a full CUDA toolkit; we build the
  # extensions for the CPU only, so give CMake a minimal CPU-only config instead.
  cat > "$SUPPORT/torch_cpu/TorchConfig.cmake" <<'CMAKE'
execute_process(COMMAND "${PYTHON_EXECUTABLE}" -c "import os, torch; print(os.path.dirname(torch.__file__), end='')"
  OUTPUT_VARIABLE TORCH_INSTALL_PREFIX RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cannot import torch with ${PYTHON_EXECUTABLE}")
endif()
execute_process(COMMAND "${PYTHON_EXECUTABLE}" -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI), end='')"
  OUTPUT_VARIABLE _torch_abi)
set(TORCH_INCLUDE_DIRS "${TORCH_INSTALL_PREFIX}/include" "${TORCH_INSTALL_PREFIX}/include/torch/csrc/api/include")
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=${_torch_abi}")
set(TORCH_LIBRARY "${TORCH_INSTALL_PREFIX}/lib/libtorch.so")
if(NOT TARGET torch)
  add_library(torch SHARED IMPORTED)
  set_target_properties(torch PROPERTIES
    IMPORTED_LOCATION "${TORCH_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INCLUDE_DIRS}"
    INTERFACE_COMPILE_OPTIONS "${TORCH_CXX_FLAGS}"
    INTERFACE_LINK_LIBRARIES "${TORCH_INSTALL_PREFIX}/lib/libtorch_cpu.so;${TORCH_INSTALL_PREFIX}/lib/libc10.so")
endif()
set(TORCH_LIBRARIES torch)
set(Torch_FOUND TRUE)
CMAKE
  TORCH_PKG=$(P -c 'import os, torch; print(os.path.dirname(torch.__file__))')
  # torch >= 2.14 headers need C++20
  if grep -q "C++20 or later" "$TORCH_PKG/include/ATen/ATen.h" 2>/dev/null; then CXXSTD=20; else CXXSTD=17; fi
  PB_DIR=$(P -c 'import pybind11; print(pybind11.get_cmake_dir())')
  CMAKE_COMMON="-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=$CXXSTD -DCMAKE_MODULE_PATH=$SUPPORT/cmake \
 -Dpybind11_DIR=$PB_DIR -DPYTHON_EXECUTABLE=$VENV/bin/python -DTorch_DIR=$SUPPORT/torch_cpu"
  WH=${RNNT_KD_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/rnnt-kd/wheels}/torch-$TORCH_VER-$(P -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
  mkdir -p "$WH"
  build_ext() {  # build_ext PKG VERSION (the package's CMake args are exported by the caller)
    local pkg=$1 ver=$2 whl
    whl=$(ls "$WH"/"${pkg}"-"${ver}"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$whl" ]; then
      echo "   building $pkg $ver from its PyPI source package against torch $TORCH_VER (C++$CXXSTD, -j$JOBS)"
      PATH="$VENV/bin:$PATH" PIP wheel --no-deps --no-build-isolation --no-cache-dir --no-binary "$pkg" \
        "$pkg==$ver" -w "$WH"
      whl=$(ls "$WH"/"${pkg}"-"${ver}"-*.whl | head -1)
    else
      echo "   reusing cached wheel $whl"
    fi
    PIP install --no-deps --force-reinstall "$whl"
  }
  # -DFT_WITH_CUDA=OFF: otherwise it finds nvcc and tries (and fails) to build CUDA kernels
  # RNNT_KD_CUDA=1 (GPU users without k2): fast_rnnt's CMake hard-codes GPU archs that CUDA >= 12
  # rejects, so its CUDA kernels are built with torch's extension builder instead
  # (local/build_fast_rnnt_cuda.py; archs: $TORCH_CUDA_ARCH_LIST, else the visible GPUs').
  ft_build() {
    if [ "${RNNT_KD_CUDA:-0}" = 1 ]; then
      need_tool nvcc "a CUDA toolkit matching your torch build"
      local whl src
      whl=$(ls "$WH-cuda"/fast_rnnt-"$FAST_RNNT_VER"-*.whl 2>/dev/null | head -1 || true)
      if [ -z "$whl" ]; then
        src=$(mktemp -d)
        PIP download --no-deps --no-binary :all: "fast_rnnt==$FAST_RNNT_VER" -d "$src"
        PATH="$VENV/bin:$PATH" P "$REPO/local/build_fast_rnnt_cuda.py" --jobs "$JOBS" \
          --sdist "$src/fast_rnnt-$FAST_RNNT_VER.tar.gz" --wheel-dir "$WH-cuda"
        rm -rf "$src"
        whl=$(ls "$WH-cuda"/fast_rnnt-"$FAST_RNNT_VER"-*.whl | head -1)
      fi
      PIP install --no-deps --force-reinstall "$whl"
    else
      FT_CMAKE_ARGS="$CMAKE_COMMON -DFT_BUILD_TESTS=OFF -DFT_WITH_CUDA=OFF" FT_MAKE_ARGS="-j$JOBS" \
        build_ext fast_rnnt $FAST_RNNT_VER
    fi
  }
  # CMAKE_INSTALL_LIBDIR=lib: else "libkaldifeat_core.so: cannot open"; unity build: ~3x faster
  kf_build() {
    KALDIFEAT_CMAKE_ARGS="$CMAKE_COMMON -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \
 -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=5" KALDIFEAT_MAKE_ARGS="-j$JOBS" \
      build_ext kaldifeat $KALDIFEAT_VER
  }
  if [ "$HAVE_K2" = 1 ]; then
    say "== [skip] fast_rnnt (k2 is importable: its pruned RNN-T loss is used)"
  else
    step "fast_rnnt $FAST_RNNT_VER (k2's pruned RNN-T loss)" "$FT_CHECK" ft_build
  fi
  step "kaldifeat $KALDIFEAT_VER" "$KF_CHECK" kf_build
fi

self_inst() { PIP install --no-deps --no-build-isolation -e "$REPO"; }
step "rnnt-kd (editable)" "cd / && P -c 'import rnnt_kd, os, sys; sys.exit(os.path.dirname(os.path.dirname(rnnt_kd.__file__)) != \"$REPO\")'" self_inst

if [ "$QUIET" = 0 ] || printf '%s\n' "${TIMES[@]}" | grep -qv skipped; then
  echo "== setup summary (torch $TORCH_VER, k2=$HAVE_K2)"
  printf '   %s\n' "${TIMES[@]}"
  echo "   total $(( $(date +%s) - T_ALL ))s, venv $(du -sh "$VENV" 2>/dev/null | cut -f1)"
fi
