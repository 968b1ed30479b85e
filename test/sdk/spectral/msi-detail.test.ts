import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { readNpy } from '../../../sdk/cube/npy';
import { cardPsf, spatialDegrade } from '../../../sdk/spectral/psf';
import { projectSrf } from '../../../sdk/spectral/srf';
import { gaussianRng } from '../../../sdk/capture/noise';
import { detailKept, msiDetailGains } from '../../../sdk/spectral/msi-detail';
import { frameTail } from '../../../sdk/spectral/frame-layout';
import { formatMsiDetail } from '../../../cli/commands/fuse';
import type { Cube } from '../../../sdk/cube/cube';
import type { ModelCard } from '../../../sdk/core/model-card';
import { ROOT } from '../helpers';

const STEM = 'student-cave31-rgb-x4';
const REF = join(ROOT, 'test', 'fixtures', 'sdk-parity', STEM);

/** `cube` with white noise at `snrDb` against its mean power. */
function noisy(cube: Cube, snrDb: number, seed: number): Cube {
  const power = cube.data.reduce((a, v) => a + v * v, 0) / cube.data.length;
  const sigma = Math.sqrt(power) * 10 ** (-snrDb / 20);
  const rng = gaussianRng(seed);
  return { ...cube, data: cube.data.map((v) => v + sigma * rng()) };
}

t.test('the shipped student keeps a clean HR-MSI as captured and shrinks a noisy one', async (t) => {
  const model = await FusionModel.load(join(ROOT, 'models', `${STEM}.onnx`), { providers: ['cpu'] });
  t.teardown(() => model.release());
  const { card } = model;
  const scene = await readNpy(join(REF, 'hrhsi.npy'), { wavelengths: card.hsi.wavelengths_nm });
  const lr = spatialDegrade(scene, card.scale, cardPsf(card.psf));
  const msi = projectSrf(scene, card.msi.srf);
  const clean = await model.fuse(lr, msi, { quality: false });
  t.ok(clean.msiDetail, 'a model with msi.denoise reports the detail gains it used');
  t.ok(detailKept(clean.msiDetail!), `a clean HR-MSI keeps its detail: ${formatMsiDetail(clean.msiDetail!)}`);
  t.match(formatMsiDetail(clean.msiDetail!), /reads clean/);
  const noise = noisy(msi, 15, 7);
  const shrunk = await model.fuse(lr, noise, { quality: false });
  const finest = shrunk.msiDetail!.bands.map((b) => b.gains[0]);
  t.ok(Math.max(...finest) < 0.9, `a 15 dB HR-MSI reads noisy: ${formatMsiDetail(shrunk.msiDetail!)}`);
  t.match(formatMsiDetail(shrunk.msiDetail!), /reads noisy; its detail levels \(0-1 px \/ 1-2 px\) kept at R 0\.\d\d \/ 0\.\d\d.*; the prior's pans and the spectral back-projection keep only what rises above the noise left$/);
  t.equal(shrunk.msiDetail!.backprojectionWindowPx, card.msi.denoise!.backprojection_window_px);
  t.equal(shrunk.msiDetail!.panDetailWindowPx, card.msi.denoise!.pan_detail_window_px);
  // a card whose prior takes the pans whole names the back-projection alone
  const { panDetailWindowPx: _, ...backprojectionOnly } = shrunk.msiDetail!;
  t.match(formatMsiDetail(backprojectionOnly), /; the spectral back-projection keeps only what rises above the noise left$/);
  // what the shrinkage buys is measured on the host (distill tests, results/distill/calibration/msi-denoise/)
});

t.test('msiDetailGains reads the gains before the kept noise that ends the frame vector, per band and level, and nothing without msi.denoise', async (t) => {
  const card = JSON.parse(readFileSync(join(ROOT, 'models', `${STEM}.card.json`), 'utf8')) as ModelCard;
  const denoise = card.msi.denoise!;
  t.ok(denoise.backprojection_window_px, 'the shipped card carries the noise the shrunk HR-MSI keeps');
  const levels = denoise.detail_sigmas_px.length;
  const gains = Array.from({ length: card.msi.bands * levels }, (_, i) => i / 10);
  const frame = Float32Array.from([...Array(11).fill(9), ...gains, ...Array(card.msi.bands).fill(5)]);
  const tail = frameTail(frame, card);
  t.equal(tail.end - tail.msiNoise, card.msi.bands);
  const report = msiDetailGains(frame, card)!;
  t.same(report.bands.map((b) => b.name), card.msi.band_names);
  t.same(report.bands[1].gains.map((g) => +g.toFixed(3)), [0.2, 0.3]);
  t.same(report.bands.at(-1)!.gains.map((g) => +g.toFixed(3)), gains.slice(-levels).map((g) => +g.toFixed(3)));
  t.notOk(detailKept(report));
  // a card from before the kept noise: the gains end the vector
  const before = { ...card, msi: { ...card.msi, denoise: { ...denoise, backprojection_window_px: undefined } } };
  const old = msiDetailGains(frame.subarray(0, frame.length - card.msi.bands), before)!;
  t.same(old.bands.at(-1)!.gains.map((g) => +g.toFixed(3)), gains.slice(-levels).map((g) => +g.toFixed(3)));
  t.equal(msiDetailGains(frame, { ...card, msi: { ...card.msi, denoise: undefined } }), undefined);
});
