#!/usr/bin/env bash
# Install the Debian packages the embedded synthetic corpus (rnnt_kd.corpus, "synthlibri") needs:
# speech synthesizers (espeak-ng, flite, festival + two voices) and offline text
# (WordNet, fortunes, word lists, the King James Bible).
#
#   usage: local/install_corpus_tools.sh [--check] [--quiet]
#
# Idempotent: does nothing when every binary and data file is already present.
# --check only reports what is missing (exit 1 if anything is); --quiet prints nothing when all
# is present.
# Uses sudo when not run as root. Needs apt-get (Debian/Ubuntu).
set -euo pipefail

PACKAGES=(espeak-ng flite festival festvox-kdlpc16k festvox-us-slt-hts
          wordnet-base fortunes wamerican wbritish bible-kjv)

# "<package> <binary or file that proves it is installed>"
PROBES=(
  "espeak-ng cmd:espeak-ng"
  "flite cmd:flite"
  "festival cmd:festival"
  "festvox-kdlpc16k /usr/share/festival/voices/english/ked_diphone"
  "festvox-us-slt-hts /usr/share/festival/voices/us/cmu_us_slt_arctic_hts"
  "wordnet-base /usr/share/wordnet/data.noun"
  "fortunes /usr/share/games/fortunes/fortunes"
  "wamerican /usr/share/dict/american-english"
  "wbritish /usr/share/dict/british-english"
  "bible-kjv cmd:bible"
)

CHECK_ONLY=0
QUIET=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK_ONLY=1 ;;
    --quiet) QUIET=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install_corpus_tools.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
for probe in "${PROBES[@]}"; do
  pkg=${probe%% *}
  what=${probe#* }
  if [[ $what == cmd:* ]]; then
    command -v "${what#cmd:}" >/dev/null 2>&1 || missing+=("$pkg")
  else
    [ -e "$what" ] || missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  [ "$QUIET" = 1 ] || echo "install_corpus_tools.sh: all corpus tools present (${PACKAGES[*]})"
  exit 0
fi
echo "install_corpus_tools.sh: missing packages: ${missing[*]}"
[ "$CHECK_ONLY" = 1 ] && exit 1

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_corpus_tools.sh: apt-get not found. Install these Debian/Ubuntu packages (or" \
       "their equivalents) by hand: ${PACKAGES[*]}" >&2
  exit 3
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install_corpus_tools.sh: not root and sudo not found; run as root:" \
         "apt-get install ${PACKAGES[*]}" >&2
    exit 3
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
echo "install_corpus_tools.sh: installed ${PACKAGES[*]}"
