#!/usr/bin/env bash
# LibriSpeech: the paper's second experiment (Panchapagesan et al. 2021, reported 4.8% relative
# WER reduction on test-other). A small Conformer student is trained twice, without and with the
# y/blank lattice distillation term from a larger Conformer teacher, and both are decoded with
# modified beam search on test-clean / test-other.
#
#   ./run.sh                                      # everything: 960 h, Conformer-L-like teacher
#   ./run.sh --full-libri false                   # train-clean-100 only
#   ./run.sh --world-size 8 --max-duration 600    # 8 GPUs (torch.distributed, NCCL)
#   ./run.sh --dl-dir /data/corpora               # LibriSpeech already in /data/corpora/LibriSpeech
#   ./run.sh --preset tiny --train-parts X ...    # toy models for a toy corpus (the tests)
#
# GPU training needs the pruned RNN-T loss with CUDA kernels: k2 (CUDA wheels from k2's site) or
# fast_rnnt built with CUDA; see "GPU and k2 users" in the top-level README. The stages are
# shared/asr_template.sh's; this recipe is its stage 0 (download), conf/*.sh and
# conf/experiments.txt.
cd "$(dirname "${BASH_SOURCE[0]}")"
prefix=librispeech
full_libri=true             # true: the 960 h; false: train-clean-100
train_parts=""              # override the training parts (default: from --full-libri)
dev_parts="dev-clean dev-other"
test_parts="test-clean test-other"
download_musan=false        # also fetch MUSAN into $dl_dir/musan (training does not mix noise yet)
base_url=http://www.openslr.org/resources
preamble=conf/reference.md  # the paper's numbers, at the top of RESULTS.md
. shared/asr_template.sh

if [ -z "$train_parts" ]; then
  train_parts=train-clean-100
  [ "$full_libri" = true ] && train_parts="train-clean-100 train-clean-360 train-other-500"
fi
stage0() {
  # lhotse.recipes.download_librispeech for each missing $dl_dir/LibriSpeech/<part>
  # shellcheck disable=SC2086
  PY local/download.py --dl-dir "$dl_dir" --parts $train_parts $dev_parts $test_parts \
    --musan "$download_musan" --base-url "$base_url"
}
template_main
