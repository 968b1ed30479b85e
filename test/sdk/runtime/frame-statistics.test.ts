import t from 'tap';
import { copyFileSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelCardError, ModelFileError } from '../../../sdk/core/errors';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { ROOT, tempDir } from '../helpers';
import type { Cube } from '../../../sdk/cube/cube';

const STEM = 'student-cave31-rgb-x4';

/** The shipped fp32 student, its card and statistics graph in a fresh folder. */
function copyModel(): string {
  const dir = tempDir('spectra-frame-stats-');
  for (const f of ['.onnx', '.card.json', '.stats.onnx']) copyFileSync(join(ROOT, 'models', STEM + f), join(dir, STEM + f));
  return join(dir, `${STEM}.onnx`);
}

function editCard(model: string, edit: (card: Record<string, unknown>) => void): void {
  const path = model.replace(/\.onnx$/, '.card.json');
  const card = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(card);
  writeFileSync(path, JSON.stringify(card));
}

/** A smooth scene whose right half is 5x brighter: a tile of the left half measures other statistics than the frame. */
function pair(model: FusionModel): { lr: Cube; hr: Cube } {
  const { hsiBands: B, msiBands: b, scale: s, wavelengths } = model.inputSpec;
  const h = 16;
  const w = 32;
  const lr = new Float32Array(B * h * w);
  for (let k = 0; k < B; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) lr[(k * h + y) * w + x] = (0.2 + 0.1 * Math.sin(x / 3 + k / 7) * Math.cos(y / 4)) * (x >= 24 ? 5 : 1);
  const hr = new Float32Array(b * h * s * w * s);
  for (let k = 0; k < b; k++) for (let y = 0; y < h * s; y++) for (let x = 0; x < w * s; x++) hr[(k * h * s + y) * w * s + x] = (0.2 + 0.1 * Math.sin(x / (3 * s) + k) * Math.cos(y / (4 * s))) * (x >= 24 * s ? 5 : 1);
  return { lr: { bands: B, height: h, width: w, data: lr, wavelengths: [...wavelengths] }, hr: { bands: b, height: h * s, width: w * s, data: hr, wavelengths: Array.from({ length: b }, (_, i) => 450 + 100 * i) } };
}

t.test('a model with per-image statistics fuses tiles with the whole frame\'s: tiled equals whole within 1e-2 of the peak', async (t) => {
  const model = await FusionModel.load(join(ROOT, 'models', `${STEM}.onnx`), { providers: ['cpu'] });
  t.teardown(() => model.release());
  t.ok(model.card.frame_statistics, 'the shipped card names its statistics graph');
  const { lr, hr } = pair(model);
  const whole = await model.fuse(lr, hr, { quality: false });
  const tiled = await model.fuse(lr, hr, { tile: 48, overlap: 16, quality: false });
  t.ok(tiled.tiles > 2, `${tiled.tiles} tiles`);
  let peak = 0;
  let diff = 0;
  for (let i = 0; i < whole.data.length; i++) {
    peak = Math.max(peak, Math.abs(whole.data[i]));
    diff = Math.max(diff, Math.abs(whole.data[i] - tiled.data[i]));
  }
  t.ok(diff <= 1e-2 * peak, `max abs diff ${diff.toExponential(2)} (peak ${peak.toFixed(3)})`);
});

t.test('a missing statistics graph is a ModelFileError naming the file', async (t) => {
  const model = copyModel();
  unlinkSync(model.replace(/\.onnx$/, '.stats.onnx'));
  const err = await FusionModel.load(model, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(err, ModelFileError);
  t.match((err as ModelFileError).path, /\.stats\.onnx$/);
  t.match((err as Error).message, /statistics graph is missing/);
});

t.test('a statistics graph from another export is refused by its sha256', async (t) => {
  const model = copyModel();
  editCard(model, (card) => {
    (card.frame_statistics as { sha256: string }).sha256 = '0'.repeat(64);
  });
  const err = await FusionModel.load(model, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(err, ModelCardError);
  t.match((err as Error).message, /frame_statistics\.sha256 000000000000… does not match/);
});

t.test('a card that does not describe the graph\'s third input is refused', async (t) => {
  const model = copyModel();
  editCard(model, (card) => {
    delete card.frame_statistics;
  });
  const perFrame = await FusionModel.load(model, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(perFrame, ModelCardError);
  t.match((perFrame as Error).message, /'psf\.per_frame' is measured by the statistics graph; the card needs 'frame_statistics'/);
  editCard(model, (card) => {
    delete (card.psf as { per_frame?: unknown }).per_frame;
  });
  const srfFit = await FusionModel.load(model, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(srfFit, ModelCardError);
  t.match((srfFit as Error).message, /'msi\.per_frame' is fitted by the statistics graph; the card needs 'frame_statistics'/);
  // a card from before the per-frame PSF and SRF: the graph's third input is what is missing
  editCard(model, (card) => {
    delete (card.msi as { per_frame?: unknown }).per_frame;
  });
  const err = await FusionModel.load(model, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(err, ModelCardError);
  t.match((err as Error).message, /graph takes frame_stats besides lrhsi and hrmsi, which the card does not describe/);
});

t.test('a per-frame PSF rule whose free_taps is not a boolean is refused when the card is read', async (t) => {
  const model = copyModel();
  editCard(model, (card) => {
    (card.psf as { per_frame: { free_taps: unknown } }).per_frame.free_taps = 'yes';
  });
  await t.rejects(FusionModel.load(model, { providers: ['cpu'] }), { name: 'ModelCardError', message: /'psf\.per_frame' must be .*free_taps\?: boolean/ });
});

t.test('a per-frame blur shift whose window is not a whole number of taps of the scale\'s parity is refused', async (t) => {
  const shipped = JSON.parse(readFileSync(join(ROOT, 'models', `${STEM}.card.json`), 'utf8')) as { psf: { kernel_size: number; per_frame?: { shift_taps?: number } }; scale: number };
  t.equal(shipped.psf.per_frame?.shift_taps, shipped.psf.kernel_size + shipped.scale, 'the shipped student searches for a shifted blur over kernel_size + scale taps');
  for (const bad of [11, 4, 'wide']) {
    const model = copyModel();
    editCard(model, (card) => {
      (card.psf as { per_frame: { shift_taps: unknown } }).per_frame.shift_taps = bad;
    });
    await t.rejects(FusionModel.load(model, { providers: ['cpu'] }), { name: 'ModelCardError', message: /'psf\.per_frame' must be .*shift_taps\?: integer >= kernel_size/ }, String(bad));
  }
});

t.test('a per-frame blur shift says what it is judged through; an unknown judge, or one without the shift, is refused', async (t) => {
  const shipped = JSON.parse(readFileSync(join(ROOT, 'models', `${STEM}.card.json`), 'utf8')) as { psf: { per_frame?: { shift_response?: string } } };
  t.equal(shipped.psf.per_frame?.shift_response, 'fitted', 'the shipped student judges each shift with the response that explains it best');
  const bad: [string, (perFrame: Record<string, unknown>) => void][] = [
    ['an unknown judge', (perFrame) => { perFrame.shift_response = 'guess'; }],
    ['a judge without shift_taps', (perFrame) => { delete perFrame.shift_taps; }],
  ];
  for (const [what, edit] of bad) {
    const model = copyModel();
    editCard(model, (card) => edit((card.psf as { per_frame: Record<string, unknown> }).per_frame));
    await t.rejects(FusionModel.load(model, { providers: ['cpu'] }), { name: 'ModelCardError', message: /shift_response\?: one of card, fitted with shift_taps/ }, what);
  }
});

t.test('a per-frame SRF rule is read from the card, and a malformed one is refused', async (t) => {
  const shipped = JSON.parse(readFileSync(join(ROOT, 'models', `${STEM}.card.json`), 'utf8')) as { msi: { per_frame?: { fit: string } } };
  t.equal(shipped.msi.per_frame?.fit, 'ridge_to_card', 'the shipped student fits each frame\'s SRF');
  const model = copyModel();
  editCard(model, (card) => {
    (card.msi as { per_frame: { noise_ridge: number } }).per_frame.noise_ridge = -1;
  });
  await t.rejects(FusionModel.load(model, { providers: ['cpu'] }), { name: 'ModelCardError', message: /'msi\.per_frame' must be .*noise_ridge >= 0/ });
});

t.test('a malformed frame_statistics entry is refused when the card is read', async (t) => {
  const model = copyModel();
  editCard(model, (card) => {
    card.frame_statistics = { graph: '../elsewhere.onnx', sha256: 'x', input: 'frame_stats', length: 133 };
  });
  await t.rejects(FusionModel.load(model, { providers: ['cpu'] }), { name: 'ModelCardError', message: /'frame_statistics' must be/ });
});
