/**
 * The two quality numbers quantization is judged by, computed as in the CSAKD evaluation (see
 * distill/METRICS.md): PSNR per band with the ground-truth band's maximum as peak, averaged over bands, and SAM in
 * degrees averaged over pixels whose spectra are not all zero.
 */

/** PSNR and SAM of a prediction against a reference. */
export interface Quality {
  /** dB, mean over bands. */
  psnr: number;
  /** Degrees, mean over pixels. */
  sam: number;
}

/** PSNR of one band is capped here so identical bands do not make the mean infinite. */
const PSNR_CAP = 100;

/**
 * Compares a band-sequential prediction with a reference of the same shape.
 * @param pred - Prediction, `bands * plane` values.
 * @param ref - Reference (ground truth, or the float32 model's output).
 * @param bands - Band count.
 * @returns PSNR (dB, per-band peak = max of the reference band, capped at 100 dB) and SAM (degrees).
 * @throws RangeError when the lengths differ.
 */
export function compareCubes(pred: Float32Array, ref: Float32Array, bands: number): Quality {
  if (pred.length !== ref.length || ref.length % bands !== 0) {
    throw new RangeError(`Expected prediction and reference of equal length divisible by ${bands}, got ${pred.length} and ${ref.length}`);
  }
  const plane = ref.length / bands;
  let psnrSum = 0;
  for (let b = 0; b < bands; b++) {
    let se = 0;
    let peak = 0;
    for (let p = b * plane; p < (b + 1) * plane; p++) {
      const d = pred[p] - ref[p];
      se += d * d;
      if (ref[p] > peak) peak = ref[p];
    }
    const mse = se / plane;
    psnrSum += mse === 0 || peak === 0 ? PSNR_CAP : Math.min(PSNR_CAP, 10 * Math.log10((peak * peak) / mse));
  }
  let samSum = 0;
  let counted = 0;
  for (let p = 0; p < plane; p++) {
    let dot = 0;
    let np = 0;
    let nr = 0;
    for (let b = 0; b < bands; b++) {
      const x = pred[b * plane + p];
      const y = ref[b * plane + p];
      dot += x * y;
      np += x * x;
      nr += y * y;
    }
    if (np === 0 || nr === 0) continue;
    samSum += (Math.acos(Math.max(-1, Math.min(1, dot / Math.sqrt(np * nr)))) * 180) / Math.PI;
    counted++;
  }
  return { psnr: psnrSum / bands, sam: counted > 0 ? samSum / counted : 0 };
}

/** Mean of qualities (each sample weighs the same). */
export function meanQuality(items: readonly Quality[]): Quality {
  const n = Math.max(1, items.length);
  return { psnr: items.reduce((a, q) => a + q.psnr, 0) / n, sam: items.reduce((a, q) => a + q.sam, 0) / n };
}
