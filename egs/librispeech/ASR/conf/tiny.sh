# Preset "tiny": toy models for a toy corpus (tests/test_librispeech_recipe.py).
vocab_size=30; max_duration=10; speed_perturb=true; num_jobs=1
train_opts="--num-workers 0 --warmup-batches 2 --model-warm-step 4 --log-interval 5 --progress false"
teacher_preset=tiny; teacher_args=""; teacher_epochs=2
student_preset=tiny; student_epochs=1
student_args="--encoder-dim 48 --num-encoder-layers 1 --num-heads 2 --feedforward-dim 96 --decoder-dim 48 --joiner-dim 48"
distill_scale=0.01; distill_temperature=1.0
avg=1; decode_methods=modified_beam_search; beam_size=4
