import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { readNpy } from '../../../sdk/cube/npy';
import { psnr } from '../../../sdk/metrics/full-reference';
import { consistency } from '../../../sdk/quality/consistency';
import { type Psf, cardPsf, spatialDegrade } from '../../../sdk/spectral/psf';
import { msiGuided, projectRows, signalSubspace } from '../../../sdk/spectral/subspace';
import type { Cube } from '../../../sdk/cube/cube';
import { projectSrf } from '../../../sdk/spectral/srf';
import { fittedBlur } from '../../../sdk/spectral/blur-fit';
import { formatBlurFit } from '../../../cli/commands/fuse';
import type { ModelCard } from '../../../sdk/core/model-card';
import { ROOT } from '../helpers';

const STEM = 'student-cave31-rgb-x4';
const REF = join(ROOT, 'test', 'fixtures', 'sdk-parity', STEM);

/** The card's Gaussian centred `shift` HR px from the block's middle, over kernel_size + scale taps. */
function movedTaps(card: ModelCard, shift: number): number[] {
  const wide = card.psf.kernel_size + card.scale;
  const taps = Array.from({ length: wide }, (_, i) => Math.exp(-0.5 * ((i - (wide - 1) / 2 - shift) / card.psf.sigma) ** 2));
  const sum = taps.reduce((a, v) => a + v, 0);
  return taps.map((v) => v / sum);
}

/** The shipped CAVE student, released when `t` ends, and the parity fixture's scene with its HR-MSI. */
async function shippedStudent(t: Test): Promise<{ model: FusionModel; card: ModelCard; scene: Cube; msi: Cube }> {
  const model = await FusionModel.load(join(ROOT, 'models', `${STEM}.onnx`), { providers: ['cpu'] });
  t.teardown(() => model.release());
  const { card } = model;
  const scene = await readNpy(join(REF, 'hrhsi.npy'), { wavelengths: card.hsi.wavelengths_nm });
  return { model, card, scene, msi: projectSrf(scene, card.msi.srf) };
}

t.test('the shipped student finds an LR-HSI sampled off the block middle and fuses it in that register', async (t) => {
  const { model, card, scene, msi } = await shippedStudent(t);
  const nominal = await model.fuse(spatialDegrade(scene, card.scale, cardPsf(card.psf)), msi, { quality: false });
  t.ok(nominal.blurFit, 'a model with psf.per_frame.shift_taps reports the blur it used');
  t.ok(Math.abs(nominal.blurFit!.shiftPx.rows) < 0.05 && Math.abs(nominal.blurFit!.shiftPx.cols) < 0.05, `the card's convention reads centred (${nominal.blurFit!.shiftPx.rows.toFixed(3)}, ${nominal.blurFit!.shiftPx.cols.toFixed(3)})`);
  t.match(formatBlurFit(nominal.blurFit!, card.scale), /centred on their 4x4 HR blocks/);
  // gaussian_filter(hr)[::4, ::4]: each LR pixel 1.5 HR px up and left of its block's middle
  const shifted = await model.fuse(spatialDegrade(scene, card.scale, { taps: movedTaps(card, -1.5) }), msi, { quality: false });
  const { rows, cols } = shifted.blurFit!.shiftPx;
  t.ok(Math.abs(rows + 1.5) < 0.2 && Math.abs(cols + 1.5) < 0.2, `[::4] sampling reads ${rows.toFixed(2)}, ${cols.toFixed(2)} px`);
  t.match(formatBlurFit(shifted.blurFit!, card.scale), /sit -1\.\d\d px \(rows\), -1\.\d\d px \(columns\)/);
  const [asCard, moved] = [psnr(nominal, scene), psnr(shifted, scene)];
  // the no-reference check re-degrades with the blur the fusion found (whole cube and streamed rows alike), so a
  // well-fused shifted pair reads as consistent and its HR-MSI as agreeing with its LR-HSI
  const lr = spatialDegrade(scene, card.scale, { taps: movedTaps(card, -1.5) });
  const checked = await model.fuse(lr, msi);
  let rowsSeen = 0;
  const streamed = await model.fuseStream(lr, msi, { writeRows: (_y0, rows) => { rowsSeen += rows.length; } });
  t.equal(rowsSeen, checked.data.length);
  t.same(streamed.quality, checked.quality, 'streamed rows give the whole cube\'s report');
  t.ok(checked.quality!.spatial.psnr > 45, `spatial consistency ${checked.quality!.spatial.psnr.toFixed(2)} dB with the found blur`);
  t.notOk(checked.msiAgreement!.mismatch, `msi check ${checked.msiAgreement!.psnr.toFixed(2)} dB`);
  const cardOnly = consistency(checked, lr, msi, { scale: card.scale, psf: card.psf, msi: { srf: card.msi.srf } });
  t.ok(cardOnly.spatial.psnr < checked.quality!.spatial.psnr - 10, `with the card's centred blur it would read ${cardOnly.spatial.psnr.toFixed(2)} dB`);
  // the students without the shift lost 6-20 dB on such pairs (validation regions, results/distill/calibration/
  // shift-estimate); with it, 1-3 dB there, and more on this clean crop, fused at 64 dB in the card's convention
  t.ok(moved > 50 && moved > asCard - 10, `PSNR ${moved.toFixed(2)} dB on the shifted pair, ${asCard.toFixed(2)} dB on the card's`);
});

t.test('a noisy LR-HSI sampled off the block middle is guided by the HR-MSI degraded with the blur found on it', async (t) => {
  const { model, card, scene, msi } = await shippedStudent(t);
  const clean = spatialDegrade(scene, card.scale, { taps: movedTaps(card, -1.5) });
  let seed = 7;
  const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  const power = clean.data.reduce((a, v) => a + v * v, 0) / clean.data.length;
  const lr: Cube = { ...clean, data: Float32Array.from(clean.data, (v) => v + Math.sqrt(power / 1e3) * gauss()) };
  const auto = await model.fuse(lr, msi, { quality: false });
  t.equal(auto.denoise?.projected, true, `the 30 dB LR-HSI is denoised (reads ${auto.denoise?.snrDb.toFixed(1)} dB)`);
  // the blur the statistics graph finds on the pair as captured
  const found = (await model.fuse(lr, msi, { quality: false, denoise: 'none' })).blurFit!;
  t.ok(Math.abs(found.shiftPx.rows + 1.5) < 0.3 && Math.abs(found.shiftPx.cols + 1.5) < 0.3, `found at ${found.shiftPx.rows.toFixed(2)}, ${found.shiftPx.cols.toFixed(2)} px`);
  const sub = signalSubspace(lr, model.bandCoverage(lr));
  const guidedBy = async (blur: Psf): Promise<Float32Array> => {
    const fused = await model.fuse({ ...lr, data: msiGuided(lr, spatialDegrade(msi, card.scale, blur), sub).data }, msi, { quality: false, denoise: 'none' });
    projectRows(fused.data, card.hsi.bands, sub);
    return fused.data;
  };
  const expected = await guidedBy(found.taps);
  const worst = expected.reduce((w, v, i) => Math.max(w, Math.abs(v - auto.data[i])), 0);
  t.ok(worst < 1e-5, `fuse guides with the found blur (worst difference ${worst.toExponential(1)})`);
  const asCard = await guidedBy(cardPsf(card.psf));
  const [found_, card_] = [psnr(auto, scene), psnr({ ...auto, data: asCard }, scene)];
  t.ok(found_ > card_, `PSNR ${found_.toFixed(2)} dB guided in the pair's register, ${card_.toFixed(2)} dB in the card's`);
});

t.test('fittedBlur reads the row and column taps before the fitted SRF, the HR-MSI detail gains and its kept noise, and nothing for a model without the shift', async (t) => {
  const card = JSON.parse(readFileSync(join(ROOT, 'models', `${STEM}.card.json`), 'utf8')) as ModelCard;
  const wide = card.psf.kernel_size + card.scale;
  const srf = card.msi.bands * card.hsi.bands;
  const rows = movedTaps(card, 0.5);
  const cols = movedTaps(card, -1);
  const detail = card.msi.bands * (card.msi.denoise?.detail_sigmas_px.length ?? 0);
  t.ok(detail > 0, 'the shipped card measures the HR-MSI noise');
  t.ok(card.msi.denoise?.backprojection_window_px, 'and the noise the shrunk HR-MSI keeps');
  const frame = Float32Array.from([...Array(7).fill(9), ...rows, ...cols, ...Array(srf).fill(9), ...Array(detail).fill(7), ...Array(card.msi.bands).fill(5)]);
  const fit = fittedBlur(frame, card)!;
  // (the window cuts the moved Gaussians' tails unevenly: their centroids sit a little inside)
  t.ok(Math.abs(fit.shiftPx.rows - 0.5) < 0.05 && Math.abs(fit.shiftPx.cols + 1) < 0.05, `shift ${fit.shiftPx.rows.toFixed(3)}, ${fit.shiftPx.cols.toFixed(3)}`);
  t.equal(fit.taps.rows.length, wide);
  t.equal(fittedBlur(frame, { ...card, psf: { ...card.psf, per_frame: { ...card.psf.per_frame!, shift_taps: undefined } } }), undefined);
});
