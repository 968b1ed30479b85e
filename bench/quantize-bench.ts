/**
 * `npm run bench:quantize`: quality and CPU latency of fp32 / fp16 / int8 (ours: several methods, the CPU layout,
 * and a keep-float-N sweep over one sensitivity ranking) and of onnxruntime's Python quantize_static anchor.
 * Writes results/bench/quantize.json and prints a table. A benchmark, not a test: it asserts only that the data
 * is honest (calibration and validation pixels disjoint).
 *
 * Data: the model card's datasets under the project split (`distill/spectra_distill/splits/*.yaml`), simulated
 * by the host (`spectra-distill split-pairs`): calibration = tiles of the TRAINING regions, quality = the whole
 * VALIDATION regions. Bands the model never learnt or a scene does not support, and nodata pixels, are not scored.
 *
 * Models: `--model X.onnx` (repeatable; each needs its card), else every fp32 `models/*.onnx` with a card.
 * Options: `--runs N` timing rounds (30), `--hr PX` HR side of the timing input (128), `--tile PX` calibration
 * tile (32), `--variants a,b` subset (`sweep` for the keep-float sweep), `--sweep 1,2,4,...` keep-float N to try
 * when all-int8 misses the bounds (stops at the first that meets them), `--no-ship`.
 * Bounds: fp16 within 0.05 dB; int8 within 0.3 dB and 0.1 deg of fp32 on the mean over validation regions AND no
 * dataset worse than fp32 by more than that. Shipped models get the fp16 and the int8 (all-int8, else the smallest
 * keep-float N) that meet them written next to them; a stale variant that no longer does is removed.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import * as ort from 'onnxruntime-node';
import type { Cube } from '../sdk/cube/cube';
import { writeNpy } from '../sdk/cube/npy';
import { SpectraError } from '../sdk/core/errors';
import { cardPathFor, readModelCard } from '../sdk/core/model-card';
import { loadCalibrationSet, type CalibrationSample, type RegionsManifest } from '../quantize/calibration-set';
import { runFused, sampleFeeds, withFrameStatistics } from '../quantize/ort-runner';
import { readModel } from '../quantize/onnx-proto';
import { compareCubes, meanQuality, type Quality } from '../quantize/quality';
import { quantizeModel, type LayerSensitivity, type QuantizeOptions } from '../quantize/quantize-model';
import { DEFAULT_LOAD_OPTIONS } from '../sdk/runtime/options';
import { hostPython } from '../cli/paths';
import { assertDisjointSamples, writeSplitPairs } from '../quantize/split-pairs';

const REPO = resolve(__dirname, '..');
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
/** HR side of the calibration tiles cut from the training regions (the RS training patch size). */
const CALIB_TILE = Number(arg('--tile') ?? 32);
/** keep-float N tried in order; the sweep stops at the first N that meets the int8 bounds. */
const SWEEP = (arg('--sweep') ?? '1,2,4,8,16,32,48,64').split(',').map(Number);
const BOUNDS = { fp16Db: 0.05, int8Db: 0.3, int8Deg: 0.1 };

interface Variant {
  id: string;
  options?: QuantizeOptions;
  anchor?: true;
}

/** Fixed variants; the keep-float sweep (`int8-percentile-trt-keepN`) is added per model. */
const VARIANTS: Variant[] = [
  { id: 'fp16', options: { mode: 'fp16' } },
  { id: 'int8-percentile-trt', options: { mode: 'int8', method: 'percentile', profile: 'tensorrt' } },
  { id: 'int8-percentile-cpu', options: { mode: 'int8', method: 'percentile', profile: 'cpu' } },
  { id: 'int8-minmax-trt', options: { mode: 'int8', method: 'minmax', profile: 'tensorrt' } },
  { id: 'int8-entropy-trt', options: { mode: 'int8', method: 'entropy', profile: 'tensorrt' } },
  { id: 'ort-quantize_static-percentile', anchor: true },
];

interface Row {
  variant: string;
  /** Where the model was written (not reported). */
  path: string;
  file: string;
  bytes: number;
  validation: Quality;
  /** Per dataset, on its validation regions. */
  perDataset: Record<string, Quality>;
  /** Mean over validation regions, quantized minus fp32. */
  psnrDeltaDb: number;
  samDeltaDeg: number;
  /** The worst dataset: lowest PSNR delta and highest SAM delta over datasets (may come from two datasets). */
  worstDataset: { psnrDeltaDb: number; samDeltaDeg: number };
  fidelityPsnr: number;
  /** Timed rows only: the fixed variants and the chosen keep-float N (not every step of the sweep). */
  latencyMs?: { median: number; p90: number };
  breakdown?: { ops: Record<string, number>; kernelMsPerRun: Record<string, number> };
  quantizeSeconds?: number;
  keptFloat?: number;
  meetsBounds?: boolean;
  /** Stricter reading: every dataset within the bound in both directions (|delta| per dataset). */
  meetsStrict?: boolean;
  note?: string;
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


/**
 * Median and p90 latency of session.run per model, one intra-op thread each. The machine is shared, so runs are
 * interleaved round-robin across the models: a burst of load from elsewhere hits every model alike.
 */
async function latencies(paths: readonly string[], sample: CalibrationSample): Promise<{ median: number; p90: number }[]> {
  const sessions = [];
  for (const p of paths) sessions.push(await ort.InferenceSession.create(p, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: DEFAULT_LOAD_OPTIONS.graphOptimizationLevel }));
  const feeds = sampleFeeds(sample);
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
  const feeds = sampleFeeds(sample);
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

/** Quality of outputs against ground truth on the validation samples: overall (mean over regions) and per dataset. */
function scoreOutputs(outs: readonly Float32Array[], val: readonly CalibrationSample[], bands: number): { all: Quality; perDataset: Record<string, Quality> } {
  const each = outs.map((o, i) => compareCubes(o, val[i].hrhsi?.data as Float32Array, bands, 'band_max', val[i]));
  const groups = new Map<string, Quality[]>();
  val.forEach((s, i) => groups.set(s.region?.dataset ?? '?', [...(groups.get(s.region?.dataset ?? '?') ?? []), each[i]]));
  return { all: meanQuality(each), perDataset: Object.fromEntries([...groups].map(([k, v]) => [k, meanQuality(v)])) };
}

function describeRegions(m: RegionsManifest): { scene: string; window: number[]; scored_bands: number; valid_fraction: number }[] {
  return m.samples.map((s) => ({ scene: s.scene, window: s.window, scored_bands: s.scored_bands, valid_fraction: s.valid_fraction }));
}

async function benchModel(modelPath: string, shipped: boolean): Promise<Record<string, unknown>> {
  const card = await readModelCard(cardPathFor(modelPath));
  const work = await mkdtemp(join(tmpdir(), 'spectra-qbench-'));
  const calibDir = join(work, 'train');
  const valDir = join(work, 'val');
  const calibRegions = await writeSplitPairs(modelPath, 'train', calibDir, { tile: CALIB_TILE, tilesPerRegion: 6, python: hostPython() });
  const valRegions = await writeSplitPairs(modelPath, 'val', valDir, { python: hostPython() });
  const calibSamples = await withFrameStatistics(modelPath, card, await loadCalibrationSet(calibDir, card));
  const valSamples = await withFrameStatistics(modelPath, card, await loadCalibrationSet(valDir, card));
  // The honesty check of this bench: no calibration pixel is a validation pixel (throws SplitOverlapError).
  assertDisjointSamples(calibSamples, valSamples, valDir);
  process.stderr.write(
    `${basename(modelPath)}: calibration ${calibSamples.length} tiles of split '${calibRegions.split}' training regions (${[...new Set(calibRegions.samples.map((s) => s.scene))].join(', ')}); validation ${valSamples.length} regions (${valRegions.samples.map((s) => `${s.scene} [${s.window.join(',')}]`).join('; ')}); disjoint\n`,
  );
  const bands = card.hsi.bands;
  const fp32Out = await runFused(await readFile(modelPath), modelPath, valSamples);
  const fp32 = scoreOutputs(fp32Out, valSamples, bands);
  const unit = card.spatial_multiple ?? card.scale;
  const hr = Math.max(unit, Math.round(LATENCY_HR / unit) * unit);
  const lr = hr / card.scale;
  const [big] = await withFrameStatistics(modelPath, card, [{ name: 'latency', lrhsi: mirrorTile(valSamples[0].lrhsi, lr, lr), hrmsi: mirrorTile(valSamples[0].hrmsi, hr, hr) }]);
  const rows: Row[] = [
    {
      variant: 'fp32',
      path: modelPath,
      file: basename(modelPath),
      bytes: (await readFile(modelPath)).byteLength,
      validation: fp32.all,
      perDataset: fp32.perDataset,
      psnrDeltaDb: 0,
      samDeltaDeg: 0,
      worstDataset: { psnrDeltaDb: 0, samDeltaDeg: 0 },
      fidelityPsnr: 100,
    },
  ];
  const name = basename(modelPath, '.onnx');

  const measure = async (variant: Variant, out: string, seconds: number, extra: Partial<Row>): Promise<Row> => {
    const outs = await runFused(await readFile(out), out, valSamples);
    const q = scoreOutputs(outs, valSamples, bands);
    const fidelity = meanQuality(outs.map((o, i) => compareCubes(o, fp32Out[i], bands, 'unit', valSamples[i])));
    const psnrDeltaDb = q.all.psnr - fp32.all.psnr;
    const samDeltaDeg = q.all.sam - fp32.all.sam;
    const fp16 = variant.options?.mode === 'fp16';
    const perDs = Object.entries(q.perDataset).map(([k, v]) => ({ psnr: v.psnr - fp32.perDataset[k].psnr, sam: v.sam - fp32.perDataset[k].sam }));
    const worstDataset = { psnrDeltaDb: Math.min(...perDs.map((d) => d.psnr)), samDeltaDeg: Math.max(...perDs.map((d) => d.sam)) };
    const meetsStrict = perDs.every((d) => (fp16 ? Math.abs(d.psnr) <= BOUNDS.fp16Db : Math.abs(d.psnr) <= BOUNDS.int8Db && Math.abs(d.sam) <= BOUNDS.int8Deg));
    // Within the bound on the mean, and no dataset worse than fp32 by more than it: a gain on one scene must not
    // hide a loss on another (one-sided per dataset, so a quantized model better than fp32 somewhere is no failure).
    const meetsBounds = fp16
      ? Math.abs(psnrDeltaDb) <= BOUNDS.fp16Db && worstDataset.psnrDeltaDb >= -BOUNDS.fp16Db
      : Math.abs(psnrDeltaDb) <= BOUNDS.int8Db && Math.abs(samDeltaDeg) <= BOUNDS.int8Deg && worstDataset.psnrDeltaDb >= -BOUNDS.int8Db && worstDataset.samDeltaDeg <= BOUNDS.int8Deg;
    const row: Row = {
      variant: variant.id,
      path: out,
      file: basename(out),
      bytes: (await readFile(out)).byteLength,
      validation: q.all,
      perDataset: q.perDataset,
      psnrDeltaDb,
      samDeltaDeg,
      worstDataset,
      fidelityPsnr: fidelity.psnr,
      quantizeSeconds: seconds,
      meetsBounds,
      meetsStrict,
      ...extra,
    };
    rows.push(row);
    return row;
  };

  // `--variants fp16,int8-percentile-trt` limits the run.
  const only = arg('--variants')?.split(',');
  for (const v of VARIANTS.filter((x) => !only || only.includes(x.id))) {
    const dir = join(work, v.id);
    await mkdir(dir);
    const out = join(dir, `${name}.${v.options?.mode ?? 'int8'}.onnx`);
    const t0 = Date.now();
    if (v.anchor) {
      // The anchor reads the same calibration pairs (it ignores regions.json and the ground truth).
      const r = spawnSync(PYTHON_CLI, ['ort-quantize', '--model', modelPath, '--calib', calibDir, '--out', out, '--method', 'percentile'], { encoding: 'utf8' });
      if (r.status !== 0) {
        process.stderr.write(`anchor failed: ${r.stderr}\n`);
        continue;
      }
      await measure(v, out, (Date.now() - t0) / 1000, { note: 'onnxruntime.quantization.quantize_static, QDQ, per-channel, symmetric int8, Percentile 99.99, quant_pre_process' });
    } else {
      process.stderr.write(`quantizing ${name} -> ${v.id}\n`);
      await quantizeModel(modelPath, out, { ...(v.options as QuantizeOptions), calib: calibDir, evalDir: valDir, progress: false });
      await measure(v, out, (Date.now() - t0) / 1000, v.options?.mode === 'int8' ? { keptFloat: 0 } : {});
    }
  }

  // One sensitivity ranking (on calibration tiles only), then keep the N worst layers in float for growing N.
  let ranking: LayerSensitivity[] = [];
  let scopeLayers: string[] = [];
  const allInt8 = rows.find((r) => r.variant === 'int8-percentile-trt');
  let chosen: Row | undefined = allInt8?.meetsBounds ? allInt8 : undefined;
  let strict: Row | undefined = allInt8?.meetsStrict ? allInt8 : undefined;
  if (!only || only.includes('sweep')) {
    process.stderr.write(`sensitivity ranking of ${name}\n`);
    const t0 = Date.now();
    const probe = join(work, 'sensitivity', `${name}.int8.onnx`);
    const r = await quantizeModel(modelPath, probe, { mode: 'int8', method: 'percentile', calib: calibDir, sensitivity: true, progress: true });
    ranking = r.sensitivity ?? [];
    scopeLayers = r.layers?.keptScope ?? [];
    const rankingSeconds = (Date.now() - t0) / 1000;
    // Goes on past the first N that meets the bounds until the stricter two-sided per-dataset reading is met too.
    for (const n of SWEEP.filter((k) => k > 0 && k < ranking.length)) {
      if (chosen && strict) break;
      const v: Variant = { id: `int8-percentile-trt-keep${n}`, options: { mode: 'int8', method: 'percentile', profile: 'tensorrt' } };
      const dir = join(work, v.id);
      await mkdir(dir);
      const out = join(dir, `${name}.int8.onnx`);
      const t1 = Date.now();
      await quantizeModel(modelPath, out, { ...(v.options as QuantizeOptions), calib: calibDir, evalDir: valDir, keepLayers: ranking.slice(0, n).map((s) => s.layer), progress: false });
      const row = await measure(v, out, (Date.now() - t1) / 1000 + rankingSeconds, { keptFloat: n });
      process.stderr.write(`keep-float ${n}: dPSNR ${row.psnrDeltaDb.toFixed(3)} dB, dSAM ${row.samDeltaDeg.toFixed(3)} deg (worst dataset ${row.worstDataset.psnrDeltaDb.toFixed(3)} dB, ${row.worstDataset.samDeltaDeg.toFixed(3)} deg)${row.meetsBounds ? ' bounds met' : ''}\n`);
      if (row.meetsBounds && !chosen) chosen = row;
      if (row.meetsStrict && !strict) strict = row;
    }
    // onnxruntime's best configuration beside ours: Conv/MatMul only, the same layers left float as the keep-float
    // row that met the bounds (else the largest tried), on the same calibration pairs.
    const matched = chosen?.keptFloat ? chosen : rows.filter((r) => /-keep\d+$/.test(r.variant)).at(-1);
    if (matched?.keptFloat) {
      const n = matched.keptFloat;
      const v: Variant = { id: `ort-quantize_static-convmatmul-keep${n}`, anchor: true };
      const dir = join(work, v.id);
      await mkdir(dir);
      const out = join(dir, `${name}.int8.onnx`);
      const t1 = Date.now();
      const exclude = [...scopeLayers, ...ranking.slice(0, n).map((s) => s.layer)];
      const r = spawnSync(PYTHON_CLI, ['ort-quantize', '--model', modelPath, '--calib', calibDir, '--out', out, '--method', 'percentile', '--no-preprocess', '--op-types', 'Conv', 'MatMul', '--exclude', ...exclude], { encoding: 'utf8' });
      if (r.status !== 0) process.stderr.write(`anchor (Conv/MatMul, keep ${n}) failed: ${r.stderr}\n`);
      else await measure(v, out, (Date.now() - t1) / 1000, { keptFloat: n, note: `quantize_static as the anchor, op_types_to_quantize Conv/MatMul, nodes_to_exclude = the ${n} layers of ${matched.variant} and the ${scopeLayers.length} steps of the network itself that ours keeps float, no quant_pre_process` });
    }
  }

  const timedRows = rows.filter((r) => !/-keep\d+$/.test(r.variant) || r === chosen || r === strict || r.variant.startsWith('ort-'));
  for (const r of timedRows) r.breakdown = await kernelBreakdown(r.path, big, work);
  const timed = await latencies(timedRows.map((r) => r.path), big);
  timedRows.forEach((r, k) => (r.latencyMs = timed[k]));

  if (shipped && !process.argv.includes('--no-ship')) {
    const fp16 = rows.find((r) => r.variant === 'fp16');
    for (const [precision, r] of [['fp16', fp16], ['int8', chosen]] as const) {
      const files = [`${name}.${precision}.onnx`, `${name}.${precision}.card.json`];
      if (r?.meetsBounds) {
        for (const f of files) await copyFile(join(resolve(r.path, '..'), f), join(resolve(modelPath, '..'), f));
        process.stderr.write(`wrote ${r.variant} of ${name} next to the model (bounds met)\n`);
      } else {
        // An older variant next to the model would claim bounds this run could not confirm.
        for (const f of files) await rm(join(resolve(modelPath, '..'), f), { force: true });
        process.stderr.write(`no ${precision} variant of ${name} meets the bounds; none shipped\n`);
      }
    }
  }
  // The models and the latency input are kept (ignored path) so a quiet machine can re-time them
  // with `spectra-distill device-latency out/quantize-bench`, the same onnxruntime version through Python.
  const keep = join(REPO, 'out', 'quantize-bench', name);
  await rm(keep, { recursive: true, force: true });
  await mkdir(keep, { recursive: true });
  for (const r of rows) {
    await copyFile(r.path, join(keep, `${r.variant}.onnx`));
    // every variant of a model with a statistics graph takes frame_stats; device-latency measures it from this file
    if (card.frame_statistics) await copyFile(join(dirname(modelPath), card.frame_statistics.graph), join(keep, `${r.variant}.stats.onnx`));
  }
  await writeNpy(join(keep, 'latency.lrhsi.npy'), big.lrhsi);
  await writeNpy(join(keep, 'latency.hrmsi.npy'), big.hrmsi);
  await rm(work, { recursive: true, force: true });
  return {
    model: repoRelative(modelPath),
    onnx_sha256: card.onnx_sha256,
    shipped,
    bands,
    scored_bands: card.hsi.band_valid ? card.hsi.band_valid.filter(Boolean).length : bands,
    split: calibRegions.split,
    calibration: { role: 'train', tile_hr: CALIB_TILE, samples: calibSamples.length, regions: describeRegions(calibRegions), skipped: calibRegions.skipped ?? [] },
    validation: { role: 'val', samples: valSamples.length, regions: describeRegions(valRegions), skipped: valRegions.skipped ?? [] },
    disjoint: true,
    bounds: BOUNDS,
    int8_chosen: chosen ? { variant: chosen.variant, kept_float: chosen.keptFloat ?? 0 } : null,
    int8_strict: strict ? { variant: strict.variant, kept_float: strict.keptFloat ?? 0 } : null,
    sensitivity_top: ranking.slice(0, 12).map((s) => ({ layer: s.layer, op: s.opType, fidelity_psnr_db: s.nonFinite ? null : +s.fidelityPsnr.toFixed(2), psnr_drop_db: s.psnrDrop === undefined ? null : +s.psnrDrop.toFixed(4) })),
    sensitivity_layers: ranking.length,
    latency_input: { lrhsi: [1, big.lrhsi.bands, big.lrhsi.height, big.lrhsi.width], hrmsi: [1, big.hrmsi.bands, big.hrmsi.height, big.hrmsi.width], threads: 1, runs: LATENCY_RUNS },
    rows: rows.map(({ path: _path, ...rest }) => rest),
  };
}

const fmt = (v: number | undefined, d: number, signed = false): string => (v === undefined || !Number.isFinite(v) ? '—' : `${signed && v >= 0 ? '+' : ''}${v.toFixed(d)}`);

/** The generated part of results/quantize.md: per model, data, quality/latency table, keep-float answer, ranking. */
function renderMarkdown(report: { created: string; cpu?: string; command: string; results: Record<string, unknown>[] }): string {
  const out: string[] = [`Generated by \`${report.command}\` at ${report.created} (CPU: ${report.cpu ?? '?'}; shared, so latencies are noisy; rounds interleaved across variants).`, ''];
  for (const r of report.results) {
    const rows = r.rows as Row[];
    out.push(`### \`${String(r.model)}\``, '');
    if (r.command !== report.command) out.push(`Benchmarked by \`${String(r.command)}\` at ${String(r.created)}.`, '');
    if (r.skipped) {
      out.push(`Skipped: ${String(r.skipped)}`, '');
      continue;
    }
    type Region = { scene: string; window: number[]; scored_bands: number; valid_fraction: number };
    const cal = r.calibration as { samples: number; tile_hr: number; regions: Region[] };
    const val = r.validation as { samples: number; regions: Region[] };
    const byScene = (regs: Region[]): string => [...new Set(regs.map((g) => g.scene))].map((sc) => `${sc} ${regs.filter((g) => g.scene === sc).map((g) => `[${g.window.join(',')}]`).join(' ')}`).join('; ');
    out.push(
      `ONNX sha256 \`${String(r.onnx_sha256).slice(0, 12)}…\`, ${String(r.bands)} bands (${String(r.scored_bands)} learnt). Split \`${String(r.split)}\`, windows [top,left,h,w] in scene pixels:`,
      `- calibration (training regions, ${cal.samples} tiles of ${cal.tile_hr} px): ${byScene(cal.regions)}`,
      `- validation (validation regions, whole): ${val.regions.map((g) => `${g.scene} [${g.window.join(',')}] (${g.scored_bands} bands scored${g.valid_fraction < 1 ? `, ${(100 * g.valid_fraction).toFixed(0)} % valid pixels` : ''})`).join('; ')}`,
      '- calibration and validation windows disjoint: asserted (`assertDisjointSamples`; the host also checks each validation region against the training regions of the split the model was trained with)',
      '',
      '| variant | PSNR dB | ΔPSNR | SAM ° | ΔSAM | worst dataset ΔPSNR / ΔSAM | vs fp32 dB | ms (median) | KB | bounds |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of rows) {
      const worst = row.variant === 'fp32' ? '' : `${fmt(row.worstDataset.psnrDeltaDb, 3, true)} / ${fmt(row.worstDataset.samDeltaDeg, 3, true)}`;
      const bounds = row.meetsBounds === undefined ? '' : row.meetsBounds ? '**yes**' : 'no';
      out.push(`| ${row.variant} | ${fmt(row.validation.psnr, 3)} | ${fmt(row.psnrDeltaDb, 3, true)} | ${fmt(row.validation.sam, 3)} | ${fmt(row.samDeltaDeg, 3, true)} | ${worst} | ${row.variant === 'fp32' ? '—' : fmt(row.fidelityPsnr, 1)} | ${fmt(row.latencyMs?.median, 1)} | ${(row.bytes / 1024).toFixed(0)} | ${bounds} |`);
    }
    const datasets = Object.keys(rows[0].perDataset);
    if (datasets.length > 1) {
      out.push('', `Per dataset ΔSAM ° (ΔPSNR dB) against fp32 (fp32: ${datasets.map((d) => `${d} ${fmt(rows[0].perDataset[d].psnr, 2)} dB / ${fmt(rows[0].perDataset[d].sam, 2)}°`).join(', ')}):`, '');
      out.push(`| variant | ${datasets.join(' | ')} |`, `|---|${datasets.map(() => '---').join('|')}|`);
      for (const row of rows.slice(1)) {
        out.push(`| ${row.variant} | ${datasets.map((d) => `${fmt(row.perDataset[d].sam - rows[0].perDataset[d].sam, 3, true)} (${fmt(row.perDataset[d].psnr - rows[0].perDataset[d].psnr, 3, true)})`).join(' | ')} |`);
      }
    }
    const chosen = r.int8_chosen as { variant: string; kept_float: number } | null;
    out.push(
      '',
      chosen
        ? `int8 meets the bounds with **keep-float ${chosen.kept_float}** (\`${chosen.variant}\`, ${chosen.kept_float} of ${String(r.sensitivity_layers)} layers float).`
        : `**No int8 variant met the bounds** (keep-float up to ${Math.max(0, ...rows.map((x) => x.keptFloat ?? 0))} tried).`,
    );
    const strict = r.int8_strict as { kept_float: number } | null;
    if (datasets.length > 1) {
      out.push(
        strict
          ? `With the stricter reading (every dataset within ±0.3 dB / ±0.1° of fp32, gains counted as deviations too): keep-float ${strict.kept_float}.`
          : 'No tried N meets the stricter reading (every dataset within ±0.3 dB / ±0.1°, gains counted too).',
      );
    }
    const top = r.sensitivity_top as { layer: string; op: string; fidelity_psnr_db: number | null; psnr_drop_db: number | null }[];
    if (top.length > 0) {
      out.push('', `Sensitivity ranking (each layer quantized alone on 4 calibration tiles spread over the set, as \`spectra quantize --keep-float N --split\` does; PSNR of the output vs fp32, lower = more sensitive), top ${Math.min(8, top.length)}:`, '');
      out.push('| # | layer | op | vs fp32 dB | PSNR drop vs truth dB |', '|---|---|---|---|---|');
      top.slice(0, 8).forEach((t, i) => out.push(`| ${i + 1} | \`${t.layer}\` | ${t.op} | ${t.fidelity_psnr_db === null ? 'NaN/Inf output' : t.fidelity_psnr_db.toFixed(2)} | ${t.psnr_drop_db === null ? '—' : t.psnr_drop_db.toFixed(4)} |`));
    }
    out.push('');
  }
  return out.join('\n');
}

/** Replaces the generated block of results/quantize.md (between the markers), keeping the prose around it. */
async function writeResultsMarkdown(block: string): Promise<void> {
  const path = join(REPO, 'results', 'quantize.md');
  const begin = '<!-- bench:quantize begin -->';
  const end = '<!-- bench:quantize end -->';
  const text = existsSync(path) ? await readFile(path, 'utf8') : `# Quantization results\n\n${begin}\n${end}\n`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  const next = i >= 0 && j > i ? `${text.slice(0, i + begin.length)}\n${block}\n${text.slice(j)}` : `${text.trimEnd()}\n\n${begin}\n${block}\n${end}\n`;
  await writeFile(path, next);
}

/** How results name a model: relative to the repository when inside it, so a re-run replaces its entry. */
function repoRelative(path: string): string {
  return path.startsWith(REPO) ? path.slice(REPO.length + 1) : path;
}

async function main(): Promise<void> {
  const modelsDir = join(REPO, 'models');
  const explicit = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--model' ? [{ path: resolve(a), shipped: resolve(a).startsWith(modelsDir) }] : []));
  const shipped = existsSync(modelsDir)
    ? (await readdir(modelsDir)).filter((f) => f.endsWith('.onnx') && !/\.(int8|fp16)\.onnx$/.test(f) && existsSync(join(modelsDir, f.replace(/\.onnx$/, '.card.json'))))
    : [];
  const targets = explicit.length > 0 ? explicit : shipped.map((f) => ({ path: join(modelsDir, f), shipped: true }));
  if (targets.length === 0) throw new Error('no model: pass --model X.onnx (with its card) or ship one in models/');
  const results: Record<string, unknown>[] = [];
  for (const t of targets) {
    try {
      results.push(await benchModel(t.path, t.shipped));
    } catch (err) {
      // One model without usable regions must not hide the others; an overlap is a bug and stops the bench.
      if (!(err instanceof SpectraError) || err.code === 'E_SPLIT_OVERLAP') throw err;
      process.stderr.write(`skipped ${t.path}: ${err.message}\n`);
      results.push({ model: repoRelative(t.path), skipped: err.message, rows: [] });
    }
  }
  const created = new Date().toISOString();
  const command = `npm run bench:quantize -- ${process.argv.slice(2).join(' ')}`.trim();
  for (const r of results) Object.assign(r, { created, command });
  // Re-benchmarking one model (`--model`) keeps the other models' entries, each with the command that made it.
  const jsonPath = join(REPO, 'results', 'bench', 'quantize.json');
  const kept: Record<string, unknown>[] = [];
  if (explicit.length > 0 && existsSync(jsonPath)) {
    const previous = JSON.parse(await readFile(jsonPath, 'utf8')) as { results?: Record<string, unknown>[]; command?: string; created?: string };
    const now = new Set(results.map((r) => String(r.model)));
    for (const r of previous.results ?? []) if (!now.has(String(r.model))) kept.push({ created: previous.created, command: previous.command, ...r });
  }
  const report = { created, node: process.version, cpu: cpus()[0]?.model, command, results: [...kept, ...results] };
  await mkdir(join(REPO, 'results', 'bench'), { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  for (const r of results) {
    process.stdout.write(`\n${String(r.model)} (split ${String(r.split)}: calibration ${JSON.stringify((r.calibration as { samples?: number } | undefined)?.samples)} training tiles, validation ${JSON.stringify((r.validation as { samples?: number } | undefined)?.samples)} regions)\n`);
    process.stdout.write('variant                          PSNR dB   dPSNR    SAM deg  dSAM  worst-ds dPSNR/dSAM  vs-fp32 dB  ms(median/p90)   size KB  bounds\n');
    for (const row of r.rows as Row[]) {
      process.stdout.write(
        `${row.variant.padEnd(32)} ${row.validation.psnr.toFixed(3).padStart(7)} ${row.psnrDeltaDb.toFixed(3).padStart(7)} ${row.validation.sam.toFixed(3).padStart(9)} ${row.samDeltaDeg.toFixed(3).padStart(6)} ${row.worstDataset.psnrDeltaDb.toFixed(3).padStart(9)}/${row.worstDataset.samDeltaDeg.toFixed(3).padEnd(10)} ${row.fidelityPsnr.toFixed(2).padStart(10)}  ${(row.latencyMs?.median ?? NaN).toFixed(1).padStart(6)}/${(row.latencyMs?.p90 ?? NaN).toFixed(1).padEnd(7)} ${(row.bytes / 1024).toFixed(0).padStart(8)}  ${row.meetsBounds === undefined ? '-' : row.meetsBounds ? 'yes' : 'NO'}\n`,
      );
    }
  }
  await writeResultsMarkdown(renderMarkdown(report));
  process.stdout.write('\nwrote results/bench/quantize.json and the generated block of results/quantize.md\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
