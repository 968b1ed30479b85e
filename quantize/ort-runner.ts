/**
 * Runs a model (as bytes, before it is written anywhere) on calibration samples with onnxruntime-node.
 */
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelCard } from '../sdk/core/model-card';
import { QuantizeModelError } from './errors';
import type { CalibrationSample } from './calibration-set';

/** An open session over in-memory model bytes. */
export class SampleRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly label: string,
  ) {}

  /**
   * Opens a session.
   * @param bytes - Serialized model.
   * @param label - Names the model in errors (its path or what it is).
   * @param threads - Intra-op threads; 0 lets onnxruntime choose.
   * @throws {@link QuantizeModelError} when onnxruntime rejects the model.
   */
  static async open(bytes: Uint8Array, label: string, threads = 0): Promise<SampleRunner> {
    try {
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
      return new SampleRunner(session, label);
    } catch (err) {
      throw new QuantizeModelError(label, `onnxruntime cannot load the model (${(err as Error).message})`, { cause: err });
    }
  }

  /**
   * Runs one sample (batch 1) and returns the requested outputs as float32.
   * @param sample - The LR-HSI / HR-MSI pair.
   * @param fetches - Output names.
   */
  async run(sample: CalibrationSample, fetches: readonly string[]): Promise<Map<string, Float32Array>> {
    const feeds: Record<string, ort.Tensor> = {
      lrhsi: new ort.Tensor('float32', sample.lrhsi.data, [1, sample.lrhsi.bands, sample.lrhsi.height, sample.lrhsi.width]),
      hrmsi: new ort.Tensor('float32', sample.hrmsi.data, [1, sample.hrmsi.bands, sample.hrmsi.height, sample.hrmsi.width]),
    };
    if (sample.frameStats) feeds[sample.frameStats.input] = new ort.Tensor('float32', sample.frameStats.data, [1, sample.frameStats.data.length]);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run(feeds, [...fetches]);
    } catch (err) {
      throw new QuantizeModelError(this.label, `inference failed on sample ${sample.name} (${(err as Error).message})`, { cause: err });
    }
    const out = new Map<string, Float32Array>();
    for (const name of fetches) {
      const t = result[name];
      out.set(name, t.type === 'float32' ? (t.data as Float32Array) : Float32Array.from(t.data as ArrayLike<number>));
    }
    return out;
  }

  /** Releases the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Fuses every sample with a model and returns the `hrhsi` outputs in sample order.
 * @param bytes - Serialized model.
 * @param label - Names the model in errors.
 * @throws {@link QuantizeModelError} when onnxruntime rejects the model.
 */
export async function runFused(bytes: Uint8Array, label: string, samples: readonly CalibrationSample[]): Promise<Float32Array[]> {
  const runner = await SampleRunner.open(bytes, label);
  try {
    const outs: Float32Array[] = [];
    for (const s of samples) outs.push((await runner.run(s, ['hrhsi'])).get('hrhsi') as Float32Array);
    return outs;
  } finally {
    await runner.release();
  }
}

/**
 * Measures each sample's statistics with the model's statistics graph (card `frame_statistics`), as the SDK
 * does for a whole frame; samples of a model without one are returned as they are.
 * @param modelPath - The fp32 model; its statistics graph lies beside it.
 * @param card - Its card.
 * @throws {@link QuantizeModelError} when the statistics graph cannot be loaded or run.
 */
export async function withFrameStatistics(modelPath: string, card: ModelCard, samples: readonly CalibrationSample[]): Promise<CalibrationSample[]> {
  const spec = card.frame_statistics;
  if (!spec) return [...samples];
  const path = join(dirname(modelPath), spec.graph);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { graphOptimizationLevel: 'all' });
  } catch (err) {
    throw new QuantizeModelError(path, `onnxruntime cannot load the statistics graph (${(err as Error).message}); it ships beside ${card.onnx}`, { cause: err });
  }
  try {
    const out: CalibrationSample[] = [];
    for (const s of samples) {
      const r = await session.run({
        lrhsi: new ort.Tensor('float32', s.lrhsi.data, [1, s.lrhsi.bands, s.lrhsi.height, s.lrhsi.width]),
        hrmsi: new ort.Tensor('float32', s.hrmsi.data, [1, s.hrmsi.bands, s.hrmsi.height, s.hrmsi.width]),
      });
      out.push({ ...s, frameStats: { input: spec.input, data: r[spec.input].data as Float32Array } });
    }
    return out;
  } finally {
    await session.release();
  }
}
