import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cube } from '../../../sdk/cube/cube';
import { AUTO_DENOISE_SNR_DB, msiGuided, projectRows, signalSubspace } from '../../../sdk/spectral/subspace';
import { cardPsf, spatialDegrade } from '../../../sdk/spectral/psf';
import { consistency } from '../../../sdk/quality/consistency';
import { symmetricEigen } from '../../../sdk/spectral/symmetric-eigen';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { ROOT, TINY_MODEL } from '../helpers';

interface Case {
  name: string;
  lrhsi: { shape: [number, number, number]; data: number[] };
  band_valid: boolean[];
  lrmsi: { shape: [number, number, number]; data: number[] };
  cube: { shape: [number, number, number]; data: number[] };
  bands: number[];
  mean: number[];
  noise_variance: number[];
  rank: number;
  snr_db: number;
  projected: number[];
  guided: number[];
}

// Written by `spectra-distill subspace-vectors` (seeded synthetic captures; see that command).
const { cases } = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'sdk-parity', 'subspace-vectors.json'), 'utf8')) as { cases: Case[] };

function cubeOf(c: { shape: [number, number, number]; data: number[] }): Cube {
  const [bands, height, width] = c.shape;
  return { bands, height, width, wavelengths: Array.from({ length: bands }, (_, b) => 400 + 10 * b), data: Float32Array.from(c.data) };
}

const relClose = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b), 1e-12);

t.test('symmetricEigen: A = V diag(d) Vt with V orthonormal and d ascending', async (t) => {
  for (const n of [1, 3, 17, 64]) {
    let s = n;
    const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647 - 0.5;
    const b = Array.from({ length: n * n }, rnd);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += b[i * n + k] * b[j * n + k];
    const { values, vectors } = symmetricEigen(a, n);
    let recon = 0;
    let orth = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let r = 0;
        let o = 0;
        for (let k = 0; k < n; k++) {
          r += vectors[i * n + k] * values[k] * vectors[j * n + k];
          o += vectors[k * n + i] * vectors[k * n + j];
        }
        recon = Math.max(recon, Math.abs(r - a[i * n + j]));
        orth = Math.max(orth, Math.abs(o - (i === j ? 1 : 0)));
      }
    }
    t.ok(recon < 1e-10 && orth < 1e-10, `n=${n}: reconstruction ${recon.toExponential(1)}, orthogonality ${orth.toExponential(1)}`);
    t.ok(values.every((v, i) => i === 0 || v >= values[i - 1]), `n=${n}: ascending`);
  }
  t.throws(() => symmetricEigen(new Float64Array(3), 2), RangeError);
  t.throws(() => symmetricEigen(Float64Array.from([1, NaN, NaN, 1]), 2), RangeError);
});

t.test('signal subspace: the SDK finds what the host finds (bands, mean, noise, rank, projection)', async (t) => {
  t.equal(cases.length, 4);
  for (const c of cases) {
    const sub = signalSubspace(cubeOf(c.lrhsi), c.band_valid);
    t.same(sub.bands, c.bands, `${c.name}: bands used (invalid and all-zero bands left out)`);
    t.equal(sub.rank, c.rank, `${c.name}: rank ${c.rank}`);
    t.ok(c.mean.every((m, i) => relClose(sub.mean[i], m, 1e-9)), `${c.name}: mean`);
    t.ok(c.noise_variance.every((v, i) => relClose(sub.noiseVariance[i], v, 1e-4)), `${c.name}: noise variance`);
    t.ok(Math.abs(sub.snrDb - c.snr_db) < 1e-3, `${c.name}: SNR ${sub.snrDb.toFixed(2)} dB (host ${c.snr_db.toFixed(2)})`);
    const rows = Float32Array.from(c.cube.data);
    projectRows(rows, c.cube.shape[0], sub);
    const worst = c.projected.reduce((w, v, i) => Math.max(w, Math.abs(rows[i] - v)), 0);
    t.ok(worst < 1e-5, `${c.name}: projection within 1e-5 of the host's (worst ${worst.toExponential(1)})`);
    const guided = msiGuided(cubeOf(c.lrhsi), cubeOf(c.lrmsi), sub).data;
    const off = c.guided.reduce((w, v, i) => Math.max(w, Math.abs(guided[i] - v)), 0);
    t.ok(off < 1e-5, `${c.name}: LR-HSI guided by the LR-MSI within 1e-5 of the host's (worst ${off.toExponential(1)})`);
  }
  t.ok(cases.some((c) => c.bands.length < c.band_valid.length), 'a case with invalid and zero bands');
});

t.test('signal subspace: projection is idempotent and leaves the other bands alone', async (t) => {
  const c = cases.find((x) => x.band_valid.includes(false))!;
  const sub = signalSubspace(cubeOf(c.lrhsi), c.band_valid);
  const once = Float32Array.from(c.cube.data);
  projectRows(once, c.cube.shape[0], sub);
  const twice = Float32Array.from(once);
  projectRows(twice, c.cube.shape[0], sub);
  t.ok(once.every((v, i) => Math.abs(v - twice[i]) < 1e-5), 'projecting twice changes nothing more');
  const P = c.cube.shape[1] * c.cube.shape[2];
  for (let b = 0; b < c.cube.shape[0]; b++) {
    if (sub.bands.includes(b)) continue;
    t.same(Array.from(once.subarray(b * P, (b + 1) * P)), Array.from(Float32Array.from(c.cube.data.slice(b * P, (b + 1) * P))), `band ${b} untouched`);
  }
  t.throws(() => signalSubspace(cubeOf(c.lrhsi), c.band_valid.map((_, b) => b === 1)), /needs >= 2 valid bands/);
});

t.test('msiGuided: the LR-MSI removes most of the LR-HSI noise the subspace keeps, and keeps what it cannot predict', async (t) => {
  const B = 30;
  const h = 24;
  const N = h * h;
  let s = 5;
  const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  const ends = [0.3, 0.8, 1.4].map((f, k) => Array.from({ length: B }, (_, b) => 0.4 + 0.2 * Math.sin(2 * Math.PI * f * (b / B) + k)));
  const clean = new Float32Array(B * N);
  const lrmsi = new Float32Array(3 * N);
  for (let p = 0; p < N; p++) {
    const a = [rnd(), rnd(), rnd()];
    const sum = a[0] + a[1] + a[2];
    for (let b = 0; b < B; b++) clean[b * N + p] = (a[0] * ends[0][b] + a[1] * ends[1][b] + a[2] * ends[2][b]) / sum;
    // three broad bands of the clean spectrum: a camera that sees the mixture
    for (let m = 0; m < 3; m++) {
      let v = 0;
      for (let b = m * 10; b < (m + 1) * 10; b++) v += clean[b * N + p] / 10;
      lrmsi[m * N + p] = v;
    }
  }
  const cube = (bands: number, data: Float32Array): Cube => ({ bands, height: h, width: h, wavelengths: Array.from({ length: bands }, (_, b) => 400 + 10 * b), data });
  const noisy = cube(B, Float32Array.from(clean, (v) => v + 0.02 * gauss()));
  const sub = signalSubspace(noisy, new Array<boolean>(B).fill(true));
  const rmse = (x: Float32Array): number => Math.sqrt(x.reduce((acc, v, i) => acc + (v - clean[i]) ** 2, 0) / x.length);
  const projected = Float32Array.from(noisy.data);
  projectRows(projected, B, sub);
  const guided = msiGuided(noisy, cube(3, lrmsi), sub).data;
  t.ok(rmse(guided) < 0.5 * rmse(projected), `guided RMSE ${rmse(guided).toExponential(2)} < half the projected ${rmse(projected).toExponential(2)}`);
  // an LR-MSI that knows nothing of the scene: the residual is all signal and the gains stay near 1
  const blind = msiGuided(noisy, cube(3, new Float32Array(3 * N).map(() => rnd())), sub).data;
  t.ok(rmse(blind) < 1.05 * rmse(projected), `an unrelated LR-MSI costs little: ${rmse(blind).toExponential(2)} against ${rmse(projected).toExponential(2)}`);
  t.throws(() => msiGuided(noisy, { ...cube(3, lrmsi), height: h - 1 }, sub), /must share a grid/);
});

t.test('fuse with denoise: subspace: tiled and streamed outputs equal the whole image, timing reported', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const B = model.inputSpec.hsiBands;
  const H = 64;
  const lr: Cube = { bands: B, height: H / 4, width: H / 4, wavelengths: model.inputSpec.wavelengths, data: new Float32Array(B * (H / 4) ** 2) };
  const hr: Cube = { bands: model.inputSpec.msiBands, height: H, width: H, wavelengths: [450, 550, 650], data: new Float32Array(model.inputSpec.msiBands * H * H) };
  let s = 3;
  const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  lr.data.forEach((_, i) => (lr.data[i] = 0.3 + 0.1 * Math.sin(i / 7) + 0.02 * rnd()));
  hr.data.forEach((_, i) => (hr.data[i] = 0.3 + 0.1 * Math.cos(i / 11) + 0.02 * rnd()));
  const plain = await model.fuse(lr, hr, { quality: false, denoise: 'none' });
  const whole = await model.fuse(lr, hr, { denoise: 'subspace' });
  t.equal(plain.denoise, undefined, "denoise: 'none' measures nothing");
  t.same(whole.denoise, { snrDb: signalSubspace(lr, model.bandCoverage(lr)).snrDb, projected: true, rank: signalSubspace(lr, model.bandCoverage(lr)).rank }, 'and reports what it measured');
  t.ok(whole.timing.denoiseMs > 0 && plain.timing.denoiseMs === 0, 'denoise time is reported');
  t.notSame(Array.from(whole.data.subarray(0, 64)), Array.from(plain.data.subarray(0, 64)), 'the output changed');
  const sub = signalSubspace(lr, model.bandCoverage(lr));
  const projected = (cube: Float32Array): Float32Array => {
    const out = Float32Array.from(cube);
    projectRows(out, B, sub);
    return out;
  };
  // the network is fed the LR-HSI guided by the HR-MSI, degraded by the card's PSF
  const guided: Cube = { ...lr, data: msiGuided(lr, spatialDegrade(hr, 4, cardPsf(model.card.psf)), sub).data };
  t.notSame(Array.from(guided.data.subarray(0, 64)), Array.from(lr.data.subarray(0, 64)), 'the guidance changes the LR-HSI');
  const expected = projected((await model.fuse(guided, hr, { quality: false, denoise: 'none' })).data);
  t.ok(whole.data.every((v, i) => Math.abs(v - expected[i]) < 1e-6), 'it is the output for the guided LR-HSI, projected');
  // Tiling is not bit-exact by itself; what denoise must do is project the tiled output with the whole frame's subspace.
  const tileOpts = { tile: 32, overlap: 16, quality: false, denoise: 'none' } as const;
  const tiledPlain = projected((await model.fuse(guided, hr, tileOpts)).data);
  const tiled = await model.fuse(lr, hr, { ...tileOpts, denoise: 'subspace' as const });
  t.ok(tiled.data.every((v, i) => Math.abs(v - tiledPlain[i]) < 1e-6), "tiles get the whole frame's subspace");
  const streamed = new Float32Array(whole.data.length);
  const sink = {
    writeRows: (y0: number, rows: Float32Array): void => {
      const n = rows.length / (B * H);
      for (let b = 0; b < B; b++) streamed.set(rows.subarray(b * n * H, (b + 1) * n * H), (b * H + y0) * H);
    },
  };
  const summary = await model.fuseStream(lr, hr, sink, { ...tileOpts, quality: true, denoise: 'subspace' as const });
  t.ok(streamed.every((v, i) => Math.abs(v - tiledPlain[i]) < 1e-6), 'streamed rows too');
  t.ok(summary.timing.denoiseMs > 0, 'and the streaming path reports its denoise time');
  t.throws(() => model.fuse(lr, hr, { denoise: 'pca' as 'subspace' }), TypeError, 'an unknown method is refused before anything runs');
});

t.test("fuse's default, denoise: 'auto', projects a noisy capture and leaves a clean one alone", async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const B = model.inputSpec.hsiBands;
  const h = 16;
  // three smooth spectra mixed per pixel: a scene of few dimensions, which the noise estimate predicts band by band
  const ends = [0.2, 0.5, 0.9].map((f, k) => Array.from({ length: B }, (_, b) => 0.4 + 0.2 * Math.sin(2 * Math.PI * f * (b / B) + k)));
  let s = 11;
  const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  const clean = new Float32Array(B * h * h);
  for (let p = 0; p < h * h; p++) {
    const a = [rnd(), rnd(), rnd()];
    const sum = a[0] + a[1] + a[2];
    for (let b = 0; b < B; b++) clean[b * h * h + p] = (a[0] * ends[0][b] + a[1] * ends[1][b] + a[2] * ends[2][b]) / sum;
  }
  const lrOf = (data: Float32Array): Cube => ({ bands: B, height: h, width: h, wavelengths: model.inputSpec.wavelengths, data });
  const hr: Cube = { bands: model.inputSpec.msiBands, height: 4 * h, width: 4 * h, wavelengths: [450, 550, 650], data: new Float32Array(model.inputSpec.msiBands * 16 * h * h).map(() => 0.2 + 0.6 * rnd()) };
  const noisy = lrOf(Float32Array.from(clean, (v) => v + 0.02 * gauss()));
  for (const [name, lr, projected] of [['clean', lrOf(clean), false], ['noisy', noisy, true]] as const) {
    const auto = await model.fuse(lr, hr, { quality: false });
    const snr = signalSubspace(lr, model.bandCoverage(lr)).snrDb;
    t.equal(auto.denoise?.projected, projected, `${name}: SNR ${snr.toFixed(1)} dB against the ${AUTO_DENOISE_SNR_DB} dB threshold`);
    t.equal(auto.denoise?.snrDb, snr, `${name}: the SNR is reported`);
    const expected = await model.fuse(lr, hr, { quality: false, denoise: projected ? 'subspace' : 'none' });
    t.same(Array.from(auto.data), Array.from(expected.data), `${name}: the output is the ${projected ? 'projected' : 'plain'} one`);
    // the check scores the output against the LR-HSI as captured, not against what the guidance fed the network
    const checked = await model.fuse(lr, hr, { quality: true });
    const card = { scale: model.card.scale, psf: model.card.psf, msi: { srf: model.card.msi.srf } };
    const fusedCube: Cube = { ...lr, height: 4 * h, width: 4 * h, data: checked.data };
    t.same(checked.quality?.spatial, consistency(fusedCube, lr, hr, card).spatial, `${name}: consistency against the captured LR-HSI`);
  }
});
