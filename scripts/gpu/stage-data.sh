#!/usr/bin/env bash
# Copies the shared scenes the GPU run needs into .device/data (git-ignored; carried to the device machine,
# which cannot see ../shared). Nothing is committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${SPECTRA_DATA:-../shared/data}; D=.device/data
rm -rf "$D"; mkdir -p "$D"/{cave_kbr,jasper_ridge,salinas_a,moffett_field,enmap_potsdam,samson,houston2018_crop,srf}
cp "$S"/cave_kbr/*.npy "$S"/cave_kbr/*.csv "$D"/cave_kbr/
cp "$S"/jasper_ridge/*.npy "$S"/jasper_ridge/*.csv "$D"/jasper_ridge/
cp "$S"/salinas_a/SalinasA_corrected.* "$S"/salinas_a/*.csv "$D"/salinas_a/
cp "$S"/moffett_field/*.npy "$S"/moffett_field/*.csv "$D"/moffett_field/
cp "$S"/enmap_potsdam/enmap_potsdam_mosaic_* "$S"/enmap_potsdam/*.csv "$D"/enmap_potsdam/
cp "$S"/samson/*.npy "$S"/samson/*.csv "$D"/samson/
cp "$S"/houston2018_crop/*.npy "$S"/houston2018_crop/*.csv "$D"/houston2018_crop/
cp "$S"/srf/*.csv "$D"/srf/
du -sh "$D"
