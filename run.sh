#!/usr/bin/env bash
# The main job: the embedded default recipe (egs/synthlibri/ASR) end to end, installing what it
# needs on first use. All options go to the recipe, e.g.
#   ./run.sh --stage 0 --stop-stage 6          # everything
#   ./run.sh --stage 6 --stop-stage 6          # only decoding + RESULTS.md
#   ./run.sh --preset smoke                    # a toy-sized run in a few minutes
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$REPO/local/setup.sh" --quiet
cd "$REPO/egs/synthlibri/ASR"
exec ./run.sh "$@"
