#!/usr/bin/env bash
# Run rnnt-kd's test suite, installing what it needs on first use (local/setup.sh, and the
# Debian speech synthesizers the embedded corpus uses). Extra arguments go to pytest, e.g.
#   local/run_tests.sh -k distill -x
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
bash local/setup.sh --quiet
bash local/install_corpus_tools.sh --quiet
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# pytest exits 5 when no test ran: that is a failure too
exec "${RNNT_KD_VENV:-$REPO/.venv}/bin/python" -m pytest -q "$@"
