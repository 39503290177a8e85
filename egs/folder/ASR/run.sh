#!/usr/bin/env bash
# folder: your own corpus kept as one folder of audio files with transcripts. Stage 0 splits it
# into train / dev / test (seeded, whole speakers per part when speakers are known); then the
# shared stages train a teacher, a pruned and a small student without and with y/blank lattice
# KD, and decode them all into RESULTS.md.
#
#   ./run.sh --corpus /data/my_recordings                 # preset default: CPU, a few hours of speech
#   ./run.sh --corpus /data/my_recordings --preset tiny   # toy sizes (tests/test_folder_recipe.py)
#
# The folder: audio files <id>.wav (or .flac, ...), transcripts.txt with lines "<id> TRANSCRIPT"
# (or <id>.txt beside each file) and, optionally, utt2spk with lines "<id> <speaker>".
cd "$(dirname "${BASH_SOURCE[0]}")"
prefix=folder
corpus=""                 # the folder (required for stage 0)
speaker_regex=""          # speakers from the ids instead, e.g. '([^_]+)_' for anna_0001
dev_fraction=0.1; test_fraction=0.1
train_parts=train; dev_parts=dev; test_parts="dev test"
. shared/asr_template.sh

stage0() {
  [ -n "$corpus" ] || { echo "run.sh: stage 0 needs the corpus folder: --corpus DIR" >&2; return 2; }
  local extra=()
  [ -z "$speaker_regex" ] || extra=(--speaker-regex "$speaker_regex")
  PY -m rnnt_kd.bin.prepare_data split --corpus-dir "$corpus" --out-dir "$corpus_dir" \
    --dev-fraction "$dev_fraction" --test-fraction "$test_fraction" --seed "$seed" \
    --num-jobs "$num_jobs" "${extra[@]}"
}
template_main
