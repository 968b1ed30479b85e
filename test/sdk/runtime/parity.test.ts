import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FusionModel } from '../../../sdk/runtime/fusion-model';
import { readNpy } from '../../../sdk/cube/npy';
import { cropCube } from '../../../sdk/cube/create';
import { psnr } from '../../../sdk/metrics/full-reference';
import { spatialDegrade } from '../../../sdk/spectral/psf';
import { projectSrf } from '../../../sdk/spectral/srf';
import type { Cube } from '../../../sdk/cube/cube';
import { ROOT, SHARED, TINY_MODEL, maxAbsDiff, shippedStudent } from '../helpers';

// The shipped student when models/ has one with a committed reference, else the tiny fixture.
const shipped = shippedStudent();
const shippedName = shipped ? (JSON.parse(readFileSync(shipped.replace(/\.onnx$/, '.card.json'), 'utf8')) as { name: string }).name : undefined;
const useShipped = shippedName !== undefined && existsSync(join(ROOT, 'test', 'fixtures', 'sdk-parity', shippedName, 'meta.json'));
const MODEL = useShipped ? (shipped as string) : TINY_MODEL;
const REF = join(ROOT, 'test', 'fixtures', 'sdk-parity', useShipped ? (shippedName as string) : 'tiny-student');
const meta = JSON.parse(readFileSync(join(REF, 'meta.json'), 'utf8')) as {
  wavelengths_nm: number[];
  crop: { top: number; left: number; size: number };
  scene: string;
};
const SCENE = join(SHARED, meta.scene);
if (shipped !== undefined && !useShipped) {
  t.comment(
    `models/ has ${shippedName} but no reference in test/fixtures/sdk-parity/${shippedName}; generate it with ` +
      `.venv/bin/python test/fixtures/sdk-parity/make_reference.py --model ${shipped} --checkpoint <its checkpoint>`,
  );
}

t.test(`fuses: SDK output on a real CAVE crop equals PyTorch within 1e-4 (${useShipped ? shippedName : 'tiny fixture; no shipped student reference'})`, async (t) => {
  const model = await FusionModel.load(MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const lr = await readNpy(join(REF, 'lrhsi.npy'), { wavelengths: meta.wavelengths_nm });
  const hr = await readNpy(join(REF, 'hrmsi.npy'));
  const ref = await readNpy(join(REF, 'hrhsi.npy'));
  const fused = await model.fuse(lr, { ...hr, wavelengths: hr.wavelengths }, { quality: false });
  const diff = maxAbsDiff(fused.data, ref.data);
  t.ok(diff <= 1e-4, `max abs diff vs PyTorch ${diff.toExponential(2)}`);
});

t.test('degrades: TypeScript PSF blur + decimation and SRF projection equal the host pipeline on the real crop', { skip: !existsSync(SCENE) && `shared data missing: ${SCENE}` }, async (t) => {
  const model = await FusionModel.load(MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const truth = await truthCube(model.card.hsi.wavelengths_nm);
  const lrPy = await readNpy(join(REF, 'lrhsi.npy'));
  const hrPy = await readNpy(join(REF, 'hrmsi.npy'));
  const lr = spatialDegrade(truth, model.card.scale, { kernelSize: model.card.psf.kernel_size, sigma: model.card.psf.sigma });
  const hr = projectSrf(truth, model.card.msi.srf);
  t.ok(maxAbsDiff(lr.data, lrPy.data) <= 1e-6, `PSF: ${maxAbsDiff(lr.data, lrPy.data).toExponential(2)}`);
  t.ok(maxAbsDiff(hr.data, hrPy.data) <= 1e-6, `SRF: ${maxAbsDiff(hr.data, hrPy.data).toExponential(2)}`);
});

t.test('fuses: tiled inference on the real crop scores within 0.06 dB of whole-image inference', { skip: !existsSync(SCENE) && `shared data missing: ${SCENE}` }, async (t) => {
  const model = await FusionModel.load(MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const truth = await truthCube(model.card.hsi.wavelengths_nm);
  const lr = await readNpy(join(REF, 'lrhsi.npy'), { wavelengths: meta.wavelengths_nm });
  const hr = await readNpy(join(REF, 'hrmsi.npy'));
  const whole = await model.fuse(lr, hr, { quality: false });
  const tiled = await model.fuse(lr, hr, { tile: 32, overlap: 16, quality: false }); // 3 x 3 tiles of an 8-px LR grid
  t.ok(tiled.tiles > 1);
  const delta = Math.abs(psnr(tiled, truth) - psnr(whole, truth));
  // 0.03 dB before the spectral back-projection's local gain; it reads the cloth's woven texture as a little noise,
  // and a 32-px tile sees less of that texture near its edges than the whole crop does (0.054 dB)
  t.ok(delta <= 0.06, `PSNR vs truth: whole ${psnr(whole, truth).toFixed(3)} dB, tiled ${psnr(tiled, truth).toFixed(3)} dB, max abs ${maxAbsDiff(tiled.data, whole.data).toExponential(2)}`);
});

async function truthCube(wavelengths: readonly number[]): Promise<Cube> {
  const scene = await readNpy(SCENE, { layout: 'hwc', wavelengths: Array.from({ length: 31 }, (_, i) => 400 + 10 * i) });
  const { top, left, size } = meta.crop;
  const crop = cropCube(scene, top, left, size, size);
  const plane = size * size;
  const data = new Float32Array(wavelengths.length * plane);
  wavelengths.forEach((w, b) => {
    const src = Math.round((w - 400) / 10);
    for (let p = 0; p < plane; p++) data[b * plane + p] = Math.fround(crop.data[src * plane + p] / 65535);
  });
  return { bands: wavelengths.length, height: size, width: size, data, wavelengths };
}
