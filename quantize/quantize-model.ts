/**
 * `spectra quantize` as a function: read a float32 student and its card, convert (fp16) or calibrate and rewrite
 * (int8 QDQ), measure quality against the float32 model on the calibration samples, and write the model and an
 * updated card atomically.
 */
import { SingleBar, Presets } from 'cli-progress';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { NonFiniteError } from '../sdk/core/errors';
import { cardPathFor, readModelCard, type ModelCard } from '../sdk/core/model-card';
import { CALIBRATION_METHODS, type CalibrationMethod } from './activation-stats';
import { calibrateActivations } from './calibrate';
import { loadCalibrationSet, type CalibrationSample } from './calibration-set';
import { inferElementTypes } from './dtype-inference';
import { ModelCardMissingError, QuantizeModelError } from './errors';
import { convertToFloat16 } from './fp16';
import { assertGraphSound } from './graph-check';
import { NETWORK_SCOPE, foldInitializerIdentities, inScopes } from './graph-index';
import { defaultOpset, encodeModel, readModel, sha256Hex, type ModelProto } from './onnx-proto';
import { SampleRunner, runFused, withFrameStatistics } from './ort-runner';
import { assertDisjointSamples } from './split-pairs';
import { applyQdq, planLayers, tensorsToCalibrate, type QdqProfile, type QuantLayer } from './qdq';
import { compareCubes, meanQuality, type Quality } from './quality';

/** Options of {@link quantizeModel}. */
export interface QuantizeOptions {
  /** Target precision. */
  mode: 'fp16' | 'int8';
  /** Calibration directory (pairs or `scenes.json`); required for int8, used for quality numbers in fp16. */
  calib?: string;
  /** Activation range method. @defaultValue 'percentile' */
  method?: CalibrationMethod;
  /** Percentile for `percentile`, in (0, 100]. @defaultValue 99.99 */
  percentile?: number;
  /** Keep the N most sensitive layers in float (runs the sensitivity analysis). @defaultValue 0 */
  keepFloat?: number;
  /**
   * Layers (node names) to keep in float, e.g. the head of a ranking from an earlier `sensitivity` run: sweeping N
   * this way costs no new analysis. Added to the `keepFloat` most sensitive. @defaultValue []
   */
  keepLayers?: readonly string[];
  /** Run the sensitivity analysis even when `keepFloat` is 0. @defaultValue false */
  sensitivity?: boolean;
  /** Samples used per sensitivity run (each layer is one run), spread evenly over the calibration set. @defaultValue 4 */
  sensitivitySamples?: number;
  /** QDQ layout. @defaultValue 'tensorrt' */
  profile?: QdqProfile;
  /** fp16 only: make graph inputs/outputs float16 too. @defaultValue false */
  fp16Io?: boolean;
  /** fp16 only: extra nodes (names or op types) to keep in float32. @defaultValue [] */
  keepFp32?: readonly string[];
  /**
   * Name scopes whose own nodes stay float32 in fp16 and whose own layers stay float in int8 (not those of nested
   * scopes); `[]` converts everything. @defaultValue [{@link NETWORK_SCOPE}]: the network's own steps
   */
  keepScopes?: readonly string[];
  /** Held-out directory (same formats) to measure quality on. @defaultValue the calibration samples */
  evalDir?: string;
  /** Calibration samples to load at most. @defaultValue 16 */
  maxSamples?: number;
  /** Progress bars on stderr (TTY only). @defaultValue true */
  progress?: boolean;
  /** Receives one line per step. @defaultValue no logging */
  log?: (line: string) => void;
}

type Defaulted = Required<Omit<QuantizeOptions, 'mode' | 'calib' | 'evalDir' | 'log'>>;
type ResolvedOptions = Defaulted & Pick<QuantizeOptions, 'mode' | 'calib' | 'evalDir' | 'log'>;

/** Frozen defaults of {@link QuantizeOptions}. */
export const QUANTIZE_DEFAULTS: Readonly<Defaulted> = Object.freeze({
  method: 'percentile',
  percentile: 99.99,
  keepFloat: 0,
  keepLayers: [],
  sensitivity: false,
  sensitivitySamples: 4,
  profile: 'tensorrt',
  fp16Io: false,
  keepFp32: [],
  keepScopes: [NETWORK_SCOPE],
  maxSamples: 16,
  progress: true,
});

/** One row of the sensitivity ranking. */
export interface LayerSensitivity {
  layer: string;
  opType: string;
  /** PSNR (dB, peak 1) of the model with only this layer quantized, against the float32 output. Lower = more sensitive. */
  fidelityPsnr: number;
  /** PSNR drop against ground truth (dB) when the samples carry it. */
  psnrDrop?: number;
  /**
   * This layer alone in int8 makes the output non-finite (a ratio whose denominator rounds to zero, say): ranked
   * first, with fidelityPsnr -Infinity, instead of aborting the ranking.
   */
  nonFinite?: true;
}

/** What {@link quantizeModel} produced and measured. */
export interface QuantizeReport {
  out: string;
  card: string;
  precision: 'fp16' | 'int8';
  samples: number;
  /** What the quality numbers were measured on; `regions` lists `scene [top, left, height, width]` per sample when known. */
  evaluatedOn: { data: string | null; samples: number; split?: string; regions?: string[] };
  /** Against ground truth, when every sample has it. */
  fp32?: Quality;
  quantized?: Quality;
  /** Quantized output against the float32 output. */
  fidelity?: Quality;
  /** int8: layers quantized, those kept in float by request or the sensitivity analysis, and those of `keepScopes`. */
  layers?: { quantized: number; keptFloat: string[]; keptScope: string[] };
  /** fp16: nodes kept in float32 and why. */
  keptFloat32?: { node: string; reason: string }[];
  sensitivity?: LayerSensitivity[];
  onnxSha256: string;
  seconds: number;
}

/**
 * Quantizes a model and writes it with an updated card (`<out>.card.json`); nothing is written on failure.
 * @param modelPath - The float32 `.onnx`; its card must sit next to it.
 * @param outPath - The `.onnx` to write.
 * @param options - See {@link QuantizeOptions}.
 * @returns What was done and measured.
 * @throws {@link ModelCardMissingError} when the model has no card.
 * @throws {@link EmptyCalibrationError}, {@link CalibrationBandCountError} for bad calibration data.
 * @throws {@link SplitOverlapError} when a calibration and an evaluation sample share pixels of a scene.
 * @throws {@link UnsupportedOperatorError} when the graph holds an operator the rewriters do not know.
 * @throws {@link GraphCheckError} when the input (or, by a bug, the output) graph is malformed.
 * @example
 * const report = await quantizeModel('models/student.onnx', 'models/student.int8.onnx', { mode: 'int8', calib: 'calib/' });
 */
export async function quantizeModel(modelPath: string, outPath: string, options: QuantizeOptions): Promise<QuantizeReport> {
  const opts: ResolvedOptions = { ...QUANTIZE_DEFAULTS, ...options };
  validateOptions(opts);
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  const cardPath = cardPathFor(modelPath);
  if (!existsSync(cardPath)) throw new ModelCardMissingError(modelPath, cardPath);
  const card = await readModelCard(cardPath);
  const { model } = await readModel(modelPath);
  assertGraphSound(model, modelPath);
  foldInitializerIdentities(model.graph ?? {});
  const samples = opts.calib ? await withFrameStatistics(modelPath, card, await loadCalibrationSet(opts.calib, card, { maxSamples: opts.maxSamples })) : [];
  log(`${samples.length} calibration samples from ${opts.calib ?? '(none)'}`);

  let written: ModelProto;
  let evaluated: ModelProto;
  let reference: Float32Array[] = [];
  const report: Partial<QuantizeReport> = {};
  if (opts.mode === 'fp16') {
    const converted = convertToFloat16(model, modelPath, { keepIoFloat32: !opts.fp16Io, keepFloat32: opts.keepFp32, keepScopes: opts.keepScopes });
    written = converted.model;
    // Quality is measured with float32 boundaries: the compute is the same, only the input rounding differs.
    evaluated = opts.fp16Io ? convertToFloat16(model, modelPath, { keepIoFloat32: true, keepFloat32: opts.keepFp32, keepScopes: opts.keepScopes }).model : written;
    report.keptFloat32 = converted.keptFloat32;
    if (samples.length > 0) reference = await runFused(encodeModel(model), modelPath, samples);
  } else {
    if (defaultOpset(model) < 13) throw new QuantizeModelError(modelPath, `opset ${defaultOpset(model)} lacks per-channel QuantizeLinear; export with opset >= 13`);
    const layers = planLayers(model.graph ?? {}, inferElementTypes(model.graph ?? {}, modelPath));
    if (layers.length === 0) throw new QuantizeModelError(modelPath, 'no Conv, MatMul, Add or Concat layer to quantize');
    const calibration = await calibrateActivations(model, tensorsToCalibrate(layers, opts.profile), samples, {
      method: opts.method,
      percentile: opts.percentile,
      progress: opts.progress,
      label: modelPath,
    });
    reference = calibration.reference;
    const known = new Set(layers.map((l) => l.label));
    const unknown = opts.keepLayers.filter((l) => !known.has(l));
    if (unknown.length > 0) throw new QuantizeModelError(modelPath, `keepLayers names no quantizable layer: ${unknown.slice(0, 5).join(', ')}`);
    const keep = new Set<string>(opts.keepLayers);
    const scoped = layers.filter((l) => inScopes(l.label, opts.keepScopes));
    const candidates = layers.filter((l) => !scoped.includes(l));
    if (opts.keepFloat > 0 || opts.sensitivity) {
      report.sensitivity = await layerSensitivity(model, candidates, calibration.thresholds, samples, reference, opts, modelPath);
      for (const s of report.sensitivity.slice(0, opts.keepFloat)) keep.add(s.layer);
      log(`sensitivity (most sensitive first): ${report.sensitivity.slice(0, 10).map((s) => `${s.layer} ${s.fidelityPsnr.toFixed(2)} dB`).join(', ')}`);
    }
    const chosen = candidates.filter((l) => !keep.has(l.label));
    written = applyQdq(model, chosen, { profile: opts.profile, thresholds: calibration.thresholds });
    evaluated = written;
    report.layers = { quantized: chosen.length, keptFloat: [...keep], keptScope: scoped.map((l) => l.label) };
  }
  assertGraphSound(written, outPath);
  const bytes = encodeModel(written);
  // Loading the written bytes proves onnxruntime accepts exactly what lands on disk.
  await (await SampleRunner.open(bytes, outPath)).release();

  const evalSamples = opts.evalDir ? await withFrameStatistics(modelPath, card, await loadCalibrationSet(opts.evalDir, card, { maxSamples: opts.maxSamples })) : samples;
  if (opts.evalDir) {
    assertDisjointSamples(samples, evalSamples, opts.evalDir);
    reference = await runFused(encodeModel(model), modelPath, evalSamples);
  }
  report.evaluatedOn = { data: opts.evalDir ?? opts.calib ?? null, samples: evalSamples.length, ...regionsOf(evalSamples) };
  if (evalSamples.length > 0) {
    const outputs = await runFused(evaluated === written ? bytes : encodeModel(evaluated), outPath, evalSamples);
    report.fidelity = meanQuality(outputs.map((o, i) => compareCubes(o, reference[i], card.hsi.bands, 'unit', evalSamples[i])));
    if (evalSamples.every((s) => s.hrhsi)) {
      const truth = (i: number): Float32Array => evalSamples[i].hrhsi?.data as Float32Array;
      report.fp32 = meanQuality(reference.map((o, i) => compareCubes(o, truth(i), card.hsi.bands, 'band_max', evalSamples[i])));
      report.quantized = meanQuality(outputs.map((o, i) => compareCubes(o, truth(i), card.hsi.bands, 'band_max', evalSamples[i])));
    }
  }
  const sha = sha256Hex(bytes);
  const outCard = cardPathFor(outPath);
  const newCard = updatedCard(card, outPath, sha, opts, samples, report);
  await writeAtomically([
    [outPath, bytes],
    [outCard, Buffer.from(`${JSON.stringify(newCard, null, 2)}\n`)],
  ]);
  return {
    ...report,
    evaluatedOn: report.evaluatedOn ?? { data: null, samples: 0 },
    out: outPath,
    card: outCard,
    precision: opts.mode,
    samples: samples.length,
    onnxSha256: sha,
    seconds: (Date.now() - started) / 1000,
  };
}

function validateOptions(opts: ResolvedOptions): void {
  if (opts.mode !== 'fp16' && opts.mode !== 'int8') throw new RangeError(`Expected mode 'fp16' or 'int8' but received '${String(opts.mode)}'`);
  if (!CALIBRATION_METHODS.includes(opts.method)) throw new RangeError(`Expected method one of ${CALIBRATION_METHODS.join(', ')} but received '${opts.method}'`);
  if (!(opts.percentile > 0 && opts.percentile <= 100)) throw new RangeError(`Expected percentile in (0, 100] but received ${opts.percentile}`);
  if (!Number.isInteger(opts.keepFloat) || opts.keepFloat < 0) throw new RangeError(`Expected keepFloat to be a non-negative integer but received ${opts.keepFloat}`);
  if (opts.profile !== 'tensorrt' && opts.profile !== 'cpu') throw new RangeError(`Expected profile 'tensorrt' or 'cpu' but received '${String(opts.profile)}'`);
  if (opts.mode === 'int8' && !opts.calib) throw new TypeError('int8 quantization needs calibration data: pass calib (a directory)');
}


/** Quantizes one layer at a time and ranks layers by the damage done (most sensitive first). */
async function layerSensitivity(
  model: ModelProto,
  layers: readonly QuantLayer[],
  thresholds: ReadonlyMap<string, number>,
  samples: readonly CalibrationSample[],
  allReference: readonly Float32Array[],
  opts: ResolvedOptions,
  label: string,
): Promise<LayerSensitivity[]> {
  // Spread over the set (sorted by scene), so the ranking does not rest on the first scene's tiles alone.
  const count = Math.min(samples.length, Math.max(1, opts.sensitivitySamples));
  const picks = Array.from({ length: count }, (_, i) => Math.floor((i * samples.length) / count));
  const subset = picks.map((k) => samples[k]);
  const reference = picks.map((k) => allReference[k]);
  const bands = subset[0].lrhsi.bands;
  const withGt = subset.every((s) => s.hrhsi);
  const gt = (i: number): Float32Array => subset[i].hrhsi?.data as Float32Array;
  const base = withGt ? meanQuality(subset.map((s, i) => compareCubes(reference[i], gt(i), bands, 'band_max', s))).psnr : 0;
  const rows: LayerSensitivity[] = [];
  const bar = new SingleBar({ format: 'sensitivity [{bar}] {value}/{total} layers', hideCursor: true }, Presets.shades_classic);
  if (opts.progress) bar.start(layers.length, 0);
  try {
    for (const layer of layers) {
      bar.increment();
      const single = applyQdq(model, [layer], { profile: opts.profile, thresholds });
      const outs = await runFused(encodeModel(single), `${label} (${layer.label} only)`, subset);
      try {
        const fidelityPsnr = meanQuality(outs.map((o, i) => compareCubes(o, reference[i], bands, 'unit', subset[i]))).psnr;
        const row: LayerSensitivity = { layer: layer.label, opType: layer.opType, fidelityPsnr };
        if (withGt) row.psnrDrop = base - meanQuality(outs.map((o, i) => compareCubes(o, gt(i), bands, 'band_max', subset[i]))).psnr;
        rows.push(row);
      } catch (err) {
        // the metrics refuse NaN/Inf in scored pixels; that layer is the most sensitive one, not a reason to stop
        if (!(err instanceof NonFiniteError)) throw err;
        rows.push({ layer: layer.label, opType: layer.opType, fidelityPsnr: -Infinity, nonFinite: true });
      }
    }
  } finally {
    bar.stop();
  }
  return rows.sort((a, b) => a.fidelityPsnr - b.fidelityPsnr);
}

function updatedCard(
  card: ModelCard,
  outPath: string,
  sha: string,
  opts: ResolvedOptions,
  samples: readonly CalibrationSample[],
  report: Partial<QuantizeReport>,
): ModelCard {
  const round = (q?: Quality): { psnr: number; sam: number } | null => (q ? { psnr: +q.psnr.toFixed(4), sam: +q.sam.toFixed(4) } : null);
  return {
    ...card,
    onnx: basename(outPath),
    onnx_sha256: sha,
    precision: opts.mode,
    created: new Date().toISOString(),
    quantization: {
      tool: 'spectra quantize',
      source_onnx: card.onnx,
      source_onnx_sha256: card.onnx_sha256,
      mode: opts.mode,
      ...(opts.mode === 'int8'
        ? {
            format: 'QDQ',
            profile: opts.profile,
            weights: 'int8 symmetric per output channel, [-127, 127], zero point 0',
            activations: 'int8 symmetric per tensor, [-128, 127], zero point 0',
            bias: opts.profile === 'cpu' ? 'int32, scale = input scale x weight scale' : 'float32',
            method: opts.method,
            ...(opts.method === 'percentile' ? { percentile: opts.percentile } : {}),
            layers_quantized: report.layers?.quantized,
            kept_float: report.layers?.keptFloat,
            kept_float_scopes: opts.keepScopes,
          }
        : { io: opts.fp16Io ? 'float16' : 'float32', kept_float32: report.keptFloat32?.map((k) => k.node) }),
      calibration: { data: opts.calib ?? null, samples: samples.length, names: samples.slice(0, 32).map((s) => s.name), ...regionsOf(samples) },
      quality: {
        measured_on: opts.evalDir ? 'held-out samples' : 'calibration samples',
        data: report.evaluatedOn?.data ?? null,
        samples: report.evaluatedOn?.samples ?? 0,
        ...(report.evaluatedOn?.regions ? { split: report.evaluatedOn.split, regions: report.evaluatedOn.regions } : {}),
        scored: 'bands and pixels marked valid by the samples (band_mask of regions.json, <stem>.valid.npy); all when unmarked',
        vs_ground_truth: { fp32: round(report.fp32), quantized: round(report.quantized) },
        psnr_delta_db: report.fp32 && report.quantized ? +(report.quantized.psnr - report.fp32.psnr).toFixed(4) : null,
        sam_delta_deg: report.fp32 && report.quantized ? +(report.quantized.sam - report.fp32.sam).toFixed(4) : null,
        vs_fp32_output: round(report.fidelity),
      },
    },
  };
}

/** `scene [top, left, height, width]` (split role) of samples that know their region, and the split's name. */
function regionsOf(samples: readonly CalibrationSample[]): { split?: string; regions?: string[] } {
  if (samples.length === 0 || !samples.every((s) => s.region)) return {};
  const split = samples[0].region?.split;
  return { ...(split ? { split } : {}), regions: samples.map((s) => `${s.region?.scene} [${s.region?.window.join(', ')}] (${s.region?.role})`) };
}

/**
 * Writes every file to a temporary sibling first and renames only when all writes succeeded.
 * @internal
 */
export async function writeAtomically(files: readonly [string, Uint8Array][]): Promise<void> {
  const temps = files.map(([path]) => `${path}.${process.pid}.tmp`);
  try {
    for (const [path] of files) await mkdir(dirname(path), { recursive: true });
    for (let i = 0; i < files.length; i++) await writeFile(temps[i], files[i][1]);
    for (let i = 0; i < files.length; i++) await rename(temps[i], files[i][0]);
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw err;
  }
}
