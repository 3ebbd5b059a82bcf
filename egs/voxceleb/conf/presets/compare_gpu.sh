# Preset "gpu" of ./run_compare.sh: the same study (same compare_*.yaml recipe, so results
# compare with the CPU runs) on one GPU, every model and seed training at once. Sourced after option
# parsing; a command-line option overrides each value. Sized for one H200 with 16 CPU cores: the
# 11 trainings of --seeds "1 2 3" (3 x (a, b, c) + base + ECAPA; the KD students start when the
# teacher is done) each take one loader worker and one CPU thread.
: "${device:=cuda}"
threads=1
[ "$jobs" -gt 2 ] || jobs=12           # the CPU default (2) is raised unless a larger --jobs was given
[ -n "$extra_sets" ] || extra_sets="data.num_workers=1,trainer.amp=true"
