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
# fast_rnnt built with CUDA; see "GPU and k2 users" in the top-level README.
#
# Stages: 0 download (lhotse), 1 manifests, 2 fbank, 3 BPE, 4 teacher, 5 students, 6 decode +
# RESULTS.md. Each finished stage leaves a marker in $exp_root/.done/; a rerun skips it.
set -euo pipefail
# idle OpenMP threads sleep instead of spinning: 2-thread torch is 6x slower without it when
# the other core is busy (benchmarks/RESULTS.md)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "${BASH_SOURCE[0]}")"

stage=0
stop_stage=6
preset=default              # default (GPU sizes) | tiny (tests: toy models, 1-2 epochs)
dl_dir=download             # LibriSpeech is (or goes) in $dl_dir/LibriSpeech/<part>
data_dir=data
exp_root=exp
results_dir=.               # RESULTS.md and results.json
full_libri=true             # true: the 960 h; false: train-clean-100
train_parts=""              # override the training parts (default: from --full-libri)
dev_parts="dev-clean dev-other"
test_parts="test-clean test-other"
download_musan=false        # also fetch MUSAN into $dl_dir/musan (stage 0; training does not mix
                            # noise yet, so this only prepares the data)
base_url=http://www.openslr.org/resources
speed_perturb=true          # x0.9 / x1.1 copies of the training data (stage 2)
vocab_size=""; max_duration=""; teacher_epochs=""; student_epochs=""; avg=""
teacher_preset=""; teacher_args=""; student_preset=""; student_args=""; extra_train_args=""
distill_scale=0.01          # beta (unknown in the paper: sweep it on dev)
distill_temperature=1.0
beam_size=4
world_size=1                # GPUs (or CPU processes); --world-size N spawns N ranks
use_fp16=true               # mixed precision; ignored on CPU
use_bf16=false
num_workers=""              # dataloader workers per rank (default 2; tiny: 0)
num_jobs=""                 # CPU jobs for data preparation (default: min(nproc, 16); tiny: 1)
seed=42
python=${RNNT_KD_PYTHON:-../../../.venv/bin/python}
help_message="usage: ./run.sh [--stage N] [--stop-stage M] [--preset default|tiny] [--dl-dir DIR]
  [--full-libri true|false] [--train-parts 'P ...'] [--dev-parts 'P ...'] [--test-parts 'P ...']
  [--world-size W] [--use-fp16 true|false] [--use-bf16 true|false] [--max-duration S]
  [--teacher-preset NAME] [--teacher-args '...'] [--student-preset NAME] [--student-args '...']
  [--teacher-epochs E] [--student-epochs E] [--avg A] [--distill-scale B] [--vocab-size V]
  [--download-musan true|false] [--base-url URL] [--data-dir D] [--exp-root D] [--results-dir D]
stages: 0 download, 1 manifests, 2 fbank, 3 BPE, 4 teacher, 5 students, 6 decode + RESULTS.md"
. shared/parse_options.sh

# Conformer-S of Gulati et al. (2020) (dim 144, 16 blocks, 4 heads, kernel 32 -> 31 here, odd)
# as overrides on the `small` preset: 9.2 M parameters with V=500 (theirs: 10.3 M, LSTM decoder).
conformer_s="--encoder-dim 144 --num-encoder-layers 16 --num-heads 4 --feedforward-dim 576
  --conv-kernel-size 31 --decoder-dim 320 --joiner-dim 320"
case "$preset" in
  default) p_vocab=500; p_dur=600; p_tep=30; p_sep=30; p_avg=5; p_tpreset=large; p_targs=""
           p_spreset=small; p_sargs=$conformer_s; p_extra=""; p_workers=2
           p_jobs=$(( $(nproc) < 16 ? $(nproc) : 16 )) ;;
  tiny)    p_vocab=30; p_dur=10; p_tep=2; p_sep=1; p_avg=1; p_tpreset=tiny; p_targs=""
           p_spreset=tiny; p_sargs="--encoder-dim 48 --num-encoder-layers 1 --num-heads 2
             --feedforward-dim 96 --decoder-dim 48 --joiner-dim 48"
           p_extra="--warmup-batches 2 --model-warm-step 4 --log-interval 5 --progress false"
           p_workers=0; p_jobs=1 ;;
  *) echo "run.sh: unknown --preset '$preset' (default|tiny)" >&2; exit 2 ;;
esac
: "${vocab_size:=$p_vocab}" "${max_duration:=$p_dur}" "${teacher_epochs:=$p_tep}"
: "${student_epochs:=$p_sep}" "${avg:=$p_avg}" "${teacher_preset:=$p_tpreset}"
: "${teacher_args:=$p_targs}" "${student_preset:=$p_spreset}" "${student_args:=$p_sargs}"
: "${extra_train_args:=$p_extra}" "${num_workers:=$p_workers}" "${num_jobs:=$p_jobs}"
if [ -z "$train_parts" ]; then
  train_parts=train-clean-100
  [ "$full_libri" = true ] && train_parts="train-clean-100 train-clean-360 train-other-500"
fi

prefix=librispeech
fbank=$data_dir/fbank
lang=$data_dir/lang_bpe_$vocab_size
done_dir=$exp_root/.done
times=$exp_root/stage_times.tsv
# stages 0-2 depend on the parts: their markers carry a checksum of the part list
parts_tag=$(printf '%s' "$train_parts|$dev_parts|$test_parts" | cksum | cut -d' ' -f1)
mkdir -p "$done_dir"
. shared/recipe_lib.sh

cuts_of() { local p; for p in "$@"; do printf '%s ' "$fbank/${prefix}_cuts_$p.jsonl.gz"; done; }

stage0() {
  # lhotse.recipes.download_librispeech for each missing $dl_dir/LibriSpeech/<part>
  # shellcheck disable=SC2086
  "$python" local/download.py --dl-dir "$dl_dir" --parts $train_parts $dev_parts $test_parts \
    --musan "$download_musan" --base-url "$base_url"
}
stage1() {
  # shellcheck disable=SC2086
  "$python" -m rnnt_kd.bin.prepare_data manifests --corpus-dir "$dl_dir/LibriSpeech" \
    --output-dir "$data_dir/manifests" --prefix $prefix --num-jobs "$num_jobs" \
    --parts $train_parts $dev_parts $test_parts
}
stage2() {
  # 80-dim lhotse Fbank (rnnt_kd.data.features.make_fbank), lilcom-compressed; speed
  # perturbation only on the training parts
  # shellcheck disable=SC2086
  "$python" -m rnnt_kd.bin.prepare_data fbank --manifest-dir "$data_dir/manifests" \
    --output-dir "$fbank" --prefix $prefix --num-jobs "$num_jobs" \
    --parts $train_parts --speed-perturb "$speed_perturb"
  # shellcheck disable=SC2086
  "$python" -m rnnt_kd.bin.prepare_data fbank --manifest-dir "$data_dir/manifests" \
    --output-dir "$fbank" --prefix $prefix --num-jobs "$num_jobs" --parts $dev_parts $test_parts
}
stage3() {
  # shellcheck disable=SC2046,SC2086
  "$python" -m rnnt_kd.bin.prepare_data bpe --cuts $(cuts_of $train_parts) --lang-dir "$lang" \
    --vocab-size "$vocab_size"
}

# train NAME ARGS...: one rnnt_kd.bin.train run into $exp_root/NAME (command.txt records it)
train() {
  local name=$1; shift
  # shellcheck disable=SC2046,SC2086
  record "$exp_root/$name" "$python" -m rnnt_kd.bin.train --exp-dir "$exp_root/$name" \
    --train-cuts $(cuts_of $train_parts) --valid-cuts $(cuts_of $dev_parts) \
    --bpe-model "$lang/bpe.model" --max-duration "$max_duration" --world-size "$world_size" \
    --use-fp16 "$use_fp16" --use-bf16 "$use_bf16" --num-workers "$num_workers" \
    --num-threads "$num_jobs" --seed "$seed" $extra_train_args "$@"
}
teacher_ckpt=$exp_root/teacher/epoch-$teacher_epochs.pt
stage4() {
  # shellcheck disable=SC2086
  train teacher --model-preset "$teacher_preset" $teacher_args --num-epochs "$teacher_epochs"
}
stage5() {
  local name
  for name in small small_kd; do
    if [ -f "$done_dir/5.$name" ]; then log "student $name: done before"; continue; fi
    log "student $name ($student_preset $student_args)"
    local kd=()
    [ $name = small_kd ] && kd=(--teacher-checkpoint "$teacher_ckpt" --distill-scale
      "$distill_scale" --distill-temperature "$distill_temperature")
    # shellcheck disable=SC2086
    train $name --model-preset "$student_preset" $student_args --num-epochs "$student_epochs" \
      "${kd[@]}"
    touch "$done_dir/5.$name"
  done
}
stage6() {
  local name epoch
  for name in teacher small small_kd; do
    [ -d "$exp_root/$name" ] || { log "no $exp_root/$name, not decoding it"; continue; }
    epoch=$teacher_epochs; [ $name = teacher ] || epoch=$student_epochs
    # shellcheck disable=SC2046,SC2086
    record "$exp_root/$name/modified_beam_search" \
      "$python" -m rnnt_kd.bin.decode --exp-dir "$exp_root/$name" --epoch "$epoch" \
      --avg "$(( avg < epoch ? avg : epoch ))" --bpe-model "$lang/bpe.model" \
      --method modified_beam_search --beam-size "$beam_size" --max-duration "$max_duration" \
      --test-cuts $(cuts_of $test_parts) --num-threads "$num_jobs" --overwrite true
    "$python" -m rnnt_kd.bin.export --exp-dir "$exp_root/$name" --epoch "$epoch" \
      --avg "$(( avg < epoch ? avg : epoch ))" \
      --json "$exp_root/$name/pretrained-epoch-$epoch-avg-$(( avg < epoch ? avg : epoch )).json"
  done
  # the paper's reference numbers: the marked block of the committed RESULTS.md
  sed -n '/^<!-- reference/,/^<!-- \/reference -->/p' RESULTS.md > "$exp_root/reference.md"
  "$python" -m rnnt_kd.bin.make_report --exp-root "$exp_root" --out-dir "$results_dir" \
    --preset "$preset" --recipe egs/librispeech/ASR/run.sh --stage-times "$times" \
    --preamble "$exp_root/reference.md" --plot false
}

run_stage 0 "download.$parts_tag" stage0
run_stage 1 "manifests.$parts_tag" stage1
run_stage 2 "fbank.$parts_tag" stage2
run_stage 3 bpe stage3
run_stage 4 teacher stage4
run_stage 5 students stage5
run_stage 6 decode stage6
log "Done (stages $stage..$stop_stage, preset $preset, train parts: $train_parts)."
