# Preset "default": a few hundred to a few thousand utterances, trained on a CPU. Every variable
# here is a run.sh option (--teacher-epochs 30 sets teacher_epochs). docs/ADAPTING.md says how
# to choose them; the values follow egs/synthlibri/ASR's measured default preset.
vocab_size=128; max_duration=40; speed_perturb=true
# the CPU / small-data setting (shared/asr_template.sh), with the warm-up scaled to ~50 steps
# per epoch (about 500 utterances of 4 s at max_duration 40): LR warm-up over ~1 epoch, the
# simple-to-pruned loss shift over ~3 (docs/ADAPTING.md)
train_opts="$cpu_small_data --warmup-batches 50 --model-warm-step 150"
teacher_model="--model-preset small"; teacher_epochs=30
small_model="--model-preset tiny --encoder-dim 64 --num-encoder-layers 2 --feedforward-dim 256 --decoder-dim 96 --joiner-dim 96"
student_epochs=6; small_epochs=20; small_anneal_share=0.5; sparse_anneal_share=0.3333
parallel_runs=true
student_seeds=""                 # e.g. "42 43 44": the small students three times
distill_scale=1.0; distill_temperature=2.0; teacher_cache=true   # sweep them on dev: stage 8
avg=3; decode_methods="greedy_search modified_beam_search"
