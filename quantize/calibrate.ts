/**
 * Calibration: runs the float32 model on the calibration samples with the tensors to quantize exposed as extra graph
 * outputs, and turns their histograms into per-tensor clipping thresholds.
 */
import { SingleBar, Presets } from 'cli-progress';
import { AbsHistogram, type CalibrationMethod } from './activation-stats';
import type { CalibrationSample } from './calibration-set';
import { DataType, encodeModel, type ModelProto } from './onnx-proto';
import { SampleRunner } from './ort-runner';

/** Options of {@link calibrateActivations}. */
export interface CalibrateOptions {
  method: CalibrationMethod;
  /** For `percentile`. @defaultValue 99.99 */
  percentile?: number;
  /** Show a progress bar on stderr (only drawn on a TTY). @defaultValue true */
  progress?: boolean;
  /** Names the model in errors. */
  label: string;
}

/** Calibration result: a threshold per tensor and the float32 model's output per sample. */
export interface CalibrationResult {
  /** Largest |x| to represent, per tensor (the int8 scale is threshold / 127). */
  thresholds: Map<string, number>;
  /** Largest |x| seen, per tensor (for reports). */
  absMax: Map<string, number>;
  /** The float32 output (`hrhsi`) per sample, the reference for quality deltas. */
  reference: Float32Array[];
}

/**
 * Collects activation ranges.
 * @param model - The float32 model.
 * @param tensors - Float tensors to calibrate (graph inputs or node outputs).
 * @param samples - Calibration samples.
 * @param options - See {@link CalibrateOptions}.
 * @returns Thresholds and the float32 reference outputs.
 */
export async function calibrateActivations(
  model: ModelProto,
  tensors: readonly string[],
  samples: readonly CalibrationSample[],
  options: CalibrateOptions,
): Promise<CalibrationResult> {
  const graph = model.graph ?? {};
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  const extra = tensors.filter((t) => !existing.has(t));
  const augmented: ModelProto = {
    ...model,
    graph: {
      ...graph,
      output: [...(graph.output ?? []), ...extra.map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } }))],
    },
  };
  const runner = await SampleRunner.open(encodeModel(augmented), `${options.label} (calibration)`);
  const histograms = new Map(tensors.map((t) => [t, new AbsHistogram()]));
  const reference: Float32Array[] = [];
  const bar = new SingleBar({ format: 'calibrating [{bar}] {value}/{total} samples', hideCursor: true }, Presets.shades_classic);
  if (options.progress ?? true) bar.start(samples.length, 0);
  try {
    for (const sample of samples) {
      const out = await runner.run(sample, ['hrhsi', ...tensors]);
      for (const t of tensors) histograms.get(t)?.add(out.get(t) as Float32Array);
      reference.push(out.get('hrhsi') as Float32Array);
      bar.increment();
    }
  } finally {
    bar.stop();
    await runner.release();
  }
  const thresholds = new Map<string, number>();
  const absMax = new Map<string, number>();
  for (const [t, h] of histograms) {
    thresholds.set(t, h.threshold(options.method, options.percentile ?? 99.99));
    absMax.set(t, h.absMax);
  }
  return { thresholds, absMax, reference };
}
