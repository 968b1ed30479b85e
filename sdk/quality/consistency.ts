import type { Cube } from '../cube/cube';
import { psnrAndSam } from '../metrics/full-reference';
import { type Psf, cardPsf, spatialDegrade } from '../spectral/psf';
import { projectSrf } from '../spectral/srf';

/** Agreement of a fused cube with one of its inputs after re-degradation. */
export interface ConsistencyScore {
  /** dB, per-band peak of the input (as the full-reference PSNR). */
  psnr: number;
  /** Degrees. */
  sam: number;
}

/** No-reference quality of one fused frame. */
export interface ConsistencyReport {
  /** Output blurred and decimated with the card's PSF, compared with the LR-HSI. */
  spatial: ConsistencyScore;
  /** Output projected through the card's SRF, compared with the HR-MSI. */
  spectral: ConsistencyScore;
}

/** The card fields the check needs. */
export interface DegradationModel {
  scale: number;
  psf: { sigma: number; kernel_size: number; taps?: number[] };
  /** The blur the fusion found on this frame when it sat off the middle of each block (`fittedBlur`): row and column taps used instead of `psf`. */
  blur?: { rows: number[]; cols: number[] };
  msi: { srf: number[][] };
  hsi?: { band_valid?: boolean[] };
}

/** The PSF a degradation model re-degrades with: the frame's shifted blur when it has one, else the card's. */
export function degradationPsf(model: DegradationModel): Psf {
  return model.blur ?? cardPsf(model.psf);
}

/**
 * Quality without ground truth: re-degrades the fused HR-HSI with the model's own PSF and SRF (Wald's
 * consistency property) and scores it against the inputs it came from. A good fusion reproduces both
 * inputs closely; a misregistered or swapped pair cannot, so both scores drop.
 * @param fused - B x H x W output.
 * @param lrhsi - The LR-HSI as captured, on the model grid (after resampling and value scaling): `denoise` feeds the
 *   network a denoised one, but the output is scored against what the camera saw.
 * @param hrmsi - The HR-MSI fed to the model.
 * @param model - Scale, PSF and SRF (a model card).
 * @returns Spatial and spectral consistency.
 * @example
 * const q = consistency(fused, lrhsi, hrmsi, model.card);
 * if (q.spatial.psnr < 30) console.warn('inputs may be misregistered');
 */
export function consistency(fused: Cube, lrhsi: Cube, hrmsi: Cube, model: DegradationModel): ConsistencyReport {
  const bandMask = model.hsi?.band_valid;
  const lr = spatialDegrade(fused, model.scale, degradationPsf(model));
  const msi = projectSrf(fused, model.msi.srf);
  const lrRef: Cube = { ...lrhsi, wavelengths: fused.wavelengths };
  const mask = bandMask && bandMask.some((v) => !v) ? bandMask : undefined;
  return { spatial: psnrAndSam(lr, lrRef, mask), spectral: psnrAndSam(msi, hrmsi, scoredMsiBands(model.msi.srf)) };
}

/**
 * MSI bands the spectral score compares: rows of the SRF with some weight. A row left all zero (its response lies
 * only on bands the input did not cover, see `srfOnValidBands`) cannot be predicted and is skipped; undefined when
 * every band is scored.
 * @internal
 */
export function scoredMsiBands(srf: readonly (readonly number[])[]): boolean[] | undefined {
  const scored = srf.map((row) => row.some((w) => w !== 0));
  return scored.every((v) => v) ? undefined : scored;
}

/**
 * Below this agreement (dB) between the HR-MSI and the LR-HSI seen through the card's SRF, the HR-MSI is taken
 * for another camera (other band responses or radiometry) than the one the model was trained with. Simulated
 * pairs of the training SRF agree at 40 dB or more; a foreign camera at 20-25 dB (bench/camera-response.ts).
 */
export const MSI_MISMATCH_DB = 30;

/** {@link msiAgreement}'s verdict on the HR-MSI. */
export interface MsiAgreement extends ConsistencyScore {
  /** True when `psnr` is below {@link MSI_MISMATCH_DB}. */
  mismatch: boolean;
  /** What to do about a mismatch, in words (absent when there is none). */
  advice?: string;
}

/**
 * Checks the inputs against each other before trusting the fusion: the HR-MSI, blurred and decimated with the
 * card's PSF, should equal the LR-HSI projected through the card's SRF. When it does not, the HR-MSI comes from a
 * camera with other band responses or radiometry than the model's training SRF, and the model will fuse it badly
 * (below a classical method, as a foreign satellite's MSI did), however consistent its output looks.
 * @param lrhsi - The LR-HSI on the model grid, as fed (0..1).
 * @param hrmsi - The HR-MSI, as fed (0..1).
 * @param model - Scale, PSF and SRF (rows renormalised on the valid bands).
 * @param bandNames - The card's MSI band names, for the advice.
 * @param mapped - The HR-MSI was already mapped through its camera response (`msiResponse`), so the advice looks elsewhere.
 * @returns The agreement, whether it is a mismatch, and what to do.
 */
export function msiAgreement(lrhsi: Cube, hrmsi: Cube, model: DegradationModel, bandNames: readonly string[], mapped = false): MsiAgreement {
  const lrMsi = spatialDegrade(hrmsi, model.scale, degradationPsf(model));
  const predicted = projectSrf(lrhsi, model.msi.srf);
  const score = psnrAndSam(lrMsi, predicted, scoredMsiBands(model.msi.srf));
  if (score.psnr >= MSI_MISMATCH_DB) return { ...score, mismatch: false };
  if (mapped) {
    return {
      ...score,
      mismatch: true,
      advice:
        `even mapped through its camera response, the HR-MSI agrees with the LR-HSI at only ${score.psnr.toFixed(1)} dB (below ${MSI_MISMATCH_DB}): ` +
        'what remains is not spectral. Check that the pair is co-registered and taken at the same time, that the HR-MSI is exactly scale x the LR-HSI, and the PSF (camera profile psf)',
    };
  }
  return {
    ...score,
    mismatch: true,
    advice:
      `the HR-MSI agrees with the LR-HSI seen through the model's MSI response (${bandNames.join(', ')}) at only ${score.psnr.toFixed(1)} dB ` +
      `(below ${MSI_MISMATCH_DB}): its camera has other band responses or radiometry. Pass --camera with the MSI camera's SRF ` +
      '(msi.srf_csv or msi.centres_nm) and value_scale, or --estimate-srf to fit its response from this pair',
  };
}

/**
 * The ENVI header field `spectra consistency` that records a fused cube's no-reference quality.
 * @param q - The consistency report.
 * @returns One header field.
 * @example
 * await writeEnvi('fused.hdr', fused, { extra: consistencyHeader(fused.quality) });
 */
export function consistencyHeader(q: ConsistencyReport): Record<string, string> {
  return {
    'spectra consistency': `{spatial_psnr_db=${q.spatial.psnr.toFixed(3)}, spatial_sam_deg=${q.spatial.sam.toFixed(4)}, spectral_psnr_db=${q.spectral.psnr.toFixed(3)}, spectral_sam_deg=${q.spectral.sam.toFixed(4)}}`,
  };
}
