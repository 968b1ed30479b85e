import { access, readdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { type MsiResponseEstimate, estimateMsiResponse, msiToModelBands } from '../camera/response';
import type { Cube } from '../cube/cube';
import { assertCube, assertFinite } from '../cube/create';
import { BandCountError, ModelCardError, ModelFileError, ProviderUnavailableError, SizeMismatchError, WavelengthError } from '../core/errors';
import { type ConsistencyReport, type DegradationModel, type MsiAgreement, consistency, consistencyHeader, msiAgreement } from '../quality/consistency';
import { sameGrid, selectBandGrid, srfOnValidBands, toModelGrid } from '../spectral/coverage';
import { type PsfEstimate, estimatePsfSigma } from '../spectral/psf-estimate';
import { fittedSrf } from '../spectral/srf-fit';
import { fittedBlur, isCentred } from '../spectral/blur-fit';
import { msiDetailGains } from '../spectral/msi-detail';
import { cardPsf, spatialDegrade } from '../spectral/psf';
import { bandValidity } from '../cube/band-validity';
import { type LoadedBinding, loadBinding } from './binding';
import { fromHalfBits, toHalfBits } from './half';
import { applyValueScale, assertNoData, describeGrid, maskNoDataBands, zeroMaskedBands } from './inputs';
import { type Logger, namespacedLogger } from '../core/log';
import { IO_NAMES, type ModelCard, cardPathFor, readModelCard } from '../core/model-card';
import {
  DEFAULT_FUSE_OPTIONS,
  DEFAULT_LOAD_OPTIONS,
  type FuseOptions,
  type FuseToFileOptions,
  type FusedCube,
  type StreamedFuse,
  type InputSpec,
  type LoadOptions,
  type ResolvedFuseOptions,
  type ResolvedLoadOptions,
  checkFuseOptions,
} from './options';
import { withDefaults } from '../core/defaults';
import type { ProviderReport, TensorRtProvider } from './providers';
import { FrameStatisticsGraph } from './frame-statistics';
import { checkGraphAgainstCard, openSession, sha256File } from './session';
import { bandValidHeader } from '../cube/envi';
import { EnviRowWriter } from '../cube/envi-writer';
import type { RowSink } from '../cube/row-sink';
import { StripConsistency } from './strip-consistency';
import { AUTO_DENOISE_SNR_DB, type DenoiseDecision, autoSubspace, msiGuided, projectRows } from '../spectral/subspace';
import { StripStitcher, emitRows, stripCapacity } from './strip-stitcher';
import { type Tile, copyWindow, planTiles } from './tiling';
import { DEFAULT_MAX_QUALITY_LOSS_DB, type VariantChoice, chooseVariant, explicitVariantPath, fp32PathOf, variantOfPath } from './variants';
export { DEFAULT_FUSE_OPTIONS, DEFAULT_LOAD_OPTIONS } from './options';
export type { FuseOptions, FuseToFileOptions, FusedCube, FuseTiming, InputSpec, LoadOptions, StreamedFuse } from './options';
export type { RowSink } from '../cube/row-sink';


/** What {@link FusionModel.networkInputs} returns. */
export interface NetworkInputs {
  /** On the model grid, in the units the network takes; bands not in `bandValid` are zeros. */
  lrhsi: Cube;
  /** On the card's MSI bands, in the units the network takes. */
  hrmsi: Cube;
  /** Per model band: covered by the input and learnt by the model. */
  bandValid: boolean[];
}

/** Inputs checked, resampled and scaled for the graph, with their tile plan and what preparing them cost. */
interface PreparedInputs {
  /** The LR-HSI as captured, on the model grid and in the network's units: what the checks compare the output with. */
  captured: Cube;
  hr: Cube;
  tiles: Tile[];
  /**
   * Per model band: the input covers it and the model learnt it. Other bands were fed as zeros (as training
   * feeds masked bands), are written as zeros and are skipped by the consistency check.
   */
  bandValid: boolean[];
  /** What `denoise` measured and decided (with the subspace the output is projected onto); absent with `denoise: 'none'`. */
  denoise?: DenoiseDecision;
  /** Time spent deciding {@link PreparedInputs.denoise}. */
  subspaceMs: number;
  /** `performance.now()` when the call began: `timing.totalMs` counts from here. */
  t0: number;
  validateMs: number;
  resampleMs: number;
  normaliseMs: number;
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
  /** Engine-cache directory to verify after the first run (a binding may claim to forward options and still drop them). */
  private engineCacheToVerify: string | undefined;
  /** Which precision was opened and why (see {@link LoadOptions.variant}). */
  variant: VariantChoice;

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
    private readonly log: Logger,
    private readonly frameStatistics: FrameStatisticsGraph | undefined,
  ) {
    const trt = providers.requested.find((p): p is TensorRtProvider => typeof p === 'object' && p.name === 'tensorrt');
    if (providers.granted === 'tensorrt' && trt?.engineCacheDir !== undefined && !providers.droppedOptions.includes('tensorrt.engineCacheDir')) {
      this.engineCacheToVerify = trt.engineCacheDir;
    }
    this.variant = { chosen: card.precision ?? variantOfPath(path), path, reason: 'the file given', considered: [] };
  }

  /**
   * Opens an exported model and its card, checks they agree, and creates a session on the first
   * requested execution provider that works (TensorRT, CUDA, CPU by default).
   * @param path - The `.onnx` file.
   * @param options - See {@link LoadOptions}.
   * @returns The model.
   * @throws {@link ModelFileError} when the ONNX file (or the requested `variant`'s file or card) is missing or onnxruntime cannot parse it.
   * @throws {@link ModelCardError} when the card is missing, malformed, or disagrees with the file (sha256, I/O names, band counts).
   * @throws {@link ProviderUnavailableError} when no requested provider can be granted (or the first, with `requireFirstProvider`).
   */
  static async load(path: string, options: LoadOptions = {}): Promise<FusionModel> {
    if (typeof path !== 'string' || path === '') throw new TypeError(`Expected path to be a non-empty string but received ${String(path)}`);
    const opts = withDefaults(DEFAULT_LOAD_OPTIONS, options);
    const log = opts.log ?? namespacedLogger('spectra:runtime');
    const variant = opts.variant;
    if (variant !== undefined && !['fp32', 'fp16', 'int8', 'auto'].includes(variant)) {
      throw new TypeError(`Expected options.variant 'fp32', 'fp16', 'int8' or 'auto' but received '${String(variant)}'`);
    }
    const maxLoss = opts.maxQualityLossDb ?? DEFAULT_MAX_QUALITY_LOSS_DB;
    if (typeof maxLoss !== 'number' || !(maxLoss >= 0)) throw new RangeError(`Expected options.maxQualityLossDb to be a number >= 0 but received ${String(maxLoss)}`);
    if (variant !== undefined && variant !== 'auto' && opts.card !== undefined) {
      throw new TypeError('options.card and options.variant both name a card; give one');
    }
    if (variant === undefined) return FusionModel.open(path, opts, log);
    if (variant !== 'auto') {
      const model = await FusionModel.open(await explicitVariantPath(path, variant), opts, log);
      model.variant = { ...model.variant, chosen: variant, reason: `requested (variant: '${variant}')` };
      log('info', `variant ${variant}: ${model.path} (requested)`);
      return model;
    }
    // The rule depends on the provider actually granted, which only opening a session tells; the fp32 file is
    // the one that always exists, so it is opened first and kept unless a preferred variant opens on the same provider.
    const fp32 = await FusionModel.open(fp32PathOf(path), { ...opts, card: undefined }, log);
    const choice = await chooseVariant(path, fp32.providers.granted, maxLoss);
    if (choice.chosen === 'fp32') {
      fp32.variant = choice;
      log('info', `variant fp32 on ${fp32.providers.granted}: ${choice.reason}`);
      return fp32;
    }
    const grantedRequest = fp32.providers.requested.find((p) => (typeof p === 'string' ? p : p.name) === fp32.providers.granted) ?? fp32.providers.granted;
    try {
      const model = await FusionModel.open(choice.path, { ...opts, card: undefined, providers: [grantedRequest], requireFirstProvider: true }, log);
      await fp32.release();
      model.variant = choice;
      log('info', `variant ${choice.chosen} on ${model.providers.granted}: ${choice.reason}`);
      return model;
    } catch (err) {
      fp32.variant = { ...choice, chosen: 'fp32', path: fp32.path, reason: `${choice.chosen} failed to open on ${fp32.providers.granted} (${(err as Error).message}); kept fp32` };
      log('warn', `variant fp32: ${fp32.variant.reason}`);
      return fp32;
    }
  }

  private static async open(path: string, opts: ResolvedLoadOptions, log: Logger): Promise<FusionModel> {
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
    const { session, report } = await openSession(path, binding, opts, log, card);
    try {
      const spec = checkGraphAgainstCard(session, card, cardPath);
      const stats = await FrameStatisticsGraph.open(path, card, cardPath, binding, !opts.skipHashCheck);
      return new FusionModel(path, card, report, spec, session, binding, log, stats);
    } catch (err) {
      await session.release();
      throw err;
    }
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
   * @throws {@link SizeMismatchError} when sizes are not related by the scale, not multiples of the card's spatial multiple, or below its `min_lr_size`.
   * @throws RangeError when an option is out of range, e.g. `tile` gives tiles below the card's `min_lr_size`.
   * @throws {@link DataTypeError} when data is not a Float32Array of the declared size.
   * @throws {@link NonFiniteError} when an input holds NaN or Inf.
   * @throws {@link ValueRangeError} when values look like raw counts rather than 0..1 units.
   * @throws {@link NoDataError} when an input holds its own no-data value (`meta.dataIgnoreValue`).
   */
  fuse(lrhsi: Cube, hrmsi: Cube, options: FuseOptions = {}): Promise<FusedCube> {
    if (this.released) throw new Error('FusionModel was released; load it again');
    const opts = withDefaults(DEFAULT_FUSE_OPTIONS, options);
    return this.run(this.prepareInputs(lrhsi, hrmsi, opts), opts);
  }

  /**
   * Which model bands a fusion of this LR-HSI will fill: those the input covers (after resampling, with
   * `resample`) and the model learnt. The rest are fed as zeros, written as zeros and marked false in the
   * output's `meta.bandValid`. Runs the same checks and resampling as {@link FusionModel.fuse}, without inference.
   * @param lrhsi - The LR-HSI.
   * @param options - `resample` as for {@link FusionModel.fuse}.
   * @returns One flag per model band.
   * @throws {@link WavelengthError} when the input is off the model grid without `resample`, or covers no model band.
   * @throws {@link NoDataError} when a band the model needs is no-data and `resample` is off.
   */
  bandCoverage(lrhsi: Cube, options: Pick<FuseOptions, 'resample'> = {}): boolean[] {
    assertCube(lrhsi, 'lrhsi');
    return this.validModelBands(this.onModelGrid(lrhsi, options.resample ?? DEFAULT_FUSE_OPTIONS.resample));
  }

  /**
   * The inputs exactly as the network receives them, without inference: the LR-HSI on the model grid (resampled
   * with `resample`, uncovered bands zero), both divided by their value scale, the HR-MSI mapped onto the card's
   * MSI bands (`msiResponse`). For host tools that train on a camera's captures (`spectra adapt`).
   * @param lrhsi - As for {@link FusionModel.fuse}.
   * @param hrmsi - As for {@link FusionModel.fuse}.
   * @param options - `resample` and `msiResponse` as for {@link FusionModel.fuse}.
   * @returns Both cubes and the valid model bands (covered and learnt).
   * @throws The same errors as {@link FusionModel.fuse} for bad input.
   */
  networkInputs(lrhsi: Cube, hrmsi: Cube, options: Pick<FuseOptions, 'resample' | 'msiResponse'> = {}): NetworkInputs {
    const prepared = this.prepareInputs(lrhsi, hrmsi, withDefaults(DEFAULT_FUSE_OPTIONS, options));
    return { lrhsi: prepared.captured, hrmsi: prepared.hr, bandValid: prepared.bandValid };
  }

  private validModelBands(lr: Cube): boolean[] {
    return bandValidity(lr).map((v, b) => v && (this.card.hsi.band_valid?.[b] ?? true));
  }

  /** The LR-HSI on the model's band grid: as given, with masked bands zeroed, or resampled (`resample`). */
  private onModelGrid(lrhsi: Cube, resample: boolean): Cube {
    const spec = this.inputSpec;
    let lr = maskNoDataBands(lrhsi);
    const masked = (lr.meta?.bandValid as boolean[] | undefined)?.some((v) => !v) ?? false;
    if (!sameGrid(lrhsi.wavelengths, spec.wavelengths) || (resample && masked)) {
      if (!resample) {
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
      // What the input covers is resampled; the rest stays zero and is marked, as training treats masked bands.
      return toModelGrid(lr, { wavelengths: spec.wavelengths, fwhm: this.card.hsi.fwhm_nm ?? undefined, bandValid: this.card.hsi.band_valid }).cube;
    }
    return zeroMaskedBands(lr, this.card.hsi.band_valid);
  }

  /**
   * Estimates the HR-MSI camera's spectral response from the pair itself (CNMF-style non-negative fit at the
   * LR-HSI's resolution, see `estimateMsiResponse`), on this model's band grid and with its PSF. Pass the result
   * as `msiResponse` to {@link FusionModel.fuse} when the camera's response is unknown or differs from the card's.
   * @param lrhsi - The LR-HSI (raw counts with `meta.valueScale`, or 0..1).
   * @param hrmsi - The HR-MSI, any band count, same scale relation as for fuse.
   * @param options - `resample` as for {@link FusionModel.fuse}.
   * @returns The response, its misfit, centroids and gains.
   * @throws The input errors of {@link FusionModel.fuse}.
   */
  estimateMsiResponse(lrhsi: Cube, hrmsi: Cube, options: Pick<FuseOptions, 'resample'> = {}): MsiResponseEstimate {
    const lr = this.checkedPair(lrhsi, hrmsi, options);
    const psf = cardPsf(this.card.psf);
    return estimateMsiResponse(applyValueScale(lr, 'lrhsi'), this.validModelBands(lr), applyValueScale(hrmsi, 'hrmsi'), this.card.scale, psf);
  }

  /**
   * Estimates the camera's PSF width from the pair itself (see `estimatePsfSigma`) with this model's scale, kernel
   * size and SRF. The physics students carry the card's PSF inside the graph: when the estimate differs from
   * `card.psf.sigma` by more than ~0.2 px, retarget the model (`spectra retarget-psf`), which on the test scenes
   * recovered 5-8 dB a misdescribed blur costs.
   * @param lrhsi - The LR-HSI (raw counts with `meta.valueScale`, or 0..1).
   * @param hrmsi - The HR-MSI on the model's MSI bands, same scale relation as for fuse.
   * @param options - `resample` as for {@link FusionModel.fuse}.
   * @returns The estimate and its misfit curve.
   * @throws The input errors of {@link FusionModel.fuse}.
   */
  estimatePsf(lrhsi: Cube, hrmsi: Cube, options: Pick<FuseOptions, 'resample'> = {}): PsfEstimate {
    const lr = this.checkedPair(lrhsi, hrmsi, options);
    if (hrmsi.bands !== this.inputSpec.msiBands) throw new BandCountError('hrmsi', this.inputSpec.msiBands, hrmsi.bands);
    if (hrmsi.height !== lr.height * this.card.scale || hrmsi.width !== lr.width * this.card.scale) {
      throw new SizeMismatchError(`hrmsi is ${hrmsi.height} x ${hrmsi.width} but lrhsi is ${lr.height} x ${lr.width}; at scale ${this.card.scale} they must match`);
    }
    const valid = this.validModelBands(lr);
    return estimatePsfSigma(applyValueScale(lr, 'lrhsi'), applyValueScale(hrmsi, 'hrmsi'), this.card.scale, this.card.psf.kernel_size, srfOnValidBands(this.card.msi.srf, valid));
  }

  /**
   * What `denoise: 'auto'` decides for this LR-HSI: its SNR measured as fuse measures it (on the model grid, after
   * resampling, which averages neighbouring bands and hides part of their noise) and whether fuse projects.
   * @param lrhsi - The LR-HSI (raw counts with `meta.valueScale`, or 0..1).
   * @param options - `resample` as for {@link FusionModel.fuse}.
   * @returns The SNR (dB, median over the valid bands) and the decision.
   * @throws The LR-HSI errors of {@link FusionModel.fuse}.
   */
  denoiseDecision(lrhsi: Cube, options: Pick<FuseOptions, 'resample'> = {}): { snrDb: number; projected: boolean } {
    assertCube(lrhsi, 'lrhsi');
    const lr = this.onModelGrid(lrhsi, options.resample ?? DEFAULT_FUSE_OPTIONS.resample);
    assertFinite(lr, 'lrhsi');
    const d = autoSubspace(lr, this.validModelBands(lr));
    return { snrDb: d.snrDb, projected: d.subspace !== undefined };
  }

  /** The checks the estimators share with fuse; returns the LR-HSI on the model grid. */
  private checkedPair(lrhsi: Cube, hrmsi: Cube, options: Pick<FuseOptions, 'resample'>): Cube {
    assertCube(lrhsi, 'lrhsi');
    assertCube(hrmsi, 'hrmsi');
    const lr = this.onModelGrid(lrhsi, options.resample ?? DEFAULT_FUSE_OPTIONS.resample);
    assertFinite(lr, 'lrhsi');
    assertFinite(hrmsi, 'hrmsi');
    return lr;
  }

  /** Frees the native session. The model cannot be used afterwards. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
    await this.frameStatistics?.release();
  }

  private prepareInputs(
    lrhsi: Cube,
    hrmsi: Cube,
    opts: ResolvedFuseOptions,
  ): PreparedInputs {
    const t0 = performance.now();
    assertCube(lrhsi, 'lrhsi');
    assertCube(hrmsi, 'hrmsi');
    checkFuseOptions(opts);
    const spec = this.inputSpec;
    const response = opts.msiResponse;
    const msiBands = response ? response.matrix.length : spec.msiBands;
    if (hrmsi.bands !== msiBands) throw new BandCountError(response ? 'hrmsi (its msiResponse)' : 'hrmsi', msiBands, hrmsi.bands);
    if (response && response.matrix.some((row) => row.length !== spec.hsiBands)) {
      throw new BandCountError('msiResponse rows (model HSI bands)', spec.hsiBands, response.matrix.find((row) => row.length !== spec.hsiBands)!.length);
    }
    const t = performance.now();
    let lr = this.onModelGrid(lrhsi, opts.resample);
    const resampleMs = lr === lrhsi ? 0 : performance.now() - t;
    const { scale, hrMultiple, minLrSize } = spec;
    if (lr.height < minLrSize || lr.width < minLrSize) {
      throw new SizeMismatchError(
        `lrhsi is ${lr.height} x ${lr.width}; this model needs at least ${minLrSize} x ${minLrSize} LR pixels ` +
          `(its graph mirrors ${minLrSize} pixels at each edge)`,
      );
    }
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
    const tiles = this.planFor(hrmsi.height, hrmsi.width, opts);
    const bandValid = this.validModelBands(lr);
    const tn = performance.now();
    lr = applyValueScale(lr, 'lrhsi');
    let hr = applyValueScale(hrmsi, 'hrmsi');
    if (response) hr = msiToModelBands(hr, response, srfOnValidBands(this.card.msi.srf, bandValid), lr);
    const normaliseMs = performance.now() - tn;
    const td = performance.now();
    const denoise = opts.denoise === 'none' ? undefined : autoSubspace(lr, bandValid, opts.denoise === 'subspace' ? Infinity : AUTO_DENOISE_SNR_DB);
    const subspaceMs = denoise ? performance.now() - td : 0;
    return {
      captured: lr,
      hr,
      tiles,
      bandValid,
      ...(denoise ? { denoise } : {}),
      subspaceMs,
      t0,
      validateMs: performance.now() - t0 - resampleMs - normaliseMs - subspaceMs,
      resampleMs,
      normaliseMs,
    };
  }

  /**
   * Runs the model and hands finished output rows to `sink`, top to bottom. With `tile > 0` only a strip of
   * output (at most the tile height plus the rows a batch spans) is resident, so peak memory follows the tile
   * size, not the scene; the inputs themselves stay in memory (an HR-MSI of 3-4 bands is a tenth of a 31-band
   * output). Rows are bit-identical to {@link FusionModel.fuse} with the same options. Without tiling the
   * whole output is computed first, then streamed.
   * @param lrhsi - As for {@link FusionModel.fuse}.
   * @param hrmsi - As for {@link FusionModel.fuse}.
   * @param sink - Receives the rows; its rejection stops the run and rejects this call.
   * @param options - See {@link FuseOptions}; `quality` is computed from the rows as they pass.
   * @returns The output's shape, band grid, metadata, timing, tile count and quality (no pixel data).
   * @throws The same errors as {@link FusionModel.fuse}, synchronously, for bad input.
   * @example
   * const rows: RowSink = { writeRows: (y0, chunk) => socket.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)) };
   * const summary = await model.fuseStream(lrhsi, hrmsi, rows, { tile: 288 });
   */
  fuseStream(lrhsi: Cube, hrmsi: Cube, sink: RowSink, options: FuseOptions = {}): Promise<StreamedFuse> {
    if (this.released) throw new Error('FusionModel was released; load it again');
    if (typeof sink !== 'object' || sink === null || typeof sink.writeRows !== 'function') {
      throw new TypeError('Expected sink to be an object with a writeRows(y0, rows) method');
    }
    const opts = withDefaults(DEFAULT_FUSE_OPTIONS, options);
    return this.stream(this.prepareInputs(lrhsi, hrmsi, opts), opts, sink);
  }

  /**
   * Fuses straight into an ENVI float32 file (`<stem>.hdr` + `<stem>.img`) through {@link FusionModel.fuseStream}:
   * tiled runs never hold the whole output. BSQ by default (positional writes per band), or BIL. The data is
   * written to a temporary sibling and renamed, header last, only when complete; on any failure nothing is
   * left at the target. With `quality` the consistency scores go into the header (`spectra consistency`).
   * @param lrhsi - As for {@link FusionModel.fuse}.
   * @param hrmsi - As for {@link FusionModel.fuse}.
   * @param hdrPath - Output header path ending in `.hdr`.
   * @param options - See {@link FuseToFileOptions}.
   * @returns As {@link FusionModel.fuseStream}, plus the paths written.
   * @throws The same errors as {@link FusionModel.fuse}, synchronously, for bad input.
   * @throws {@link OutputWriteError} (rejection) when the output cannot be written: missing directory, no permission, disk full.
   * @example
   * const out = await model.fuseToFile(lrhsi, hrmsi, 'out/fused.hdr', { tile: 288, overlap: 32 });
   * console.log(out.data, out.quality?.spatial.psnr);
   */
  fuseToFile(lrhsi: Cube, hrmsi: Cube, hdrPath: string, options: FuseToFileOptions = {}): Promise<StreamedFuse & { header: string; data: string }> {
    if (typeof hdrPath !== 'string' || !/\.hdr$/i.test(hdrPath)) throw new TypeError(`Expected hdrPath to end in .hdr but received ${String(hdrPath)}`);
    if (this.released) throw new Error('FusionModel was released; load it again');
    const { interleave, extra, tee, coveredOnly, ...fuseOptions } = options;
    if (tee !== undefined && typeof tee?.writeRows !== 'function') throw new TypeError('Expected options.tee to be an object with a writeRows(y0, rows) method');
    const opts = withDefaults(DEFAULT_FUSE_OPTIONS, fuseOptions);
    return this.streamToEnvi(this.prepareInputs(lrhsi, hrmsi, opts), hdrPath, opts, { interleave, extra, tee, coveredOnly });
  }

  private async streamToEnvi(
    input: PreparedInputs,
    hdrPath: string,
    opts: ResolvedFuseOptions,
    file: Pick<FuseToFileOptions, 'interleave' | 'extra' | 'tee' | 'coveredOnly'>,
  ): Promise<StreamedFuse & { header: string; data: string }> {
    const full = this.outputHeader(input.captured, input.hr, input.bandValid);
    const kept = input.bandValid.flatMap((v, b) => (v || !file.coveredOnly ? [b] : []));
    const shape = kept.length === full.bands ? full : selectBandGrid(full, kept);
    const description = `fused by spectra-edge with ${this.card.name} on ${this.providers.granted}`;
    const writer = await EnviRowWriter.create(hdrPath, shape, {
      ...(file.interleave ? { interleave: file.interleave } : {}),
      extra: { description, ...bandValidHeader(shape.meta?.bandValid as boolean[] | undefined), ...(file.extra ?? {}) },
    });
    const { tee } = file;
    // coveredOnly: the writer gets the kept bands' planes of each chunk, copied into one reused buffer.
    let picked: Float32Array | undefined;
    const toWriter: RowSink =
      shape === full
        ? writer
        : {
            writeRows: (y0, rows) => {
              const n = rows.length / full.bands;
              if (picked === undefined || picked.length !== kept.length * n) picked = new Float32Array(kept.length * n);
              kept.forEach((b, k) => picked!.set(rows.subarray(b * n, (b + 1) * n), k * n));
              return writer.writeRows(y0, picked);
            },
          };
    const sink: RowSink = tee
      ? {
          writeRows: async (y0, rows) => {
            await toWriter.writeRows(y0, rows);
            await tee.writeRows(y0, rows);
          },
        }
      : toWriter;
    try {
      const summary = await this.stream(input, opts, sink);
      const paths = await writer.commit(summary.quality ? consistencyHeader(summary.quality) : {});
      return { ...summary, ...paths };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /**
   * The LR-HSI the network is fed and the frame's statistics measured on it. When the output is to be projected
   * the LR-HSI is first denoised with the HR-MSI's help ({@link msiGuided}), since the network's back-projections
   * would carry its in-subspace noise into the output; the HR-MSI is degraded to the LR grid by the blur the
   * statistics graph finds on the captured pair (a pair out of register by a fraction of an LR pixel is then
   * predicted in its own register), and the statistics are measured again on what the network gets.
   */
  private async fedInputs(t: PreparedInputs): Promise<{ lr: Cube; frame?: Float32Array; statisticsMs: number; guideMs: number }> {
    const ts = performance.now();
    const first = await this.frameStatistics?.measure(t.captured, t.hr);
    const subspace = t.denoise?.subspace;
    if (!subspace) return { lr: t.captured, frame: first, statisticsMs: performance.now() - ts, guideMs: 0 };
    const tg = performance.now();
    const blur = first && fittedBlur(first, this.card);
    const lrmsi = spatialDegrade(t.hr, this.card.scale, blur ? blur.taps : cardPsf(this.card.psf));
    const lr = msiGuided(t.captured, lrmsi, subspace);
    const guideMs = performance.now() - tg;
    const frame = await this.frameStatistics?.measure(lr, t.hr);
    return { lr, frame, statisticsMs: performance.now() - ts - guideMs, guideMs };
  }

  private async run(t: PreparedInputs, opts: ResolvedFuseOptions): Promise<FusedCube> {
    const { hr, tiles } = t;
    const { hsiBands: B } = this.inputSpec;
    const H = hr.height;
    const W = hr.width;
    let out: Float32Array;
    let stitchMs = 0;
    const { lr, frame, statisticsMs, guideMs } = await this.fedInputs(t);
    let inferMs = statisticsMs;
    if (tiles.length === 1 && tiles[0].height === H && tiles[0].width === W) {
      opts.signal?.throwIfAborted();
      const ti = performance.now();
      // The output tensor is a fresh array owned by us: use it as the result instead of copying.
      out = await this.infer(lr.data, hr.data, frame, 1, lr.height, lr.width, H, W);
      inferMs += performance.now() - ti;
      opts.onProgress?.(1, 1);
    } else {
      out = new Float32Array(B * H * W);
      const times = await this.runTiles(lr, hr, frame, tiles, opts, out);
      inferMs += times.inferMs;
      stitchMs = times.stitchMs;
    }
    zeroBands(out, t.bandValid, H * W);
    const tp = performance.now();
    const subspace = t.denoise?.subspace;
    if (subspace) projectRows(out, B, subspace);
    const denoiseMs = t.subspaceMs + guideMs + (subspace ? performance.now() - tp : 0);
    const fused: Cube = { ...this.outputHeader(t.captured, hr, t.bandValid), data: out };
    let quality: ConsistencyReport | undefined;
    let agreement: MsiAgreement | undefined;
    let qualityMs = 0;
    if (opts.quality) {
      const tq = performance.now();
      const degradation = this.degradation(t.bandValid, frame);
      quality = consistency(fused, t.captured, hr, degradation);
      agreement = msiAgreement(t.captured, hr, degradation, this.inputSpec.msiBandNames, opts.msiResponse !== undefined);
      qualityMs = performance.now() - tq;
    }
    return {
      ...fused,
      tiles: tiles.length,
      ...(quality ? { quality } : {}),
      ...(agreement ? { msiAgreement: agreement } : {}),
      ...denoiseReport(t.denoise),
      ...frameFitReport(frame, this.card),
      timing: { validateMs: t.validateMs, resampleMs: t.resampleMs, normaliseMs: t.normaliseMs, inferMs, stitchMs, denoiseMs, qualityMs, totalMs: performance.now() - t.t0 },
    };
  }

  private async stream(t: PreparedInputs, opts: ResolvedFuseOptions, sink: RowSink): Promise<StreamedFuse> {
    const { hr, tiles } = t;
    const { hsiBands: B } = this.inputSpec;
    const H = hr.height;
    const W = hr.width;
    const { lr, frame, statisticsMs, guideMs } = await this.fedInputs(t);
    let inferMs = statisticsMs;
    // the checks' degradation model, built only when they run
    const degradation = opts.quality ? this.degradation(t.bandValid, frame) : undefined;
    const check = degradation && new StripConsistency(t.captured, hr, degradation);
    let qualityMs = 0;
    const subspace = t.denoise?.subspace;
    let denoiseMs = t.subspaceMs + guideMs;
    const zero = t.bandValid.some((v) => !v);
    const target: RowSink =
      check || zero || subspace
        ? {
            writeRows: async (y0, rows) => {
              if (zero) zeroBands(rows, t.bandValid, rows.length / B);
              if (subspace) {
                const tp = performance.now();
                projectRows(rows, B, subspace);
                denoiseMs += performance.now() - tp;
              }
              if (check) {
                const tq = performance.now();
                check.writeRows(y0, rows);
                qualityMs += performance.now() - tq;
              }
              await sink.writeRows(y0, rows);
            },
          }
        : sink;
    let stitchMs = 0;
    if (tiles.length === 1 && tiles[0].height === H && tiles[0].width === W) {
      opts.signal?.throwIfAborted();
      const ti = performance.now();
      const out = await this.infer(lr.data, hr.data, frame, 1, lr.height, lr.width, H, W);
      inferMs += performance.now() - ti;
      opts.onProgress?.(1, 1);
      const ts = performance.now();
      await emitRows(out, B, H, W, target);
      stitchMs = performance.now() - ts;
    } else {
      const times = await this.runTiles(lr, hr, frame, tiles, opts, target);
      inferMs += times.inferMs;
      stitchMs = times.stitchMs;
    }
    return {
      ...this.outputHeader(t.captured, hr, t.bandValid),
      tiles: tiles.length,
      ...denoiseReport(t.denoise),
      ...frameFitReport(frame, this.card),
      ...(check && degradation ? { quality: check.report(), msiAgreement: msiAgreement(t.captured, hr, degradation, this.inputSpec.msiBandNames, opts.msiResponse !== undefined) } : {}),
      timing: {
        validateMs: t.validateMs,
        resampleMs: t.resampleMs,
        normaliseMs: t.normaliseMs,
        inferMs,
        stitchMs: stitchMs - qualityMs - (denoiseMs - t.subspaceMs),
        denoiseMs,
        qualityMs,
        totalMs: performance.now() - t.t0,
      },
    };
  }

  private planFor(H: number, W: number, opts: ResolvedFuseOptions): Tile[] {
    const { scale, hrMultiple, minLrSize } = this.inputSpec;
    if (opts.tile === 0) return [{ y: 0, x: 0, height: H, width: W }];
    const tiles = planTiles(H, W, opts.tile, opts.overlap, Math.max(scale, hrMultiple));
    // each tile is a graph call of its own, so the card's minimum holds per tile, not only for the image
    const { height, width } = tiles[0];
    if (height < minLrSize * scale || width < minLrSize * scale) {
      throw new RangeError(
        `Expected options.tile to give tiles of at least ${minLrSize * scale} HR px (${minLrSize} LR px, the graph's ` +
          `mirror frame) but received ${opts.tile}, which tiles as ${height} x ${width}`,
      );
    }
    return tiles;
  }

  /**
   * The card's degradation for the consistency check of an output whose invalid bands are zeros: the spatial
   * score skips them and SRF rows are renormalised over the valid ones, as the host simulates the HR-MSI of a
   * region with masked bands. When the statistics graph found this frame's LR-HSI off the middle of each block
   * (`fittedBlur`), the check re-degrades with that blur, as the fusion did.
   */
  private degradation(bandValid: readonly boolean[], frame?: Float32Array): DegradationModel {
    const { scale, psf, msi } = this.card;
    const blur = frame && fittedBlur(frame, this.card);
    return { scale, psf, ...(blur && !isCentred(blur) ? { blur: blur.taps } : {}), msi: { srf: srfOnValidBands(msi.srf, bandValid) }, hsi: { band_valid: [...bandValid] } };
  }

  /** Everything of the fused cube but its pixels. */
  private outputHeader(lr: Cube, hr: Cube, bandValid: readonly boolean[]): Omit<Cube, 'data'> {
    return {
      bands: this.inputSpec.hsiBands,
      height: hr.height,
      width: hr.width,
      wavelengths: this.inputSpec.wavelengths,
      ...(this.card.hsi.fwhm_nm ? { fwhm: this.card.hsi.fwhm_nm } : {}),
      meta: {
        ...(hr.meta ?? {}),
        ...(lr.meta ?? {}),
        model: this.card.name,
        precision: this.card.precision ?? 'fp32',
        provider: this.providers.granted,
        valueScale: 1,
        bandValid: [...bandValid],
      },
    };
  }

  /**
   * Runs tiles `batch` at a time in row-major order, blending them into a strip that is flushed to `target`
   * (a sink, or the whole output array) as rows become final; time inside a sink counts as stitching.
   */
  private async runTiles(
    lr: Cube,
    hr: Cube,
    frame: Float32Array | undefined,
    tiles: Tile[],
    opts: ResolvedFuseOptions,
    target: RowSink | Float32Array,
  ): Promise<{ inferMs: number; stitchMs: number }> {
    const { scale, hrMultiple, hsiBands: B } = this.inputSpec;
    const H = hr.height;
    const W = hr.width;
    const { height: th, width: tw } = tiles[0];
    const lh = th / scale;
    const lw = tw / scale;
    const align = Math.max(scale, hrMultiple);
    const ov = Math.ceil(opts.overlap / align) * align;
    const batch = Math.max(1, Math.min(opts.batch, tiles.length));
    const stitcher = new StripStitcher(B, H, W, stripCapacity(tiles, batch), ov, opts.blend, target);
    const lrBuf = new Float32Array(batch * lr.bands * lh * lw);
    const hrBuf = new Float32Array(batch * hr.bands * th * tw);
    let inferMs = 0;
    let stitchMs = 0;
    for (let start = 0; start < tiles.length; start += batch) {
      opts.signal?.throwIfAborted();
      const group = tiles.slice(start, start + batch);
      let ts = performance.now();
      group.forEach((tile, i) => {
        copyWindow(lr, tile.y / scale, tile.x / scale, lh, lw, lrBuf, i * lr.bands * lh * lw);
        copyWindow(hr, tile.y, tile.x, th, tw, hrBuf, i * hr.bands * th * tw);
      });
      stitchMs += performance.now() - ts;
      const n = group.length;
      const ti = performance.now();
      const result = await this.infer(lrBuf.subarray(0, n * lr.bands * lh * lw), hrBuf.subarray(0, n * hr.bands * th * tw), frame, n, lh, lw, th, tw);
      inferMs += performance.now() - ti;
      ts = performance.now();
      group.forEach((tile, i) => stitcher.add(tile, result.subarray(i * B * th * tw, (i + 1) * B * th * tw)));
      // Rows above the next tile's top can receive nothing more.
      await stitcher.flush(start + batch < tiles.length ? tiles[start + batch].y : H);
      stitchMs += performance.now() - ts;
      opts.onProgress?.(Math.min(start + batch, tiles.length), tiles.length);
    }
    return { inferMs, stitchMs };
  }

  /**
   * TensorRT writes its engine when the first run builds it; an empty cache directory afterwards means the
   * option never reached the provider (onnxruntime #26854), whatever the binding declared.
   */
  private async verifyEngineCache(dir: string): Promise<void> {
    this.engineCacheToVerify = undefined;
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (entries.length > 0) return;
    this.providers.droppedOptions.push('tensorrt.engineCacheDir');
    this.log('warn', `DROPPED provider option tensorrt.engineCacheDir: ${dir} is still empty after the first run, so engines will be rebuilt at every start`);
  }

  /**
   * One session run on N stacked tiles, each fed the whole frame's statistics when the model takes them;
   * returns the output tensor's data (N x B x H x W).
   */
  private async infer(lr: Float32Array, hr: Float32Array, frame: Float32Array | undefined, n: number, h: number, w: number, H: number, W: number): Promise<Float32Array> {
    const { Tensor: T } = this.binding.module;
    const half = this.inputSpec.dtype === 'float16';
    const tensor = (data: Float32Array, dims: number[]): Tensor => (half ? new T('float16', toHalfBits(data), dims) : new T('float32', data, dims));
    const feeds: Record<string, Tensor> = {
      [IO_NAMES.lrhsi]: tensor(lr, [n, this.inputSpec.hsiBands, h, w]),
      [IO_NAMES.hrmsi]: tensor(hr, [n, this.inputSpec.msiBands, H, W]),
    };
    if (this.frameStatistics !== undefined && frame !== undefined) {
      const rows = new Float32Array(n * frame.length);
      for (let i = 0; i < n; i++) rows.set(frame, i * frame.length);
      feeds[this.frameStatistics.input] = tensor(rows, [n, frame.length]);
    }
    const result = await this.session.run(feeds);
    if (this.engineCacheToVerify !== undefined) await this.verifyEngineCache(this.engineCacheToVerify);
    const y = result[IO_NAMES.hrhsi];
    if (y.type === 'float16') return fromHalfBits(new Uint16Array((y.data as ArrayBufferView).buffer, (y.data as ArrayBufferView).byteOffset, y.size));
    if (!(y.data instanceof Float32Array)) throw new ModelFileError(this.path, `output '${IO_NAMES.hrhsi}' is ${y.type}, expected float32 or float16`);
    return y.data;
  }
}

/** Zeroes the planes of invalid bands in a band-sequential block of `plane` pixels per band. */
function zeroBands(data: Float32Array, valid: readonly boolean[], plane: number): void {
  valid.forEach((v, b) => {
    if (!v) data.fill(0, b * plane, (b + 1) * plane);
  });
}

/** The result's fields read off the frame's statistics: the fitted response, the blur and the HR-MSI detail gains. */
function frameFitReport(frame: Float32Array | undefined, card: ModelCard): Pick<FusedCube, 'srfFit' | 'blurFit' | 'msiDetail'> {
  const fit = frame && fittedSrf(frame, card);
  const blur = frame && fittedBlur(frame, card);
  const detail = frame && msiDetailGains(frame, card);
  return { ...(fit ? { srfFit: fit } : {}), ...(blur ? { blurFit: blur } : {}), ...(detail ? { msiDetail: detail } : {}) };
}

/** The result's `denoise` field. */
function denoiseReport(d: DenoiseDecision | undefined): Pick<FusedCube, 'denoise'> {
  return d ? { denoise: { snrDb: d.snrDb, projected: d.subspace !== undefined, ...(d.subspace ? { rank: d.subspace.rank } : {}) } } : {};
}
