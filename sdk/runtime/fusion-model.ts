import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Cube } from '../cube/cube';
import { assertCube, assertFinite } from '../cube/create';
import {
  BandCountError,
  ModelCardError,
  ModelFileError,
  NoDataError,
  ProviderUnavailableError,
  SizeMismatchError,
  ValueRangeError,
  WavelengthError,
} from '../errors';
import { type ConsistencyReport, consistency } from '../quality/consistency';
import { resampleCube } from '../spectral/resample';
import { type LoadedBinding, loadBinding } from './binding';
import { type Logger, namespacedLogger } from './log';
import { IO_NAMES, type ModelCard, cardPathFor, readModelCard } from './model-card';
import {
  DEFAULT_PROVIDERS,
  type ProviderAttempt,
  type ProviderName,
  type ProviderReport,
  type ProviderRequest,
  planProviders,
  toOrtProvider,
} from './providers';
import { fromHalfBits, toHalfBits } from './half';
import { type BlendMode, type Tile, edgeWeights, planTiles } from './tiling';

/** Options for {@link FusionModel.load}. Every field is optional; defaults are in {@link DEFAULT_LOAD_OPTIONS}. */
export interface LoadOptions {
  /** Card path. @defaultValue the model path with `.onnx` replaced by `.card.json` */
  card?: string;
  /** Execution providers in order of preference. @defaultValue ['tensorrt', 'cuda', 'cpu'] */
  providers?: readonly ProviderRequest[];
  /** Reject instead of falling back when the first provider cannot be granted. @defaultValue false */
  requireFirstProvider?: boolean;
  /** Alternative onnxruntime-node module (package dir or path). @defaultValue process.env.SPECTRA_ORT_BINDING, else 'onnxruntime-node' */
  binding?: string;
  /** Threads inside one operator; 0 lets onnxruntime decide. @defaultValue 0 */
  intraOpThreads?: number;
  /** Threads across operators (parallel execution mode only). @defaultValue 0 */
  interOpThreads?: number;
  /** @defaultValue 'all' */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** CPU memory arena: faster repeated runs, more resident memory. @defaultValue true */
  memoryArena?: boolean;
  /** Memory-pattern planning (pre-plans buffers for fixed shapes). @defaultValue true */
  memoryPattern?: boolean;
  /**
   * Let idle intra-op worker threads spin between runs (onnxruntime `session.intra_op.allow_spinning`). Spinning
   * workers compete with the JavaScript thread that cuts and blends tiles, which costs time on small CPUs.
   * @defaultValue false
   */
  allowSpinning?: boolean;
  /** Skip the sha256 check of the ONNX file against the card (large models on slow storage). @defaultValue false */
  skipHashCheck?: boolean;
  /** Replaces the `spectra:runtime` logger. */
  log?: Logger;
}

/** Defaults of {@link LoadOptions}. */
export const DEFAULT_LOAD_OPTIONS: Readonly<ResolvedLoadOptions> = Object.freeze({
  providers: DEFAULT_PROVIDERS,
  requireFirstProvider: false,
  intraOpThreads: 0,
  interOpThreads: 0,
  graphOptimizationLevel: 'all',
  memoryArena: true,
  memoryPattern: true,
  allowSpinning: false,
  skipHashCheck: false,
});

type ResolvedLoadOptions = Required<
  Pick<LoadOptions, 'providers' | 'requireFirstProvider' | 'intraOpThreads' | 'interOpThreads' | 'graphOptimizationLevel' | 'memoryArena' | 'memoryPattern' | 'allowSpinning' | 'skipHashCheck'>
> &
  LoadOptions;

/** Options for {@link FusionModel.fuse}. Defaults are in {@link DEFAULT_FUSE_OPTIONS}. */
export interface FuseOptions {
  /** HR tile edge in pixels (aligned down to scale x spatial multiple); 0 runs the whole image at once. @defaultValue 0 */
  tile?: number;
  /** HR overlap between tiles in pixels (aligned up). @defaultValue 32 */
  overlap?: number;
  /** Tiles per session run. @defaultValue 1 */
  batch?: number;
  /** Feathering across overlaps. @defaultValue 'cosine' */
  blend?: BlendMode;
  /** Resample an LR-HSI whose wavelengths differ from the card's grid (as the host's `resampling_matrix`). @defaultValue false */
  resample?: boolean;
  /** Compute no-reference consistency (re-degrade and compare with the inputs). @defaultValue true */
  quality?: boolean;
  /** Called after each session run with tiles done and total. */
  onProgress?: (done: number, total: number) => void;
}

type ResolvedFuseOptions = Required<Pick<FuseOptions, 'tile' | 'overlap' | 'batch' | 'blend' | 'resample' | 'quality'>> & FuseOptions;

/** Defaults of {@link FuseOptions}. */
export const DEFAULT_FUSE_OPTIONS: Readonly<ResolvedFuseOptions> = Object.freeze({
  tile: 0,
  overlap: 32,
  batch: 1,
  blend: 'cosine',
  resample: false,
  quality: true,
});

/** Milliseconds spent in each stage of one {@link FusionModel.fuse} call. */
export interface FuseTiming {
  validateMs: number;
  resampleMs: number;
  normaliseMs: number;
  /** Sum of session.run calls. */
  inferMs: number;
  /** Tile extraction and blending. */
  stitchMs: number;
  qualityMs: number;
  totalMs: number;
}

/** The fused HR-HSI: a {@link Cube} with timing, tiling and no-reference quality. */
export interface FusedCube extends Cube {
  timing: FuseTiming;
  /** Tiles run (1 for whole-image inference). */
  tiles: number;
  /** Consistency of the output with its inputs; absent when `quality: false`. */
  quality?: ConsistencyReport;
}

/** The input spec a model expects, from its card and graph. */
export interface InputSpec {
  hsiBands: number;
  msiBands: number;
  scale: number;
  /** HR height and width must be multiples of this. */
  hrMultiple: number;
  wavelengths: readonly number[];
  msiBandNames: readonly string[];
  /** Element type of the graph's inputs and output; float16 graphs (fp16 I/O exports) are converted at the boundary. */
  dtype: 'float32' | 'float16';
}

/**
 * An exported fusion student (ONNX + model card) opened on the best available execution provider.
 * @example
 * const model = await FusionModel.load('models/student.onnx', { providers: ['cuda', 'cpu'] });
 * const fused = await model.fuse(lrhsi, hrmsi, { tile: 256 });
 * await model.release();
 */
export class FusionModel {
  private released = false;

  private constructor(
    /** Path of the ONNX file. */
    readonly path: string,
    /** The model card. */
    readonly card: ModelCard,
    /** Providers asked for and granted, with reasons for any fallback. */
    readonly providers: ProviderReport,
    /** What `fuse` accepts. */
    readonly inputSpec: InputSpec,
    private readonly session: InferenceSession,
    private readonly binding: LoadedBinding,
  ) {}

  /**
   * Opens an exported model and its card, checks they agree, and creates a session on the first
   * requested execution provider that works (TensorRT, CUDA, CPU by default).
   * @param path - The `.onnx` file.
   * @param options - See {@link LoadOptions}.
   * @returns The model.
   * @throws {@link ModelFileError} when the ONNX file is missing or onnxruntime cannot parse it.
   * @throws {@link ModelCardError} when the card is missing, malformed, or disagrees with the file (sha256, I/O names, band counts).
   * @throws {@link ProviderUnavailableError} when no requested provider can be granted (or the first, with `requireFirstProvider`).
   */
  static async load(path: string, options: LoadOptions = {}): Promise<FusionModel> {
    if (typeof path !== 'string' || path === '') throw new TypeError(`Expected path to be a non-empty string but received ${String(path)}`);
    const opts = withDefaults(DEFAULT_LOAD_OPTIONS, options);
    const log = opts.log ?? namespacedLogger('spectra:runtime');
    try {
      await access(path);
    } catch (err) {
      throw new ModelFileError(path, 'model file not found; export one with `spectra-distill export` or check the path', { cause: err });
    }
    const cardPath = opts.card ?? cardPathFor(path);
    const card = await readModelCard(cardPath);
    if (!opts.skipHashCheck) {
      const sha = await sha256File(path);
      if (sha !== card.onnx_sha256) {
        throw new ModelCardError(
          cardPath,
          `onnx_sha256 ${card.onnx_sha256.slice(0, 12)}… does not match ${path} (${sha.slice(0, 12)}…); ` +
            'the card belongs to another export: re-export the model or use its own card',
        );
      }
    }
    let binding: LoadedBinding;
    try {
      binding = loadBinding(opts.binding);
    } catch (err) {
      throw new ProviderUnavailableError('cpu', `cannot load onnxruntime binding '${opts.binding ?? process.env.SPECTRA_ORT_BINDING}': ${(err as Error).message}`);
    }
    const { session, report } = await openSession(path, binding, opts, log);
    const spec = checkGraphAgainstCard(session, card, cardPath);
    return new FusionModel(path, card, report, spec, session, binding);
  }

  /**
   * Fuses an LR-HSI and an HR-MSI into an HR-HSI. Inputs are checked synchronously (bad input throws
   * before any native call); inference failures reject.
   * @param lrhsi - B x h x w cube in physical units 0..1 (or raw counts with `meta.valueScale`).
   * @param hrmsi - b x (s*h) x (s*w) cube, same units.
   * @param options - See {@link FuseOptions}.
   * @returns The fused cube with timing and consistency.
   * @throws {@link BandCountError} when a band count differs from the card.
   * @throws {@link WavelengthError} when LR-HSI wavelengths differ from the card's grid (pass `resample: true`) or cannot be resampled.
   * @throws {@link SizeMismatchError} when sizes are not related by the scale or not multiples of the card's spatial multiple.
   * @throws {@link DataTypeError} when data is not a Float32Array of the declared size.
   * @throws {@link NonFiniteError} when an input holds NaN or Inf.
   * @throws {@link ValueRangeError} when values look like raw counts rather than 0..1 units.
   * @throws {@link NoDataError} when an input holds its own no-data value (`meta.dataIgnoreValue`).
   */
  fuse(lrhsi: Cube, hrmsi: Cube, options: FuseOptions = {}): Promise<FusedCube> {
    if (this.released) throw new Error('FusionModel was released; load it again');
    const opts = withDefaults(DEFAULT_FUSE_OPTIONS, options);
    const t0 = performance.now();
    const prepared = this.prepareInputs(lrhsi, hrmsi, opts);
    const validateMs = performance.now() - t0 - prepared.resampleMs - prepared.normaliseMs;
    return this.run(prepared.lr, prepared.hr, opts, { t0, validateMs, resampleMs: prepared.resampleMs, normaliseMs: prepared.normaliseMs });
  }

  /** Frees the native session. The model cannot be used afterwards. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }

  private prepareInputs(
    lrhsi: Cube,
    hrmsi: Cube,
    opts: ResolvedFuseOptions,
  ): { lr: Cube; hr: Cube; resampleMs: number; normaliseMs: number } {
    assertCube(lrhsi, 'lrhsi');
    assertCube(hrmsi, 'hrmsi');
    checkFuseOptions(opts);
    const spec = this.inputSpec;
    if (hrmsi.bands !== spec.msiBands) throw new BandCountError('hrmsi', spec.msiBands, hrmsi.bands);
    let resampleMs = 0;
    let lr = maskNoDataBands(lrhsi);
    const masked = (lr.meta?.bandValid as boolean[] | undefined)?.some((v) => !v) ?? false;
    if (!sameGrid(lrhsi.wavelengths, spec.wavelengths) || (opts.resample && masked)) {
      if (!opts.resample) {
        if (lrhsi.bands !== spec.hsiBands) throw new BandCountError('lrhsi', spec.hsiBands, lrhsi.bands);
        if (lrhsi.meta?.wavelengthsFromHeader === false) {
          throw new WavelengthError(
            `lrhsi carries no wavelengths (its file had none, so bands are numbered 0..${lrhsi.bands - 1}); ` +
              `set them to the model's grid (${describeGrid(spec.wavelengths)}) if that is what the sensor delivers`,
          );
        }
        throw new WavelengthError(
          `lrhsi wavelengths (${describeGrid(lrhsi.wavelengths)}) differ from the model's band grid ` +
            `(${describeGrid(spec.wavelengths)}); pass { resample: true } to resample onto it`,
        );
      }
      if (lrhsi.meta?.wavelengthsFromHeader === false) {
        throw new WavelengthError('lrhsi has no wavelengths (band indices only), so it cannot be resampled; give wavelengths in nm');
      }
      const t = performance.now();
      lr = resampleCube(lr, spec.wavelengths, this.card.hsi.fwhm_nm ?? undefined, this.card.hsi.band_valid);
      resampleMs = performance.now() - t;
    } else {
      lr = zeroMaskedBands(lr, this.card.hsi.band_valid);
    }
    const { scale, hrMultiple } = spec;
    if (hrmsi.height !== lr.height * scale || hrmsi.width !== lr.width * scale) {
      throw new SizeMismatchError(
        `hrmsi is ${hrmsi.height} x ${hrmsi.width} but lrhsi is ${lr.height} x ${lr.width}; ` +
          `at scale ${scale} the hrmsi must be ${lr.height * scale} x ${lr.width * scale}`,
      );
    }
    if (hrmsi.height % hrMultiple !== 0 || hrmsi.width % hrMultiple !== 0) {
      throw new SizeMismatchError(
        `hrmsi is ${hrmsi.height} x ${hrmsi.width}; this model needs HR sizes that are multiples of ${hrMultiple} ` +
          `(crop to ${hrmsi.height - (hrmsi.height % hrMultiple)} x ${hrmsi.width - (hrmsi.width % hrMultiple)})`,
      );
    }
    assertFinite(lr, 'lrhsi');
    assertFinite(hrmsi, 'hrmsi');
    assertNoData(hrmsi, 'hrmsi', []);
    const t = performance.now();
    lr = applyValueScale(lr, 'lrhsi');
    const hr = applyValueScale(hrmsi, 'hrmsi');
    return { lr, hr, resampleMs, normaliseMs: performance.now() - t };
  }

  private async run(
    lr: Cube,
    hr: Cube,
    opts: ResolvedFuseOptions,
    t: { t0: number; validateMs: number; resampleMs: number; normaliseMs: number },
  ): Promise<FusedCube> {
    const { scale, hrMultiple, hsiBands: B } = this.inputSpec;
    const H = hr.height;
    const W = hr.width;
    let out: Float32Array;
    let inferMs = 0;
    let stitchMs = 0;
    const tiles: Tile[] = opts.tile > 0 ? planTiles(H, W, opts.tile, opts.overlap, Math.max(scale, hrMultiple)) : [{ y: 0, x: 0, height: H, width: W }];
    if (tiles.length === 1 && tiles[0].height === H && tiles[0].width === W) {
      const ti = performance.now();
      // The output tensor is a fresh array owned by us: use it as the result instead of copying.
      out = await this.infer(lr.data, hr.data, 1, lr.height, lr.width, H, W);
      inferMs += performance.now() - ti;
      opts.onProgress?.(1, 1);
    } else {
      out = new Float32Array(B * H * W);
      // Tiles form a grid (row starts x column starts) and weights are separable, so the per-pixel weight
      // total is rowSum[y] * colSum[x]: two vectors instead of an H x W plane.
      const rowSum = new Float64Array(H);
      const colSum = new Float64Array(W);
      const { height: th, width: tw } = tiles[0];
      const lh = th / scale;
      const lw = tw / scale;
      const ov = Math.ceil(opts.overlap / Math.max(scale, hrMultiple)) * Math.max(scale, hrMultiple);
      const batch = Math.max(1, Math.min(opts.batch, tiles.length));
      const lrBuf = new Float32Array(batch * lr.bands * lh * lw);
      const hrBuf = new Float32Array(batch * hr.bands * th * tw);
      for (let start = 0; start < tiles.length; start += batch) {
        const group = tiles.slice(start, start + batch);
        let ts = performance.now();
        group.forEach((tile, i) => {
          copyWindow(lr, tile.y / scale, tile.x / scale, lh, lw, lrBuf, i * lr.bands * lh * lw);
          copyWindow(hr, tile.y, tile.x, th, tw, hrBuf, i * hr.bands * th * tw);
        });
        stitchMs += performance.now() - ts;
        const n = group.length;
        const ti = performance.now();
        const result = await this.infer(
          lrBuf.subarray(0, n * lr.bands * lh * lw),
          hrBuf.subarray(0, n * hr.bands * th * tw),
          n,
          lh,
          lw,
          th,
          tw,
        );
        inferMs += performance.now() - ti;
        ts = performance.now();
        group.forEach((tile, i) => {
          const wy = edgeWeights(th, tile.y > 0, tile.y + th < H, ov, opts.blend);
          const wx = edgeWeights(tw, tile.x > 0, tile.x + tw < W, ov, opts.blend);
          accumulate(out, H, W, B, tile, result.subarray(i * B * th * tw, (i + 1) * B * th * tw), wy, wx);
          if (tile.x === 0) for (let y = 0; y < th; y++) rowSum[tile.y + y] += wy[y];
          if (tile.y === 0) for (let x = 0; x < tw; x++) colSum[tile.x + x] += wx[x];
        });
        stitchMs += performance.now() - ts;
        opts.onProgress?.(Math.min(start + batch, tiles.length), tiles.length);
      }
      const ts = performance.now();
      const plane = H * W;
      for (let b = 0; b < B; b++) {
        for (let y = 0; y < H; y++) {
          const o = b * plane + y * W;
          const ry = rowSum[y];
          for (let x = 0; x < W; x++) out[o + x] /= ry * colSum[x];
        }
      }
      stitchMs += performance.now() - ts;
    }
    const fused: Cube = {
      bands: B,
      height: H,
      width: W,
      data: out,
      wavelengths: this.inputSpec.wavelengths,
      ...(this.card.hsi.fwhm_nm ? { fwhm: this.card.hsi.fwhm_nm } : {}),
      meta: {
        ...(hr.meta ?? {}),
        ...(lr.meta ?? {}),
        model: this.card.name,
        precision: this.card.precision ?? 'fp32',
        provider: this.providers.granted,
        valueScale: 1,
      },
    };
    let quality: ConsistencyReport | undefined;
    let qualityMs = 0;
    if (opts.quality) {
      const tq = performance.now();
      quality = consistency(fused, lr, hr, this.card);
      qualityMs = performance.now() - tq;
    }
    return {
      ...fused,
      tiles: tiles.length,
      ...(quality ? { quality } : {}),
      timing: {
        validateMs: t.validateMs,
        resampleMs: t.resampleMs,
        normaliseMs: t.normaliseMs,
        inferMs,
        stitchMs,
        qualityMs,
        totalMs: performance.now() - t.t0,
      },
    };
  }

  /** One session run on N stacked tiles; returns the output tensor's data (N x B x H x W). */
  private async infer(lr: Float32Array, hr: Float32Array, n: number, h: number, w: number, H: number, W: number): Promise<Float32Array> {
    const { Tensor: T } = this.binding.module;
    const half = this.inputSpec.dtype === 'float16';
    const feeds: Record<string, Tensor> = {
      [IO_NAMES.lrhsi]: half ? new T('float16', toHalfBits(lr), [n, this.inputSpec.hsiBands, h, w]) : new T('float32', lr, [n, this.inputSpec.hsiBands, h, w]),
      [IO_NAMES.hrmsi]: half ? new T('float16', toHalfBits(hr), [n, this.inputSpec.msiBands, H, W]) : new T('float32', hr, [n, this.inputSpec.msiBands, H, W]),
    };
    const result = await this.session.run(feeds);
    const y = result[IO_NAMES.hrhsi];
    if (y.type === 'float16') return fromHalfBits(new Uint16Array((y.data as ArrayBufferView).buffer, (y.data as ArrayBufferView).byteOffset, y.size));
    if (!(y.data instanceof Float32Array)) throw new ModelFileError(this.path, `output '${IO_NAMES.hrhsi}' is ${y.type}, expected float32 or float16`);
    return y.data;
  }
}

async function openSession(
  path: string,
  binding: LoadedBinding,
  opts: ResolvedLoadOptions,
  log: Logger,
): Promise<{ session: InferenceSession; report: ProviderReport }> {
  const requested = [...opts.providers];
  if (requested.length === 0) throw new RangeError('Expected at least one execution provider in options.providers');
  const plan = planProviders(requested, binding.backends, binding.honoursProviderOptions);
  const attempts: ProviderAttempt[] = [...plan.skipped];
  const base: InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.intraOpThreads,
    interOpNumThreads: opts.interOpThreads,
    graphOptimizationLevel: opts.graphOptimizationLevel,
    enableCpuMemArena: opts.memoryArena,
    enableMemPattern: opts.memoryPattern,
    executionMode: opts.interOpThreads > 1 ? 'parallel' : 'sequential',
    extra: { session: { intra_op: { allow_spinning: opts.allowSpinning ? '1' : '0' }, inter_op: { allow_spinning: opts.allowSpinning ? '1' : '0' } } },
  };
  const firstName = typeof requested[0] === 'string' ? requested[0] : requested[0].name;
  let session: InferenceSession | undefined;
  let granted: ProviderName | undefined;
  for (const p of plan.candidates) {
    if (opts.requireFirstProvider && p.name !== firstName) break;
    try {
      session = await binding.module.InferenceSession.create(path, {
        ...base,
        executionProviders: [toOrtProvider(p, binding.honoursProviderOptions.includes(p.name))],
      });
      granted = p.name;
      attempts.push({ name: p.name, outcome: 'granted' });
      break;
    } catch (err) {
      const message = (err as Error).message;
      if (p.name === 'cpu') {
        throw new ModelFileError(path, `onnxruntime cannot load the model (${message}); the file is corrupt, not an ONNX model, or newer (IR version / opset) than onnxruntime-node ${binding.version} supports`, { cause: err });
      }
      attempts.push({ name: p.name, outcome: 'failed', reason: message });
    }
  }
  const order = requested.map((r) => (typeof r === 'string' ? r : r.name));
  const ordered = order.map(
    (name) => attempts.find((a) => a.name === name) ?? { name: name as ProviderName, outcome: 'not-tried' as const },
  );
  if (session === undefined || granted === undefined) {
    const why = ordered.map((a) => `${a.name}: ${a.reason ?? a.outcome}`).join('; ');
    throw new ProviderUnavailableError(opts.requireFirstProvider ? firstName : order.join(', '), why);
  }
  const dropped = granted === 'cpu' ? [] : plan.dropped.filter((d) => d.startsWith(`${granted}.`));
  const report: ProviderReport = {
    requested,
    granted,
    attempts: ordered,
    droppedOptions: dropped,
    binding: {
      path: binding.path,
      version: binding.version,
      honoursProviderOptions: binding.honoursProviderOptions,
      backends: binding.backends,
    },
  };
  const fellBack = ordered.filter((a) => a.outcome !== 'granted' && a.outcome !== 'not-tried');
  // A fallback from the built-in default order is expected on CPU-only machines; only an explicit request warns.
  log(
    fellBack.length > 0 && opts.providers !== DEFAULT_PROVIDERS ? 'warn' : 'info',
    `${path}: execution provider '${granted}' granted` +
      (fellBack.length > 0 ? `; fell back from ${fellBack.map((a) => `${a.name} (${a.reason})`).join(', ')}` : ''),
  );
  if (dropped.length > 0) {
    // Stock onnxruntime-node only reads name and deviceId (onnxruntime issue #26854).
    log(
      'warn',
      `DROPPED provider options ${dropped.join(', ')}: binding ${binding.path}@${binding.version} does not forward them ` +
        '(onnxruntime #26854); use a patched binding (devices/jetson) via SPECTRA_ORT_BINDING',
    );
  }
  return { session, report };
}

function checkGraphAgainstCard(session: InferenceSession, card: ModelCard, cardPath: string): InputSpec {
  const missingIn = [IO_NAMES.lrhsi, IO_NAMES.hrmsi].filter((n) => !session.inputNames.includes(n));
  if (missingIn.length > 0 || !session.outputNames.includes(IO_NAMES.hrhsi)) {
    throw new ModelCardError(
      cardPath,
      `graph I/O is (${session.inputNames.join(', ')}) -> (${session.outputNames.join(', ')}); ` +
        `expected (lrhsi, hrmsi) -> (hrhsi) as exported by spectra-distill`,
    );
  }
  const cardIn = Object.keys(card.io.inputs);
  if (!cardIn.includes(IO_NAMES.lrhsi) || !cardIn.includes(IO_NAMES.hrmsi) || !Object.keys(card.io.outputs).includes(IO_NAMES.hrhsi)) {
    throw new ModelCardError(cardPath, `card io names (${cardIn.join(', ')}) do not match the graph (lrhsi, hrmsi -> hrhsi)`);
  }
  const bandsOf = (name: string): number | undefined => {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (meta === undefined || !meta.isTensor) return undefined;
    const dim = meta.shape[1];
    return typeof dim === 'number' && dim > 0 ? dim : undefined;
  };
  for (const [name, expected] of [
    [IO_NAMES.lrhsi, card.hsi.bands],
    [IO_NAMES.hrmsi, card.msi.bands],
  ] as const) {
    const graph = bandsOf(name);
    if (graph !== undefined && graph !== expected) {
      throw new ModelCardError(cardPath, `card says ${expected} bands for '${name}' but the graph's input has ${graph}; the card belongs to another model`);
    }
    const cardDim = card.io.inputs[name].shape[1];
    if (typeof cardDim === 'number' && cardDim !== expected) {
      throw new ModelCardError(cardPath, `io.inputs.${name}.shape[1] = ${cardDim} disagrees with the band count ${expected}`);
    }
  }
  const types = new Set(
    [...session.inputMetadata, ...session.outputMetadata].map((m) => (m.isTensor ? m.type : 'non-tensor')),
  );
  const dtype = types.size === 1 && types.has('float16') ? 'float16' : 'float32';
  if (![...types].every((ty) => ty === dtype)) {
    throw new ModelCardError(cardPath, `graph I/O types are ${[...types].join(', ')}; the SDK runs float32 or float16 graphs with all I/O in one type`);
  }
  const multiple = card.spatial_multiple ?? card.scale;
  return {
    hsiBands: card.hsi.bands,
    msiBands: card.msi.bands,
    scale: card.scale,
    hrMultiple: multiple % card.scale === 0 ? multiple : multiple * card.scale,
    wavelengths: card.hsi.wavelengths_nm,
    msiBandNames: card.msi.band_names ?? card.msi.srf.map((_, i) => `band${i}`),
    dtype,
  };
}

function checkFuseOptions(o: ResolvedFuseOptions): void {
  if (!Number.isInteger(o.tile) || o.tile < 0) throw new RangeError(`Expected options.tile to be an integer >= 0 but received ${o.tile}`);
  if (!Number.isInteger(o.overlap) || o.overlap < 0) throw new RangeError(`Expected options.overlap to be an integer >= 0 but received ${o.overlap}`);
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new RangeError(`Expected options.batch to be an integer >= 1 but received ${o.batch}`);
  if (o.blend !== 'linear' && o.blend !== 'cosine') throw new TypeError(`Expected options.blend 'linear' or 'cosine' but received '${String(o.blend)}'`);
}

/** Defaults overlaid with the given options, ignoring keys set to `undefined` (a plain spread would erase the default). */
function withDefaults<D extends object, O extends object>(defaults: D, options: O): D & O {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as D & O;
}

function sameGrid(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 0.5);
}

function describeGrid(w: readonly number[]): string {
  return w.length === 0 ? 'none' : `${w.length} bands, ${w[0]}..${w[w.length - 1]} nm`;
}

/** Bands of a cube that are no-data everywhere (e.g. EnMAP's water-vapour bands): masked, not fused. */
function maskNoDataBands(cube: Cube): Cube {
  const nodata = cube.meta?.dataIgnoreValue;
  if (typeof nodata !== 'number') return cube;
  const plane = cube.height * cube.width;
  const empty: number[] = [];
  for (let b = 0; b < cube.bands; b++) {
    let all = true;
    for (let p = 0; p < plane && all; p++) all = cube.data[b * plane + p] === nodata;
    if (all) empty.push(b);
  }
  assertNoData(cube, 'lrhsi', empty);
  if (empty.length === 0) return cube;
  const prior = (cube.meta?.bandValid as boolean[] | undefined) ?? new Array<boolean>(cube.bands).fill(true);
  return { ...cube, meta: { ...cube.meta, bandValid: prior.map((v, b) => v && !empty.includes(b)) } };
}

/**
 * Without resampling, bands map one to one onto the model's: a masked input band is acceptable only where the
 * model was trained without it (card `band_valid` false), and then it is fed as zeros, as in training.
 */
function zeroMaskedBands(cube: Cube, modelValid: readonly boolean[] | undefined): Cube {
  const valid = cube.meta?.bandValid as boolean[] | undefined;
  if (valid === undefined || valid.every((v) => v)) return cube;
  const needed = valid.flatMap((v, b) => (!v && (modelValid === undefined || modelValid[b]) ? [b] : []));
  if (needed.length > 0) {
    throw new NoDataError(
      `lrhsi band(s) ${needed.join(', ')} (${needed.map((b) => cube.wavelengths[b]).join(', ')} nm) are no-data or marked bad, ` +
        'but the model uses them; pass { resample: true } to rebuild them from neighbouring bands where the input covers them',
    );
  }
  const plane = cube.height * cube.width;
  const data = cube.data.slice();
  valid.forEach((v, b) => {
    if (!v) data.fill(0, b * plane, (b + 1) * plane);
  });
  return { ...cube, data };
}

/** Pixels equal to the file's no-data value would be fused as if they were radiance; refuse them instead. */
function assertNoData(cube: Cube, name: string, skipBands: readonly number[]): void {
  const nodata = cube.meta?.dataIgnoreValue;
  if (typeof nodata !== 'number') return;
  const plane = cube.height * cube.width;
  let count = 0;
  let first = -1;
  for (let b = 0; b < cube.bands; b++) {
    if (skipBands.includes(b)) continue;
    for (let p = 0; p < plane; p++) {
      if (cube.data[b * plane + p] === nodata) {
        if (first < 0) first = b * plane + p;
        count++;
      }
    }
  }
  if (count > 0) {
    const p = first % plane;
    throw new NoDataError(
      `${name} holds ${count} no-data values (${nodata}), first at x=${p % cube.width}, y=${Math.floor(p / cube.width)} ` +
        `in band ${Math.floor(first / plane)}; crop to a gap-free window or fill them before fusing`,
    );
  }
}

/** Raw counts are divided by `meta.valueScale`; values far above 1 without it mean the scale was forgotten. */
function applyValueScale(cube: Cube, name: string): Cube {
  const scale = cube.meta?.valueScale;
  let data = cube.data;
  if (typeof scale === 'number' && scale !== 1) {
    if (!(scale > 0)) throw new RangeError(`Expected ${name}.meta.valueScale > 0 but received ${scale}`);
    data = new Float32Array(cube.data.length);
    const inv = 1 / scale;
    for (let i = 0; i < data.length; i++) data[i] = cube.data[i] * inv;
  }
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] > max) max = data[i];
  if (max > 4) {
    throw new ValueRangeError(
      `${name} values reach ${max}, but the model takes physical units 0..1; ` +
        `set ${name}.meta.valueScale to the raw full scale (e.g. 65535 for 16-bit CAVE, 10000 for reflectance x 1e4)`,
    );
  }
  return data === cube.data ? cube : { ...cube, data, meta: { ...(cube.meta ?? {}), valueScale: 1 } };
}

function copyWindow(cube: Cube, top: number, left: number, h: number, w: number, dst: Float32Array, offset: number): void {
  const { height: H, width: W, data } = cube;
  for (let b = 0; b < cube.bands; b++) {
    for (let y = 0; y < h; y++) {
      const src = (b * H + top + y) * W + left;
      dst.set(data.subarray(src, src + w), offset + (b * h + y) * w);
    }
  }
}

function accumulate(
  out: Float32Array,
  H: number,
  W: number,
  B: number,
  tile: Tile,
  pred: Float32Array,
  wy: Float32Array,
  wx: Float32Array,
): void {
  const { height: th, width: tw } = tile;
  for (let b = 0; b < B; b++) {
    for (let y = 0; y < th; y++) {
      const row = (b * H + tile.y + y) * W + tile.x;
      const src = (b * th + y) * tw;
      const w0 = wy[y];
      for (let x = 0; x < tw; x++) out[row + x] += w0 * wx[x] * pred[src + x];
    }
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const size = (await stat(path)).size;
  if (size === 0) throw new ModelFileError(path, 'model file is empty; re-export or copy it again');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
