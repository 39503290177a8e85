#!/usr/bin/env bash
# sherpa_agreement.py for every model stage 7 exported, on the test sets, then one table.
# Run in the recipe directory after stages 6 and 7 (the default recipe's names):
#   bash ../../../benchmarks/sherpa_agreement.sh OUT_DIR [MODELS...]
# OUT_DIR/<model>.<set>.json per run, OUT_DIR/table.md the table.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${RNNT_KD_PYTHON:-python}
out=$1; shift
models=${*:-teacher sparse60 sparse60_kd sparse90 sparse90_kd small small_kd}
mkdir -p "$out"
for m in $models; do
  suffix=$(basename "$(ls exp/"$m"/pretrained-epoch-*.pt | tail -1)" .pt); suffix=${suffix#pretrained-}
  for s in test-clean test-other test-farfield; do
    [ -f "$out/$m.$s.json" ] && continue
    "$python" "$here/sherpa_agreement.py" --checkpoint "exp/$m/pretrained-$suffix.pt" \
      --bpe-model data/lang_bpe_128/bpe.model --cuts "data/fbank/synthlibri_cuts_$s.jsonl.gz" \
      --decode-recogs "exp/$m/modified_beam_search/recogs-$s-$suffix-beam-4.txt" \
      --sherpa-recogs "exp/$m/onnx/modified_beam_search/recogs-$s-sherpa-onnx-fp32-beam-4.txt" \
      --json "$out/$m.$s.json" > /dev/null
  done
done
"$python" "$here/sherpa_agreement.py" --summarize "$out" | tee "$out/table.md"
