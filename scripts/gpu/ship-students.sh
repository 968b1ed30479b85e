#!/usr/bin/env bash
# One prepared GPU run (device tool): co-trains the two shipped students (CSAKD KD, cpu_small preset) on the
# shared scenes staged in .device/data, then times the paper-preset models. Files land in $OUT:
#   cave.pt, rs.pt (best.pt without optimizer state), logs.tar.gz (train/val CSVs, resolved configs, bench
#   speed.jsonl), gpu-results.md, log.txt.
# Stage the data first on the workstation: bash scripts/gpu/stage-data.sh
#
# The step budget is measured, not guessed: both experiments are timed side by side (as they then train), and
# total_steps is set so that the schedules anneal fully inside MINUTES. A step-decayed student needs its last
# decays; a run cut by --max-minutes would keep a high learning rate.
set -uo pipefail
export PYTHONUNBUFFERED=1  # a command cut by its timeout still shows how far it got
export SPECTRA_DATA=${SPECTRA_DATA:-$PWD/.device/data} PYTHONPATH=$PWD/distill
OUT=${OUT:-/tmp/out}; MIN=${MINUTES:-6.5}; DEVICE=${DEVICE:-cuda}; RUNS=${RUNS:-/tmp/runs}
mkdir -p "$OUT" "$RUNS"
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi"; } > "$OUT/log.txt" 2>&1
CAVE=(--config distill/spectra_distill/options/cave31_rgb_x4.yaml --set data.batch_size=${CAVE_BATCH:-32})
RS=(--config distill/spectra_distill/options/rs_vnir_swir_s2_4_x4.yaml --set data.batch_size=${RS_BATCH:-64})
python3 -m spectra_distill.train.bench "${CAVE[@]}" --device "$DEVICE" --steps "${BENCH_STEPS:-40}" \
  --out "$OUT/speed.jsonl" > /tmp/bench_cave.log 2>&1 &
python3 -m spectra_distill.train.bench "${RS[@]}" --device "$DEVICE" --steps "${BENCH_STEPS:-40}" \
  --out "$OUT/speed.jsonl" > /tmp/bench_rs.log 2>&1 &
wait
cat /tmp/bench_cave.log /tmp/bench_rs.log >> "$OUT/log.txt"
# 0.55: data loading, validation passes and two runs sharing the GPU are not all in the bench figure
steps_for() {
  python3 - "$OUT/speed.jsonl" "$1" "$MIN" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
rate = next(r["steps_per_second"] for r in rows if r["experiment"] == sys.argv[2])
print(max(50, int(rate * 0.55 * float(sys.argv[3]) * 60) // 10 * 10))
PY
}
train() {  # name, total steps, config args...
  local name=$1 steps=$2; shift 2
  python3 -m spectra_distill.cli train "$@" --run-dir "$RUNS/$name" --device "$DEVICE" --max-minutes "$MIN" \
    --set optim.total_steps="$steps" --set optim.student_scheduler.step_size=$((steps / 30 > 1 ? steps / 30 : 1)) \
    --set data.num_workers=6 --set data.val_crop=null --set log.val_every=$((steps / 8)) \
    --set log.ckpt_every=$((steps / 8)) --set log.log_every=20 --set log.tensorboard=false \
    > "/tmp/$name.log" 2>&1
}
cave_steps=$(steps_for cave31_rgb_x4) && rs_steps=$(steps_for rs_vnir_swir_s2_4_x4) || { echo "bench failed" >> "$OUT/log.txt"; exit 1; }
echo "total_steps: cave $cave_steps, rs $rs_steps (MINUTES $MIN)" | tee -a "$OUT/log.txt"
train cave "$cave_steps" "${CAVE[@]}" &
train rs "$rs_steps" "${RS[@]}" &
wait
for r in cave rs; do
  tail -c 3000 "/tmp/$r.log" | tr '\r' '\n' | tail -n 25 >> "$OUT/log.txt"
  python3 - "$RUNS/$r" "$OUT/$r.pt" <<'PY'
import sys, torch
ck = torch.load(f"{sys.argv[1]}/best.pt", map_location="cpu", weights_only=True)  # plain-data checkpoints
print(sys.argv[1], "keys", sorted(ck), "step", ck.get("step"))
torch.save({k: v for k, v in ck.items() if "optim" not in k and "sched" not in k and "scaler" not in k}, sys.argv[2])
PY
done >> "$OUT/log.txt" 2>&1
if [ "$DEVICE" = cuda ]; then
  timeout 70 python3 scripts/gpu/time_models.py --out "$OUT/gpu-results.md" --budget-s 45 \
    --onnx models/student-cave31-rgb-x4.onnx >> "$OUT/log.txt" 2>&1
fi
# the device returns at most 8 files: the logs travel as one archive
tar -czf "$OUT/logs.tar.gz" -C "$RUNS" cave/train_log.csv cave/val_log.csv cave/config.yaml \
  rs/train_log.csv rs/val_log.csv rs/config.yaml -C "$OUT" speed.jsonl && rm -f "$OUT/speed.jsonl"
ls -la "$OUT" >> "$OUT/log.txt"
