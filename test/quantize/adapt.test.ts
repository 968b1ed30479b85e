/**
 * `spectra adapt`: a student fine-tuned on one capture by the host, with the capture read exactly as `fuse` reads
 * it (here an LR-HSI on another band grid that covers only part of the model's), and nothing written on failure.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import t from 'tap';
import type { Cube } from '../../sdk/cube/cube';
import { writeNpy } from '../../sdk/cube/npy';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import { spatialDegrade } from '../../sdk/spectral/psf';
import { projectSrf } from '../../sdk/spectral/srf';
import { adaptToCapture } from '../../quantize/adapt';
import { AdaptError } from '../../quantize/errors';
import { NO_PYTHON_ONNX, REPO, TINY_MODEL, scratchDir } from './helpers';

const TINY_FILES = ['tiny-student.onnx', 'tiny-student.card.json', 'tiny-student.weights.pt'];

/** A smooth scene of `bands` bands at `wavelengths`, 64 x 64 HR pixels, in 0..1. */
function scene(wavelengths: number[]): Cube {
  const H = 64;
  const data = new Float32Array(wavelengths.length * H * H);
  wavelengths.forEach((w, b) => {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < H; x++) data[(b * H + y) * H + x] = 0.3 + 0.2 * Math.sin(x / 5 + w / 90) * Math.cos(y / 7 - w / 150) + 0.1 * Math.sin((x + y) / 3);
    }
  });
  return { bands: wavelengths.length, height: H, width: H, wavelengths, data };
}

/** A copy of the tiny fixture in its own folder, so a test can break it. */
async function tinyCopy(): Promise<string> {
  const dir = await scratchDir('spectra-adapt-model-');
  for (const f of TINY_FILES) copyFileSync(join(REPO, 'test', 'fixtures', 'tiny', f), join(dir, f));
  return join(dir, 'tiny-student.onnx');
}

t.test('spectra adapt: a capture on another, partial band grid is read as fuse reads it and the student is fine-tuned on the covered bands', { skip: NO_PYTHON_ONNX }, async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const dir = await scratchDir('spectra-adapt-');
  // The camera's HSI samples 400-620 nm every 20 nm: the model's bands beyond it are not covered.
  const cameraGrid = Array.from({ length: 12 }, (_, i) => 400 + 20 * i);
  const truth = scene(model.card.hsi.wavelengths_nm);
  const lr = spatialDegrade(scene(cameraGrid), model.card.scale, { kernelSize: model.card.psf.kernel_size, sigma: model.card.psf.sigma });
  await writeNpy(join(dir, 'cap.lrhsi.npy'), lr);
  await writeNpy(join(dir, 'cap.hrmsi.npy'), projectSrf(truth, model.card.msi.srf));
  const expected = model.bandCoverage({ ...lr, wavelengths: cameraGrid }, { resample: true });
  t.ok(expected.includes(false) && expected.includes(true), 'the capture covers only part of the model grid');
  const out = join(dir, 'tiny-mycam.onnx');
  const args = ['adapt', '--model', TINY_MODEL, '--lrhsi', join(dir, 'cap.lrhsi.npy'), '--hrmsi', join(dir, 'cap.hrmsi.npy')];
  args.push('--lrhsi-wavelengths', '400:620:20', '--resample', '--steps', '40', '--lr', '1e-3', '--out', out, '--json');
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'spectra.js'), ...args], { encoding: 'utf8', cwd: REPO });
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { onnx: string; companions: string[]; consistencyBefore: { spatial: number }; consistencyAfter: { spatial: number } };
  t.equal(report.onnx, out);
  t.same(report.companions.map((p) => basename(p)), ['tiny-mycam.weights.pt'], 'the adapted weights are written beside it (the tiny student has no statistics graph)');
  t.ok(report.consistencyAfter.spatial > report.consistencyBefore.spatial + 1, `spatial consistency improves: ${report.consistencyBefore.spatial.toFixed(2)} -> ${report.consistencyAfter.spatial.toFixed(2)} dB`);
  const card = JSON.parse(readFileSync(join(dir, 'tiny-mycam.card.json'), 'utf8')) as { training: { adaptation: Record<string, unknown> }; weights: { file: string } };
  t.same(card.training.adaptation.band_valid, expected, 'adapted on exactly the bands fuse would fill');
  t.match(card.training.adaptation.source, { lrhsi: join(dir, 'cap.lrhsi.npy') });
  t.equal((card.training.adaptation.config as { steps: number }).steps, 40);
  const adapted = await FusionModel.load(out, { providers: ['cpu'] });
  t.teardown(() => adapted.release());
  const fused = await adapted.fuse({ ...lr, wavelengths: cameraGrid }, projectSrf(truth, model.card.msi.srf), { resample: true });
  t.same(fused.meta?.bandValid, expected, 'the adapted model fuses the same capture, marking the same bands');
  t.same(readdirSync(dir).filter((f) => f.startsWith('.adapt-')), [], 'the work folder is gone');
});

t.test('spectra adapt: typed errors, and nothing written, for missing or altered weights, an existing output and a failing host', async (t) => {
  const model = await FusionModel.load(TINY_MODEL, { providers: ['cpu'] });
  t.teardown(() => model.release());
  const truth = scene(model.card.hsi.wavelengths_nm);
  const inputs = model.networkInputs(spatialDegrade(truth, 4, { kernelSize: model.card.psf.kernel_size, sigma: model.card.psf.sigma }), projectSrf(truth, model.card.msi.srf));
  const outDir = await scratchDir('spectra-adapt-out-');
  const out = join(outDir, 'adapted.onnx');

  const noWeights = await tinyCopy();
  const cardPath = noWeights.replace(/\.onnx$/, '.card.json');
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>;
  delete card.weights;
  writeFileSync(cardPath, JSON.stringify(card));
  await t.rejects(adaptToCapture(noWeights, inputs, out), { code: 'E_ADAPT', message: /names no PyTorch weights.*spectra-distill export/ });

  const altered = await tinyCopy();
  writeFileSync(altered.replace(/\.onnx$/, '.weights.pt'), Buffer.concat([readFileSync(altered.replace(/\.onnx$/, '.weights.pt')), Buffer.from([0])]));
  await t.rejects(adaptToCapture(altered, inputs, out), { code: 'E_ADAPT', message: /is not the card's.*re-export/ });

  const existing = join(outDir, 'exists.onnx');
  writeFileSync(existing, 'mine');
  await t.rejects(adaptToCapture(await tinyCopy(), inputs, existing), { code: 'E_ADAPT', message: /already exists/ });
  t.equal(readFileSync(existing, 'utf8'), 'mine', 'an existing file is left alone');

  const err = await adaptToCapture(await tinyCopy(), inputs, out, { python: '/bin/false' }).catch((e: unknown) => e);
  t.type(err, AdaptError);
  t.match((err as Error).message, /spectra-distill adapt failed \(exit 1\)/);
  await t.rejects(adaptToCapture(await tinyCopy(), inputs, out, { python: join(outDir, 'no-such-python') }), { code: 'E_ADAPT', message: /cannot start the host Python/ });
  t.same(readdirSync(outDir), ['exists.onnx'], 'no model, card, weights or work folder was written');
  t.notOk(existsSync(out));
});
