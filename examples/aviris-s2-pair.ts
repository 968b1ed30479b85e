// Makes a partial-coverage test pair from the real Salinas-A AVIRIS scene, described by a camera profile: the
// LR-HSI stays on AVIRIS's own 204-band grid (water-vapour channels removed, spectrometer overlap kept), blurred
// and decimated 4x; the HR-MSI is what a Sentinel-2-like camera (S2A B2, B3, B4, B8 responses from the profile's
// SRF CSV) sees of the same scene. Used by examples/new-camera.sh and docs/new-camera.md.
//
//   npx ts-node examples/aviris-s2-pair.ts --camera examples/cameras/salinas-aviris-s2.json \
//     --scene ../shared/data/salinas_a/salinas_a_83x86x204_int16.npy --out work/salinas
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { applyCameraProfile, cropCube, projectSrf, readCameraProfile, readNpy, spatialDegrade, srfOnGrid, writeNpy } from '../sdk';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { camera: { type: 'string' }, scene: { type: 'string' }, out: { type: 'string' } } });
  if (!values.camera || !values.scene || !values.out) throw new TypeError('usage: aviris-s2-pair.ts --camera P.json --scene S.npy (H, W, bands) --out DIR');
  const camera = await readCameraProfile(values.camera);
  if (!camera.msi?.srf || !camera.msi.bands) throw new TypeError(`${values.camera} describes no MSI SRF`);
  const scene = applyCameraProfile(await readNpy(values.scene, { layout: 'hwc' }), camera, 'lrhsi');
  // 80 x 84 HR pixels: multiples of 4, so the LR-HSI is 20 x 21.
  const hr = cropCube(scene, 0, 0, scene.height - (scene.height % 4), scene.width - (scene.width % 4));
  const lr = spatialDegrade(hr, 4, { kernelSize: 8, sigma: 2 });
  const msi = projectSrf(hr, srfOnGrid(camera.msi.srf, camera.msi.bands, hr.wavelengths, camera.hsi.bandValid).matrix);
  await mkdir(values.out, { recursive: true });
  await writeNpy(join(values.out, 'lrhsi.npy'), lr);
  await writeNpy(join(values.out, 'hrmsi.npy'), msi);
  console.log(`wrote ${values.out}/lrhsi.npy (${lr.bands} x ${lr.height} x ${lr.width}, raw counts) and hrmsi.npy (${msi.bands} x ${msi.height} x ${msi.width})`);
}

void main();
