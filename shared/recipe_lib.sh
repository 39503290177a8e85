#!/usr/bin/env bash
# Helpers shared by every recipe's run.sh (shared/asr_template.sh sources this file). Source after
# parse_options.sh; needs $stage, $stop_stage, $done_dir (stage markers) and $times (TSV of stage
# wall times: stage, name, seconds, the run.sh command line that ran it, from $invocation).

log() { echo -e "$(date '+%Y-%m-%d %H:%M:%S') ($(basename "$0")) $*"; }

# run_stage N NAME FUNC [OUTPUT...]: run FUNC when stage <= N <= stop_stage, unless its marker
# $done_dir/N.NAME exists and every OUTPUT is present (a stage whose output was deleted is
# redone); time it; write the marker only when FUNC succeeded.
run_stage() {
  local n=$1 name=$2 fn=$3 t0 f
  shift 3
  if [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ]; then
    if [ -f "$done_dir/$n.$name" ]; then
      for f in "$@"; do
        [ -e "$f" ] || { log "Stage $n ($name): $f is missing, redoing"; rm -f "$done_dir/$n.$name"; break; }
      done
    fi
    if [ -f "$done_dir/$n.$name" ]; then log "Stage $n ($name): done before, skipping"; return; fi
    log "Stage $n: $name"
    t0=$(date +%s)
    "$fn"
    printf '%s\t%s\t%s\t%s\n' "$n" "$name" "$(( $(date +%s) - t0 ))" "${invocation:-}" >> "$times"
    touch "$done_dir/$n.$name"
  fi
}

# record DIR CMD...: write the exact command to DIR/command.txt, then run it
record() {
  local d=$1 cmd
  shift
  mkdir -p "$d"
  cmd=$(printf '%q ' "$@")
  echo "${cmd% }" > "$d/command.txt"
  "$@"
}

# cuts_of DIR PREFIX PART...: the cut-set paths DIR/PREFIX_cuts_PART.jsonl.gz, space separated
cuts_of() {
  local dir=$1 prefix=$2 p out=()
  shift 2
  for p in "$@"; do out+=("$dir/${prefix}_cuts_$p.jsonl.gz"); done
  echo "${out[@]}"
}

# A pool of background jobs, $1 at a time: pool_start N; pool_run CMD... (waits for a free slot:
# any job's end frees one, wait -n); pool_wait (waits for all; fails if any job failed).
pool_start() { pool_size=$1; pool_running=0; pool_failed=0; }
pool_run() {
  "$@" &
  pool_running=$((pool_running + 1))
  if [ "$pool_running" -ge "$pool_size" ]; then
    wait -n || pool_failed=1
    pool_running=$((pool_running - 1))
  fi
}
pool_wait() {
  while [ "$pool_running" -gt 0 ]; do wait -n || pool_failed=1; pool_running=$((pool_running - 1)); done
  return "$pool_failed"
}
