# Preset "gpu": a larger corpus and a Conformer-L-sized teacher (111 M parameters, ~31 GB of GPU
# memory at max_duration 600; stages 4-6 checked on an H200 at reduced size, NOTES.md). Every
# variable here is a run.sh option, e.g. --world-size 8.
num_train=20000; num_dev=500; num_test=500; max_vocab=5000; utts_per_spk=20; train_text=natural
train_farfield=0.3; random_text=0; mixed_voices=0.5
vocab_size=500; speed_perturb=true; max_duration=600
train_opts="--base-lr 3e-3"
teacher_model="--model-preset large --use-ctc true --layer-scale 0.1"
small_model="--model-preset medium --use-ctc true --layer-scale 0.1"
teacher_epochs=10; teacher_anneal=0; teacher_world_size=""   # "": --world-size
student_epochs=4; sparse60_epochs=4; small_epochs=10; sparse_anneal_share=0; small_anneal_share=0
student_seeds="42 43"
parallel_runs=true
# SpecAugment is on: the students' teacher must hear the masked features, so no cached band
distill_scale=0.3; distill_temperature=1.0; teacher_cache=false; clean_teacher=false
avg=5; decode_methods="greedy_search modified_beam_search"; lexicon_decoding=true
onnx_models=""
sweep_experiment=sparse90_kd
