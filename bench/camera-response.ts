/**
 * MSI camera mismatch, measured (`npx ts-node bench/camera-response.ts [--out results/bench/camera-response.json]`).
 *
 * Real reflectance scenes from ../shared/data (San Diego AVIRIS, EnMAP Potsdam) are cut to 64 x 64 HR crops. The
 * LR-HSI is the crop on its own sensor grid, blurred and decimated with the shipped 206-band student's PSF; the
 * truth is the crop on the model grid (valid bands only are scored). The HR-MSI comes from a camera the model
 * was NOT trained with: Landsat-8 OLI B2-B5, with a gain of 0.8 and an offset of 0.02 (radiometry of its own).
 * Four ways to feed it are compared by PSNR against the truth: the card's own S2 MSI (the reference), the OLI
 * image as is, mapped through the OLI SRF from a camera profile, and mapped through the response estimated
 * from the pair (`estimateMsiResponse`). A measurement, not a test: it asserts nothing.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readSrfCsv, srfOnGrid } from '../sdk/camera/srf-table';
import type { MsiResponse } from '../sdk/camera/response';
import type { Cube } from '../sdk/cube/cube';
import { readNpy } from '../sdk/cube/npy';
import { psnr } from '../sdk/metrics/full-reference';
import { FusionModel } from '../sdk/runtime/fusion-model';
import { toModelGrid } from '../sdk/spectral/coverage';
import { spatialDegrade } from '../sdk/spectral/psf';
import { projectSrf } from '../sdk/spectral/srf';

const ROOT = resolve(__dirname, '..');
const DATA = process.env.SPECTRA_DATA ?? resolve(ROOT, '..', 'shared', 'data');
const MODEL = join(ROOT, 'models', 'student-rs206-s2x4-x4.onnx');

interface Scene {
  name: string;
  file: string;
  bands: string;
  column: string;
  fwhmColumn?: string;
  validColumn?: string;
  scale: number;
}

const SCENES: Scene[] = [
  { name: 'san_diego_aviris', file: 'san_diego_aviris/san_diego_aviris_I_120x120x189_uint16.npy', bands: 'san_diego_aviris/san_diego_aviris_bands.csv', column: 'center_nm_aviris1995_table', fwhmColumn: 'fwhm_nm_aviris1995_table', scale: 10000 },
  { name: 'enmap_potsdam_cropA', file: 'enmap_potsdam/enmap_potsdam_cropA_rows96-159_cols32-159_64x128x224_int16.npy', bands: 'enmap_potsdam/enmap_potsdam_bands.csv', column: 'center_nm', fwhmColumn: 'fwhm_nm', validColumn: 'bbl_good', scale: 10000 },
];

function column(path: string, name: string): number[] {
  const [head, ...rows] = require('node:fs').readFileSync(path, 'utf8').trim().split(/\r?\n/) as string[];
  const k = head.split(',').indexOf(name);
  return rows.map((r) => Number(r.split(',')[k]));
}

function crop(cube: Cube, y: number, x: number, h: number, w: number): Cube {
  const data = new Float32Array(cube.bands * h * w);
  for (let b = 0; b < cube.bands; b++) for (let i = 0; i < h; i++) data.set(cube.data.subarray((b * cube.height + y + i) * cube.width + x, (b * cube.height + y + i) * cube.width + x + w), (b * h + i) * w);
  return { ...cube, height: h, width: w, data };
}

async function main(): Promise<void> {
  const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : undefined;
  const model = await FusionModel.load(MODEL, { providers: ['cpu'], log: () => undefined });
  const card = model.card;
  const psf = { kernelSize: card.psf.kernel_size, sigma: card.psf.sigma };
  const oli = await readSrfCsv(join(DATA, 'srf', 'l8_oli_srf.csv'));
  const rows: Record<string, unknown>[] = [];
  for (const s of SCENES) {
    const raw = await readNpy(join(DATA, s.file), { layout: 'hwc' });
    const wl = column(join(DATA, s.bands), s.column);
    const fwhm = s.fwhmColumn ? column(join(DATA, s.bands), s.fwhmColumn) : undefined;
    const valid = s.validColumn ? column(join(DATA, s.bands), s.validColumn).map((v) => v > 0.5) : undefined;
    const scaled: Cube = { ...raw, data: raw.data.map((v) => v / s.scale), wavelengths: wl, ...(fwhm ? { fwhm } : {}), meta: valid ? { bandValid: valid } : {} };
    const hr = crop(scaled, 0, 0, 64, 64);
    const onGrid = toModelGrid(hr, { wavelengths: card.hsi.wavelengths_nm, fwhm: card.hsi.fwhm_nm ?? undefined, bandValid: card.hsi.band_valid });
    const truth = onGrid.cube;
    const bandMask = onGrid.bandValid;
    // LR-HSI on its own grid, masked bands zeroed as a reader with bbl would leave them.
    const lr = spatialDegrade(hr, card.scale, psf);
    // The card's MSI (S2 B2, B3, B4, B8 through the card SRF on the valid bands) and a foreign camera's.
    const s2 = projectSrf(truth, card.msi.srf.map((row) => row.map((w, b) => (bandMask[b] ? w : 0))).map((row) => row.map((w) => w / row.reduce((a, v) => a + v, 0))));
    const oliOnNative = srfOnGrid(oli, ['B2', 'B3', 'B4', 'B5'], wl, valid);
    const oliRaw = projectSrf({ ...hr, meta: {} }, oliOnNative.matrix);
    const foreign: Cube = { ...oliRaw, data: oliRaw.data.map((v) => 0.8 * v + 0.02) };
    const known: MsiResponse = {
      matrix: srfOnGrid(oli, ['B2', 'B3', 'B4', 'B5'], card.hsi.wavelengths_nm, bandMask).matrix.map((row) => row.map((w) => 0.8 * w)),
      offset: [0.02, 0.02, 0.02, 0.02],
      names: ['B2', 'B3', 'B4', 'B5'],
      source: 'profile',
    };
    const score = async (msi: Cube, response?: MsiResponse) => {
      const f = await model.fuse(lr, msi, { resample: true, ...(response ? { msiResponse: response } : {}) });
      return { psnr: psnr(f, truth, { bandMask }), spectralConsistency: f.quality!.spectral.psnr, spatialConsistency: f.quality!.spatial.psnr, msiAgreement: f.msiAgreement!.psnr };
    };
    const estimate = model.estimateMsiResponse(lr, foreign, { resample: true });
    const row = {
      scene: s.name,
      validBands: bandMask.filter((v) => v).length,
      cardMsi: await score(s2),
      foreignAsIs: await score(foreign),
      foreignKnownSrf: await score(foreign, known),
      foreignEstimated: await score(foreign, estimate),
      estimate: { centroids: estimate.centroids.map((c) => +c.toFixed(1)), gains: estimate.gains.map((g) => +g.toFixed(3)), offsets: estimate.offset.map((o) => +o.toFixed(4)), misfitPsnr: estimate.misfitPsnr.map((p) => +p.toFixed(1)) },
      trueCentroids: oliOnNative.centroids.map((c) => +c.toFixed(1)),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await model.release();
  if (out) writeFileSync(out, JSON.stringify({ model: card.name, rows }, null, 2) + '\n');
}

void main();
