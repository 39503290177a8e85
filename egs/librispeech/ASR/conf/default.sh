# Preset "default": the paper's sizes for GPUs. Every variable here is a run.sh option
# (--student-epochs 20 sets student_epochs).
vocab_size=500; max_duration=600; speed_perturb=true
num_jobs=$(( $(nproc) < 16 ? $(nproc) : 16 ))   # CPU jobs of data preparation
# every training run: mixed precision on GPU (ignored on CPU), 2 dataloader workers per rank
train_opts="--use-fp16 true --num-workers 2"
teacher_preset=large; teacher_args=""; teacher_epochs=30
# Conformer-S of Gulati et al. (2020) (dim 144, 16 blocks, 4 heads, kernel 32 -> 31 here, odd)
# as overrides on the `small` preset: 9.2 M parameters with V=500 (theirs: 10.3 M, LSTM decoder)
student_preset=small; student_epochs=30
student_args="--encoder-dim 144 --num-encoder-layers 16 --num-heads 4 --feedforward-dim 576 --conv-kernel-size 31 --decoder-dim 320 --joiner-dim 320"
distill_scale=0.01; distill_temperature=1.0   # beta: unknown in the paper, sweep it on dev (stage 8)
avg=5; decode_methods=modified_beam_search; beam_size=4
