import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnvi } from '../../../sdk/cube/envi';
import { quicklookBands } from '../../../sdk/cube/quicklook';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { consistency } from '../../../sdk/quality/consistency';
import { srfOnValidBands, toModelGrid } from '../../../sdk/spectral/coverage';
import { TINY, TINY_MODEL, maxAbsDiff, randomCube, tempDir } from '../helpers';

const card = JSON.parse(readFileSync(join(TINY, 'tiny-student.card.json'), 'utf8')) as { hsi: { wavelengths_nm: number[] }; msi: { srf: number[][] } };
const WL = card.hsi.wavelengths_nm; // 420..700 nm every 40 nm, FWHM 40
const RGB = [600, 540, 460];
// A VNIR sensor that stops at 600 nm: the model's 620, 660 and 700 nm bands are outside its coverage.
const SHORT = Array.from({ length: 21 }, (_, i) => 400 + 10 * i);
const EXPECTED = [true, true, true, true, true, false, false, false];
const plane = 32 * 32;

t.test('partial: streamed, tiled and whole outputs agree; invalid bands are zeros, marked in meta, bbl and band_valid', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = randomCube(21, 8, 8, SHORT, 31);
  const hr = randomCube(3, 32, 32, RGB, 32);
  const whole = await model.fuse(lr, hr, { resample: true });
  t.same(whole.meta?.bandValid, EXPECTED);
  t.ok(whole.data.subarray(5 * plane).every((v) => v === 0));
  t.ok(whole.data.subarray(0, 5 * plane).some((v) => v !== 0));
  const dir = tempDir();
  const streamed = await model.fuseToFile(lr, hr, join(dir, 'f.hdr'), { resample: true });
  const back = await readEnvi(join(dir, 'f.hdr'));
  t.equal(maxAbsDiff(back.data, whole.data), 0, 'the file holds the same pixels');
  t.same(back.meta?.bandValid, EXPECTED, 'bbl reads back as meta.bandValid');
  t.match(readFileSync(join(dir, 'f.hdr'), 'latin1'), /\nbbl = \{1, 1, 1, 1, 1, 0, 0, 0\}\nband_valid = \{1, 1, 1, 1, 1, 0, 0, 0\}/);
  t.same(streamed.quality, whole.quality, 'the streamed consistency check equals the whole-cube one');
  const tiled = await model.fuseToFile(lr, hr, join(dir, 't.hdr'), { resample: true, tile: 16, overlap: 8, coveredOnly: true });
  const kept = await readEnvi(join(dir, 't.hdr'));
  t.equal(kept.bands, 5, '--covered-only writes the five valid bands');
  t.same(kept.wavelengths, WL.slice(0, 5));
  t.notMatch(readFileSync(join(dir, 't.hdr'), 'latin1'), /bbl/, 'every written band is valid');
  t.same(tiled.meta?.bandValid, EXPECTED, 'the summary still describes the model grid');
});

t.test('partial: consistency skips invalid bands and scores the HR-MSI through SRF rows renormalised on the valid ones', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = randomCube(21, 8, 8, SHORT, 33);
  const hr = randomCube(3, 32, 32, RGB, 34);
  const fused = await model.fuse(lr, hr, { resample: true });
  // The same report by hand: LR on the model grid as fuse fed it, the card's degradation with the renormalised SRF.
  const fedLr = toModelGrid(lr, { wavelengths: WL, fwhm: new Array(8).fill(40) }).cube;
  const byHand = consistency(fused, fedLr, hr, { ...model.card, msi: { srf: srfOnValidBands(card.msi.srf, EXPECTED) }, hsi: { band_valid: EXPECTED } });
  t.same(fused.quality, byHand);
  t.ok(Number.isFinite(fused.quality!.spatial.psnr) && fused.quality!.spatial.psnr < 100, 'zeros on both sides of invalid bands would have inflated it to the cap');
});

t.test('partial: quicklooks never show an invalid band', async (t) => {
  const wl = [420, 460, 500, 540, 580, 620, 660, 700];
  const cube = { ...randomCube(8, 4, 4, wl), meta: { bandValid: EXPECTED } };
  const pick = quicklookBands(cube);
  t.ok(pick.bands.every((b) => EXPECTED[b]), `bands ${pick.bands.join(', ')}`);
  t.same(pick, { bands: [4, 2, 0], method: 'thirds' }, 'the nearest valid band to 640 nm is 60 nm off: thirds of the valid bands');
  t.same(quicklookBands(cube, { maxDistanceNm: 60 }), { bands: [4, 3, 1], method: 'wavelength' });
  t.throws(() => quicklookBands({ ...cube, meta: { bandValid: new Array(8).fill(false) } }), RangeError);
});
