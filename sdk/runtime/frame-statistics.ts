import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import type { Cube } from '../cube/cube';
import { ModelCardError, ModelFileError } from '../core/errors';
import { IO_NAMES, type ModelCard } from '../core/model-card';
import type { LoadedBinding } from './binding';
import { sha256File } from './session';
import { DEFAULT_LOAD_OPTIONS } from './options';

/**
 * The statistics graph of a model that measures its inputs per image (card `frame_statistics`): radiometry,
 * HPM offset and band assignment of the whole frame, fed to every tile as the fuse graph's third input, so a
 * tiled run fuses as the whole image does. Runs on the CPU provider: it is a few reductions over the frame.
 * @internal
 */
export class FrameStatisticsGraph {
  private constructor(
    readonly path: string,
    /** Name of the fuse graph's input that takes the vector. */
    readonly input: string,
    /** Length of the vector. */
    readonly length: number,
    private readonly session: InferenceSession,
    private readonly binding: LoadedBinding,
  ) {}

  /**
   * Opens the card's statistics graph beside the model, after checking its sha256 against the card.
   * @returns undefined for a model whose card names none.
   * @throws {@link ModelFileError} when the file is missing or onnxruntime cannot load it.
   * @throws {@link ModelCardError} when its sha256 differs from the card's, or its I/O is not (lrhsi, hrmsi) -> input.
   */
  static async open(modelPath: string, card: ModelCard, cardPath: string, binding: LoadedBinding, checkHash: boolean): Promise<FrameStatisticsGraph | undefined> {
    const spec = card.frame_statistics;
    if (spec === undefined || spec === null) return undefined;
    const path = join(dirname(modelPath), spec.graph);
    try {
      await access(path);
    } catch (err) {
      throw new ModelFileError(path, `the model's statistics graph is missing; it is written beside ${card.onnx} by spectra-distill export and ships with it`, { cause: err });
    }
    if (checkHash) {
      const sha = await sha256File(path);
      if (sha !== spec.sha256) {
        throw new ModelCardError(cardPath, `frame_statistics.sha256 ${spec.sha256.slice(0, 12)}… does not match ${path} (${sha.slice(0, 12)}…); copy the statistics graph exported with this model`);
      }
    }
    let session: InferenceSession;
    try {
      // idle workers must not spin after a run: they would take the cores from the fuse graph that runs next
      const noSpin = { allow_spinning: '0' };
      session = await binding.module.InferenceSession.create(path, { executionProviders: ['cpu'], graphOptimizationLevel: DEFAULT_LOAD_OPTIONS.graphOptimizationLevel, extra: { session: { intra_op: noSpin, inter_op: noSpin } } });
    } catch (err) {
      throw new ModelFileError(path, `onnxruntime cannot load the statistics graph (${(err as Error).message}); re-export the model`, { cause: err });
    }
    const io = `(${session.inputNames.join(', ')}) -> (${session.outputNames.join(', ')})`;
    if (!session.inputNames.includes(IO_NAMES.lrhsi) || !session.inputNames.includes(IO_NAMES.hrmsi) || !session.outputNames.includes(spec.input)) {
      await session.release();
      throw new ModelCardError(cardPath, `statistics graph I/O is ${io}; expected (lrhsi, hrmsi) -> (${spec.input})`);
    }
    return new FrameStatisticsGraph(path, spec.input, spec.length, session, binding);
  }

  /**
   * Measures the whole frame: both cubes on the model grid, in the units the fuse graph gets.
   * @returns The vector (length {@link FrameStatisticsGraph.length}).
   */
  async measure(lr: Cube, hr: Cube): Promise<Float32Array> {
    const { Tensor: T } = this.binding.module;
    const result = await this.session.run({
      [IO_NAMES.lrhsi]: new T('float32', lr.data, [1, lr.bands, lr.height, lr.width]),
      [IO_NAMES.hrmsi]: new T('float32', hr.data, [1, hr.bands, hr.height, hr.width]),
    });
    const y = result[this.input];
    if (!(y.data instanceof Float32Array) || y.size !== this.length) {
      throw new ModelFileError(this.path, `statistics graph gave ${y.type} x ${y.size}; the card says float32 x ${this.length}`);
    }
    return y.data;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
