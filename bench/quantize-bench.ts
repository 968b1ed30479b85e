/**
 * `npm run bench:quantize`: quality and CPU latency of fp32 / fp16 / int8 (ours, several methods and layouts) and
 * of onnxruntime's Python quantize_static anchor, on real scenes from ../shared/data. Writes
 * bench/results/quantize.json and prints a table. A benchmark, not a test: it asserts nothing.
 *
 * Models: every fp32 `models/*.card.json` (shipped students); the tiny test fixture when there is none; plus
 * `--model X.onnx` (repeatable). Options: `--runs N` timing rounds (30), `--hr PX` HR side of the timing input
 * (128), `--variants a,b` subset of variants.
 * Calibration and validation use different scenes. Shipped models whose int8/fp16 versions meet the bounds
 * (fp16 within 0.05 dB; int8 within 0.3 dB and 0.1 deg of fp32 on validation) get them written next to them.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import * as ort from 'onnxruntime-node';
import type { Cube } from '../sdk/cube/cube';
import { writeNpy } from '../sdk/cube/npy';
import { SpectraError } from '../sdk/errors';
import { cardPathFor, readModelCard, type ModelCard } from '../sdk/runtime/model-card';
import { loadCalibrationSet, type CalibrationSample, type SceneEntry } from '../quantize/calibration-set';
import { runFused } from '../quantize/ort-runner';
import { readModel } from '../quantize/onnx-proto';
import { compareCubes, meanQuality, type Quality } from '../quantize/quality';
import { quantizeModel, type QuantizeOptions } from '../quantize/quantize-model';

const REPO = resolve(__dirname, '..');
const DATA = resolve(REPO, '..', 'shared', 'data');
const PYTHON_CLI = join(REPO, '.venv', 'bin', 'spectra-distill');
/** `--flag value` from the command line, or undefined. */
function arg(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Timing rounds (`--runs`); lower it for large students. */
const LATENCY_RUNS = Number(arg('--runs') ?? 30);
/** HR side of the latency input (LR side = this / scale). */
const LATENCY_HR = Number(arg('--hr') ?? 128);

interface CatalogueScene extends SceneEntry {
  id: string;
  /** Card `normalisation.value_scale` key that overrides `value_scale`. */
  dataset: string;
}

/** Real scenes with band tables; dataset ids and value scales as in distill/spectra_distill/datasets/*.yaml. */
const CATALOGUE: CatalogueScene[] = [
  { id: 'samson', dataset: 'samson', path: 'samson/samson_95x95x156_float32.npy', bands_csv: 'samson/samson_bands.csv' },
  { id: 'enmap_cropA', dataset: 'enmap_potsdam', path: 'enmap_potsdam/enmap_potsdam_cropA_rows96-159_cols32-159_64x128x224_int16.npy', value_scale: 10000, bands_csv: 'enmap_potsdam/enmap_potsdam_bands.csv' },
  { id: 'moffett', dataset: 'moffett_field', path: 'moffett_field/moffett_50x50x189_float32.npy', bands_csv: 'moffett_field/moffett_bands.csv', wavelength_column: 'uncertain_center_nm_if_aviris_channel_equals_source_band' },
  { id: 'cave_balloons', dataset: 'cave_kbr', path: 'cave_kbr/cave_balloons_crop_100x100x31_uint16.npy', value_scale: 65535, bands_csv: 'cave_kbr/cave_bands.csv' },
  { id: 'jasper', dataset: 'jasper_ridge', path: 'jasper_ridge/jasper_ridge_100x100x198_uint16.npy', value_scale: 10000, bands_csv: 'jasper_ridge/jasper_ridge_bands.csv', wavelength_column: 'approx_center_wavelength_nm' },
  { id: 'enmap_cropB', dataset: 'enmap_potsdam', path: 'enmap_potsdam/enmap_potsdam_cropB_rows0-63_cols0-95_64x96x224_int16.npy', value_scale: 10000, bands_csv: 'enmap_potsdam/enmap_potsdam_bands.csv' },
  { id: 'salinas_a', dataset: 'salinas_a', path: 'salinas_a/salinas_a_83x86x204_int16.npy', value_scale: 8000, bands_csv: 'salinas_a/salinas_a_bands.csv', wavelength_column: 'center_nm_aviris1995_table' },
  { id: 'cave_chart', dataset: 'cave_kbr', path: 'cave_kbr/cave_chart_and_stuffed_toy_crop_150x150x31_uint16.npy', value_scale: 65535, bands_csv: 'cave_kbr/cave_bands.csv' },
];

interface Variant {
  id: string;
  options?: QuantizeOptions;
  anchor?: true;
}

const VARIANTS: Variant[] = [
  { id: 'fp16', options: { mode: 'fp16' } },
  { id: 'int8-percentile-trt', options: { mode: 'int8', method: 'percentile', profile: 'tensorrt' } },
  { id: 'int8-percentile-cpu', options: { mode: 'int8', method: 'percentile', profile: 'cpu' } },
  { id: 'int8-minmax-trt', options: { mode: 'int8', method: 'minmax', profile: 'tensorrt' } },
  { id: 'int8-entropy-trt', options: { mode: 'int8', method: 'entropy', profile: 'tensorrt' } },
  { id: 'int8-percentile-trt-keep2', options: { mode: 'int8', method: 'percentile', profile: 'tensorrt', keepFloat: 2, sensitivitySamples: 2 } },
  { id: 'ort-quantize_static-percentile', anchor: true },
];

interface Row {
  variant: string;
  /** Where the model was written (not reported). */
  path: string;
  file: string;
  bytes: number;
  validation: Quality;
  psnrDeltaDb: number;
  samDeltaDeg: number;
  fidelityPsnr: number;
  latencyMs: { median: number; p90: number };
  breakdown: { ops: Record<string, number>; kernelMsPerRun: Record<string, number> };
  quantizeSeconds?: number;
  meetsBounds?: boolean;
  note?: string;
}

/**
 * Scenes that can be brought onto the card's bands (the SDK resampler refuses bands outside a scene's coverage),
 * split alternately into calibration and validation.
 */
async function sceneSets(card: ModelCard, work: string): Promise<{ calib: string; val: string; calibIds: string[]; valIds: string[]; skipped: string[] }> {
  const vs = (card.normalisation?.value_scale ?? {}) as Record<string, number>;
  const entry = (s: CatalogueScene): SceneEntry => ({
    path: join(DATA, s.path),
    bands_csv: join(DATA, s.bands_csv ?? ''),
    value_scale: vs[s.dataset] ?? s.value_scale ?? 1,
    ...(s.wavelength_column ? { wavelength_column: s.wavelength_column } : {}),
  });
  const usable: CatalogueScene[] = [];
  const skipped: string[] = [];
  for (const scene of CATALOGUE) {
    const probe = join(work, `probe-${scene.id}`);
    await mkdir(probe, { recursive: true });
    await writeFile(join(probe, 'scenes.json'), JSON.stringify({ scenes: [entry(scene)], tile: card.scale * (card.spatial_multiple ?? 1) }));
    try {
      await loadCalibrationSet(probe, card, { maxSamples: 1 });
      usable.push(scene);
    } catch (err) {
      if (!(err instanceof SpectraError)) throw err;
      skipped.push(`${scene.id}: ${err.message}`);
    }
  }
  // Scenes of one dataset sit next to each other before alternating, so a dataset with two scenes lands in both sets.
  usable.sort((a, b) => a.dataset.localeCompare(b.dataset));
  const calibScenes = usable.filter((_, i) => i % 2 === 0);
  const valScenes = usable.filter((_, i) => i % 2 === 1);
  // Small calibration tiles give more samples from few scenes; validation tiles are larger (more context per tile).
  const unit = card.scale * (card.spatial_multiple ?? 1);
  const tileOf = (px: number): number => unit * Math.max(1, Math.floor(px / unit));
  const calib = join(work, 'calib');
  const val = join(work, 'val');
  await mkdir(calib, { recursive: true });
  await mkdir(val, { recursive: true });
  await writeFile(join(calib, 'scenes.json'), JSON.stringify({ scenes: calibScenes.map(entry), tile: tileOf(32), tiles_per_scene: 6 }, null, 2));
  await writeFile(join(val, 'scenes.json'), JSON.stringify({ scenes: valScenes.map(entry), tile: tileOf(48), tiles_per_scene: 6 }, null, 2));
  return { calib, val, calibIds: calibScenes.map((s) => s.id), valIds: valScenes.map((s) => s.id), skipped };
}

/** A cube mirror-tiled to `height` x `width` (real texture at a size fit for timing). */
function mirrorTile(cube: Cube, height: number, width: number): Cube {
  const data = new Float32Array(cube.bands * height * width);
  const fold = (i: number, n: number): number => {
    const m = i % (2 * n);
    return m < n ? m : 2 * n - 1 - m;
  };
  for (let b = 0; b < cube.bands; b++) {
    for (let y = 0; y < height; y++) {
      const sy = fold(y, cube.height);
      for (let x = 0; x < width; x++) data[(b * height + y) * width + x] = cube.data[(b * cube.height + sy) * cube.width + fold(x, cube.width)];
    }
  }
  return { ...cube, height, width, data };
}

function feedsOf(sample: CalibrationSample): Record<string, ort.Tensor> {
  return {
    lrhsi: new ort.Tensor('float32', sample.lrhsi.data, [1, sample.lrhsi.bands, sample.lrhsi.height, sample.lrhsi.width]),
    hrmsi: new ort.Tensor('float32', sample.hrmsi.data, [1, sample.hrmsi.bands, sample.hrmsi.height, sample.hrmsi.width]),
  };
}

/**
 * Median and p90 latency of session.run per model, one intra-op thread each. The machine is shared, so runs are
 * interleaved round-robin across the models: a burst of load from elsewhere hits every model alike.
 */
async function latencies(paths: readonly string[], sample: CalibrationSample): Promise<{ median: number; p90: number }[]> {
  const sessions = [];
  for (const p of paths) sessions.push(await ort.InferenceSession.create(p, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' }));
  const feeds = feedsOf(sample);
  for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds);
  const times: number[][] = sessions.map(() => []);
  const bar = new SingleBar({ format: 'timing [{bar}] {value}/{total} rounds', hideCursor: true }, Presets.shades_classic);
  bar.start(LATENCY_RUNS, 0);
  for (let r = 0; r < LATENCY_RUNS; r++) {
    for (const [k, s] of sessions.entries()) {
      const t0 = process.hrtime.bigint();
      await s.run(feeds);
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    bar.increment();
  }
  bar.stop();
  for (const s of sessions) await s.release();
  return times.map((t) => {
    t.sort((x, y) => x - y);
    return { median: t[Math.floor(t.length / 2)], p90: t[Math.floor(t.length * 0.9)] };
  });
}

/**
 * Why a variant is as fast as it is: the operators onnxruntime actually runs after its graph optimizations (QDQ
 * fusions such as QLinearConv show up here) and the kernel time per operator type from its profiler.
 */
async function kernelBreakdown(path: string, sample: CalibrationSample, work: string): Promise<{ ops: Record<string, number>; kernelMsPerRun: Record<string, number> }> {
  const prefix = join(work, `profile-${basename(path, '.onnx')}`);
  const optimized = join(work, `optimized-${basename(path)}`);
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, enableProfiling: true, profileFilePrefix: prefix, optimizedModelFilePath: optimized, logSeverityLevel: 3 });
  const runs = 5;
  const feeds = feedsOf(sample);
  for (let i = 0; i < runs; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const ops: Record<string, number> = {};
  for (const n of (await readModel(optimized)).model.graph?.node ?? []) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  const file = (await readdir(work)).filter((f) => f.startsWith(basename(prefix)) && f.endsWith('.json')).sort().pop();
  const times: Record<string, number> = {};
  if (file) {
    const events = JSON.parse(await readFile(join(work, file), 'utf8')) as { cat?: string; name?: string; dur?: number; args?: { op_name?: string } }[];
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name) continue;
      times[e.args.op_name] = (times[e.args.op_name] ?? 0) + (e.dur ?? 0) / 1000 / runs;
    }
  }
  const top = Object.fromEntries(Object.entries(times).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => [k, +v.toFixed(3)]));
  return { ops: Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1])), kernelMsPerRun: top };
}

async function benchModel(modelPath: string, shipped: boolean): Promise<Record<string, unknown>> {
  const card = await readModelCard(cardPathFor(modelPath));
  const work = await mkdtemp(join(tmpdir(), 'spectra-qbench-'));
  const sets = await sceneSets(card, work);
  const calibSamples = await loadCalibrationSet(sets.calib, card);
  const valSamples = await loadCalibrationSet(sets.val, card);
  const pairs = join(work, 'pairs');
  await mkdir(pairs);
  for (const [i, s] of calibSamples.entries()) {
    await writeNpy(join(pairs, `s${String(i).padStart(3, '0')}.lrhsi.npy`), s.lrhsi);
    await writeNpy(join(pairs, `s${String(i).padStart(3, '0')}.hrmsi.npy`), s.hrmsi);
  }
  const bands = card.hsi.bands;
  const gt = valSamples.map((s) => s.hrhsi?.data as Float32Array);
  const fp32Out = await runFused(await readFile(modelPath), modelPath, valSamples);
  const fp32 = meanQuality(fp32Out.map((o, i) => compareCubes(o, gt[i], bands)));
  const unit = card.scale * (card.spatial_multiple ?? 1);
  const hr = Math.max(unit, Math.round(LATENCY_HR / unit) * unit);
  const lr = hr / card.scale;
  const big: CalibrationSample = { name: 'latency', lrhsi: mirrorTile(valSamples[0].lrhsi, lr, lr), hrmsi: mirrorTile(valSamples[0].hrmsi, hr, hr) };
  const rows: Row[] = [
    {
      variant: 'fp32',
      path: modelPath,
      file: basename(modelPath),
      bytes: (await readFile(modelPath)).byteLength,
      validation: fp32,
      psnrDeltaDb: 0,
      samDeltaDeg: 0,
      fidelityPsnr: 100,
      latencyMs: { median: NaN, p90: NaN },
      breakdown: await kernelBreakdown(modelPath, big, work),
    },
  ];
  const name = basename(modelPath, '.onnx');
  // `--variants fp16,int8-percentile-trt` limits the run (the sensitivity variant costs one run per layer).
  const only = arg('--variants')?.split(',');
  for (const v of VARIANTS.filter((x) => !only || only.includes(x.id))) {
    const dir = join(work, v.id);
    await mkdir(dir);
    const suffix = v.options?.mode ?? 'int8';
    const out = join(dir, `${name}.${suffix}.onnx`);
    const t0 = Date.now();
    let note: string | undefined;
    if (v.anchor) {
      const r = spawnSync(PYTHON_CLI, ['ort-quantize', '--model', modelPath, '--calib', pairs, '--out', out, '--method', 'percentile'], { encoding: 'utf8' });
      if (r.status !== 0) {
        process.stderr.write(`anchor failed: ${r.stderr}\n`);
        continue;
      }
      note = 'onnxruntime.quantization.quantize_static, QDQ, per-channel, symmetric int8, Percentile 99.99, quant_pre_process';
    } else {
      process.stderr.write(`quantizing ${name} -> ${v.id}\n`);
      await quantizeModel(modelPath, out, { ...(v.options as QuantizeOptions), calib: sets.calib });
    }
    const seconds = (Date.now() - t0) / 1000;
    const outs = await runFused(await readFile(out), out, valSamples);
    const q = meanQuality(outs.map((o, i) => compareCubes(o, gt[i], bands)));
    const fidelity = meanQuality(outs.map((o, i) => compareCubes(o, fp32Out[i], bands, 'unit')));
    const psnrDeltaDb = q.psnr - fp32.psnr;
    const samDeltaDeg = q.sam - fp32.sam;
    const meetsBounds = suffix === 'fp16' ? Math.abs(psnrDeltaDb) <= 0.05 : Math.abs(psnrDeltaDb) <= 0.3 && Math.abs(samDeltaDeg) <= 0.1;
    rows.push({
      variant: v.id,
      path: out,
      file: basename(out),
      bytes: (await readFile(out)).byteLength,
      validation: q,
      psnrDeltaDb,
      samDeltaDeg,
      fidelityPsnr: fidelity.psnr,
      latencyMs: { median: NaN, p90: NaN },
      breakdown: await kernelBreakdown(out, big, work),
      quantizeSeconds: seconds,
      meetsBounds,
      ...(note ? { note } : {}),
    });
    if (shipped && meetsBounds && !process.argv.includes('--no-ship') && (v.id === 'fp16' || v.id === 'int8-percentile-trt')) {
      for (const f of await readdir(dir)) await copyFile(join(dir, f), join(resolve(modelPath, '..'), f));
      process.stderr.write(`wrote ${v.id} of ${name} next to the model (bounds met)\n`);
    }
  }
  const timed = await latencies(rows.map((r) => r.path), big);
  rows.forEach((r, k) => (r.latencyMs = timed[k]));
  // The models and the latency input are kept (ignored path) so a quiet machine can re-time them
  // with quantize/device-latency.py, the same onnxruntime version through Python.
  const keep = join(REPO, 'out', 'quantize-bench', name);
  await rm(keep, { recursive: true, force: true });
  await mkdir(keep, { recursive: true });
  for (const r of rows) await copyFile(r.path, join(keep, `${r.variant}.onnx`));
  await writeNpy(join(keep, 'latency.lrhsi.npy'), big.lrhsi);
  await writeNpy(join(keep, 'latency.hrmsi.npy'), big.hrmsi);
  await rm(work, { recursive: true, force: true });
  return {
    model: modelPath.startsWith(REPO) ? modelPath.slice(REPO.length + 1) : modelPath,
    shipped,
    bands,
    calibration: { scenes: sets.calibIds, samples: calibSamples.length, tile_hr: calibSamples[0].hrmsi.height },
    validation: { scenes: sets.valIds, samples: valSamples.length, tile_hr: valSamples[0].hrmsi.height },
    skipped_scenes: sets.skipped,
    latency_input: { lrhsi: [1, big.lrhsi.bands, big.lrhsi.height, big.lrhsi.width], hrmsi: [1, big.hrmsi.bands, big.hrmsi.height, big.hrmsi.width], threads: 1, runs: LATENCY_RUNS },
    rows: rows.map(({ path: _path, ...rest }) => rest),
  };
}

async function main(): Promise<void> {
  const modelsDir = join(REPO, 'models');
  const shipped = existsSync(modelsDir)
    ? (await readdir(modelsDir)).filter((f) => f.endsWith('.onnx') && !/\.(int8|fp16)\.onnx$/.test(f) && existsSync(join(modelsDir, f.replace(/\.onnx$/, '.card.json'))))
    : [];
  // `npm run bench:quantize -- --model a.onnx` adds models (e.g. a larger untrained preset for timing).
  const explicit = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--model' ? [{ path: resolve(a), shipped: false }] : []));
  const base = shipped.length > 0 ? shipped.map((f) => ({ path: join(modelsDir, f), shipped: true })) : [{ path: join(REPO, 'test', 'fixtures', 'tiny', 'tiny-student.onnx'), shipped: false }];
  const targets = [...base, ...explicit];
  if (shipped.length === 0) process.stderr.write('no shipped student in models/; benchmarking the tiny test fixture (random weights)\n');
  const results: Record<string, unknown>[] = [];
  for (const t of targets) {
    try {
      results.push(await benchModel(t.path, t.shipped));
    } catch (err) {
      // One model without usable scenes (e.g. no real scene covers its band grid) must not hide the others.
      if (!(err instanceof SpectraError)) throw err;
      process.stderr.write(`skipped ${t.path}: ${err.message}\n`);
      results.push({ model: t.path, skipped: err.message, rows: [] });
    }
  }
  const report = { created: new Date().toISOString(), node: process.version, cpu: (await import('node:os')).cpus()[0]?.model, command: 'npm run bench:quantize', results };
  await mkdir(join(REPO, 'bench', 'results'), { recursive: true });
  await writeFile(join(REPO, 'bench', 'results', 'quantize.json'), `${JSON.stringify(report, null, 2)}\n`);
  for (const r of results) {
    process.stdout.write(`\n${String(r.model)} (calibration ${JSON.stringify(r.calibration)}, validation ${JSON.stringify(r.validation)})\n`);
    process.stdout.write('variant                         PSNR dB   dPSNR    SAM deg  dSAM    vs-fp32 dB  ms(median/p90)   size KB  bounds\n');
    for (const row of r.rows as Row[]) {
      process.stdout.write(
        `${row.variant.padEnd(31)} ${row.validation.psnr.toFixed(3).padStart(7)} ${row.psnrDeltaDb.toFixed(3).padStart(7)} ${row.validation.sam.toFixed(3).padStart(9)} ${row.samDeltaDeg.toFixed(3).padStart(6)} ${row.fidelityPsnr.toFixed(2).padStart(10)}  ${row.latencyMs.median.toFixed(1).padStart(6)}/${row.latencyMs.p90.toFixed(1).padEnd(7)} ${(row.bytes / 1024).toFixed(0).padStart(8)}  ${row.meetsBounds === undefined ? '-' : row.meetsBounds ? 'yes' : 'NO'}\n`,
      );
    }
  }
  process.stdout.write('\nwrote bench/results/quantize.json\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
