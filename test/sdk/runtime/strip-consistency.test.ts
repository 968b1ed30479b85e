import t from 'tap';
import { consistency, type DegradationModel } from '../../../sdk/quality/consistency';
import { spatialDegrade } from '../../../sdk/spectral/psf';
import { projectSrf } from '../../../sdk/spectral/srf';
import { StripConsistency } from '../../../sdk/runtime/strip-consistency';
import { randomCube } from '../helpers';

const WL = [450, 500, 550, 600, 650, 700];
const SRF = [
  [0, 0, 0, 0.2, 0.5, 0.3],
  [0, 0.3, 0.5, 0.2, 0, 0],
  [0.6, 0.4, 0, 0, 0, 0],
];

t.test('scores: rows streamed in uneven chunks give exactly the whole-cube consistency()', async (t) => {
  const cases: [string, DegradationModel][] = [
    ['scale 4, 8-tap PSF, a masked band', { scale: 4, psf: { sigma: 2, kernel_size: 8 }, msi: { srf: SRF }, hsi: { band_valid: [true, true, false, true, true, true] } }],
    ['scale 4, 4-tap PSF (no padding)', { scale: 4, psf: { sigma: 1, kernel_size: 4 }, msi: { srf: SRF } }],
    ['scale 3, 9-tap PSF', { scale: 3, psf: { sigma: 1.5, kernel_size: 9 }, msi: { srf: SRF } }],
  ];
  for (const [name, model] of cases) {
    const H = 12 * model.scale;
    const W = 10 * model.scale;
    const truth = randomCube(6, H, W, WL, 5);
    // Inputs from the truth, output = truth + noise: scores finite and away from the 100 dB cap.
    const lr = spatialDegrade(truth, model.scale, { kernelSize: model.psf.kernel_size, sigma: model.psf.sigma });
    const hr = projectSrf(truth, SRF);
    const noise = randomCube(6, H, W, WL, 9, -0.05, 0.05);
    const fused = { ...truth, data: truth.data.map((v, i) => v + noise.data[i]) };
    const check = new StripConsistency(lr, hr, model);
    for (let y0 = 0, step = 1; y0 < H; y0 += step, step = (step % 7) + 2) {
      const n = Math.min(step, H - y0);
      const rows = new Float32Array(6 * n * W);
      for (let b = 0; b < 6; b++) rows.set(fused.data.subarray((b * H + y0) * W, (b * H + y0 + n) * W), b * n * W);
      check.writeRows(y0, rows);
    }
    const whole = consistency(fused, lr, hr, model);
    t.strictSame(check.report(), whole, `${name}: ${JSON.stringify(whole)}`);
    t.ok(whole.spatial.psnr < 100 && whole.spectral.psnr < 100);
  }
});

t.test('rejects: rows out of order, a report before the last row', async (t) => {
  const model: DegradationModel = { scale: 4, psf: { sigma: 2, kernel_size: 8 }, msi: { srf: SRF } };
  const truth = randomCube(6, 16, 16, WL, 5);
  const check = new StripConsistency(spatialDegrade(truth, 4, { kernelSize: 8, sigma: 2 }), projectSrf(truth, SRF), model);
  t.throws(() => check.writeRows(4, new Float32Array(6 * 16)), { name: 'RangeError', message: /Expected output row 0 next but received row 4/ });
  check.writeRows(0, new Float32Array(6 * 16).fill(0.5));
  t.throws(() => check.report(), { name: 'RangeError', message: /needs all 16 rows; received 1/ });
  t.throws(() => new StripConsistency(truth, truth, { ...model, psf: { sigma: 2, kernel_size: 7 } }), { name: 'RangeError', message: /same parity/ });
});
