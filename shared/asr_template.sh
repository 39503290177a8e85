#!/usr/bin/env bash
# The stages every rnnt-kd recipe shares (in the spirit of ESPnet's egs2/TEMPLATE/asr1/asr.sh). A
# recipe is its stage 0, its presets conf/<preset>.sh and its experiment matrix
# conf/experiments.txt; docs/ADAPTING.md shows how to write one. Its run.sh:
#
#   cd "$(dirname "${BASH_SOURCE[0]}")"
#   prefix=mycorpus; train_parts=train; dev_parts=dev; test_parts="dev test"   # file names
#   . shared/asr_template.sh        # conf/<preset>.sh, then the command line's --options
#   stage0() { ...; }               # put the corpus in LibriSpeech layout under $corpus_dir
#   template_main                   # run stages $stage..$stop_stage
#
# Stages: 0 corpus (the recipe's stage0), 1 manifests, 2 fbank, 3 BPE, 4 teacher, 5 students,
# 6 decode + export + RESULTS.md, 7 (optional) ONNX export + sherpa-onnx decoding, 8 (optional)
# KD weight/temperature sweep on dev. A recipe may also define stage1 (its own manifests) and
# before_students (a hook run before stages 5 and 8). Finished stages leave .done markers under
# $exp_root/.done/ and are skipped on rerun; a stage whose output is gone is redone.
set -euo pipefail
# idle OpenMP threads sleep instead of spinning: 2-thread torch is 6x slower without it when
# the other core is busy (benchmarks/RESULTS.md)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
invocation="./run.sh$(printf ' %q' "$@")"  # RESULTS.md names the commands that ran each stage

# --- options: the template's defaults < the recipe's run.sh < conf/<preset>.sh < command line
: "${stage=0}" "${stop_stage=6}" "${preset=default}"
: "${dl_dir=}" "${data_dir=}" "${exp_root=}" "${results_dir=}"  # empty: download, data, exp
: "${corpus_dir=}"                  # LibriSpeech layout root; empty: $dl_dir/LibriSpeech
: "${prefix=corpus}" "${train_parts=train}" "${dev_parts=dev}" "${test_parts=test}"
: "${bpe_parts=}"                   # parts whose text trains the BPE model; empty: train_parts
: "${python=${RNNT_KD_PYTHON:-../../../.venv/bin/python}}"
: "${num_jobs=2}" "${world_size=1}" "${seed=42}" "${parallel_runs=false}"
: "${vocab_size=500}" "${max_duration=200}" "${speed_perturb=false}" "${save_every_n=200}"
: "${train_opts=}" "${teacher_epochs=10}" "${teacher_world_size=}" "${avg=1}"
: "${distill_scale=0.01}" "${distill_temperature=1.0}" "${teacher_cache=false}"
: "${teacher_input_cuts=}"          # KD: features the teacher hears instead of the student's
: "${decode_methods=modified_beam_search}" "${beam_size=4}" "${lexicon_decoding=false}"
: "${experiments=conf/experiments.txt}" "${corpus_info=}" "${preamble=}"
: "${stage0_outputs=}"              # what stage 0 makes (a rerun redoes it when one is gone);
                                    # empty: the part folders under $corpus_dir
: "${onnx_models=}"                 # stage 7: these experiments (empty: every decoded one)
: "${onnx_methods=}"                # stage 7: these search methods (empty: $decode_methods)
: "${sweep_experiment=}" "${sweep_scales=0.1 0.3 1.0}" "${sweep_temperatures=1.0}"
# $(prune S E) in conf/experiments.txt: fine-tune the teacher at a low LR with no warm-up,
# pruning from the first step to 2/3 of the run (every 1/20 of that: --prune-every 0), then at
# the final sparsity while the LR anneals over the last $sparse_anneal_share of the run
: "${prune_opts=--base-lr 1e-3 --warmup-batches 1 --model-warm-step 0 --prune-start-fraction 0 --prune-end-fraction 2/3}"
: "${sparse_anneal_share=0.3333}"
# The CPU / small-data setting, for a from-scratch Conformer transducer on a CPU or a few hours
# of speech (measured on synthlibri, its NOTES.md): LayerScale 0.1 (without it the encoder sits
# on the all-blank plateau for ~1000 steps), the ~4x cheaper conv1d front-end, an auxiliary CTC
# loss, a short warm-up (docs/ADAPTING.md: scale it to your steps per epoch), SpecAugment off.
cpu_small_data="--base-lr 3e-3 --warmup-batches 100 --model-warm-step 300 --spec-augment false --subsampling conv1d --layer-scale 0.1 --use-ctc true"
for ((__i = 1; __i <= $#; __i++)); do  # the preset decides the defaults: read it first
  case "${!__i}" in
    --preset) __j=$((__i + 1)); preset=${!__j:-} ;;
    --preset=*) preset=${!__i}; preset=${preset#--preset=} ;;
  esac
done
if [ ! -f "conf/$preset.sh" ]; then
  echo "run.sh: unknown --preset '$preset' (conf/*.sh: $(cd conf && ls -- *.sh | sed 's/\.sh$//' | xargs))" >&2
  exit 2
fi
# shellcheck disable=SC1090
. "conf/$preset.sh"
help_message="usage: ./run.sh [--stage N] [--stop-stage M] [--preset NAME] [--VARIABLE VALUE ...]
Every variable of conf/<preset>.sh is an option (--vocab-size 64 sets vocab_size); presets:
$(cd conf && ls -- *.sh | sed 's/\.sh$//' | xargs). Experiments: conf/experiments.txt.
stages: 0 corpus, 1 manifests, 2 fbank, 3 BPE, 4 teacher, 5 students, 6 decode + RESULTS.md,
        7 (optional) ONNX export + sherpa-onnx decoding, 8 (optional) KD sweep on dev"
. shared/parse_options.sh
sfx=""; [ "$preset" = default ] || sfx="_$preset"  # presets never mix their files
dl_dir=${dl_dir:-download$sfx}; data_dir=${data_dir:-data$sfx}; exp_root=${exp_root:-exp$sfx}
[ -n "$results_dir" ] || { [ "$preset" = default ] && results_dir=. || results_dir=$exp_root; }
corpus_dir=${corpus_dir:-$dl_dir/LibriSpeech}
. shared/recipe_lib.sh
PY() { "$python" "$@"; }
scaled() { awk -v a="$1" -v b="$2" 'BEGIN{print a * b}'; }  # scaled A B: A*B (shell floats)

# --- helpers for conf/experiments.txt (its options column is expanded by the shell)
# prune SPARSITY EPOCHS: fine-tune the teacher for EPOCHS while pruning it to SPARSITY
# ($prune_opts: when and how; $sparse_anneal_share of the run anneals the LR at the end)
prune() {
  echo "--init-from $teacher_ckpt $teacher_model $prune_opts" \
    "--lr-anneal-epochs $(scaled "$2" "$sparse_anneal_share") --target-sparsity $1 --num-epochs $2"
}
# epochs N SHARE: N epochs, the LR annealed over the last SHARE of them
epochs() { echo "--num-epochs $1 --lr-anneal-epochs $(scaled "$1" "$2")"; }
# experiment_rows: "name|group|baseline|kd|seeds|options" of each line of $experiments
experiment_rows() { sed -e 's/#.*//' -e 's/ *| */|/g' -e 's/^ *//' -e 's/ *$//' "$experiments" | awk NF; }
# kd_args SCALE TEMPERATURE: sets the array kd to a KD student's distillation options
kd_args() {
  kd=(--teacher-checkpoint "$teacher_ckpt" --distill-scale "$1" --distill-temperature "$2")
  [ -z "$teacher_input_cuts" ] || kd+=(--teacher-input-cuts "$teacher_input_cuts")
  [ "$teacher_cache" != true ] || kd+=(--teacher-cache "$exp_root/teacher/band-epoch-$teacher_epochs-T$2.pt")
}
# the teacher's band posteriors at temperature T, computed once for every KD student
# (rnnt_kd.bin.cache_teacher: a KD student then costs what a plain one does, not ~1.3x)
make_teacher_cache() {  # make_teacher_cache T
  local out=$exp_root/teacher/band-epoch-$teacher_epochs-T$1.pt extra=()
  { [ "$teacher_cache" = true ] && [ ! -f "$out" ]; } || return 0
  [ -z "$teacher_input_cuts" ] || extra=(--teacher-input-cuts "$teacher_input_cuts")
  log "teacher band at temperature $1 -> $out"
  PY -m rnnt_kd.bin.cache_teacher --teacher-checkpoint "$teacher_ckpt" \
    --train-cuts "${train_cuts[@]}" --bpe-model "$bpe_model" --distill-temperature "$1" \
    --max-duration "$max_duration" --num-threads "$num_jobs" --out "$out" "${extra[@]}"
}

stage1() {
  PY -m rnnt_kd.bin.prepare_data manifests --corpus-dir "$corpus_dir" \
    --output-dir "$data_dir/manifests" --prefix "$prefix" --parts $all_parts --num-jobs "$num_jobs"
}
stage2() {
  # speed perturbation (x0.9 / x1.1 copies) only on the training parts
  PY -m rnnt_kd.bin.prepare_data fbank --manifest-dir "$data_dir/manifests" \
    --output-dir "$fbank_dir" --prefix "$prefix" --parts $train_parts --num-jobs "$num_jobs" \
    --speed-perturb "$speed_perturb"
  PY -m rnnt_kd.bin.prepare_data fbank --manifest-dir "$data_dir/manifests" \
    --output-dir "$fbank_dir" --prefix "$prefix" --parts $eval_parts --num-jobs "$num_jobs"
}
stage3() {
  # shellcheck disable=SC2046
  PY -m rnnt_kd.bin.prepare_data bpe --cuts $(cuts_of "$fbank_dir" "$prefix" ${bpe_parts:-$train_parts}) \
    --lang-dir "$lang_dir" --vocab-size "$vocab_size"
}
# train_jobs [NAME]: "exp dir|train options" of the experiment NAME (default: every one but the
# teacher), one line per seed: <name> for the first seed, <name>_seed<S> for the others
train_jobs() {
  local name group base kd_on seeds opts s dir i
  while IFS='|' read -r name group base kd_on seeds opts; do
    if [ -n "${1:-}" ]; then [ "$name" = "$1" ] || continue; else [ "$name" != teacher ] || continue; fi
    eval "seeds=\"${seeds:-$seed}\""
    i=0
    for s in $seeds; do
      dir=$name; [ "$i" -eq 0 ] || dir=${name}_seed$s; i=$((i + 1))
      kd=(); [ "$kd_on" != yes ] || kd_args "$distill_scale" "$distill_temperature"
      printf '%s|%s' "$dir" "$opts"; [ ${#kd[@]} -eq 0 ] || printf ' %q' "${kd[@]}"
      [ "$s" = "$seed" ] || printf ' --seed %s' "$s"
      echo
    done
  done < <(experiment_rows)
}
# train DIR OPTIONS...: one training run into $exp_root/DIR (command.txt records the command)
train() {
  local dir=$1; shift
  record "$exp_root/$dir" "$python" -m rnnt_kd.bin.train "${common_train_args[@]}" \
    --exp-dir "$exp_root/$dir" "$@"
}
stage4() {
  local job opts
  job=$(train_jobs teacher | head -n 1)
  [ -n "$job" ] || { echo "run.sh: $experiments has no experiment named teacher" >&2; return 1; }
  eval "opts=(${job#*|})"
  train teacher "${opts[@]}"
}
# run_students: train each "dir|options" line of stdin, $run_jobs at a time ($run_threads
# threads each); a finished student leaves $done_dir/5.student.<dir>
run_students() {
  local dir opts
  pool_start "$run_jobs"
  while IFS='|' read -r dir opts; do
    if [ -f "$done_dir/5.student.${dir//\//_}" ]; then log "student $dir: done before"; continue; fi
    log "student $dir (log: $exp_root/log/train-${dir//\//_}.log)"
    eval "opts=($opts)"
    pool_run student "$dir" "${opts[@]}"
  done
  pool_wait || { log "a student failed: see $exp_root/log/train-*.log"; return 1; }
}
student() {
  local dir=$1; shift
  train "$dir" --num-threads "$run_threads" "$@" > "$exp_root/log/train-${dir//\//_}.log" 2>&1
  touch "$done_dir/5.student.${dir//\//_}"
}
stage5() {
  if declare -F before_students > /dev/null; then before_students; fi
  make_teacher_cache "$distill_temperature"
  train_jobs | run_students
}
# decode_plan [DIR...]: "exp dir, epoch, avg" of every trained model (of the experiments, or the
# given directories): the last epoch, averaged over at most $avg epochs saved after pruning ended
decode_plan() {
  local sel=(--experiments "$experiments")
  [ $# -eq 0 ] || sel=(--exp-dirs "$@")
  PY -m rnnt_kd.bin.decode_plan --exp-root "$exp_root" --max-avg "$avg" "${sel[@]}"
}
# decode_model DIR EPOCH AVG: every decoding of one model on every test set, and its export
# (--overwrite: a rerun of the stage replaces the results of the unfinished run before it)
decode_model() {
  local m common=(--exp-dir "$1" --epoch "$2" --avg "$3" --bpe-model "$bpe_model"
    --beam-size "$beam_size" --test-cuts "${test_cuts[@]}" --max-duration "$max_duration"
    --num-threads "$run_threads" --overwrite true)
  for m in $decode_methods; do
    record "$1/$m" "$python" -m rnnt_kd.bin.decode "${common[@]}" --method "$m"
  done
  # a closed vocabulary: hypotheses may only spell words of the training transcripts, as a
  # lexicon does in icefall's LG decoding (results in modified_beam_search_lexicon/)
  if [ "$lexicon_decoding" = true ]; then
    record "$1/modified_beam_search_lexicon" "$python" -m rnnt_kd.bin.decode "${common[@]}" \
      --method modified_beam_search --lexicon "$lang_dir/transcript_words.txt"
  fi
  # the decoded model as an inference file, sparse weights packed (the report tables the sizes)
  PY -m rnnt_kd.bin.export --exp-dir "$1" --epoch "$2" --avg "$3" \
    --json "$1/pretrained-epoch-$2-avg-$3.json"
  # (marked here, not with "&&" after the call: errexit is off on the left of "&&")
  model_done_mark 6.decode "$1" "$2" "$3" "$decode_settings"
}
# report N NAME T0: RESULTS.md, results.json and the plot, with this stage's time so far
report() {
  local t=$exp_root/stage_times_report.tsv extra=()
  { cat "$times" 2>/dev/null || true
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(( $(date +%s) - $3 ))" "$invocation"; } > "$t"
  [ -z "$corpus_info" ] || extra+=(--corpus-info "$corpus_info")
  [ -z "$preamble" ] || extra+=(--preamble "$preamble")
  PY -m rnnt_kd.bin.make_report --experiments "$experiments" --exp-root "$exp_root" \
    --out-dir "$results_dir" --preset "$preset" --stage-times "$t" --recipe "$recipe" "${extra[@]}"
}
stage6() {
  local t0 plan dir epoch avg_n
  t0=$(date +%s)
  plan=$(decode_plan)
  pool_start "$run_jobs"
  while read -r dir epoch avg_n; do
    if model_done 6.decode "$dir" "$epoch" "$avg_n" "$decode_settings"; then
      log "decoding $dir: done before (an interrupted stage 6 resumes)"; continue
    fi
    log "decoding $dir (log: $exp_root/log/decode-$(basename "$dir").log)"
    pool_run eval 'decode_model "$dir" "$epoch" "$avg_n" > "$exp_root/log/decode-$(basename "$dir").log" 2>&1'
  done <<< "$plan"
  pool_wait || { log "a decoding failed: see $exp_root/log/decode-*.log"; return 1; }
  report 6 decode "$t0"
  rm -f "$done_dir"/6.decode.*  # the finished stage's own marker replaces them
}
# model_done STAGE DIR EPOCH AVG SETTINGS: DIR was processed by an unfinished run of STAGE with
# the same epoch, avg, settings and test sets, after its checkpoint was written (the marker
# $done_dir/STAGE.<dir> that model_done_mark writes); a retrained model or other settings redo it
model_done() {
  local m=$done_dir/$1.$(basename "$2")
  [ -f "$m" ] && [ "$m" -nt "$2/epoch-$3.pt" ] && [ "$(cat "$m")" = "$(model_signature "${@:3}")" ]
}
model_done_mark() { model_signature "${@:3}" > "$done_dir/$1.$(basename "$2")"; }
model_signature() { echo "epoch $1 avg $2 beam $beam_size settings $3 tests ${test_cuts[*]}"; }
# Stage 7 (optional): models as sherpa-onnx files (float32 and int8), decoded by sherpa-onnx
# from the audio; the report then tables them beside rnnt-kd's own decoding (docs/DEPLOY.md)
stage7() {
  local t0 plan dir epoch avg_n
  t0=$(date +%s)
  plan=$(decode_plan)
  pool_start "$run_jobs"
  while read -r dir epoch avg_n; do
    [ -z "$onnx_models" ] || [[ " $onnx_models " == *" $(basename "$dir") "* ]] || continue
    if model_done 7.onnx "$dir" "$epoch" "$avg_n" "$onnx_methods"; then
      log "ONNX export + sherpa-onnx decoding of $dir: done before (an interrupted stage 7 resumes)"
      continue
    fi
    log "ONNX export + sherpa-onnx decoding of $dir (log: $exp_root/log/onnx-$(basename "$dir").log)"
    pool_run eval 'onnx_model "$dir" "$epoch" "$avg_n" > "$exp_root/log/onnx-$(basename "$dir").log" 2>&1'
  done <<< "$plan"
  pool_wait || { log "an ONNX export or decoding failed: see $exp_root/log/onnx-*.log"; return 1; }
  report 7 onnx "$t0"
  rm -f "$done_dir"/7.onnx.*
}
# onnx_model DIR EPOCH AVG: one model as sherpa-onnx files, decoded float32 and int8 with
# $run_threads onnxruntime threads (the RTF the report tables)
onnx_model() {
  local m int8
  PY -m rnnt_kd.bin.export_onnx --exp-dir "$1" --epoch "$2" --avg "$3" \
    --bpe-model "$bpe_model" --out-dir "$1/onnx"
  for m in $onnx_methods; do
    for int8 in "" --int8; do
      PY -m rnnt_kd.bin.decode_onnx --onnx-dir "$1/onnx" $int8 \
        --test-cuts "${test_cuts[@]}" --method "$m" --beam-size "$beam_size" \
        --res-dir "$1/onnx/$m" --num-threads "$run_threads"
    done
  done
  model_done_mark 7.onnx "$1" "$2" "$3" "$onnx_methods"
}
# Stage 8 (optional, once per preset to choose --distill-scale / --distill-temperature on dev):
# the experiment $sweep_experiment (default: the first KD one) at each setting, beside its
# baseline, decoded on the first dev part -> sweep_kd.md
stage8() {
  local name base kd_on opts b t d dirs=() dev plan epoch avg_n
  dev=$(cuts_of "$fbank_dir" "$prefix" "${dev_parts%% *}")
  while IFS='|' read -r name _ base kd_on _ opts; do
    if [ -n "$sweep_experiment" ]; then [ "$name" = "$sweep_experiment" ] && break
    elif [ "$kd_on" = yes ]; then break; fi
    name=""
  done < <(experiment_rows)
  [ -n "$name" ] || { echo "run.sh: no KD experiment '$sweep_experiment' in $experiments" >&2; return 1; }
  if declare -F before_students > /dev/null; then before_students; fi
  for t in $sweep_temperatures; do make_teacher_cache "$t"; done
  { train_jobs "$base"
    for b in $sweep_scales; do for t in $sweep_temperatures; do
      kd_args "$b" "$t"; printf 'sweep/b%s_t%s|%s' "$b" "$t" "$opts"; printf ' %q' "${kd[@]}"; echo
    done; done; } | run_students
  for d in "$exp_root"/sweep/b*_t*; do [ -d "$d" ] && dirs+=("$d"); done  # earlier sweeps too
  plan=$(decode_plan "${dirs[@]}" "$exp_root/$base")
  while read -r d epoch avg_n; do
    [ -f "$d/dev_greedy_search/.done" ] && continue
    PY -m rnnt_kd.bin.decode --exp-dir "$d" --epoch "$epoch" --avg "$avg_n" --bpe-model "$bpe_model" \
      --method greedy_search --test-cuts "$dev" --max-duration "$max_duration" \
      --num-threads "$num_jobs" --res-dir "$d/dev_greedy_search" --overwrite true
    touch "$d/dev_greedy_search/.done"
  done <<< "$plan"
  PY -m rnnt_kd.bin.sweep_table --exp-dirs "${dirs[@]}" --baseline "$exp_root/$base" \
    --results-subdir dev_greedy_search --method greedy_search --test-set "${dev_parts%% *}" \
    --out "$results_dir/sweep_kd.md" --title "KD sweep: $name, preset $preset"
}

template_main() {
  all_parts=$(printf '%s\n' $train_parts $dev_parts $test_parts | awk '!seen[$0]++' | xargs)
  eval_parts=$(printf '%s\n' $dev_parts $test_parts | awk '!seen[$0]++' | xargs)
  fbank_dir=$data_dir/fbank; lang_dir=$data_dir/lang_bpe_$vocab_size; bpe_model=$lang_dir/bpe.model
  done_dir=$exp_root/.done; times=$exp_root/stage_times.tsv
  # what a stage 6 marker records besides epoch, avg, beam and test sets (stage 7: the methods)
  decode_settings="$decode_methods $lexicon_decoding"; onnx_methods=${onnx_methods:-$decode_methods}
  recipe=egs/$(basename "$(dirname "$PWD")")/ASR/run.sh
  teacher_ckpt=$exp_root/teacher/epoch-$teacher_epochs.pt
  teacher_world_size=${teacher_world_size:-$world_size}
  # parallel runs: students and decodings $num_jobs at a time on one thread each (two
  # single-thread runs use 2 cores better than one 2-thread run); else one at a time
  run_jobs=1; run_threads=$num_jobs
  [ "$parallel_runs" != true ] || { run_jobs=$num_jobs; run_threads=1; }
  mkdir -p "$done_dir" "$exp_root/log"
  read -r -a train_cuts <<< "$(cuts_of "$fbank_dir" "$prefix" $train_parts)"
  read -r -a valid_cuts <<< "$(cuts_of "$fbank_dir" "$prefix" $dev_parts)"
  read -r -a test_cuts <<< "$(cuts_of "$fbank_dir" "$prefix" $test_parts)"
  # shellcheck disable=SC2206
  common_train_args=(--train-cuts "${train_cuts[@]}" --valid-cuts "${valid_cuts[@]}"
    --bpe-model "$bpe_model" --max-duration "$max_duration" --world-size "$world_size"
    --seed "$seed" --num-threads "$num_jobs" --auto-resume true --save-every-n "$save_every_n"
    $train_opts)  # --auto-resume: a rerun continues a killed training
  local p outputs=()
  for p in $all_parts; do outputs+=("$corpus_dir/$p"); done
  [ -z "$stage0_outputs" ] || read -r -a outputs <<< "$stage0_outputs"
  run_stage 0 corpus stage0 "${outputs[@]}"
  # shellcheck disable=SC2046
  run_stage 1 manifests stage1 $(for p in $all_parts; do echo "$data_dir/manifests/${prefix}_supervisions_$p.jsonl.gz"; done)
  # shellcheck disable=SC2046
  run_stage 2 fbank stage2 $(cuts_of "$fbank_dir" "$prefix" $all_parts)
  run_stage 3 bpe stage3 "$bpe_model"
  run_stage 4 teacher stage4 "$teacher_ckpt"
  run_stage 5 students stage5
  run_stage 6 decode stage6 "$results_dir/RESULTS.md"
  if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ] && ! PY -c 'import sherpa_onnx' 2> /dev/null; then
    log "Stage 7 (onnx): skipped, sherpa_onnx is not installed (pip install sherpa-onnx onnxruntime onnx)"
  else
    run_stage 7 onnx stage7
  fi
  run_stage 8 kd_sweep stage8 "$results_dir/sweep_kd.md"
  log "Done (stages $stage..$stop_stage, preset $preset)."
}
