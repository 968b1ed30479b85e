#!/usr/bin/env bash
# Bring your own camera, end to end on real data in ../shared/data (docs/new-camera.md walks through the output).
# 1. Houston 2018: a real CASI-1500 radiance cube (48 bands, 380-1050 nm) with its real VHR RGB, CAVE student.
# 2. Salinas-A AVIRIS (204 bands, water channels removed) with a Sentinel-2-like MSI, 206-band student.
# 3. The 206-band student adapted to that camera on its own capture (spectra adapt), then fused with.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-work/new-camera}
DATA=${SPECTRA_DATA:-../shared/data}
mkdir -p "$WORK"
H=$DATA/houston2018_crop

echo "== 1a. how the Houston camera meets the CAVE student (coverage, MSI response estimated from the pair)"
npx spectra info --model models/student-cave31-rgb-x4.onnx --camera examples/cameras/houston-casi-rgb.json \
  --lrhsi "$H/houston_hsi_128x128x48_uint16.npy" --hrmsi "$H/houston_rgb_512x512x3_uint8.npy" --npy-layout hwc

echo "== 1b. fuse as is: the msi check flags the foreign RGB and says what to do"
npx spectra fuse --model models/student-cave31-rgb-x4.onnx --camera examples/cameras/houston-casi-rgb.json \
  --lrhsi "$H/houston_hsi_128x128x48_uint16.npy" --hrmsi "$H/houston_rgb_512x512x3_uint8.npy" --npy-layout hwc \
  --out "$WORK/houston_asis.hdr" --quicklook "$WORK/houston_asis.png"

echo "== 1c. fuse with the RGB camera's response estimated from the pair and mapped onto the model's bands"
npx spectra fuse --model models/student-cave31-rgb-x4.onnx --camera examples/cameras/houston-casi-rgb.json --estimate-srf \
  --lrhsi "$H/houston_hsi_128x128x48_uint16.npy" --hrmsi "$H/houston_rgb_512x512x3_uint8.npy" --npy-layout hwc \
  --out "$WORK/houston_srf.hdr" --quicklook "$WORK/houston_srf.png"

echo "== 2. AVIRIS with removed water bands: partial coverage of the 206-band grid, S2 MSI from the profile's SRF"
npx ts-node examples/aviris-s2-pair.ts --camera examples/cameras/salinas-aviris-s2.json \
  --scene "$DATA/salinas_a/salinas_a_83x86x204_int16.npy" --out "$WORK/salinas"
npx spectra fuse --model models/student-rs206-s2x4-x4.onnx --camera examples/cameras/salinas-aviris-s2.json \
  --lrhsi "$WORK/salinas/lrhsi.npy" --hrmsi "$WORK/salinas/hrmsi.npy" --out "$WORK/salinas/fused.hdr" --quicklook "$WORK/salinas/fused.png"
npx spectra fuse --model models/student-rs206-s2x4-x4.onnx --camera examples/cameras/salinas-aviris-s2.json --covered-only \
  --lrhsi "$WORK/salinas/lrhsi.npy" --hrmsi "$WORK/salinas/hrmsi.npy" --out "$WORK/salinas/fused_covered.hdr"

echo "== 3. adapt the 206-band student to this camera on its own capture (no ground truth; host PyTorch, about 2 minutes)"
rm -f "$WORK/salinas/student-mycam".*
npx spectra adapt --model models/student-rs206-s2x4-x4.onnx --camera examples/cameras/salinas-aviris-s2.json \
  --lrhsi "$WORK/salinas/lrhsi.npy" --hrmsi "$WORK/salinas/hrmsi.npy" --out "$WORK/salinas/student-mycam.onnx"
npx spectra fuse --model "$WORK/salinas/student-mycam.onnx" --camera examples/cameras/salinas-aviris-s2.json \
  --lrhsi "$WORK/salinas/lrhsi.npy" --hrmsi "$WORK/salinas/hrmsi.npy" --out "$WORK/salinas/fused_adapted.hdr"
