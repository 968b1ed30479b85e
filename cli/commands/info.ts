import { Command, InvalidArgumentError, Option } from 'commander';
import { withWavelengths } from '../pair-inputs';
import { applyCameraProfile, cameraCoverage, profileMsiResponse, readCameraProfile } from '../../sdk/camera/profile';
import { readCube } from '../../sdk/cube/read-cube';
import type { NpyLayout } from '../../sdk/cube/npy';
import { describeBandRanges } from '../../sdk/spectral/coverage';
import { srfCentroids } from '../../sdk/spectral/srf';
import { AUTO_DENOISE_SNR_DB, signalSubspace } from '../../sdk/spectral/subspace';
import { bandValidity } from '../../sdk/cube/band-validity';
import type { Cube } from '../../sdk/cube/cube';
import { type ResponseSummary, describeResponse, formatResponse } from './fuse';
import { FusionModel } from '../../sdk/runtime/fusion-model';
import type { ProviderRequest } from '../../sdk/runtime/providers';
import { VARIANT_PREFERENCE, type VariantRequest } from '../../sdk/runtime/variants';
import type { ModelCard } from '../../sdk/core/model-card';

function providerList(value: string): ProviderRequest[] {
  const names = value.split(',').map((s) => s.trim());
  const bad = names.find((n) => n !== 'tensorrt' && n !== 'cuda' && n !== 'cpu');
  if (bad !== undefined) throw new InvalidArgumentError(`unknown provider '${bad}' (known: tensorrt, cuda, cpu)`);
  return names as ProviderRequest[];
}

/** Adds `spectra info`. */
export function register(program: Command): void {
  program
    .command('info')
    .description('Show a model card summary, the execution providers available and granted, and the input spec')
    .requiredOption('--model <path>', '.onnx with its .card.json next to it')
    .option('--providers <list>', 'execution providers to try, in order (default: tensorrt,cuda,cpu)', providerList)
    .addOption(new Option('--variant <variant>', 'open this precision of the model (auto: the fastest one the granted provider runs well; default: the file given)').choices(['fp32', 'fp16', 'int8', 'auto']))
    .option('--camera <profile.json>', "also check a camera profile against the model: HSI coverage of the model grid, MSI response vs the card's")
    .option('--lrhsi <path>', 'with --hrmsi: estimate the MSI camera response from this pair and report its misfit')
    .option('--hrmsi <path>', 'HR-MSI of the pair')
    .addOption(new Option('--npy-layout <layout>', 'axis order of 3-D .npy inputs').choices(['chw', 'hwc']).default('chw'))
    .option('--json', 'print JSON', false)
    .action(async (opts: { model: string; providers?: ProviderRequest[]; variant?: VariantRequest; json: boolean; camera?: string; lrhsi?: string; hrmsi?: string; npyLayout: NpyLayout }) => {
      const model = await FusionModel.load(opts.model, { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.variant ? { variant: opts.variant } : {}), log: () => undefined });
      try {
        const c = model.card;
        const s = model.inputSpec;
        const p = model.providers;
        const camera = await cameraReport(model, opts);
        const v = model.variant;
        // Only measured on cpu (issue 18); on GPU providers a variant outside the preference row is not known to be slower.
        const warnings = p.granted !== 'cpu' || VARIANT_PREFERENCE.cpu.includes(v.chosen)
          ? []
          : [`${v.chosen} variant on ${p.granted}: slower than fp32 on this provider (measured); use --variant auto or the fp32 file`];
        if (opts.json) {
          process.stdout.write(
            JSON.stringify({ card: { name: c.name, role: c.role, preset: c.preset, precision: c.precision, params: c.params, macs_per_hr_pixel: c.macs_per_hr_pixel, validation: c.validation, ...(c.frame_statistics ? { frame_statistics: c.frame_statistics } : {}) }, inputSpec: s, providers: p, variant: v, warnings, ...(camera ? { camera } : {}) }, null, 2) + '\n',
          );
          return;
        }
        const wl = s.wavelengths;
        const lines = [
          `model      ${c.name} (${c.role ?? '?'}, preset ${c.preset ?? '?'}, ${c.precision ?? 'fp32'}, opset ${c.opset ?? '?'})`,
          `file       ${model.path} (sha256 ${c.onnx_sha256.slice(0, 16)}…, verified)`,
          `size       ${c.params?.toLocaleString('en') ?? '?'} parameters, ${c.macs_per_hr_pixel?.toLocaleString('en') ?? '?'} MACs per HR pixel`,
          `lrhsi      N x ${s.hsiBands} x h x w, ${wl[0]}..${wl[wl.length - 1]} nm${c.hsi.band_valid?.some((v) => !v) ? `, ${c.hsi.band_valid.filter((v) => !v).length} masked band(s)` : ''}`,
          `hrmsi      N x ${s.msiBands} x ${s.scale}h x ${s.scale}w, bands ${s.msiBandNames.join(', ')} (${c.msi.preset ?? c.msi.srf_file ?? 'custom SRF'})`,
          ...(c.msi.denoise ? [`           its noise measured on every frame by the statistics graph (each band's diagonal detail against the other bands'${c.msi.denoise.common_noise ? ', the smallest band\'s estimate for all' : ''}); detail levels of ${c.msi.denoise.detail_sigmas_px.join(' / ')} px kept at their Wiener gains${c.msi.denoise.pan_detail_window_px !== undefined ? `; the prior keeps each band's pan detail that is not noise (local Wiener gain over ${c.msi.denoise.pan_detail_window_px} px)` : ''}${c.msi.denoise.backprojection_window_px !== undefined ? `; the spectral back-projection keeps what is not noise (local Wiener gain over ${c.msi.denoise.backprojection_window_px} px)` : ''}`] : []),
          `output     hrhsi N x ${s.hsiBands} x ${s.scale}h x ${s.scale}w, physical units 0..1; HR sizes multiples of ${s.hrMultiple}`,
          `psf        ${c.psf.taps ? `taps [${c.psf.taps.map((v) => v.toFixed(3)).join(', ')}] (closest Gaussian sigma ${c.psf.sigma})` : `gaussian sigma ${c.psf.sigma}`}, kernel ${c.psf.kernel_size}${psfNote(c)}`,
          ...(c.frame_statistics
            ? [`statistics ${c.frame_statistics.graph} (sha256 ${c.frame_statistics.sha256.slice(0, 16)}…, verified): ${c.frame_statistics.length} values measured once per frame on the whole input, fed to every tile; ships beside the model`]
            : []),
          `binding    ${p.binding.path}@${p.binding.version}; forwards provider options for: ${p.binding.honoursProviderOptions.join(', ') || 'none (onnxruntime #26854)'}`,
          `available  ${p.binding.backends.map((b) => `${b.name}${b.bundled ? '' : ' (not bundled)'}`).join(', ')}`,
          `granted    ${p.granted}`,
          ...p.attempts.filter((a) => a.outcome !== 'granted').map((a) => `  ${a.name}: ${a.outcome}${a.reason ? ` (${a.reason})` : ''}`),
          ...(p.droppedOptions.length ? [`dropped    ${p.droppedOptions.join(', ')}`] : []),
          `variant    ${v.chosen}: ${v.reason}`,
          ...v.considered.map((k) => `  ${k.variant}: ${k.eligible ? 'eligible' : 'skipped'} (${k.why})`),
          ...warnings.map((w) => `warning    ${w}`),
        ];
        if (camera) lines.push(...camera.lines);
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await model.release();
      }
    });
}

/** What `spectra info --camera` (and `--lrhsi/--hrmsi`) adds: how a camera meets this model. */
interface CameraReport {
  name?: string;
  hsi?: { validModelBands: number; modelBands: number; invalidNm: string };
  msiProfile?: ResponseSummary;
  msiEstimated?: ResponseSummary;
  /** The blur the pair shows (`FusionModel.estimatePsf`), when the HR-MSI is on the model's MSI bands. */
  psfEstimated?: { sigma: number; cardSigma: number; misfit: number };
  /** The LR-HSI's noise (`signalSubspace`): median SNR over its bands, and the signal subspace's rank. */
  noise?: { snrDb: number; rank: number; bands: number };
  cardCentroidsNm: number[];
  lines: string[];
}

/** Median per-band SNR of an LR-HSI as read (its own bands), from the signal subspace's noise estimate. */
function lrNoise(lr: Cube): { snrDb: number; rank: number; bands: number } {
  const sub = signalSubspace(lr, bandValidity(lr));
  return { snrDb: sub.snrDb, rank: sub.rank, bands: sub.bands.length };
}

async function cameraReport(model: FusionModel, opts: { camera?: string; lrhsi?: string; hrmsi?: string; npyLayout: NpyLayout }): Promise<CameraReport | undefined> {
  if (!opts.camera && !(opts.lrhsi && opts.hrmsi)) return undefined;
  const spec = model.inputSpec;
  const card = model.card;
  const cardCentroidsNm = srfCentroids(card.msi.srf, spec.wavelengths);
  const lines = [`card msi   ${spec.msiBandNames.map((n, c) => `${n} ${cardCentroidsNm[c].toFixed(0)} nm`).join(', ')}`];
  const report: CameraReport = { cardCentroidsNm, lines };
  const camera = opts.camera ? await readCameraProfile(opts.camera) : undefined;
  let valid = card.hsi.band_valid ?? spec.wavelengths.map(() => true);
  if (camera) {
    report.name = camera.name;
    valid = cameraCoverage(camera, { wavelengths: spec.wavelengths, ...(card.hsi.fwhm_nm ? { fwhm: card.hsi.fwhm_nm } : {}), ...(card.hsi.band_valid ? { bandValid: card.hsi.band_valid } : {}) });
    report.hsi = { validModelBands: valid.filter((v) => v).length, modelBands: valid.length, invalidNm: describeBandRanges(spec.wavelengths, valid) };
    lines.push(`camera     ${camera.name} (${camera.path}): HSI fills ${report.hsi.validModelBands} of ${report.hsi.modelBands} model bands; not filled: ${report.hsi.invalidNm}`);
    const r = profileMsiResponse(camera, spec.wavelengths, valid);
    if (r) {
      report.msiProfile = describeResponse(r, spec.wavelengths);
      lines.push(formatResponse(report.msiProfile));
    } else lines.push('camera msi not described (no msi.srf_csv or msi.centres_nm): fuse --estimate-srf can fit it from a pair');
  }
  if (opts.lrhsi && opts.hrmsi) {
    // Files without wavelengths get the model's grid and SRF centroids, as `spectra fuse` gives them.
    let lr = withWavelengths(await readCube(opts.lrhsi, { npyLayout: opts.npyLayout }), spec.wavelengths, undefined);
    let hr = withWavelengths(await readCube(opts.hrmsi, { npyLayout: opts.npyLayout }), cardCentroidsNm, undefined);
    if (camera) {
      lr = applyCameraProfile(lr, camera, 'lrhsi');
      hr = applyCameraProfile(hr, camera, 'hrmsi');
    }
    report.msiEstimated = describeResponse(model.estimateMsiResponse(lr, hr, { resample: true }), spec.wavelengths);
    lines.push(formatResponse(report.msiEstimated));
    report.noise = lrNoise(lr);
    lines.push(
      `noise      LR-HSI SNR about ${report.noise.snrDb.toFixed(1)} dB (median over its own bands), signal in ${report.noise.rank} of ${report.noise.bands} directions`,
    );
    const decision = model.denoiseDecision(lr, { resample: true });
    lines.push(
      decision.projected
        ? `denoise    on the model grid the LR-HSI reads ${decision.snrDb.toFixed(1)} dB, below ${AUTO_DENOISE_SNR_DB}: fuse denoises it with the HR-MSI's help and projects the output onto its signal subspace by default (--denoise auto; docs/new-camera.md §7)`
        : `denoise    on the model grid the LR-HSI reads ${decision.snrDb.toFixed(1)} dB: fuse leaves the output as the network makes it${report.noise.snrDb < AUTO_DENOISE_SNR_DB ? ` although its own bands read below ${AUTO_DENOISE_SNR_DB} dB (resampling averaged the noise into neighbouring bands); --denoise subspace projects anyway` : ''}`,
    );
    if (hr.bands === spec.msiBands && card.frame_statistics) {
      const e = model.estimatePsf(lr, hr, { resample: true });
      report.psfEstimated = { sigma: e.sigma, cardSigma: card.psf.sigma, misfit: e.misfit };
      const perFrame = card.psf.per_frame;
      // 0.2 px: below it the estimate's own step and a real camera's non-Gaussian blur dominate
      lines.push(
        Math.abs(e.sigma - card.psf.sigma) < 0.2
          ? `psf fit    the pair's blur matches the card (sigma ${e.sigma} px)`
          : perFrame && e.sigma >= perFrame.sigmas_px[0] && e.sigma <= perFrame.sigmas_px[1]
            ? `psf fit    the pair's blur is sigma ${e.sigma} px, the card's ${card.psf.sigma}: the statistics graph measures it on every frame and fuses with it; nothing to do (to make it this camera's default: spectra retarget-psf --model ${model.path} --sigma ${e.sigma} --out <model>.onnx)`
            : `psf fit    the pair's blur is sigma ${e.sigma} px, the card's ${card.psf.sigma}: the student's graph blurs with the card's; write one for this camera with spectra retarget-psf --model ${model.path} --sigma ${e.sigma} --out <model>.onnx`,
      );
      // Half the Gaussian's misfit: a shape no sigma explains (truncated, box-like); on Gaussian pairs the two agree.
      if (e.free.misfit < e.misfit / 2) {
        const taps = `symmetric taps [${e.free.taps.map((v) => v.toFixed(3)).join(', ')}] fit it with misfit ${e.free.misfit.toExponential(2)} against ${e.misfit.toExponential(2)}`;
        lines.push(
          perFrame?.free_taps
            ? `psf shape  the pair's blur is not Gaussian: ${taps}; the statistics graph fits such taps on every frame and fuses with them; nothing to do (to make them this camera's default: spectra retarget-psf --model ${model.path} --lrhsi … --hrmsi … --shape free --out <model>.onnx)`
            : `psf shape  the pair's blur is not Gaussian: ${taps}; write a model with them: spectra retarget-psf --model ${model.path} --lrhsi … --hrmsi … --shape free --out <model>.onnx`,
        );
      }
    }
  }
  return report;
}

/** How the graph treats a camera whose blur is not the card's. */
function psfNote(c: ModelCard): string {
  if (c.psf.per_frame) {
    const [lo, hi] = c.psf.per_frame.sigmas_px;
    const shapes = c.psf.per_frame.free_taps ? `a Gaussian of ${lo}-${hi} px, or symmetric taps of any shape fitted to the pair,` : `a Gaussian of ${lo}-${hi} px`;
    const shift = c.psf.per_frame.shift_taps ? `; then that blur moved off the middle of each ${c.scale}x${c.scale} block and refitted over ${c.psf.per_frame.shift_taps} taps, by the same margin (a pair sampled at [k::s], out of register, or resized by an image library)${c.psf.per_frame.shift_response === 'fitted' ? ', each move judged with the spectral response that explains it best' : ''}` : '';
    return ` (measured on every frame by the statistics graph: ${shapes} replaces it when it fits the pair ${Math.round(c.psf.per_frame.switch_margin * 100)} % better${shift})`;
  }
  return c.frame_statistics ? ' (inside the graph: a camera whose blur differs costs several dB; describe it, docs/new-camera.md)' : '';
}
