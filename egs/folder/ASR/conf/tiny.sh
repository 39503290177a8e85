# Preset "tiny": toy sizes for the test suite (tests/test_folder_recipe.py: a dozen utterances).
vocab_size=24; max_duration=20; speed_perturb=false; num_jobs=1
train_opts="$cpu_small_data --warmup-batches 2 --model-warm-step 4 --log-interval 5 --progress false --tensorboard false"
teacher_model="--model-preset tiny --encoder-dim 32 --num-heads 2 --num-encoder-layers 1 --feedforward-dim 64 --decoder-dim 32 --joiner-dim 32"
teacher_epochs=2
small_model="--model-preset tiny --encoder-dim 16 --num-heads 2 --num-encoder-layers 1 --feedforward-dim 32 --decoder-dim 16 --joiner-dim 16"
student_epochs=1; small_epochs=1; small_anneal_share=0; sparse_anneal_share=0
parallel_runs=false
student_seeds="42 43"
distill_scale=0.3; distill_temperature=1.0; teacher_cache=false   # one process less
avg=1; decode_methods=greedy_search
