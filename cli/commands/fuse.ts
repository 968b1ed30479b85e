import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { barOptions, showProgress } from '../progress';
import { type PairCliOptions, addPairOptions, readPairInputs } from '../pair-inputs';
import type { Cube } from '../../sdk/cube/cube';
import { writeCube } from '../../sdk/cube/read-cube';
import { writeEnvi } from '../../sdk/cube/envi';
import { consistencyHeader } from '../../sdk/quality/consistency';
import { isCentred } from '../../sdk/spectral/blur-fit';
import { type MsiDetailReport, detailKept } from '../../sdk/spectral/msi-detail';
import { type QuicklookBands, quicklookBands, writeQuicklook } from '../../sdk/cube/quicklook';
import { type FuseOptions, type FusedCube, FusionModel, type RowSink, type StreamedFuse } from '../../sdk/runtime/fusion-model';
import type { ProviderRequest } from '../../sdk/runtime/providers';
import type { VariantRequest } from '../../sdk/runtime/variants';
import { ValueRangeError } from '../../sdk/core/errors';
import type { MsiResponse, MsiResponseEstimate } from '../../sdk/camera/response';
import { describeBandRanges, selectBands } from '../../sdk/spectral/coverage';
import { AUTO_DENOISE_SNR_DB } from '../../sdk/spectral/subspace';
import { bandValidity } from '../../sdk/cube/band-validity';
import { integer } from '../arguments';

interface FuseCliOptions extends PairCliOptions {
  model: string;
  out: string;
  quicklook?: string;
  tile: number;
  overlap: number;
  batch: number;
  threads: number;
  providers?: ProviderRequest[];
  variant?: VariantRequest;
  quality: boolean;
  coveredOnly: boolean;
  denoise: 'auto' | 'none' | 'subspace';
  json: boolean;
}

function providerList(value: string): ProviderRequest[] {
  const names = value.split(',').map((s) => s.trim());
  const bad = names.find((n) => n !== 'tensorrt' && n !== 'cuda' && n !== 'cpu');
  if (bad !== undefined) throw new InvalidArgumentError(`unknown provider '${bad}' (known: tensorrt, cuda, cpu)`);
  return names as ProviderRequest[];
}

/**
 * Keeps the three bands a quicklook shows while rows stream to disk (3 of B planes instead of the cube), and
 * renders the same PNG `writeQuicklook` makes from the whole cube.
 */
class QuicklookBandKeeper implements RowSink {
  private readonly pick: QuicklookBands;
  private readonly kept: number[];
  private readonly planes: Float32Array;

  constructor(private readonly shape: Omit<Cube, 'data'>) {
    // Band choice looks at wavelengths and band validity only, so an empty cube of the output's grid picks the same bands.
    this.pick = quicklookBands({ ...shape, data: new Float32Array(0) });
    this.kept = [...new Set(this.pick.bands)];
    this.planes = new Float32Array(this.kept.length * shape.height * shape.width);
  }

  writeRows(y0: number, rows: Float32Array): void {
    const { bands: B, height: H, width: W } = this.shape;
    const n = rows.length / (B * W);
    this.kept.forEach((b, k) => this.planes.set(rows.subarray(b * n * W, (b + 1) * n * W), (k * H + y0) * W));
  }

  async write(path: string): Promise<QuicklookBands> {
    const wavelengths = this.kept.map((b) => this.shape.wavelengths[b]);
    const cube: Cube = { bands: this.kept.length, height: this.shape.height, width: this.shape.width, wavelengths, data: this.planes };
    const rgb = this.pick.bands.map((b) => this.shape.wavelengths[b]) as [number, number, number];
    await writeQuicklook(path, cube, { rgb, maxDistanceNm: Infinity });
    return this.pick;
  }
}

/**
 * The SDK's value-range hint names the API field (`lrhsi.meta.valueScale`); on the command line the fix is a
 * flag or the camera profile, so the error is re-thrown with those.
 */
export function withFlagHints<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (err) {
      if (!(err instanceof ValueRangeError) || err.detail === undefined) throw err;
      const { input, max } = err.detail;
      throw new ValueRangeError(
        `${input} values reach ${max}, but the model takes physical units 0..1: pass --value-scale <full scale> ` +
          `(e.g. 65535 for 16-bit counts, 10000 for reflectance x 1e4), or --camera with the sensor's value_scale`,
        err.detail,
        { cause: err },
      );
    }
  };
}

/** The MSI response as reported by `spectra fuse` and `spectra info`: per band centre, gain, offset, and misfit when estimated. */
export interface ResponseSummary {
  source: 'profile' | 'estimated';
  bands: { name: string; centroidNm: number; gain: number; offset: number; misfitPsnrDb?: number; explained?: number }[];
}

/** @internal */
export function describeResponse(r: MsiResponse | MsiResponseEstimate, wavelengths: readonly number[]): ResponseSummary {
  const est = r.source === 'estimated' ? (r as MsiResponseEstimate) : undefined;
  return {
    source: r.source,
    bands: r.matrix.map((row, c) => {
      const gain = row.reduce((a, w) => a + w, 0);
      return {
        name: r.names[c],
        centroidNm: gain > 0 ? row.reduce((a, w, b) => a + w * wavelengths[b], 0) / gain : NaN,
        gain,
        offset: r.offset[c],
        ...(est ? { misfitPsnrDb: est.misfitPsnr[c], explained: est.explained[c] } : {}),
      };
    }),
  };
}

/** @internal */
export function formatResponse(s: ResponseSummary): string {
  const bands = s.bands.map((b) => `${b.name} ${b.centroidNm.toFixed(0)} nm gain ${b.gain.toFixed(3)} offset ${b.offset.toFixed(4)}${b.misfitPsnrDb !== undefined ? ` misfit ${b.misfitPsnrDb.toFixed(1)} dB (R2 ${b.explained!.toFixed(3)})` : ''}`);
  return `msi response (${s.source === 'estimated' ? 'estimated from the pair' : 'camera profile'}; mapped onto the model's MSI bands): ${bands.join('; ')}`;
}

/** Adds `spectra fuse`. */
export function register(program: Command): void {
  const fuse = program
    .command('fuse')
    .description('Fuse an LR-HSI and an HR-MSI into an HR-HSI with an exported student (writes ENVI float32; tiled ENVI output streams to disk)')
    .requiredOption('--model <path>', '.onnx with its .card.json next to it');
  addPairOptions(fuse)
    .requiredOption('--out <path.hdr>', 'output ENVI header (the .img is written next to it); .npy or .tif also work')
    .option('--quicklook <png>', 'also write an RGB quicklook PNG')
    .option('--tile <px>', 'HR tile size; 0 = whole image. With a .hdr output, tiled runs stream rows to disk (memory follows the tile, not the scene)', integer(0), 0)
    .option('--overlap <px>', 'HR overlap between tiles', integer(0), 32)
    .option('--batch <n>', 'tiles per session run', integer(1), 1)
    .option('--threads <n>', 'intra-op threads; 0 = onnxruntime default', integer(0), 0)
    .option('--providers <list>', 'execution providers in order (default: tensorrt,cuda,cpu)', providerList)
    .addOption(new Option('--variant <variant>', 'open this precision of the model (auto: the fastest one the granted provider runs well; default: the file given)').choices(['fp32', 'fp16', 'int8', 'auto']))
    .addOption(new Option('--denoise <method>', `subspace: denoise the LR-HSI with the HR-MSI's help and project the output onto the signal subspace the LR-HSI shows, removing sensor noise the network passes on; auto: only when the LR-HSI's SNR is below ${AUTO_DENOISE_SNR_DB} dB (docs/new-camera.md §7)`).choices(['auto', 'none', 'subspace']).default('auto'))
    .option('--covered-only', 'write only the valid bands (covered by the LR-HSI and learnt by the model)', false)
    .option('--no-quality', 'skip the no-reference consistency check')
    .option('--json', 'print the result summary as JSON', false)
    .action(withFlagHints(async (opts: FuseCliOptions, command: Command) => {
      const model = await FusionModel.load(opts.model, { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.variant ? { variant: opts.variant } : {}), intraOpThreads: opts.threads });
      try {
        const spec = model.inputSpec;
        const { lrhsi, hrmsi, camera, resample, msiResponse } = await readPairInputs(model, opts);
        const bar = showProgress(command) ? new SingleBar(barOptions('fusing', 'tiles'), Presets.shades_classic) : undefined;
        let started = false;
        const fuseOptions: FuseOptions = {
          tile: opts.tile,
          overlap: opts.overlap,
          batch: opts.batch,
          resample,
          quality: opts.quality,
          denoise: opts.denoise,
          ...(msiResponse ? { msiResponse } : {}),
          onProgress: (done, total) => {
            if (bar === undefined || total <= 1) return;
            if (!started) {
              bar.start(total, 0);
              started = true;
            }
            bar.update(done);
          },
        };
        let fused: StreamedFuse;
        let quick: QuicklookBands | undefined;
        if (opts.tile > 0 && /\.hdr$/i.test(opts.out)) {
          // Tiled ENVI output streams to disk: only a strip of the output is ever in memory (issue #4).
          const keep = opts.quicklook
            ? new QuicklookBandKeeper({
                bands: spec.hsiBands,
                height: hrmsi.height,
                width: hrmsi.width,
                wavelengths: spec.wavelengths,
                meta: { bandValid: model.bandCoverage(lrhsi, { resample }) },
              })
            : undefined;
          // Ctrl-C stops after the running tile, so the temporary output file is removed rather than orphaned.
          const interrupt = new AbortController();
          const onSignal = (sig: NodeJS.Signals) => interrupt.abort(new Error(`interrupted by ${sig}; no output written`));
          process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
          try {
            fused = await model.fuseToFile(lrhsi, hrmsi, opts.out, { ...fuseOptions, coveredOnly: opts.coveredOnly, signal: interrupt.signal, ...(keep ? { tee: keep } : {}) });
          } finally {
            process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
            if (started) bar?.stop();
          }
          if (keep && opts.quicklook) quick = await keep.write(opts.quicklook);
        } else {
          let whole: FusedCube;
          try {
            whole = await model.fuse(lrhsi, hrmsi, fuseOptions);
          } finally {
            if (started) bar?.stop();
          }
          const valid = bandValidity(whole);
          const written = opts.coveredOnly && valid.some((v) => !v) ? selectBands(whole, valid.flatMap((v, b) => (v ? [b] : []))) : whole;
          // ENVI (the default) carries the consistency scores and bbl in its header; other extensions go through writeCube.
          if (!/\.hdr$/i.test(opts.out)) await writeCube(opts.out, written);
          else {
            await writeEnvi(opts.out, written, {
              extra: {
                description: `fused by spectra-edge with ${model.card.name} on ${model.providers.granted}`,
                ...(whole.quality ? consistencyHeader(whole.quality) : {}),
              },
            });
          }
          if (opts.quicklook) quick = await writeQuicklook(opts.quicklook, whole);
          fused = whole;
        }
        const q = fused.quality;
        const bandValid = bandValidity(fused);
        const coverage = {
          valid: bandValid.filter((v) => v).length,
          total: bandValid.length,
          invalidNm: describeBandRanges(fused.wavelengths, bandValid),
          written: opts.coveredOnly ? 'valid bands' : 'all bands (invalid ones as zeros, bbl 0)',
        };
        const summary = {
          out: opts.out,
          shape: [opts.coveredOnly ? coverage.valid : fused.bands, fused.height, fused.width],
          coverage,
          model: model.card.name,
          provider: model.providers.granted,
          variant: { chosen: model.variant.chosen, path: model.variant.path, reason: model.variant.reason },
          tiles: fused.tiles,
          timing: fused.timing,
          quality: fused.quality,
          ...(fused.denoise ? { denoise: fused.denoise } : {}),
          ...(fused.srfFit ? { srfFit: fused.srfFit } : {}),
          ...(fused.blurFit ? { blurFit: fused.blurFit } : {}),
          ...(fused.msiDetail ? { msiDetail: fused.msiDetail } : {}),
          ...(fused.msiAgreement ? { msiAgreement: fused.msiAgreement } : {}),
          ...(msiResponse ? { msiResponse: describeResponse(msiResponse, spec.wavelengths) } : {}),
          ...(camera ? { camera: camera.name } : {}),
          ...(quick ? { quicklook: { path: opts.quicklook, ...quick } } : {}),
        };
        if (opts.json) {
          process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        } else {
          const t = fused.timing;
          process.stdout.write(
            `wrote ${opts.out}: ${opts.coveredOnly ? coverage.valid : fused.bands} bands x ${fused.height} x ${fused.width} (${model.card.name} on ${model.providers.granted}, ${fused.tiles} tile(s))\n` +
              (coverage.valid < coverage.total
                ? `coverage: ${coverage.valid} of ${coverage.total} model bands valid; invalid (not covered by the LR-HSI or not learnt): ${coverage.invalidNm}; ${opts.coveredOnly ? `wrote the ${coverage.valid} valid bands` : 'written as zeros, bbl 0'}\n`
                : '') +
              `time ${t.totalMs.toFixed(1)} ms (infer ${t.inferMs.toFixed(1)}, stitch ${t.stitchMs.toFixed(1)}, ${opts.denoise !== 'none' ? `denoise ${t.denoiseMs.toFixed(1)}, ` : ''}quality ${t.qualityMs.toFixed(1)})\n` +
              (q
                ? `consistency: spatial ${q.spatial.psnr.toFixed(2)} dB / ${q.spatial.sam.toFixed(3)} deg vs LR-HSI, ` +
                  `spectral ${q.spectral.psnr.toFixed(2)} dB / ${q.spectral.sam.toFixed(3)} deg vs HR-MSI` +
                  (fused.blurFit && !isCentred(fused.blurFit) ? ' (re-degraded with the shifted blur the fusion found)' : '') +
                  '\n'
                : '') +
              (fused.denoise ? `${formatDenoise(fused.denoise)}\n` : '') +
              (fused.srfFit ? `${formatSrfFit(fused.srfFit)}\n` : '') +
              (fused.blurFit ? `${formatBlurFit(fused.blurFit, model.card.scale)}\n` : '') +
              (fused.msiDetail ? `${formatMsiDetail(fused.msiDetail)}\n` : '') +
              (summary.msiResponse ? `${formatResponse(summary.msiResponse)}\n` : '') +
              (fused.msiAgreement
                ? `msi check: HR-MSI vs LR-HSI through the model's MSI response ${fused.msiAgreement.psnr.toFixed(2)} dB${fused.msiAgreement.advice ? ` - MISMATCH: ${fused.msiAgreement.advice}` : ' (fits)'}\n`
                : '') +
              (quick ? `quicklook ${opts.quicklook} (bands ${quick.bands.join(', ')} by ${quick.method})\n` : ''),
          );
        }
      } finally {
        await model.release();
      }
    }));
}

/** The `srf fit:` line of `spectra fuse`: where the fitted response of each MSI band lies against the card's. */
export function formatSrfFit(fit: NonNullable<FusedCube['srfFit']>): string {
  const bands = fit.bands.map((b) => {
    const shift = b.centroidNm - b.cardCentroidNm;
    return `${b.name} ${b.centroidNm.toFixed(1)} nm (card ${b.cardCentroidNm.toFixed(1)}, ${shift >= 0 ? '+' : ''}${shift.toFixed(1)}; shape ${(100 * b.change).toFixed(0)} % off)`;
  });
  return `srf fit: the MSI response this frame shows, used by the fusion: ${bands.join(', ')}`;
}

/** The `blur fit:` line of `spectra fuse`: where the LR-HSI's pixels sit against the HR-MSI's, as the fusion took it. */
export function formatBlurFit(fit: NonNullable<FusedCube['blurFit']>, scale: number): string {
  const { rows, cols } = fit.shiftPx;
  const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  if (isCentred(fit)) return `blur fit: LR-HSI pixels centred on their ${scale}x${scale} HR blocks (the card's convention)`;
  return `blur fit: LR-HSI pixels sit ${signed(rows)} px (rows), ${signed(cols)} px (columns) from the middle of their ${scale}x${scale} HR blocks; fused in that register`;
}

/** The `msi detail:` line of `spectra fuse`: how much of the HR-MSI's detail the fusion kept for the noise it measured. */
export function formatMsiDetail(detail: MsiDetailReport): string {
  if (detailKept(detail)) return 'msi detail: the HR-MSI reads clean; its detail kept as captured';
  const levels = detail.sigmasPx.map((s, i) => `${i ? detail.sigmasPx[i - 1] : 0}-${s} px`).join(' / ');
  const bands = detail.bands.map((b) => `${b.name} ${b.gains.map((g) => g.toFixed(2)).join(' / ')}`).join(', ');
  const gates = [detail.panDetailWindowPx !== undefined ? "the prior's pans" : '', detail.backprojectionWindowPx !== undefined ? 'the spectral back-projection' : ''].filter(Boolean);
  const gated = gates.length ? `; ${gates.join(' and ')} keep${gates.length === 1 ? 's' : ''} only what rises above the noise left` : '';
  return `msi detail: the HR-MSI reads noisy; its detail levels (${levels}) kept at ${bands}${gated}`;
}

/** The `denoise:` line of `spectra fuse`. */
export function formatDenoise(d: NonNullable<FusedCube['denoise']>): string {
  return d.projected
    ? `denoise: LR-HSI SNR ${d.snrDb.toFixed(1)} dB; LR-HSI guided by the HR-MSI, output projected onto its ${d.rank} signal directions`
    : `denoise: LR-HSI SNR ${d.snrDb.toFixed(1)} dB, at or above ${AUTO_DENOISE_SNR_DB} dB: not projected`;
}
