#!/usr/bin/env bash
# Run rnnt-kd's test suite, installing what it needs on first use (local/setup.sh, and the
# Debian speech synthesizers the embedded corpus uses). Extra arguments go to pytest, e.g.
#   local/run_tests.sh -k distill -x
set -euo pipefail
# idle OpenMP threads sleep instead of spinning: 2-thread torch is 6x slower without it when
# the other core is busy (benchmarks/RESULTS.md)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
bash local/setup.sh --quiet
bash local/install_corpus_tools.sh --quiet
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# pytest exits 5 when no test ran: that is a failure too
exec "${RNNT_KD_VENV:-$REPO/.venv}/bin/python" -m pytest -q "$@"
