/**
 * Runs a model (as bytes, before it is written anywhere) on calibration samples with onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
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
    const feeds = {
      lrhsi: new ort.Tensor('float32', sample.lrhsi.data, [1, sample.lrhsi.bands, sample.lrhsi.height, sample.lrhsi.width]),
      hrmsi: new ort.Tensor('float32', sample.hrmsi.data, [1, sample.hrmsi.bands, sample.hrmsi.height, sample.hrmsi.width]),
    };
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
