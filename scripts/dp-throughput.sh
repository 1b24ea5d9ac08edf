#!/bin/bash
# dp-throughput.sh RUN.TOML OUT STEPS [--set KEY=VALUE ...] — step throughput of one
# nashmd-train process against two data-parallel processes on this machine
# (loopback Gloo, OMP_NUM_THREADS=1 each, as torchrun sets it), from their
# metrics.jsonl; the first step is left out as warm-up. A measurement for notes,
# not a test. Needs `make` first.
#
#   scripts/dp-throughput.sh examples/tiny.toml /tmp/dp 11
set -euo pipefail
toml=$1 out=$2 steps=$3
shift 3
rm -rf "$out-1" "$out-2"
common=(--set "max_steps=$steps" --set logging_steps=1 --set save_steps=0 "$@")
bin/nashmd-train "$toml" --output-dir "$out-1" "${common[@]}" > "$out-1.log" 2>&1
port=$((20000 + RANDOM % 20000))
for r in 0 1; do
  MASTER_ADDR=127.0.0.1 MASTER_PORT=$port RANK=$r LOCAL_RANK=$r WORLD_SIZE=2 OMP_NUM_THREADS=1 \
    bin/nashmd-train "$toml" --output-dir "$out-2" "${common[@]}" > "$out-2.rank$r.log" 2>&1 &
done
wait
for n in 1 2; do
  python3 - "$out-$n/metrics.jsonl" "$n" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"step"' in l][1:]
mean = lambda k: sum(l.get(k) or 0 for l in lines) / len(lines)
step = mean("time/step_s") + mean("time/optimizer_s") + mean("time/allreduce_s")
print(f"{sys.argv[2]} process(es): {len(lines)} steps, {step:.3f} s/step, {mean('prompts_per_s'):.2f} prompts/s, "
      f"all-reduce {1000 * mean('time/allreduce_s'):.1f} ms/step ({1000 * mean('allreduce/transfer_s'):.1f} ms after the ranks met)")
PY
done
