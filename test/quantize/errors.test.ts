import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { SpectraError } from '../../sdk/core/errors';
import { writeNpy } from '../../sdk/cube/npy';
import { encodeModel, readModel } from '../../quantize/onnx-proto';
import { quantizeModel } from '../../quantize/quantize-model';
import { TINY_MODEL, scratchDir } from './helpers';

const TINY_CARD = TINY_MODEL.replace(/\.onnx$/, '.card.json');

async function workDir(): Promise<string> {
  return scratchDir('spectra-qerr-');
}

async function pair(dir: string, stem: string, hsiBands: number, msiBands: number): Promise<void> {
  const cube = (bands: number, h: number) => ({ bands, height: h, width: h, data: new Float32Array(bands * h * h).fill(0.3), wavelengths: Array.from({ length: bands }, (_, i) => 400 + i) });
  await writeNpy(join(dir, `${stem}.lrhsi.npy`), cube(hsiBands, 8));
  await writeNpy(join(dir, `${stem}.hrmsi.npy`), cube(msiBands, 32));
}

t.test('rejects: model without a card, writes nothing', async (t) => {
  const dir = await workDir();
  await copyFile(TINY_MODEL, join(dir, 'lonely.onnx'));
  const out = join(dir, 'out.onnx');
  await t.rejects(quantizeModel(join(dir, 'lonely.onnx'), out, { mode: 'fp16' }), { code: 'E_MODEL_CARD_MISSING', message: /lonely\.card\.json/ });
  t.equal(existsSync(out), false);
});

t.test('rejects: empty calibration set', async (t) => {
  const calib = await workDir();
  const out = join(await workDir(), 'q.onnx');
  await t.rejects(quantizeModel(TINY_MODEL, out, { mode: 'int8', calib, progress: false }), { code: 'E_CALIB_EMPTY', message: /empty calibration set/ });
  t.equal(existsSync(out), false);
});

t.test('rejects: calibration LR-HSI with the wrong band count, naming the file', async (t) => {
  const calib = await workDir();
  await pair(calib, 'scene1', 5, 3);
  const err = await quantizeModel(TINY_MODEL, join(calib, 'q.onnx'), { mode: 'int8', calib, progress: false }).catch((e: unknown) => e);
  t.ok(err instanceof SpectraError);
  t.match(err, { code: 'E_CALIB_BAND_COUNT', expected: 8, received: 5, message: /scene1\.lrhsi\.npy.*expected 8 bands for lrhsi/ });
  t.same((await readdir(calib)).filter((f) => f.endsWith('.onnx')), [], 'nothing written');
});

t.test('rejects: calibration HR-MSI with the wrong band count', async (t) => {
  const calib = await workDir();
  await pair(calib, 'scene1', 8, 4);
  await t.rejects(quantizeModel(TINY_MODEL, join(calib, 'q.onnx'), { mode: 'int8', calib, progress: false }), { code: 'E_CALIB_BAND_COUNT', input: 'hrmsi' });
});

t.test('rejects: scenes.json scene with the wrong band count and no band table', async (t) => {
  const calib = await workDir();
  await writeNpy(join(calib, 'hr.npy'), { bands: 5, height: 32, width: 32, data: new Float32Array(5 * 32 * 32), wavelengths: [1, 2, 3, 4, 5] });
  await writeFile(join(calib, 'scenes.json'), JSON.stringify({ scenes: [{ path: 'hr.npy', layout: 'chw' }], tile: 32 }));
  await t.rejects(quantizeModel(TINY_MODEL, join(calib, 'q.onnx'), { mode: 'int8', calib, progress: false }), { code: 'E_CALIB_BAND_COUNT', message: /hr\.npy/ });
});

t.test('rejects: unsupported operator, naming op and node', async (t) => {
  const dir = await workDir();
  const { model } = await readModel(TINY_MODEL);
  const nodes = model.graph?.node ?? [];
  const victim = nodes.findIndex((n) => n.opType === 'LeakyRelu');
  nodes[victim] = { ...nodes[victim], opType: 'FancyActivation', name: 'odd_node', attribute: [] };
  await writeFile(join(dir, 'odd.onnx'), encodeModel(model));
  await copyFile(TINY_CARD, join(dir, 'odd.card.json'));
  await t.rejects(quantizeModel(join(dir, 'odd.onnx'), join(dir, 'q.onnx'), { mode: 'fp16' }), { code: 'E_UNSUPPORTED_OP', opType: 'FancyActivation', message: /odd\.onnx.*FancyActivation.*odd_node/ });
  t.equal(existsSync(join(dir, 'q.onnx')), false);
});

t.test('rejects: a file that is not ONNX', async (t) => {
  const dir = await workDir();
  await writeFile(join(dir, 'junk.onnx'), Buffer.from('definitely not protobuf \u00ff\u00ff\u00ff'));
  await copyFile(TINY_CARD, join(dir, 'junk.card.json'));
  await t.rejects(quantizeModel(join(dir, 'junk.onnx'), join(dir, 'q.onnx'), { mode: 'fp16' }), { code: 'E_QUANTIZE_MODEL', message: /junk\.onnx/ });
});

t.test('rejects: a graph that reads an undefined tensor', async (t) => {
  const dir = await workDir();
  const { model } = await readModel(TINY_MODEL);
  (model.graph?.node ?? [])[3].input = ['ghost_tensor'];
  await writeFile(join(dir, 'broken.onnx'), encodeModel(model));
  await copyFile(TINY_CARD, join(dir, 'broken.card.json'));
  await t.rejects(quantizeModel(join(dir, 'broken.onnx'), join(dir, 'q.onnx'), { mode: 'fp16' }), { code: 'E_GRAPH_CHECK', message: /ghost_tensor/ });
});

t.test('rejects: bad options synchronously typed', async (t) => {
  const dir = await workDir();
  await mkdir(join(dir, 'c'));
  await t.rejects(quantizeModel(TINY_MODEL, join(dir, 'q.onnx'), { mode: 'int8' }), TypeError);
  await t.rejects(quantizeModel(TINY_MODEL, join(dir, 'q.onnx'), { mode: 'int8', calib: join(dir, 'c'), percentile: 101 }), RangeError);
  await t.rejects(quantizeModel(TINY_MODEL, join(dir, 'q.onnx'), { mode: 'int8', calib: join(dir, 'c'), method: 'median' as never }), RangeError);
});
