#!/usr/bin/env bash
# Helpers shared by every recipe's run.sh. Source after parse_options.sh; needs $stage,
# $stop_stage, $done_dir (stage markers) and $times (TSV of stage wall times).

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
    printf '%s\t%s\t%s\n' "$n" "$name" "$(( $(date +%s) - t0 ))" >> "$times"
    touch "$done_dir/$n.$name"
  fi
}

# record EXP_DIR CMD...: write the exact command to EXP_DIR/command.txt, then run it
record() {
  local d=$1; shift
  mkdir -p "$d"
  printf '%q ' "$@" | sed 's/ $/\n/' > "$d/command.txt"
  "$@"
}

# cuts_of DIR PREFIX PART...: the cut-set paths DIR/PREFIX_cuts_PART.jsonl.gz, space separated
cuts_of() {
  local dir=$1 prefix=$2 p out=()
  shift 2
  for p in "$@"; do out+=("$dir/${prefix}_cuts_$p.jsonl.gz"); done
  echo "${out[@]}"
}
