# Preset "smoke": toy sizes, a few minutes on 2 cores (tests/test_recipe_smoke.py runs it).
# Every variable here is a run.sh option (--student-epochs 2 sets student_epochs).
# corpus (stage 0, rnnt_kd.corpus.make_corpus)
num_train=40; num_dev=8; num_test=8; max_vocab=300; utts_per_spk=4; train_text=spliced
train_farfield=0.25; random_text=0.5; mixed_voices=0.5
# data and BPE
vocab_size=64; speed_perturb=false; max_duration=60
# training: every run, then the models (conf/experiments.txt uses them)
train_opts=$cpu_small_data
teacher_model="--model-preset tiny --encoder-dim 64 --feedforward-dim 128 --decoder-dim 64 --joiner-dim 64"
small_model="--model-preset tiny --encoder-dim 32 --num-heads 2 --num-encoder-layers 1 --feedforward-dim 64 --decoder-dim 32 --joiner-dim 32"
teacher_epochs=2; teacher_anneal=1; teacher_world_size=1
student_epochs=1; sparse60_epochs=1; small_epochs=2; sparse_anneal_share=0.3333; small_anneal_share=0.5
student_seeds=42  # one seed: the toy run checks the pipeline, not the effect
parallel_runs=true
# distillation
distill_scale=0.3; distill_temperature=1.0; teacher_cache=true; clean_teacher=false
# decoding
avg=1; decode_methods="greedy_search modified_beam_search"; lexicon_decoding=true
onnx_models=teacher
sweep_experiment=sparse90_kd
