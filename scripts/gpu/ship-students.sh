#!/usr/bin/env bash
# One prepared GPU run (device tool): co-trains the two shipped students (CSAKD KD, cpu_small preset) on the
# shared scenes staged in .device/data, then times the paper-preset models. Files land in $OUT:
#   cave.pt, rs.pt (weights + card facts + metrics, optimizer state stripped), *_train.csv, *_val.csv,
#   gpu-results.md, log.txt.
# Stage the data first on the workstation: bash scripts/gpu/stage-data.sh
set -uo pipefail
export SPECTRA_DATA=$PWD/.device/data PYTHONPATH=$PWD/distill
OUT=${OUT:-/tmp/out}; MIN=${MINUTES:-3.0}; STEPS=${STEPS:-6000}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/log.txt"
common=(--device cuda --max-minutes "$MIN" --set optim.total_steps="$STEPS" --set data.batch_size=16
        --set data.num_workers=3 --set data.val_crop=null --set log.val_every=500 --set log.ckpt_every=500
        --set log.log_every=100 --set log.tensorboard=false --set optim.student_scheduler.step_size=600)
python3 -m spectra_distill.cli train --config distill/spectra_distill/options/cave31_rgb_x4.yaml \
  --run-dir /tmp/runs/cave "${common[@]}" > /tmp/cave.log 2>&1 &
python3 -m spectra_distill.cli train --config distill/spectra_distill/options/rs_vnir_swir_s2_4_x4.yaml \
  --run-dir /tmp/runs/rs "${common[@]}" --set data.patch_size=32 > /tmp/rs.log 2>&1 &
wait
for r in cave rs; do
  tail -c 3000 /tmp/$r.log >> "$OUT/log.txt"
  cp /tmp/runs/$r/train_log.csv "$OUT/${r}_train.csv"; cp /tmp/runs/$r/val_log.csv "$OUT/${r}_val.csv"
  python3 - "$r" "$OUT" <<'PY'
import sys, torch
r, out = sys.argv[1], sys.argv[2]
ck = torch.load(f"/tmp/runs/{r}/best.pt", map_location="cpu", weights_only=False)
keep = {k: v for k, v in ck.items() if k in ("config", "teacher", "student", "model_config", "card", "metrics", "epoch", "step")}
torch.save(keep, f"{out}/{r}.pt")
print(r, "step", ck.get("step"), ck.get("metrics"))
PY
done >> "$OUT/log.txt" 2>&1
timeout 40 python3 scripts/gpu/time_models.py --out "$OUT/gpu-results.md" --budget-s 20 >> "$OUT/log.txt" 2>&1
ls -la "$OUT" >> "$OUT/log.txt"
