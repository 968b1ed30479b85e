import t from 'tap';
import { copyFileSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelCardError, ModelFileError } from '../../../sdk/core/errors';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { ROOT, tempDir } from '../helpers';
import type { Cube } from '../../../sdk/cube/cube';
import type { ModelCard } from '../../../sdk/core/model-card';
import { cardPsf, spatialDegrade } from '../../../sdk/spectral/psf';
import { projectSrf } from '../../../sdk/spectral/srf';

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

/**
 * A smooth scene whose right part is 5x brighter, as a pair the card describes (the HR cube blurred and decimated
 * by `taps`, or the card's PSF, and projected through the card's SRF): a tile of the left part measures other
 * statistics than the frame. (Two unrelated patterns as LR-HSI and HR-MSI are no pair: a response fitted across
 * bands whose patterns differ in phase reads them as a shifted blur.)
 */
function pair(model: FusionModel, taps?: number[]): { lr: Cube; hr: Cube } {
  const { card } = model;
  const { hsiBands: B, scale: s, wavelengths } = model.inputSpec;
  const [H, W] = [16 * s, 32 * s];
  const data = new Float32Array(B * H * W);
  for (let k = 0; k < B; k++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[(k * H + y) * W + x] = (0.2 + 0.1 * Math.sin(x / (3 * s) + k / 7) * Math.cos(y / (4 * s))) * (x >= 24 * s ? 5 : 1);
  const cube: Cube = { bands: B, height: H, width: W, data, wavelengths: [...wavelengths] };
  return { lr: spatialDegrade(cube, s, taps ? { taps } : cardPsf(card.psf)), hr: projectSrf(cube, card.msi.srf) };
}

/** The card's Gaussian centred `shift` HR px from the block's middle, over kernel_size + scale taps. */
function movedTaps(card: ModelCard, shift: number): number[] {
  const wide = card.psf.kernel_size + card.scale;
  const taps = Array.from({ length: wide }, (_, i) => Math.exp(-0.5 * ((i - (wide - 1) / 2 - shift) / card.psf.sigma) ** 2));
  const sum = taps.reduce((a, v) => a + v, 0);
  return taps.map((v) => v / sum);
}

/** Largest |whole - tiled| and the whole cube's peak. */
function tileGap(whole: Cube, tiled: Cube): { diff: number; peak: number } {
  let peak = 0;
  let diff = 0;
  for (let i = 0; i < whole.data.length; i++) {
    peak = Math.max(peak, Math.abs(whole.data[i]));
    diff = Math.max(diff, Math.abs(whole.data[i] - tiled.data[i]));
  }
  return { diff, peak };
}

t.test('a model with per-image statistics fuses tiles with the whole frame\'s: tiled equals whole within 1e-2 of the peak', async (t) => {
  const model = await FusionModel.load(join(ROOT, 'models', `${STEM}.onnx`), { providers: ['cpu'] });
  t.teardown(() => model.release());
  t.ok(model.card.frame_statistics, 'the shipped card names its statistics graph');
  const { lr, hr } = pair(model);
  const whole = await model.fuse(lr, hr, { quality: false });
  const tiled = await model.fuse(lr, hr, { tile: 48, overlap: 16, quality: false });
  t.ok(tiled.tiles > 2, `${tiled.tiles} tiles`);
  const { diff, peak } = tileGap(whole, tiled);
  t.ok(diff <= 1e-2 * peak, `max abs diff ${diff.toExponential(2)} (peak ${peak.toFixed(3)})`);
});

t.test('a pair out of register fuses tiled as whole at the default overlap', async (t) => {
  // a shifted blur's taps and the move of each LR image reach further than the card's blur: 16 HR px of overlap
  // left 1.5e-2 of the peak on the fixture crop, the default 32 px 3e-3
  const model = await FusionModel.load(join(ROOT, 'models', `${STEM}.onnx`), { providers: ['cpu'] });
  t.teardown(() => model.release());
  const { lr, hr } = pair(model, movedTaps(model.card, -1.5));
  const whole = await model.fuse(lr, hr, { quality: false });
  t.ok(whole.blurFit && Math.abs(whole.blurFit.shiftPx.rows + 1.5) < 0.25, `found at ${whole.blurFit?.shiftPx.rows.toFixed(2)} px`);
  const tiled = await model.fuse(lr, hr, { tile: 48, quality: false });
  t.ok(tiled.tiles > 2, `${tiled.tiles} tiles`);
  const { diff, peak } = tileGap(whole, tiled);
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
  editCard(model, (card) => {
    delete (card.msi as { per_frame?: unknown }).per_frame;
  });
  const denoise = await FusionModel.load(model, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(denoise, ModelCardError);
  t.match((denoise as Error).message, /'msi\.denoise' is measured by the statistics graph; the card needs 'frame_statistics'/);
  // a card from before the per-frame PSF, SRF and HR-MSI noise: the graph's third input is what is missing
  editCard(model, (card) => {
    delete (card.msi as { denoise?: unknown }).denoise;
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

t.test('the HR-MSI noise rule is read from the card, and a malformed back-projection or pan-detail window is refused', async (t) => {
  const shipped = JSON.parse(readFileSync(join(ROOT, 'models', `${STEM}.card.json`), 'utf8')) as { msi: { denoise?: { backprojection_window_px?: number; pan_detail_window_px?: number } } };
  t.ok(shipped.msi.denoise?.backprojection_window_px, 'the shipped student gates its spectral back-projection by the HR-MSI noise it keeps');
  t.ok(shipped.msi.denoise?.pan_detail_window_px, "and its prior's pan detail by the noise the pans carry");
  for (const key of ['backprojection_window_px', 'pan_detail_window_px']) {
    for (const bad of [0, -2, 'wide']) {
      const model = copyModel();
      editCard(model, (card) => {
        (card.msi as { denoise: Record<string, unknown> }).denoise[key] = bad;
      });
      await t.rejects(FusionModel.load(model, { providers: ['cpu'] }), { name: 'ModelCardError', message: new RegExp(`'msi\\.denoise' must be .*${key}\\?: width > 0`) }, `${key} ${String(bad)}`);
    }
  }
});

t.test('a malformed frame_statistics entry is refused when the card is read', async (t) => {
  const model = copyModel();
  editCard(model, (card) => {
    card.frame_statistics = { graph: '../elsewhere.onnx', sha256: 'x', input: 'frame_stats', length: 133 };
  });
  await t.rejects(FusionModel.load(model, { providers: ['cpu'] }), { name: 'ModelCardError', message: /'frame_statistics' must be/ });
});
