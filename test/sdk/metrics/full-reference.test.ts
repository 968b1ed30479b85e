import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ergas, evaluate, psnr, psnrAndSam, rmse, sam, ssim } from '../../../sdk/metrics/full-reference';
import type { Cube } from '../../../sdk/cube/cube';
import { ROOT, randomCube } from '../helpers';

interface Vector {
  name: string;
  shape: [number, number, number];
  scale: number;
  peak: 'band_max' | 'fixed';
  data_range: number;
  pred: number[][][];
  gt: number[][][];
  valid: boolean[][] | null;
  band_mask: boolean[] | null;
  expected: { psnr: number; sam: number; ergas: number; rmse: number; ssim: number };
}
const file = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'metric-vectors.json'), 'utf8')) as {
  tolerance: { abs: number; rel: number; sam_abs_deg: number };
  cases: Vector[];
};

const toCube = (v: number[][][]): Cube => ({
  bands: v.length,
  height: v[0].length,
  width: v[0][0].length,
  data: Float32Array.from(v.flat(2)),
  wavelengths: v.map((_, i) => i),
});

for (const c of file.cases) {
  t.test(`matches Python: ${c.name}`, async (t) => {
    const pred = toCube(c.pred);
    const gt = toCube(c.gt);
    t.same([gt.bands, gt.height, gt.width], c.shape);
    const opts = {
      peak: c.peak,
      dataRange: c.data_range,
      ...(c.valid ? { valid: c.valid.flat() } : {}),
      ...(c.band_mask ? { bandMask: c.band_mask } : {}),
    };
    const got = evaluate(pred, gt, c.scale, opts);
    const { abs, rel, sam_abs_deg } = file.tolerance;
    for (const key of ['psnr', 'ergas', 'rmse', 'ssim'] as const) {
      const want = c.expected[key];
      t.ok(Math.abs(got[key] - want) <= abs + rel * Math.abs(want), `${key}: ${got[key]} vs ${want}`);
    }
    t.ok(Math.abs(got.sam - c.expected.sam) <= sam_abs_deg, `sam: ${got.sam} vs ${c.expected.sam}`);
  });
}

t.test('metrics: invariants', async (t) => {
  const gt = randomCube(4, 16, 16, [1, 2, 3, 4], 2);
  const pred = randomCube(4, 16, 16, [1, 2, 3, 4], 3);
  t.equal(psnr(gt, gt), 100, 'identical inputs are capped at 100 dB');
  const doubled = { ...pred, data: pred.data.map((v) => v * 2) };
  t.ok(Math.abs(sam(doubled, gt) - sam(pred, gt)) < 1e-9, 'SAM ignores spectrum scale');
  t.ok(Math.abs(ergas(pred, gt, 8) * 2 - ergas(pred, gt, 4)) < 1e-9, 'ERGAS is inversely proportional to the scale');
  t.ok(rmse(pred, gt) > 0 && ssim(pred, gt) < 1);
  t.throws(() => ssim(randomCube(1, 8, 8, [1]), randomCube(1, 8, 8, [1])), /at least 11 x 11/);
  t.throws(() => psnr(pred, randomCube(3, 16, 16, [1, 2, 3])), { code: 'E_BAND_COUNT' });
});

t.test('metrics: the one-pass PSNR+SAM used per frame equals psnr() and sam()', async (t) => {
  const gt = randomCube(5, 20, 24, [1, 2, 3, 4, 5], 8);
  const pred = randomCube(5, 20, 24, [1, 2, 3, 4, 5], 9);
  const both = psnrAndSam(pred, gt);
  t.ok(Math.abs(both.psnr - psnr(pred, gt)) < 1e-9 && Math.abs(both.sam - sam(pred, gt)) < 1e-9);
  const bandMask = [true, false, true, true, false];
  const masked = psnrAndSam(pred, gt, bandMask);
  t.ok(Math.abs(masked.psnr - psnr(pred, gt, { bandMask })) < 1e-9 && Math.abs(masked.sam - sam(pred, gt, { bandMask })) < 1e-9);
});
