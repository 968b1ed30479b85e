import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { psnr } from '../../../sdk/metrics/full-reference';
import { resampleCube } from '../../../sdk/spectral/resample';
import { TINY, TINY_MODEL, maxAbsDiff, randomCube, readReference } from '../helpers';

const card = JSON.parse(readFileSync(join(TINY, 'tiny-student.card.json'), 'utf8')) as { hsi: { wavelengths_nm: number[] } };
const WL = card.hsi.wavelengths_nm;
const RGB = [600, 540, 460];

t.test('fuses: the tiny fixture equals its PyTorch reference within 1e-4', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = await readReference(join(TINY, 'reference-lrhsi.npy'), WL);
  const hr = await readReference(join(TINY, 'reference-hrmsi.npy'), RGB);
  const ref = await readReference(join(TINY, 'reference-hrhsi.npy'), WL);
  const fused = await model.fuse(lr, hr);
  t.same([fused.bands, fused.height, fused.width], [8, 32, 32]);
  t.same(fused.wavelengths, WL);
  const diff = maxAbsDiff(fused.data, ref.data);
  t.ok(diff <= 1e-4, `max abs diff ${diff}`);
  t.equal(fused.tiles, 1);
  for (const k of ['validateMs', 'normaliseMs', 'inferMs', 'stitchMs', 'qualityMs', 'totalMs'] as const) {
    t.ok(fused.timing[k] >= 0, `timing.${k} = ${fused.timing[k]}`);
  }
  t.ok(fused.timing.totalMs >= fused.timing.inferMs);
  t.equal(fused.meta?.model, 'tiny-student');
  t.ok(fused.quality !== undefined && Number.isFinite(fused.quality.spatial.psnr) && Number.isFinite(fused.quality.spectral.sam));
});

t.test('fuses: tiled agrees with untiled, batched tiles equal single tiles', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = randomCube(8, 24, 20, WL, 3);
  const hr = randomCube(3, 96, 80, RGB, 4);
  const whole = await model.fuse(lr, hr, { quality: false });
  const progress: [number, number][] = [];
  const tiled = await model.fuse(lr, hr, { tile: 48, overlap: 16, quality: false, onProgress: (d, n) => progress.push([d, n]) });
  const batched = await model.fuse(lr, hr, { tile: 48, overlap: 16, batch: 4, quality: false });
  // 96 x 80 with 48-px tiles every 32 px: rows at 0, 32, 48 and columns at 0, 32 -> 6 tiles.
  t.equal(tiled.tiles, 6);
  t.same(progress.at(-1), [6, 6]);
  t.ok(maxAbsDiff(batched.data, tiled.data) < 1e-5, 'batching does not change the result');
  // Random noise is the worst case for the global channel attention (tiles see other statistics than the scene).
  const agree = psnr(tiled, whole);
  t.ok(agree > 40, `tiled vs whole: PSNR ${agree.toFixed(2)} dB, max abs ${maxAbsDiff(tiled.data, whole.data).toExponential(2)}`);
});

t.test('fuses: divides raw counts by meta.valueScale', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = randomCube(8, 8, 8, WL, 5);
  const hr = randomCube(3, 32, 32, RGB, 6);
  const scaled = (c: typeof lr) => ({ ...c, data: c.data.map((v) => Math.round(v * 65535)), meta: { valueScale: 65535 } });
  const a = await model.fuse(lr, hr, { quality: false });
  const b = await model.fuse(scaled(lr), scaled(hr), { quality: false });
  t.ok(maxAbsDiff(a.data, b.data) < 1e-3);
});

t.test('fuses: resamples an LR-HSI on another grid exactly as resampleCube; uncovered model bands are zeros marked invalid', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const wide = Array.from({ length: 41 }, (_, i) => 400 + 10 * i);
  const lr = randomCube(41, 8, 8, wide, 11);
  const hr = randomCube(3, 32, 32, RGB, 12);
  const viaFuse = await model.fuse(lr, hr, { resample: true, quality: false });
  const manual = await model.fuse(resampleCube(lr, WL, model.card.hsi.fwhm_nm ?? undefined), hr, { quality: false });
  t.ok(maxAbsDiff(viaFuse.data, manual.data) < 1e-6);
  t.ok(viaFuse.timing.resampleMs > 0);
  t.same(viaFuse.meta?.bandValid, new Array(8).fill(true));
  const cave = randomCube(31, 8, 8, wide.slice(0, 31), 13);
  const partial = await model.fuse(cave, hr, { resample: true, quality: false });
  t.same(partial.meta?.bandValid, [true, true, true, true, true, true, true, false], '700 nm is outside 400..700 +- its 40 nm window');
  t.same(model.bandCoverage(cave, { resample: true }), partial.meta?.bandValid, 'bandCoverage predicts it without inference');
  // Training feeds masked bands as zeros: the same input, zero-filled by hand on the model grid, gives the same output.
  const byHand = resampleCube(cave, WL, model.card.hsi.fwhm_nm ?? undefined, WL.map(() => false));
  const manualPartial = await model.fuse({ ...byHand, meta: {} }, hr, { quality: false });
  const plane = 32 * 32;
  t.ok(maxAbsDiff(partial.data.subarray(0, 7 * plane), manualPartial.data.subarray(0, 7 * plane)) < 1e-6);
  t.ok(partial.data.subarray(7 * plane).every((v) => v === 0), 'the uncovered band is written as zeros');
  const swir = randomCube(20, 8, 8, Array.from({ length: 20 }, (_, i) => 1000 + 10 * i), 14);
  t.throws(() => model.fuse(swir, hr, { resample: true }), { code: 'E_WAVELENGTH', message: /covers none of the model's bands/ });
});
