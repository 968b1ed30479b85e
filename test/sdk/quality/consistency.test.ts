import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { consistency } from '../../../sdk/quality/consistency';
import { readNpy } from '../../../sdk/cube/npy';
import { cropCube } from '../../../sdk/cube/create';
import { spatialDegrade } from '../../../sdk/spectral/psf';
import { projectSrf } from '../../../sdk/spectral/srf';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import type { Cube } from '../../../sdk/cube/cube';
import { SHARED, TINY_MODEL, shippedStudent } from '../helpers';

const SCENE = join(SHARED, 'cave_kbr', 'cave_cloth_256x256x31_uint16.npy');
const CAVE = Array.from({ length: 31 }, (_, i) => 400 + 10 * i);

/** A CAVE crop on the model's wavelengths, in 0..1. */
async function crop(top: number, left: number, size: number, wavelengths: readonly number[]): Promise<Cube> {
  const scene = await readNpy(SCENE, { layout: 'hwc', wavelengths: CAVE });
  const c = cropCube(scene, top, left, size, size);
  const plane = size * size;
  const data = new Float32Array(wavelengths.length * plane);
  wavelengths.forEach((w, b) => {
    const src = Math.round((w - 400) / 10);
    for (let p = 0; p < plane; p++) data[b * plane + p] = c.data[src * plane + p] / 65535;
  });
  return { bands: wavelengths.length, height: size, width: size, data, wavelengths };
}

t.test('quality: consistency separates the true pair from a misregistered and a swapped pair', { skip: !existsSync(SCENE) && 'shared data missing' }, async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  const card = model.card;
  await model.release();
  const psf = { kernelSize: card.psf.kernel_size, sigma: card.psf.sigma };
  const truth = await crop(96, 64, 64, card.hsi.wavelengths_nm);
  // A stand-in for a good fusion: the truth with a 1 % multiplicative error.
  let seed = 7;
  const estimate = { ...truth, data: truth.data.map((v) => v * (1 + 0.01 * Math.sin((seed += 1.7)))) };
  const lr = spatialDegrade(truth, card.scale, psf);
  const hr = projectSrf(truth, card.msi.srf);
  const shifted = spatialDegrade(await crop(96, 68, 64, card.hsi.wavelengths_nm), card.scale, psf);
  const other = await crop(16, 160, 64, card.hsi.wavelengths_nm);
  const good = consistency(estimate, lr, hr, card);
  const misregistered = consistency(estimate, shifted, hr, card);
  const swapped = consistency(estimate, spatialDegrade(other, card.scale, psf), projectSrf(other, card.msi.srf), card);
  t.comment(JSON.stringify({ good, misregistered, swapped }));
  t.ok(good.spatial.psnr > 35 && good.spectral.psnr > 35, 'good pair is consistent');
  t.ok(good.spatial.psnr - misregistered.spatial.psnr > 8, 'a 1-LR-pixel shift costs > 8 dB of spatial consistency');
  t.ok(misregistered.spatial.sam > good.spatial.sam);
  t.ok(good.spatial.psnr - swapped.spatial.psnr > 8 && good.spectral.psnr - swapped.spectral.psnr > 8, 'a swapped pair fails both checks');
  t.ok(swapped.spectral.sam > good.spectral.sam);
});

const shipped = shippedStudent();
t.test('quality: through fuse() with the shipped student, a misregistered LR-HSI lowers spatial consistency', { skip: (!shipped || !existsSync(SCENE)) && 'no shipped student in models/ yet (or shared data missing)' }, async (t) => {
  const model = await FusionModel.load(shipped as string, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const card = model.card;
  const psf = { kernelSize: card.psf.kernel_size, sigma: card.psf.sigma };
  const truth = await crop(96, 64, 64, card.hsi.wavelengths_nm);
  const lr = spatialDegrade(truth, card.scale, psf);
  const hr = projectSrf(truth, card.msi.srf);
  const shifted = spatialDegrade(await crop(96, 72, 64, card.hsi.wavelengths_nm), card.scale, psf);
  const good = await model.fuse(lr, hr);
  const bad = await model.fuse(shifted, hr);
  t.comment(JSON.stringify({ good: good.quality, bad: bad.quality }));
  t.ok((good.quality?.spatial.psnr ?? 0) > (bad.quality?.spatial.psnr ?? Infinity) + 1);
});
