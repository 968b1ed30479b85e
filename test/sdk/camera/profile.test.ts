import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CameraProfileError, applyCameraProfile, profileMsiResponse, readCameraProfile } from '../../../sdk/camera/profile';
import { estimateMsiResponse, msiToModelBands } from '../../../sdk/camera/response';
import { gaussianSrfTable, srfOnGrid } from '../../../sdk/camera/srf-table';
import { psnr } from '../../../sdk/metrics/full-reference';
import { spatialDegrade } from '../../../sdk/spectral/psf';
import { projectSrf } from '../../../sdk/spectral/srf';
import { randomCube, tempDir } from '../helpers';

function profile(dir: string, body: unknown, name = 'cam.json'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
}

const OK = {
  schema: 'spectra-edge/camera@1',
  name: 'test-cam',
  hsi: { bands_csv: { file: 'bands.csv', wavelength_column: 'nm', fwhm_column: 'fwhm', valid_column: 'good' }, value_scale: 4095 },
  msi: { centres_nm: [460, 550, 640], fwhm_nm: [40, 40, 40], band_names: ['B', 'G', 'R'], value_scale: 255 },
  psf: { type: 'gaussian', sigma: 2, kernel_size: 8 },
};

t.test('profile: reads band tables relative to the profile and applies them to both inputs', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'bands.csv'), 'idx,nm,fwhm,good\n0,450,10,1\n1,460,10,1\n2,470,10,0\n3,480,10,1\n');
  const cam = await readCameraProfile(profile(dir, OK));
  t.same(cam.hsi, { wavelengths: [450, 460, 470, 480], fwhm: [10, 10, 10, 10], bandValid: [true, true, false, true], valueScale: 4095 });
  t.same(cam.msi?.bands, ['B', 'G', 'R']);
  t.same(cam.psf, { sigma: 2, kernelSize: 8 });
  const lr = applyCameraProfile(randomCube(4, 2, 2, [0, 1, 2, 3]), cam, 'lrhsi');
  t.same(lr.wavelengths, [450, 460, 470, 480]);
  t.same(lr.meta, { camera: 'test-cam', wavelengthsFromHeader: true, bandValid: [true, true, false, true], valueScale: 4095 });
  t.equal(applyCameraProfile(randomCube(3, 8, 8, [0, 1, 2]), cam, 'hrmsi').meta?.valueScale, 255, 'the value scale is the camera\'s, not the scene\'s');
});

t.test('profile: each wrong description is a CameraProfileError naming the field and the fix', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'bands.csv'), 'idx,nm,fwhm,good\n0,450,10,1\n1,460,10,1\n');
  const cases: [string, unknown, RegExp][] = [
    ['missing file', undefined, /\(file\): not found; check the path given to --camera/],
    ['bad JSON', '{', /\(file\): not valid JSON/],
    ['schema', { ...OK, schema: 'x' }, /schema: is "x"; set it to "spectra-edge\/camera@1"/],
    ['no hsi', { ...OK, hsi: undefined }, /hsi: is missing/],
    ['unknown column', { ...OK, hsi: { bands_csv: { file: 'bands.csv', wavelength_column: 'lambda' } } }, /hsi\.bands_csv\.wavelength_column: names column "lambda".*use one of idx, nm, fwhm, good/],
    ['missing csv', { ...OK, hsi: { bands_csv: { file: 'none.csv', wavelength_column: 'nm' } } }, /hsi\.bands_csv\.file: .*none\.csv not found/],
    ['fwhm length', { ...OK, hsi: { wavelengths_nm: [400, 410], fwhm_nm: [10] } }, /hsi\.fwhm_nm: has 1 values for 2 bands; give one positive FWHM per band/],
    ['value scale', { ...OK, hsi: { wavelengths_nm: [400, 410], value_scale: 0 } }, /hsi\.value_scale: is 0; give the raw value that means 1\.0/],
    ['msi bands', { ...OK, msi: { srf_csv: { file: 'bands.csv', bands: [] } } }, /msi\.srf_csv: needs "file" and "bands"/],
    ['psf', { ...OK, psf: { type: 'airy' } }, /psf: is \{"type":"airy"\}; give \{"type": "gaussian"/],
  ];
  for (const [what, body, message] of cases) {
    const path = body === undefined ? join(dir, 'absent.json') : profile(dir, body, `${what.replace(/ /g, '_')}.json`);
    await t.rejects(readCameraProfile(path), { name: 'CameraProfileError', code: 'E_CAMERA_PROFILE', message }, what);
  }
  const cam = await readCameraProfile(profile(dir, { ...OK, hsi: { wavelengths_nm: [400, 410, 420] } }));
  const err = (() => {
    try {
      applyCameraProfile(randomCube(5, 2, 2, [0, 1, 2, 3, 4]), cam, 'lrhsi');
    } catch (e) {
      return e;
    }
  })() as CameraProfileError;
  t.ok(err instanceof CameraProfileError);
  t.equal(err.field, 'hsi.wavelengths_nm');
  t.match(err.message, /describes 3 bands but the LR-HSI has 5; describe this camera's bands/);
  t.throws(() => applyCameraProfile({ ...randomCube(3, 2, 2, [500, 600, 700]), meta: { wavelengthsFromHeader: true } }, cam, 'lrhsi'), { message: /differ from the wavelengths in the file's header by up to 280\.0 nm/ });
  t.throws(() => applyCameraProfile(randomCube(4, 8, 8, [1, 2, 3, 4]), cam, 'hrmsi'), { code: 'E_CAMERA_PROFILE', message: /msi\.srf_csv\.bands: lists 3 bands \(B, G, R\) but the HR-MSI has 4/ });
});

t.test('response: estimated from a pair it recovers a foreign camera (centres, gain, offset) and maps it onto the model bands', async (t) => {
  const wl = Array.from({ length: 31 }, (_, i) => 400 + 10 * i);
  // Smooth, varied spectra: three random endmembers mixed with random abundances, so NNLS has a well-posed problem.
  const ends = [0, 1, 2].map((k) => wl.map((w) => 0.3 + 0.25 * Math.sin(w / (60 + 25 * k) + k)));
  const ab = randomCube(3, 64, 64, [0, 1, 2], 7, 0, 1);
  const P = 64 * 64;
  const hr = { bands: 31, height: 64, width: 64, wavelengths: wl, data: new Float32Array(31 * P) };
  for (let b = 0; b < 31; b++) for (let p = 0; p < P; p++) hr.data[b * P + p] = (ends[0][b] * ab.data[p] + ends[1][b] * ab.data[P + p] + ends[2][b] * ab.data[2 * P + p]) / 1.5;
  const psf = { kernelSize: 8, sigma: 2 };
  const lr = spatialDegrade(hr, 4, psf);
  const foreign = srfOnGrid(gaussianSrfTable([470, 560, 650], [30, 30, 30]), ['b1', 'b2', 'b3'], wl);
  const raw = projectSrf(hr, foreign.matrix);
  const msi = { ...raw, data: raw.data.map((v) => 0.7 * v + 0.03) };
  const est = estimateMsiResponse(lr, wl.map(() => true), msi, 4, psf);
  est.centroids.forEach((c, k) => t.ok(Math.abs(c - foreign.centroids[k]) < 15, `centroid ${c.toFixed(1)} vs ${foreign.centroids[k].toFixed(1)} nm`));
  est.gains.forEach((g) => t.ok(Math.abs(g - 0.7) < 0.05, `gain ${g}`));
  est.offset.forEach((o) => t.ok(Math.abs(o - 0.03) < 0.01, `offset ${o}`));
  t.ok(est.misfitPsnr.every((p) => p > 40), `misfit ${est.misfitPsnr.map((p) => p.toFixed(1)).join(', ')} dB`);
  t.ok(est.matrix.every((row) => row.every((w) => w >= 0)), 'non-negative');
  // The model was trained with these bands; what the foreign camera saw must be turned into them.
  const model = srfOnGrid(gaussianSrfTable([460, 540, 600], [40, 40, 40]), ['b1', 'b2', 'b3'], wl).matrix;
  const want = projectSrf(hr, model);
  const mapped = msiToModelBands(msi, est, model, lr);
  const before = psnr({ ...msi, wavelengths: want.wavelengths }, want);
  const after = psnr(mapped, want);
  t.ok(after > before + 10 && after > 35, `card-band MSI ${before.toFixed(1)} dB as is, ${after.toFixed(1)} dB mapped`);
  t.throws(() => msiToModelBands(randomCube(4, 64, 64, [1, 2, 3, 4]), est, model, lr), { code: 'E_BAND_COUNT' });
});

t.test('response: a profile MSI with no response on the covered model bands is refused', async (t) => {
  const dir = tempDir();
  const cam = await readCameraProfile(profile(dir, { ...OK, hsi: { wavelengths_nm: [400, 410] }, msi: { centres_nm: [2000], fwhm_nm: [20] } }));
  const wl = [400, 410, 420];
  t.throws(() => profileMsiResponse(cam, wl, [true, true, true]), { code: 'E_CAMERA_PROFILE', message: /msi\.srf_csv: no MSI band \(b1\) responds/ });
  const ok = await readCameraProfile(profile(dir, { ...OK, hsi: { wavelengths_nm: [400, 410] }, msi: { centres_nm: [410], fwhm_nm: [20] } }, 'ok.json'));
  const r = profileMsiResponse(ok, wl, [true, false, true])!;
  t.equal(r.matrix[0][1], 0, 'restricted to valid model bands');
  t.same(r.offset, [0]);
});
