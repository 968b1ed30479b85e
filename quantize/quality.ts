/**
 * The two quality numbers quantization is judged by, from the SDK's full-reference metrics (the host's formulas,
 * distill/METRICS.md): PSNR per band with the ground-truth band maximum as peak, averaged over bands (each band
 * capped at 100 dB), and SAM in degrees over pixels whose spectra are not zero. Bands a model never learnt or a
 * scene does not support, and nodata pixels, are left out when the sample says so (`bandMask`, `valid`).
 */
import type { Cube } from '../sdk/cube/cube';
import { psnr, sam, type MetricOptions } from '../sdk/metrics/full-reference';

/** PSNR and SAM of a prediction against a reference. */
export interface Quality {
  /** dB, mean over bands. */
  psnr: number;
  /** Degrees, mean over pixels. */
  sam: number;
}

/** Bands and pixels to score; everything when absent. */
export interface ScoreMasks {
  /** One entry per band; false bands are left out. */
  bandMask?: readonly boolean[];
  /** One entry per pixel (row-major); false pixels are left out. */
  valid?: readonly boolean[];
}

/** How the PSNR peak is chosen: the reference band's maximum (against ground truth) or 1, the physical data range. */
export type PeakChoice = 'band_max' | 'unit';

function flat(data: Float32Array, bands: number): Cube {
  const plane = data.length / bands;
  return { bands, height: plane, width: 1, data, wavelengths: Array.from({ length: bands }, (_, b) => b) };
}

/**
 * Compares a band-sequential prediction with a reference of the same shape.
 * @param pred - Prediction, `bands * plane` values.
 * @param ref - Reference (ground truth, or the float32 model's output).
 * @param bands - Band count.
 * @param peak - `band_max` against ground truth; `unit` (peak 1) between two model outputs, whose bands may have
 *   no positive maximum when the model is untrained. @defaultValue 'band_max'
 * @param masks - Bands and pixels to score (a sample's `bandMask` and `valid`). @defaultValue all
 * @returns PSNR (dB) and SAM (degrees).
 * @throws RangeError when the lengths differ or are not a multiple of `bands`, or a mask has the wrong length.
 */
export function compareCubes(pred: Float32Array, ref: Float32Array, bands: number, peak: PeakChoice = 'band_max', masks: ScoreMasks = {}): Quality {
  if (pred.length !== ref.length || ref.length % bands !== 0) {
    throw new RangeError(`Expected prediction and reference of equal length divisible by ${bands}, got ${pred.length} and ${ref.length}`);
  }
  const p = flat(pred, bands);
  const r = flat(ref, bands);
  const m: MetricOptions = {};
  if (masks.bandMask) m.bandMask = masks.bandMask;
  if (masks.valid) m.valid = masks.valid;
  return { psnr: psnr(p, r, peak === 'unit' ? { ...m, peak: 'fixed', dataRange: 1 } : m), sam: sam(p, r, m) };
}

/** Mean of qualities (each sample weighs the same). */
export function meanQuality(items: readonly Quality[]): Quality {
  const n = Math.max(1, items.length);
  return { psnr: items.reduce((a, q) => a + q.psnr, 0) / n, sam: items.reduce((a, q) => a + q.sam, 0) / n };
}
