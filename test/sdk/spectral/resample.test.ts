import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resampleCube, resamplingMatrix, type ResampleMethod } from '../../../sdk/spectral/resample';
import { WavelengthError } from '../../../sdk/core/errors';
import { ROOT, randomCube } from '../helpers';

interface Case {
  name: string;
  method: ResampleMethod;
  src_wl: number[];
  src_fwhm: number[] | null;
  src_mask: boolean[] | null;
  dst_wl: number[];
  dst_fwhm: number[] | null;
  dst_mask: boolean[];
  spectrum: number[];
  dst_spectrum: number[];
  matrix?: number[][];
}
const { cases } = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'sdk-parity', 'resampling-vectors.json'), 'utf8')) as { cases: Case[] };

for (const c of cases) {
  t.test(`resamples like the host: ${c.name}`, async (t) => {
    const { matrix, valid } = resamplingMatrix(c.src_wl, c.src_fwhm ?? undefined, c.src_mask ?? undefined, c.dst_wl, c.dst_fwhm ?? undefined, c.method);
    t.same(valid, c.dst_mask, 'same valid target bands');
    let worst = 0;
    matrix.forEach((row, i) => {
      const v = row.reduce((a, w, j) => a + w * c.spectrum[j], 0);
      worst = Math.max(worst, Math.abs(v - c.dst_spectrum[i]));
    });
    t.ok(worst <= 1e-12, `M @ spectrum max abs diff ${worst}`);
    if (c.matrix) {
      let m = 0;
      c.matrix.forEach((row, i) => row.forEach((w, j) => (m = Math.max(m, Math.abs(w - matrix[i][j])))));
      t.ok(m <= 1e-12, `matrix max abs diff ${m}`);
    }
  });
}

t.test('resamples: a flat spectrum stays flat on valid bands; required uncovered bands are refused', async (t) => {
  const src = Array.from({ length: 31 }, (_, i) => 400 + 10 * i);
  const flat = { ...randomCube(31, 2, 2, src), data: new Float32Array(31 * 4).fill(0.5) };
  const out = resampleCube(flat, [450, 500, 550], [10, 10, 10]);
  t.ok(out.data.every((v) => Math.abs(v - 0.5) < 1e-6));
  t.same(out.meta?.bandValid, [true, true, true]);
  t.throws(() => resampleCube(flat, [450, 900], [10, 10]), WavelengthError);
  const partial = resampleCube(flat, [450, 900], [10, 10], [true, false]);
  t.same(partial.meta?.bandValid, [true, false]);
  t.equal(partial.data[4], 0, 'an uncovered band is zero, never invented');
});
