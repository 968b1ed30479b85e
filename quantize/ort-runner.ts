/**
 * Runs a model (as bytes, before it is written anywhere) on calibration samples with onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
import { type ModelCard, cardPathFor } from '../sdk/core/model-card';
import { DEFAULT_LOAD_OPTIONS } from '../sdk/runtime/options';
import { loadBinding } from '../sdk/runtime/binding';
import { FrameStatisticsGraph } from '../sdk/runtime/frame-statistics';
import { QuantizeModelError } from './errors';
import type { CalibrationSample } from './calibration-set';

/**
 * A sample as graph inputs (batch 1): `lrhsi`, `hrmsi`, and its statistics when it carries them.
 * @param sample - The pair.
 */
export function sampleFeeds(sample: CalibrationSample): Record<string, ort.Tensor> {
  const { lrhsi, hrmsi, frameStats } = sample;
  return {
    lrhsi: new ort.Tensor('float32', lrhsi.data, [1, lrhsi.bands, lrhsi.height, lrhsi.width]),
    hrmsi: new ort.Tensor('float32', hrmsi.data, [1, hrmsi.bands, hrmsi.height, hrmsi.width]),
    ...(frameStats ? { [frameStats.input]: new ort.Tensor('float32', frameStats.data, [1, frameStats.data.length]) } : {}),
  };
}

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
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, graphOptimizationLevel: DEFAULT_LOAD_OPTIONS.graphOptimizationLevel });
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
    const feeds = sampleFeeds(sample);
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
 * @throws {@link ModelFileError} / {@link ModelCardError} when the statistics graph is missing, not the card's, or unreadable.
 */
export async function withFrameStatistics(modelPath: string, card: ModelCard, samples: readonly CalibrationSample[]): Promise<CalibrationSample[]> {
  const graph = await FrameStatisticsGraph.open(modelPath, card, cardPathFor(modelPath), loadBinding(), true);
  if (graph === undefined) return [...samples];
  try {
    const out: CalibrationSample[] = [];
    for (const s of samples) out.push({ ...s, frameStats: { input: graph.input, data: await graph.measure(s.lrhsi, s.hrmsi) } });
    return out;
  } finally {
    await graph.release();
  }
}
