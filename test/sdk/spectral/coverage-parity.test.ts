import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toModelGrid } from '../../../sdk/spectral/coverage';
import { ROOT } from '../helpers';

interface Case {
  name: string;
  src_wl: number[];
  src_fwhm: number[] | null;
  src_mask: boolean[] | null;
  shape: [number, number, number];
  src: number[];
  dst_wl: number[];
  dst_fwhm: number[];
  model_band_valid: boolean[] | null;
  band_valid: boolean[];
  covered: boolean[];
  resampled: boolean;
  dst: number[];
}

// Written by `spectra-distill coverage-vectors` from real band tables in ../shared/data (see that command).
const { cases } = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'sdk-parity', 'coverage-vectors.json'), 'utf8')) as { cases: Case[] };

t.test('coverage vectors: real sensors from the host, partial and complete', async (t) => {
  t.ok(cases.length >= 8);
  t.ok(cases.some((c) => c.band_valid.some((v) => !v)) && cases.some((c) => c.band_valid.every((v) => v)), 'both partial and complete cases');
});

for (const c of cases) {
  t.test(`toModelGrid matches the host within 1e-6: ${c.name}`, async (t) => {
    const [bands, height, width] = c.shape;
    const cube = {
      bands,
      height,
      width,
      data: Float32Array.from(c.src),
      wavelengths: c.src_wl,
      ...(c.src_fwhm ? { fwhm: c.src_fwhm } : {}),
      ...(c.src_mask ? { meta: { bandValid: c.src_mask } } : {}),
    };
    const out = toModelGrid(cube, { wavelengths: c.dst_wl, fwhm: c.dst_fwhm, ...(c.model_band_valid ? { bandValid: c.model_band_valid } : {}) });
    t.same(out.bandValid, c.band_valid, 'same valid model bands');
    t.equal(out.resampled, c.resampled);
    t.equal(out.cube.data.length, c.dst.length);
    let worst = 0;
    for (let i = 0; i < c.dst.length; i++) worst = Math.max(worst, Math.abs(out.cube.data[i] - c.dst[i]));
    t.ok(worst <= 1e-6, `max abs diff ${worst.toExponential(2)}`);
    const plane = height * width;
    if (c.resampled) {
      const zeros = c.band_valid.every((v, b) => v || out.cube.data.subarray(b * plane, (b + 1) * plane).every((x) => x === 0));
      t.ok(zeros, 'every band that is not valid (uncovered, or not learnt) is zeros');
    }
  });
}
