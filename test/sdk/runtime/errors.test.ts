import t from 'tap';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import {
  BandCountError,
  DataTypeError,
  ModelCardError,
  ModelFileError,
  NonFiniteError,
  ProviderUnavailableError,
  SizeMismatchError,
  SpectraError,
  ValueRangeError,
  WavelengthError,
} from '../../../sdk/core/errors';
import type { Cube } from '../../../sdk/cube/cube';
import { TINY, TINY_MODEL, randomCube, tempDir } from '../helpers';

const CARD = JSON.parse(readFileSync(join(TINY, 'tiny-student.card.json'), 'utf8')) as Record<string, unknown> & {
  hsi: { bands: number; wavelengths_nm: number[] };
};
const WL = CARD.hsi.wavelengths_nm;
const RGB = [600, 540, 460];

/** A copy of the fixture in a temp dir, with the model bytes and card optionally changed. */
function variant(edit: { onnx?: (b: Buffer) => Buffer; card?: (c: typeof CARD) => unknown; rehash?: boolean }): string {
  const dir = tempDir();
  const onnx = join(dir, 'm.onnx');
  const bytes = (edit.onnx ?? ((b) => b))(readFileSync(TINY_MODEL));
  writeFileSync(onnx, bytes);
  const card = JSON.parse(JSON.stringify(CARD)) as typeof CARD;
  if (edit.rehash) card.onnx_sha256 = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(join(dir, 'm.card.json'), JSON.stringify(edit.card ? edit.card(card) : card));
  return onnx;
}

t.test('rejects bad inputs with typed errors before any native call', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = randomCube(8, 8, 8, WL, 1);
  const hr = randomCube(3, 32, 32, RGB, 2);
  const cases: [string, () => unknown, new (...a: never[]) => SpectraError, string, RegExp][] = [
    ['rejects: lrhsi with 30 bands', () => model.fuse(randomCube(30, 8, 8, Array.from({ length: 30 }, (_, i) => 400 + 10 * i)), hr), BandCountError, 'E_BAND_COUNT', /Expected 8 bands for lrhsi but received 30/],
    ['rejects: hrmsi with 4 bands', () => model.fuse(lr, randomCube(4, 32, 32, [450, 550, 650, 850])), BandCountError, 'E_BAND_COUNT', /Expected 3 bands for hrmsi but received 4/],
    ['rejects: hrmsi not 4x the lrhsi size', () => model.fuse(lr, randomCube(3, 32, 28, RGB)), SizeMismatchError, 'E_SIZE_MISMATCH', /hrmsi is 32 x 28 .* must be 32 x 32/],
    ['rejects: NaN in the lrhsi', () => model.fuse(withValue(lr, 77, NaN), hr), NonFiniteError, 'E_NON_FINITE', /lrhsi holds 1 NaN\/Inf .*band 1 \(460 nm\) at x=5, y=1/],
    ['rejects: Inf in the hrmsi', () => model.fuse(lr, withValue(hr, 5, Infinity)), NonFiniteError, 'E_NON_FINITE', /hrmsi holds 1 NaN\/Inf/],
    ['rejects: Float64Array data', () => model.fuse({ ...lr, data: Float64Array.from(lr.data) as unknown as Float32Array }, hr), DataTypeError, 'E_DTYPE', /Float32Array but received Float64Array/],
    ['rejects: data shorter than its shape', () => model.fuse({ ...lr, data: lr.data.subarray(1) }, hr), DataTypeError, 'E_DTYPE', /Expected 512 values/],
    ['rejects: wavelengths off the model grid without resample', () => model.fuse({ ...lr, wavelengths: WL.map((w) => w + 5) }, hr), WavelengthError, 'E_WAVELENGTH', /resample: true/],
    ['rejects: raw counts without meta.valueScale', () => model.fuse({ ...lr, data: lr.data.map((v) => v * 65535) }, hr), ValueRangeError, 'E_VALUE_RANGE', /meta\.valueScale/],
  ];
  for (const [name, call, cls, code, pattern] of cases) {
    t.test(name, async (t) => {
      let caught: unknown;
      try {
        call();
      } catch (err) {
        caught = err;
      }
      t.type(caught, cls, 'thrown synchronously as the typed class');
      t.type(caught, SpectraError);
      t.equal((caught as SpectraError).code, code);
      t.match((caught as Error).message, pattern);
    });
  }
});

t.test('rejects: HR size not a multiple of the card spatial_multiple', async (t) => {
  const model = await FusionModel.load(variant({ card: (c) => ({ ...c, spatial_multiple: 16 }) }), { providers: ['cpu'] });
  t.teardown(() => model.release());
  t.throws(() => model.fuse(randomCube(8, 3, 3, WL), randomCube(3, 12, 12, RGB)), {
    name: 'SizeMismatchError',
    code: 'E_SIZE_MISMATCH',
    message: /hrmsi is 12 x 12; this model needs HR sizes that are multiples of 16/,
  });
});

t.test('rejects: an LR-HSI smaller than the card min_lr_size (the graph mirror frame)', async (t) => {
  const model = await FusionModel.load(variant({ card: (c) => ({ ...c, min_lr_size: 3 }) }), { providers: ['cpu'] });
  t.teardown(() => model.release());
  t.throws(() => model.fuse(randomCube(8, 2, 4, WL), randomCube(3, 8, 16, RGB)), {
    name: 'SizeMismatchError',
    code: 'E_SIZE_MISMATCH',
    message: /lrhsi is 2 x 4; this model needs at least 3 x 3 LR pixels/,
  });
  t.ok(await model.fuse(randomCube(8, 3, 4, WL), randomCube(3, 12, 16, RGB)), '3 x 4 passes');
  // every tile is a graph call: tiles of 2 LR px fail the same minimum even though the image passes it
  t.throws(() => model.fuse(randomCube(8, 4, 4, WL), randomCube(3, 16, 16, RGB), { tile: 8, overlap: 0 }), {
    name: 'RangeError',
    message: /options\.tile to give tiles of at least 12 HR px .* received 8, which tiles as 8 x 8/,
  });
  t.ok(await model.fuse(randomCube(8, 6, 6, WL), randomCube(3, 24, 24, RGB), { tile: 12, overlap: 0 }), 'tiles of 3 LR px pass');
});

t.test('rejects: a card whose min_lr_size is not a positive integer', async (t) => {
  const err = await FusionModel.load(variant({ card: (c) => ({ ...c, min_lr_size: 0 }) })).catch((e: unknown) => e);
  t.type(err, ModelCardError);
  t.match((err as Error).message, /'min_lr_size' must be a positive integer when given, got 0/);
});

t.test('rejects: missing model file', async (t) => {
  const err = await FusionModel.load(join(tempDir(), 'nope.onnx')).catch((e: unknown) => e);
  t.type(err, ModelFileError);
  t.equal((err as ModelFileError).code, 'E_MODEL_FILE');
  t.match((err as Error).message, /nope\.onnx: model file not found/);
});

t.test('rejects: corrupt model file whose card matches its bytes', async (t) => {
  const path = variant({ onnx: (b) => b.subarray(0, 5000), rehash: true });
  const err = await FusionModel.load(path, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(err, ModelFileError);
  t.match((err as Error).message, /onnxruntime cannot load the model .*corrupt/);
});

t.test('rejects: model file that does not match the card sha256', async (t) => {
  const path = variant({ onnx: (b) => Buffer.concat([b, Buffer.from([0])]) });
  const err = await FusionModel.load(path).catch((e: unknown) => e);
  t.type(err, ModelCardError);
  t.equal((err as ModelCardError).code, 'E_MODEL_CARD');
  t.match((err as Error).message, /m\.card\.json: onnx_sha256 .* does not match .*m\.onnx/);
});

t.test('rejects: card band count that disagrees with the graph', async (t) => {
  const path = variant({ card: (c) => ({ ...c, hsi: { ...c.hsi, bands: 9, wavelengths_nm: [...WL, 740] } }) });
  const err = await FusionModel.load(path, { providers: ['cpu'] }).catch((e: unknown) => e);
  t.type(err, ModelCardError);
  t.match((err as Error).message, /card says 9 bands for 'lrhsi' but the graph's input has 8|'msi.srf' row must have 9/);
});

t.test('rejects: card PSF taps that cannot be a blur, naming the field', async (t) => {
  for (const taps of [[0.5, 0.5], [0.2, 0.3, 0.3, 0.2, 0, 0, 0, -0.1], [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]]) {
    const path = variant({ card: (c) => ({ ...c, psf: { ...(c.psf as object), taps } }) });
    const err = await FusionModel.load(path, { providers: ['cpu'] }).catch((e: unknown) => e);
    t.type(err, ModelCardError);
    t.match((err as Error).message, /'psf.taps' must be 8 finite, non-negative taps summing to 1/);
  }
  const fine = variant({ card: (c) => ({ ...c, psf: { ...(c.psf as object), taps: [0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0] } }) });
  const model = await FusionModel.load(fine, { providers: ['cpu'] });
  t.same(model.card.psf.taps, [0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0], 'explicit taps that are a blur load');
  await model.release();
});

t.test('rejects: missing model card', async (t) => {
  const dir = tempDir();
  copyFileSync(TINY_MODEL, join(dir, 'alone.onnx'));
  const err = await FusionModel.load(join(dir, 'alone.onnx')).catch((e: unknown) => e);
  t.type(err, ModelCardError);
  t.match((err as Error).message, /alone\.card\.json: model card not found/);
});

t.test('rejects: card that is not JSON', async (t) => {
  const path = variant({});
  writeFileSync(path.replace('.onnx', '.card.json'), '{ not json');
  const err = await FusionModel.load(path).catch((e: unknown) => e);
  t.type(err, ModelCardError);
  t.match((err as Error).message, /not valid JSON/);
});

t.test('rejects: unavailable provider when no fallback is allowed', async (t) => {
  const err = await FusionModel.load(TINY_MODEL, { providers: ['cuda', 'cpu'], requireFirstProvider: true }).catch((e: unknown) => e);
  t.type(err, ProviderUnavailableError);
  t.equal((err as ProviderUnavailableError).code, 'E_PROVIDER_UNAVAILABLE');
  t.match((err as Error).message, /'cuda' is not available: .*not bundled.*SPECTRA_ORT_BINDING/);
  const only = await FusionModel.load(TINY_MODEL, { providers: ['tensorrt'], log: () => undefined }).catch((e: unknown) => e);
  t.type(only, ProviderUnavailableError);
});

function withValue(c: Cube, index: number, value: number): Cube {
  const data = c.data.slice();
  data[index] = value;
  return { ...c, data };
}

t.test('rejects: a cube read without wavelengths, naming the model grid', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = { ...randomCube(8, 8, 8, [0, 1, 2, 3, 4, 5, 6, 7], 1), meta: { wavelengthsFromHeader: false } };
  t.throws(() => model.fuse(lr, randomCube(3, 32, 32, RGB, 2)), { code: 'E_WAVELENGTH', message: /carries no wavelengths .*8 bands, 420\.\.700 nm/ });
});

t.test('rejects: no-data pixels declared by the file', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = withValue({ ...randomCube(8, 8, 8, WL, 1), meta: { dataIgnoreValue: -1 } }, 8 * 8 * 2 + 9, -1);
  t.throws(() => model.fuse(lr, randomCube(3, 32, 32, RGB, 2)), { name: 'NoDataError', code: 'E_NO_DATA', message: /lrhsi holds 1 no-data values \(-1\), first at x=1, y=1 in band 2/ });
});

t.test('rejects: a model band that is entirely no-data (resampling marks it invalid instead); masked HR-MSI pixels', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const base = randomCube(8, 8, 8, WL, 1);
  const data = base.data.slice();
  data.fill(-1, 3 * 64, 4 * 64);
  const lr = { ...base, data, meta: { dataIgnoreValue: -1 } };
  const hr = randomCube(3, 32, 32, RGB, 2);
  t.throws(() => model.fuse(lr, hr), { name: 'NoDataError', message: /lrhsi band\(s\) 3 \(540 nm\) are no-data or marked bad, but the model uses them/ });
  const filled = await model.fuse(lr, hr, { resample: true, quality: false });
  t.same(filled.meta?.bandValid, [true, true, true, false, true, true, true, true], 'the gap is not invented: band 3 is marked invalid');
  t.ok(filled.data.subarray(3 * 32 * 32, 4 * 32 * 32).every((v) => v === 0), 'and written as zeros');
  t.throws(() => model.fuse(base, { ...withValue(hr, 5, 0), meta: { dataIgnoreValue: 0 } }), { code: 'E_NO_DATA', message: /hrmsi holds 1 no-data values \(0\)/ });
});
