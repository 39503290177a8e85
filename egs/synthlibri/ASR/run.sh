#!/usr/bin/env bash
# synthlibri: the embedded default recipe of rnnt-kd. It makes its own speech corpus offline with
# Debian's speech synthesizers (LibriSpeech layout), trains a dense Conformer transducer (the
# teacher), then sparse students (gradual magnitude pruning to 60% and 90%, from the teacher) and
# a small Conformer, each WITHOUT and WITH the y/blank lattice distillation term, and decodes all
# of them on dev / test-clean / test-other / test-farfield into RESULTS.md + results.json + a plot.
#
#   ./run.sh --stage 0 --stop-stage 6            # everything (preset default, 1.5-5 h on 2 cores)
#   ./run.sh --preset smoke                      # toy sizes, a few minutes (used by the tests)
#   ./run.sh --preset gpu --world-size 1         # larger corpus and models for a GPU
#   ./run.sh --stage 8 --stop-stage 8            # KD weight/temperature sweep on dev
#
# The stages are shared/asr_template.sh's; this recipe is its stage 0, its presets (conf/*.sh)
# and its experiment matrix (conf/experiments.txt).
cd "$(dirname "${BASH_SOURCE[0]}")"
prefix=synthlibri
train_parts=train-clean-synth   # + train-farfield (far-field copies) when train_farfield > 0
bpe_parts=train-clean-synth     # the BPE model learns from the clean text only
dev_parts=dev-clean
test_parts="dev-clean test-clean test-other test-farfield"
. shared/asr_template.sh

[ "$(awk "BEGIN{print ($train_farfield > 0)}")" = 1 ] && train_parts="$train_parts train-farfield"
corpus_info=$dl_dir/corpus_info.json
stage0_outputs=$corpus_info
stage0() {
  bash ../../../local/install_corpus_tools.sh --quiet
  PY -m rnnt_kd.corpus.make_corpus --out-dir "$dl_dir" --num-train "$num_train" \
    --num-dev "$num_dev" --num-test "$num_test" --seed "$seed" --max-vocab "$max_vocab" \
    --num-jobs "$num_jobs" --train-utts-per-speaker "$utts_per_spk" \
    --train-text "$train_text" --train-farfield-fraction "$train_farfield" \
    --train-random-text-fraction "$random_text" --train-espeak-mixed-fraction "$mixed_voices"
}
# --clean-teacher true: the KD teacher hears the clean original of each far-field training copy
before_students() {
  local copies=$fbank_dir/${prefix}_cuts_train-farfield.jsonl.gz
  { [ "$clean_teacher" = true ] && [ -f "$copies" ]; } || return 0
  teacher_input_cuts=$fbank_dir/${prefix}_cuts_train-farfield-teacher.jsonl.gz
  [ -f "$teacher_input_cuts" ] || PY -m rnnt_kd.bin.prepare_data teacher-inputs \
    --copies "$copies" --sources "$fbank_dir/${prefix}_cuts_train-clean-synth.jsonl.gz" \
    --source-map "$corpus_dir/train-farfield/farfield_params.jsonl" --out "$teacher_input_cuts"
}
template_main
