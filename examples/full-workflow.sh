#!/usr/bin/env bash
# Spectra Edge end to end on one CPU machine, in minutes:
#   1 distill a small CSAKD student (co-training on CAVE, time-boxed)   spectra-distill train
#     (minutes of CPU give a pipeline demo, not a good model: the real students train on a GPU)
#   2 export it to ONNX + model card                                      spectra-distill export
#   3 make a test input pair from a held-out CAVE scene                   examples/make-pair.ts (SDK)
#   4 quantize it to int8 (QDQ, calibrated on another CAVE scene)         spectra quantize
#   5 fuse the test pair                                                  spectra fuse
#   6 publish fused cubes over MQTT and receive them                      spectra run / spectra subscribe
#     (the broker is the live viewer's embedded one: open the printed URL to watch)
#
# Usage: examples/full-workflow.sh [WORK_DIR]      (default out/full-workflow; everything is written there)
# Env:   START (first step to run, default 1: rerun later steps on an existing WORK_DIR),
#        TRAIN_MINUTES (default 3), TRAIN_STEPS (default 300), PRESET (default test_tiny; cpu_small is ~10x slower), FRAMES (default 3), VIEW_PORT (8080), MQTT_PORT (18830)
# Needs: scripts/setup.sh done (.venv, node_modules) and the data in ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${1:-out/full-workflow}
mkdir -p "$work"
work=$(cd "$work" && pwd)
data=${SPECTRA_DATA:-$repo/../shared/data}
spectra() { node "$repo/bin/spectra.js" "$@"; }
distill() { "$repo/.venv/bin/spectra-distill" "$@"; }
start=${START:-1}
# step N/6: prints the header and says whether step N runs (those before START are skipped).
step() {
  [ "${1%%/*}" -ge "$start" ] || return 1
  echo; echo "== step $1 ($(date -u +%H:%M:%S))"
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

if step "1/6: distill a student (at most ${TRAIN_MINUTES:-3} min)"; then
  distill train --config distill/spectra_distill/options/cave31_rgb_x4.yaml --run-dir "$work/run" \
    --max-minutes "${TRAIN_MINUTES:-3}" \
    --set optim.total_steps="${TRAIN_STEPS:-300}" --set model.preset="${PRESET:-test_tiny}" \
    --set data.patch_size=32 --set data.val_crop=64 --set log.val_every=100 --set log.ckpt_every=50 --set log.tensorboard=false
fi

if step "2/6: export the student"; then
  ckpt="$work/run/last.pt"
  if [ -f "$work/run/best.pt" ]; then ckpt="$work/run/best.pt"; fi
  mkdir -p "$work/models"
  distill export --checkpoint "$ckpt" --role student --out "$work/models/student.onnx" --name student-cave31-rgb-x4-demo
fi

if step "3/6: test pair from the CAVE balloons crop (not a training scene region)"; then
  npx --no-install ts-node examples/make-pair.ts --model "$work/models/student.onnx" \
    --scene "$data/cave_kbr/cave_balloons_crop_100x100x31_uint16.npy" --value-scale 65535 --out "$work/pair"
fi

if step "4/6: quantize to int8 (QDQ for TensorRT), calibrated on CAVE cloth"; then
  mkdir -p "$work/calib"
  cat > "$work/calib/scenes.json" <<JSON
{ "scenes": [{ "path": "$data/cave_kbr/cave_cloth_256x256x31_uint16.npy", "layout": "hwc", "value_scale": 65535 }],
  "tile": 64, "tiles_per_scene": 8 }
JSON
  spectra quantize --model "$work/models/student.onnx" --mode int8 --calib "$work/calib" \
    --out "$work/models/student.int8.onnx" --max-samples 8
fi

if step "5/6: fuse the test pair with the int8 student"; then
  mkdir -p "$work/fused"
  spectra fuse --model "$work/models/student.int8.onnx" --providers cpu \
    --lrhsi "$work/pair/scene.lrhsi.npy" --hrmsi "$work/pair/scene.hrmsi.npy" \
    --out "$work/fused/scene.hdr" --quicklook "$work/fused/scene.png"
fi

if step "6/6: publish and subscribe (broker + live viewer: spectra view)"; then
  view_port=${VIEW_PORT:-8080}
  mqtt_port=${MQTT_PORT:-18830}
  frames=${FRAMES:-3}
  broker="mqtt://127.0.0.1:$mqtt_port"
  # Background jobs run node directly (not the spectra function) so $! is the node process the trap ends.
  node "$repo/bin/spectra.js" view --port "$view_port" --mqtt-port "$mqtt_port" > "$work/view.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q 'open http' "$work/view.log" && break; sleep 0.2; done
  grep 'spectra view' "$work/view.log"
  rm -rf "$work/received"
  # The embedded broker (aedes) speaks MQTT 3.1.1, hence --mqtt-version 4.
  node "$repo/bin/spectra.js" subscribe --broker "$broker" --mqtt-version 4 --device demo-cam --count "$frames" \
    --out "$work/received" > "$work/subscribe.log" 2>&1 &
  subscriber=$!
  pids+=("$subscriber")
  sleep 2
  spectra run --model "$work/models/student.int8.onnx" --broker "$broker" --mqtt-version 4 --device demo-cam \
    --frames "$frames" --size 128x128 --out "$work/run-out"
  # The subscriber exits by itself after --count cubes; give the last chunks a moment to arrive.
  for _ in $(seq 150); do kill -0 "$subscriber" 2>/dev/null || break; sleep 0.2; done
  received=$(find "$work/received" -name '*.hdr' 2>/dev/null | wc -l)
  echo "received $received of $frames cubes in $work/received (sha256-verified, ENVI + quicklook)"
  [ "$received" -ge "$frames" ] || { echo "full-workflow: cubes missing; see $work/subscribe.log" >&2; exit 1; }
fi

echo
echo "full-workflow: done. Models in $work/models, fused cube in $work/fused, received cubes in $work/received."
