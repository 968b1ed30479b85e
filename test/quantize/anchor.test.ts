import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { writeNpy } from '../../sdk/cube/npy';
import { readModelCard } from '../../sdk/core/model-card';
import { loadCalibrationSet } from '../../quantize/calibration-set';
import { SampleRunner } from '../../quantize/ort-runner';
import { compareCubes, meanQuality } from '../../quantize/quality';
import { quantizeModel } from '../../quantize/quantize-model';
import { readModel } from '../../quantize/onnx-proto';
import { NO_REAL_DATA, REPO, TINY_MODEL, realCalibrationDir, scratchDir } from './helpers';

const ANCHOR = join(REPO, '.venv', 'bin', 'spectra-distill');

async function outputs(path: string, samples: Awaited<ReturnType<typeof loadCalibrationSet>>): Promise<Float32Array[]> {
  const runner = await SampleRunner.open(await readFile(path), path);
  const outs: Float32Array[] = [];
  for (const s of samples) outs.push((await runner.run(s, ['hrhsi'])).get('hrhsi') as Float32Array);
  await runner.release();
  return outs;
}

/** The samples as the anchor reads them: `<stem>.lrhsi.npy` / `<stem>.hrmsi.npy` in one folder. */
async function writePairs(samples: Awaited<ReturnType<typeof loadCalibrationSet>>, dir: string): Promise<string> {
  await mkdir(dir);
  for (const [i, s] of samples.entries()) {
    await writeNpy(join(dir, `s${i}.lrhsi.npy`), s.lrhsi);
    await writeNpy(join(dir, `s${i}.hrmsi.npy`), s.hrmsi);
  }
  return dir;
}

t.test('int8 is at least as close to fp32 as onnxruntime quantize_static on the same calibration data', { skip: NO_REAL_DATA || (!existsSync(ANCHOR) && `no ${ANCHOR}`) }, async (t) => {
  const card = await readModelCard(TINY_MODEL.replace(/\.onnx$/, '.card.json'));
  const calib = await realCalibrationDir(32, 2);
  const samples = await loadCalibrationSet(calib, card);
  const work = await scratchDir('spectra-anchor-');
  const pairs = await writePairs(samples, join(work, 'pairs'));
  const anchorPath = join(work, 'anchor.onnx');
  const r = spawnSync(ANCHOR, ['ort-quantize', '--model', TINY_MODEL, '--calib', pairs, '--out', anchorPath], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const oursPath = join(work, 'ours.onnx');
  await quantizeModel(TINY_MODEL, oursPath, { mode: 'int8', calib, progress: false });
  const fp32 = await outputs(TINY_MODEL, samples);
  const fidelity = async (p: string) => meanQuality((await outputs(p, samples)).map((o, i) => compareCubes(o, fp32[i], card.hsi.bands, 'unit'))).psnr;
  const ours = await fidelity(oursPath);
  const anchor = await fidelity(anchorPath);
  t.ok(anchor > 30, `anchor output tracks fp32 (${anchor.toFixed(2)} dB)`);
  t.ok(ours >= anchor, `ours ${ours.toFixed(2)} dB >= anchor ${anchor.toFixed(2)} dB against the fp32 output`);
});

t.test("the anchor's best configuration: Conv/MatMul only, with the nodes our quantizer keeps float excluded", { skip: NO_REAL_DATA || (!existsSync(ANCHOR) && `no ${ANCHOR}`) }, async (t) => {
  const card = await readModelCard(TINY_MODEL.replace(/\.onnx$/, '.card.json'));
  const samples = await loadCalibrationSet(await realCalibrationDir(32, 2), card);
  const work = await scratchDir('spectra-anchor-best-');
  const calib = await writePairs(samples, join(work, 'pairs'));
  const { model } = await readModel(TINY_MODEL);
  const nodes = model.graph?.node ?? [];
  const conv = nodes.filter((n) => n.opType === 'Conv').map((n) => n.name as string);
  const kept = conv.slice(0, 2);
  const out = join(work, 'best.onnx');
  const r = spawnSync(ANCHOR, ['ort-quantize', '--model', TINY_MODEL, '--calib', calib, '--out', out, '--no-preprocess', '--op-types', 'Conv', 'MatMul', '--exclude', ...kept], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const q = (await readModel(out)).model.graph?.node ?? [];
  const producer = new Map(q.flatMap((n) => (n.output ?? []).map((o) => [o, n.opType] as const)));
  const dequantized = (n: (typeof q)[number]): boolean => (n.input ?? []).some((i) => producer.get(i) === 'DequantizeLinear');
  for (const name of kept) {
    const node = q.find((n) => n.name === name);
    t.ok(node && !dequantized(node), `${name} stays float`);
  }
  t.ok(q.filter((n) => n.opType === 'Conv' && !kept.includes(n.name as string)).every(dequantized), 'every other Conv is quantized');
  const bad = spawnSync(ANCHOR, ['ort-quantize', '--model', TINY_MODEL, '--calib', calib, '--out', join(work, 'x.onnx'), '--no-preprocess', '--exclude', 'no-such-node'], { encoding: 'utf8' });
  t.not(bad.status, 0);
  t.match(bad.stderr, /--exclude names no node of the model: no-such-node/);
});
