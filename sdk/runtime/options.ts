import type { MsiResponse } from '../camera/response';
import type { Cube } from '../cube/cube';
import type { ConsistencyReport, MsiAgreement } from '../quality/consistency';
import type { Logger } from '../core/log';
import type { RowSink } from '../cube/row-sink';
import { DEFAULT_PROVIDERS, type ProviderRequest } from './providers';
import type { BlendMode } from './tiling';
import type { VariantRequest } from './variants';
import type { SrfFitReport } from '../spectral/srf-fit';
import type { BlurFitReport } from '../spectral/blur-fit';
import type { MsiDetailReport } from '../spectral/msi-detail';

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
  /**
   * onnxruntime's graph optimisation level. Not 'all': its NCHWc layout transformation converts the convs' layout at
   * every boundary, which made the 206-band students 10-20 % slower on the CPU at 32-64 LR px and the CAVE-grid
   * ones no faster (`scripts/bench/graph_optimization.py`, `results/bench/graph-optimization.json`).
   * @defaultValue 'extended'
   */
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
  /**
   * Which precision of the student to open. Omitted, the file given is opened as it is. `'fp32'`, `'fp16'` or
   * `'int8'` open that sibling (`<stem>.onnx`, `<stem>.fp16.onnx`, `<stem>.int8.onnx`, each with its card) and
   * throw {@link ModelFileError} naming the missing file and the `spectra quantize` command that makes it.
   * `'auto'` opens fp32, then picks by the provider granted ({@link VARIANT_PREFERENCE}): cpu fp32 only (int8
   * and fp16 measured about 45 % and 1.5x slower than fp32 on onnxruntime's CPU provider), tensorrt
   * int8 > fp16 > fp32, cuda fp16 > fp32. A variant is skipped when its card's `quantization.source_onnx_sha256`
   * is not the fp32 card's `onnx_sha256` (stale) or its `quantization.quality.psnr_delta_db` is below
   * `-maxQualityLossDb`. The decision and every candidate's reason are on `model.variant`, and logged at info.
   * @defaultValue undefined (the file given)
   */
  variant?: VariantRequest;
  /** With `variant: 'auto'`: the most PSNR (dB, vs fp32 on held-out samples) a variant may lose. @defaultValue 0.5 */
  maxQualityLossDb?: number;
  /** Replaces the `spectra:runtime` logger. */
  log?: Logger;
}

/** Defaults of {@link LoadOptions}. */
export const DEFAULT_LOAD_OPTIONS: Readonly<ResolvedLoadOptions> = Object.freeze({
  providers: DEFAULT_PROVIDERS,
  requireFirstProvider: false,
  intraOpThreads: 0,
  interOpThreads: 0,
  graphOptimizationLevel: 'extended',
  memoryArena: true,
  memoryPattern: true,
  allowSpinning: false,
  skipHashCheck: false,
});

/** @internal */
export type ResolvedLoadOptions = Required<
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
  /**
   * The HR-MSI camera's response on the model grid (from a camera profile's SRF, or
   * `model.estimateMsiResponse`). When given, the HR-MSI may have any band count: it is mapped onto the
   * card's MSI bands first (`msiToModelBands`), so a camera whose bands differ from the training SRF feeds
   * the model what it was trained on.
   */
  msiResponse?: MsiResponse;
  /**
   * `'subspace'`: project the output onto the signal subspace the LR-HSI shows (`signalSubspace`), removing the
   * sensor noise the network passes on, and feed the network the LR-HSI denoised with the HR-MSI's help first
   * (`msiGuided`; measured: docs/new-camera.md §7). Per pixel after one whole-frame step, so tiles and streamed rows
   * get exactly what the whole image would. `'auto'`: do so only for a capture whose LR-HSI SNR is below
   * `AUTO_DENOISE_SNR_DB` (40 dB); the result's `denoise` says what was measured and done. @defaultValue 'auto'
   */
  denoise?: 'auto' | 'none' | 'subspace';
  /** Called after each session run with tiles done and total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Cancels the run between session runs (a running `session.run` finishes first); the call rejects with the
   * signal's reason, and {@link FusionModel.fuseToFile} removes its temporary file.
   */
  signal?: AbortSignal;
}

/** @internal */
export type ResolvedFuseOptions = Required<Pick<FuseOptions, 'tile' | 'overlap' | 'batch' | 'blend' | 'resample' | 'quality' | 'denoise'>> & FuseOptions;

/** Defaults of {@link FuseOptions}. */
export const DEFAULT_FUSE_OPTIONS: Readonly<ResolvedFuseOptions> = Object.freeze({
  tile: 0,
  overlap: 32,
  batch: 1,
  blend: 'cosine',
  resample: false,
  quality: true,
  denoise: 'auto',
});

/** Options for {@link FusionModel.fuseToFile}: those of {@link FuseOptions} plus the ENVI layout. */
export interface FuseToFileOptions extends FuseOptions {
  /** `'bsq'` (band-sequential, positional writes) or `'bil'` (band-interleaved by line, written front to back). @defaultValue 'bsq' */
  interleave?: 'bsq' | 'bil';
  /** Extra ENVI header fields; `description` replaces the default one. */
  extra?: Record<string, string>;
  /** Also receives every chunk, after it is written (e.g. to keep a few bands for a preview). */
  tee?: RowSink;
  /**
   * Write only the valid bands (`meta.bandValid`: covered by the input and learnt by the model) instead of every
   * model band with invalid ones as zeros marked in `bbl`. `tee` still receives every band. @defaultValue false
   */
  coveredOnly?: boolean;
}

/** Milliseconds spent in each stage of one {@link FusionModel.fuse} call. */
export interface FuseTiming {
  validateMs: number;
  resampleMs: number;
  normaliseMs: number;
  /** Sum of session.run calls. */
  inferMs: number;
  /** Tile extraction and blending (on the streaming path also the sink's writes). */
  stitchMs: number;
  /** Noise estimate, signal subspace and the output's projection onto it (0 with `denoise: 'none'`). */
  denoiseMs: number;
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
  /** The LR-HSI's SNR and whether the output was projected onto its signal subspace; absent with `denoise: 'none'`. */
  denoise?: { snrDb: number; projected: boolean; rank?: number };
  /** Whether the HR-MSI fits the model's MSI response (and what to do if not); absent when `quality: false`. */
  msiAgreement?: MsiAgreement;
  /** The MSI response the statistics graph fitted to this frame, which the fusion used; absent for a model that fits none (card `msi.per_frame`). */
  srfFit?: SrfFitReport;
  /** Where the statistics graph found the LR-HSI's blur on this frame, which the fusion used; absent for a model that searches for no shift (card `psf.per_frame.shift_taps`). */
  blurFit?: BlurFitReport;
  /** How much of each HR-MSI band's detail the fusion kept for the noise it measured; absent for a model that measures none (card `msi.denoise`). */
  msiDetail?: MsiDetailReport;
}

/** What {@link FusionModel.fuseStream} returns: a {@link FusedCube} without its pixels, which went to the sink. */
export type StreamedFuse = Omit<FusedCube, 'data'>;

/** The input spec a model expects, from its card and graph. */
export interface InputSpec {
  hsiBands: number;
  msiBands: number;
  scale: number;
  /** HR height and width must be multiples of this. */
  hrMultiple: number;
  /** LR height and width must be at least this (the graph's mirror frame). */
  minLrSize: number;
  wavelengths: readonly number[];
  msiBandNames: readonly string[];
  /** Element type of the graph's inputs and output; float16 graphs (fp16 I/O exports) are converted at the boundary. */
  dtype: 'float32' | 'float16';
}

/** @internal */
export function checkFuseOptions(o: ResolvedFuseOptions): void {
  if (!Number.isInteger(o.tile) || o.tile < 0) throw new RangeError(`Expected options.tile to be an integer >= 0 but received ${o.tile}`);
  if (!Number.isInteger(o.overlap) || o.overlap < 0) throw new RangeError(`Expected options.overlap to be an integer >= 0 but received ${o.overlap}`);
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new RangeError(`Expected options.batch to be an integer >= 1 but received ${o.batch}`);
  if (o.blend !== 'linear' && o.blend !== 'cosine') throw new TypeError(`Expected options.blend 'linear' or 'cosine' but received '${String(o.blend)}'`);
  if (o.denoise !== 'auto' && o.denoise !== 'none' && o.denoise !== 'subspace') throw new TypeError(`Expected options.denoise 'auto', 'none' or 'subspace' but received '${String(o.denoise)}'`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError('Expected options.signal to be an AbortSignal');
}

