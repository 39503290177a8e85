#!/usr/bin/env bash
# Kaldi-style option parsing for recipe scripts. Source it AFTER declaring defaults:
#
#   stage=0
#   stop_stage=100
#   use_gpu=false
#   . shared/parse_options.sh || exit 1
#
# Then `--stage 3 --stop-stage 5` sets stage=3 and stop_stage=5 (dashes become underscores).
# Also accepted: `--name=value`. An option without a declared variable is an error; a variable
# declared true/false accepts only true/false. `--help`/`-h` prints $help_message (if the script
# set one) and exits 0. Parsing stops at the first argument that does not start with `--`
# (positional arguments are left in "$@"). `--config FILE` sources FILE (shell assignments) first.
__po_script=$(basename "$0")
while true; do
  [ -z "${1:-}" ] && break
  case "$1" in
    --help|-h)
      if [ -n "${help_message:-}" ]; then printf '%s\n' "$help_message"; else
        echo "usage: $__po_script [--option value ...]  (options are the variables declared at the top of the script)"; fi
      exit 0 ;;
    --*=*)
      __po_name=${1%%=*}; __po_value=${1#*=}; shift; set -- "$__po_name" "$__po_value" "$@"; continue ;;
    --*)
      __po_name=$(printf '%s' "${1#--}" | tr '-' '_')
      if ! [[ "$__po_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        echo "$__po_script: invalid option name '$1'" >&2; exit 1
      fi
      if [ $# -lt 2 ]; then echo "$__po_script: option '$1' needs a value" >&2; exit 1; fi
      if [ "$__po_name" = config ]; then
        [ -f "$2" ] || { echo "$__po_script: config file '$2' not found" >&2; exit 1; }
        # shellcheck disable=SC1090
        . "$2"; shift 2; continue
      fi
      if eval "[ -z \"\${$__po_name+set}\" ]"; then
        echo "$__po_script: unknown option '$1' (try --help)" >&2; exit 1
      fi
      __po_old=$(eval "printf '%s' \"\${$__po_name}\"")
      if { [ "$__po_old" = true ] || [ "$__po_old" = false ]; } && [ "$2" != true ] && [ "$2" != false ]; then
        echo "$__po_script: option '$1' takes true or false, got '$2'" >&2; exit 1
      fi
      printf -v "$__po_name" '%s' "$2"
      shift 2 ;;
    *) break ;;
  esac
done
unset __po_name __po_value __po_old
true
